"""Kaplan's compute-efficient frontier from a posterior: α_C^min and the N, B, S allocation.

With ``L(N, S_min) = (N_c/N)^α_N + (S_c/S_min)^α_S`` and ``B_crit(L) = B*/L^(1/α_B)``, training
at ``B = B_crit`` for ``S = 2·S_min`` steps costs ``C = 6·N·B·S = 2·C_min`` (McCandlish et al.
2018; Kaplan et al. 2020, §6 and App. B.2). Minimising ``C_min`` over ``N`` at a fixed loss
gives the split ``(N_c/N)^α_N = L·α_S/(α_N + α_S)`` and ``(S_c/S_min)^α_S = L·α_N/(α_N + α_S)``,
hence the closed form per posterior draw

``L(C) = (C_c/C_min)^α_C``,  ``α_C^min = 1/(1/α_S + 1/α_B + 1/α_N)``,

``N = N_c·(L α_S/(α_N+α_S))^(−1/α_N)``, ``S_min = S_c·(L α_N/(α_N+α_S))^(−1/α_S)``,
``B = B*·L^(−1/α_B)``, so ``N ∝ C^(α_C/α_N)``, ``B ∝ C^(α_C/α_B)``, ``S ∝ C^(α_C/α_S)``.

The budget convention matches :func:`bayescale.analysis.allocate.allocate` for Kaplan's
L(N, S): ``C = 12·N·B_crit·S_min``. Posteriors may come from one fit with all six parameters
(``kaplan_ns_curves``) or from a fit of L(N, S) joined with a ``bcrit`` fit (draws paired at
random, seeded).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayescale.constants import SAMPLE_DIMS
from bayescale.exceptions import BayescaleError
from bayescale.intervals import eti_dims
from bayescale.laws import alpha_c_min, call_with, kaplan_ns_optimal
from bayescale.laws.kaplan import KAPLAN_NS_BUDGET_FACTOR

__all__ = ["FRONTIER_PARAMS", "alpha_c_min_posterior", "frontier", "optimum", "to_frame"]

#: Parameters the frontier needs, by name (posterior variable names).
FRONTIER_PARAMS: tuple[str, ...] = ("N_c", "S_c", "alpha_N", "alpha_S", "B_star", "alpha_B")
#: Training at B = B_crit takes S = 2·S_min steps: C = 2·C_min = 12·N·B·S_min.
BUDGET_FACTOR: float = KAPLAN_NS_BUDGET_FACTOR


def _draws(source: Any) -> xr.Dataset:
    post = getattr(source, "posterior", source)
    if not isinstance(post, xr.Dataset):
        raise BayescaleError(f"expected a Fit or a posterior Dataset, got {type(source).__name__}")
    return post


def _combined(source: Any, bcrit: Any, random_seed: int | None) -> xr.Dataset:
    post = _draws(source)
    if bcrit is None:
        missing = [p for p in FRONTIER_PARAMS if p not in post]
        if missing:
            raise BayescaleError(
                f"the posterior lacks {', '.join(missing)}: fit 'kaplan_ns_curves', or pass a "
                "bcrit fit as bcrit= next to a fit of L(N, S)"
            )
        return post[list(FRONTIER_PARAMS)]
    other = _draws(bcrit)
    need_main = ("N_c", "S_c", "alpha_N", "alpha_S")
    missing = [p for p in need_main if p not in post] + [
        p for p in ("B_star", "alpha_B") if p not in other
    ]
    if missing:
        raise BayescaleError(f"the posteriors lack {', '.join(missing)}")
    n = post.sizes["chain"] * post.sizes["draw"]
    flat = other[["B_star", "alpha_B"]].stack(sample=SAMPLE_DIMS)
    rng = np.random.default_rng(random_seed)
    m = flat.sizes["sample"]
    pick = rng.permutation(m)[:n] if m >= n else rng.integers(0, m, n)
    values = {
        k: (SAMPLE_DIMS, flat[k].values[pick].reshape(post.sizes["chain"], post.sizes["draw"]))
        for k in ("B_star", "alpha_B")
    }
    joined = post[list(need_main)].assign(values)
    return joined


def alpha_c_min_posterior(source: Any, *, bcrit: Any = None, random_seed: int = 0) -> xr.DataArray:
    """Posterior draws of ``α_C^min = 1/(1/α_S + 1/α_B + 1/α_N)``.

    Parameters
    ----------
    source : Fit or xarray.Dataset
        A posterior with ``alpha_S``, ``alpha_N`` (and ``alpha_B`` unless ``bcrit`` is given).
    bcrit : Fit or xarray.Dataset, optional
        A posterior with ``alpha_B`` (and ``B_star``), paired draw by draw at random.
    random_seed : int, default 0
        Seeds the pairing of draws from two fits.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> post = xr.Dataset({k: (("chain", "draw"), np.full((1, 4), v)) for k, v in
    ...     {"N_c": 6.5e13, "S_c": 2.1e3, "alpha_N": 0.077, "alpha_S": 0.76,
    ...      "B_star": 2.1e8, "alpha_B": 0.21}.items()})
    >>> round(float(alpha_c_min_posterior(post).median()), 4)
    0.0525
    """
    if bcrit is None:
        post = _draws(source)
        missing = [p for p in ("alpha_S", "alpha_B", "alpha_N") if p not in post]
        if missing:
            raise BayescaleError(f"the posterior lacks {', '.join(missing)}")
    else:
        post = _combined(source, bcrit, random_seed)
    out = alpha_c_min(alpha_S=post["alpha_S"], alpha_B=post["alpha_B"], alpha_N=post["alpha_N"])
    return out.rename("alpha_C_min")


def optimum(theta: Mapping[str, Any], flops: Any) -> dict[str, Any]:
    """Closed-form compute-efficient allocation for each draw and budget.

    The law's own closed form, :func:`bayescale.laws.kaplan_ns_optimal`, on the draws.

    Parameters
    ----------
    theta : mapping
        ``N_c, S_c, alpha_N, alpha_S, B_star, alpha_B`` (numpy or xarray, broadcastable).
    flops : array-like or xarray.DataArray
        Budgets ``C = 12·N·B_crit·S_min`` in FLOP (pass a DataArray with dim ``flops`` to
        broadcast over posterior draws by name).

    Returns
    -------
    dict
        ``params_opt``, ``tokens_opt`` (= B·S), ``loss_opt``, ``batch_opt`` (= B_crit, tokens),
        ``steps_opt`` (= 2·S_min), ``steps_min`` and ``alpha_C_min``.

    Examples
    --------
    >>> kaplan = dict(N_c=6.5e13, S_c=2.1e3, alpha_N=0.077, alpha_S=0.76, B_star=2.1e8,
    ...               alpha_B=0.21)
    >>> a, b = optimum(kaplan, 1e21), optimum(kaplan, 1e23)
    >>> round(float(np.log(b["params_opt"] / a["params_opt"]) / np.log(100)), 3)  # α_C/α_N
    0.681
    """
    return dict(call_with(kaplan_ns_optimal, theta, flops))


def frontier(
    source: Any,
    *,
    flops: Any,
    bcrit: Any = None,
    random_seed: int = 0,
) -> xr.Dataset:
    """Posterior of the compute-efficient frontier at each budget.

    Parameters
    ----------
    source : Fit or xarray.Dataset
        A ``kaplan_ns_curves`` fit (all six parameters), or a fit of L(N, S) (``N_c, S_c,
        alpha_N, alpha_S``) together with ``bcrit``.
    flops : float or 1-d array-like
        Budgets ``C = 12·N·B_crit·S_min`` in FLOP.
    bcrit : Fit or xarray.Dataset, optional
        A fit with ``B_star`` and ``alpha_B`` (e.g. the ``bcrit`` noise-scale model).
    random_seed : int, default 0
        Seeds the pairing of draws from two fits.

    Returns
    -------
    xarray.Dataset
        The variables of :func:`optimum` with dims ``chain``, ``draw``, ``flops``.

    Examples
    --------
    >>> from bayescale.testing import fake_fit
    >>> from bayescale.testing import synthetic_runs
    >>> fit = fake_fit("kaplan_ns_curves", draws=100, runs=synthetic_runs())
    >>> ds = frontier(fit, flops=[1e19, 1e21])
    >>> sorted(ds.data_vars)[:3]
    ['alpha_C_min', 'batch_opt', 'loss_opt']
    """
    budgets = np.atleast_1d(np.asarray(flops, dtype=float))
    if budgets.ndim != 1 or not np.all(np.isfinite(budgets) & (budgets > 0)):
        raise BayescaleError(f"flops must be positive finite numbers, got {flops!r}")
    post = _combined(source, bcrit, random_seed)
    flops_da = xr.DataArray(budgets, dims="flops", coords={"flops": budgets})
    out = optimum({k: post[k] for k in FRONTIER_PARAMS}, flops_da)
    ds = xr.Dataset({k: v.transpose(*SAMPLE_DIMS, "flops") for k, v in out.items()})
    ds.attrs["budget"] = "C = 12 N B_crit S_min (B = B_crit, S = 2 S_min)"
    return ds


def to_frame(ds: xr.Dataset, *, ci_prob: float | None = None) -> pd.DataFrame:
    """One row per budget: ``flops`` and ``<name>_median``, ``_lower``, ``_upper`` per variable.

    Examples
    --------
    >>> from bayescale.testing import fake_fit
    >>> from bayescale.testing import synthetic_runs
    >>> fit = fake_fit("kaplan_ns_curves", draws=100, runs=synthetic_runs())
    >>> frame = to_frame(frontier(fit, flops=[1e20]))
    >>> "params_opt_median" in frame.columns
    True
    """
    rows: dict[str, Any] = {"flops": ds["flops"].values}
    for name in ds.data_vars:
        q = eti_dims(ds[name], ci_prob, skipna=True)
        for part in ("median", "lower", "upper"):
            rows[f"{name}_{part}"] = q[part].values
    return pd.DataFrame(rows)
