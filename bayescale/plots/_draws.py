"""Posterior draws of the quantities the plots draw (laws evaluated on grids, allocations).

The plots only draw; what they draw comes from here. Everything is computed from the law
functions of :mod:`bayescale.laws` broadcast over the posterior by xarray, so it is exact for any
registered law of the ``loss`` family.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from bayescale.constants import DEFAULT_CI_PROB, FLOPS_PER_PARAM_TOKEN, PF_DAY, SAMPLE_DIMS
from bayescale.exceptions import BayescaleError
from bayescale.laws import chinchilla_optimal, get_law

__all__ = [
    "REFERENCE_FITS",
    "ReferenceFit",
    "interval",
    "law_draws",
    "optimal_draws",
    "predictive_draws",
    "prior_draws",
    "reference_allocation",
    "thin",
]


@dataclass(frozen=True)
class ReferenceFit:
    """A published fit drawn for contrast: its values, and the law they belong to."""

    label: str
    law: str
    values: Mapping[str, float]
    citation: str


#: Published fits drawn as reference lines (values as printed in the cited papers).
REFERENCE_FITS: dict[str, ReferenceFit] = {
    "hoffmann": ReferenceFit(
        "Hoffmann et al. 2022",
        "chinchilla",
        {"E": 1.6934, "A": 406.4, "B": 410.7, "alpha": 0.33917, "beta": 0.28491},
        "Hoffmann et al. 2022, arXiv:2203.15556, Approach 3 (unrounded)",
    ),
    "epoch": ReferenceFit(
        "Besiroglu et al. 2024",
        "chinchilla",
        {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658},
        "Besiroglu et al. 2024, arXiv:2404.10102, Table 1",
    ),
    "kaplan": ReferenceFit(
        "Kaplan et al. 2020",
        "kaplan",
        {"N_c": 6.4e13, "D_c": 1.8e13, "alpha_N": 0.076, "alpha_D": 0.103},
        "Kaplan et al. 2020, arXiv:2001.08361, eq. 1.5; allocation eq. 6.1",
    ),
}

#: Kaplan et al. 2020, eq. 6.1: N_opt ≈ 1.3e9 · (C_min / PF-day)^0.73.
_KAPLAN_N_COEF = 1.3e9
_KAPLAN_N_EXP = 0.73


def thin(posterior: xr.Dataset, max_draws: int = 1000, seed: int = 0) -> xr.Dataset:
    """Keep at most ``max_draws`` draws in total (evenly spread over chains)."""
    chains = posterior.sizes["chain"]
    per_chain = max(1, max_draws // max(chains, 1))
    if posterior.sizes["draw"] <= per_chain:
        return posterior
    idx = np.linspace(0, posterior.sizes["draw"] - 1, per_chain).round().astype(int)
    return posterior.isel(draw=np.unique(idx))


def interval(draws: xr.DataArray, ci_prob: float = DEFAULT_CI_PROB) -> xr.Dataset:
    """Median and equal-tailed interval over ``chain`` and ``draw``.

    Returns a Dataset with variables ``median``, ``lower`` and ``upper``.
    """
    if not 0 < ci_prob < 1:
        raise BayescaleError(f"ci_prob must be between 0 and 1, got {ci_prob}")
    lo, hi = (1 - ci_prob) / 2, 1 - (1 - ci_prob) / 2
    dims = [d for d in SAMPLE_DIMS if d in draws.dims]
    q = draws.quantile([lo, 0.5, hi], dim=dims)
    return xr.Dataset(
        {
            "median": q.sel(quantile=0.5, drop=True),
            "lower": q.sel(quantile=lo, drop=True),
            "upper": q.sel(quantile=hi, drop=True),
        }
    )


def _params(fit: Any, posterior: xr.Dataset | None = None) -> dict[str, xr.DataArray]:
    post = thin(fit.posterior) if posterior is None else posterior
    law = get_law(fit.spec.law)
    return {p: post[p] for p in law.params}


def law_draws(
    fit: Any, inputs: Mapping[str, Any], *, posterior: xr.Dataset | None = None
) -> xr.DataArray:
    """The law's mean loss for every posterior draw at the given inputs.

    Parameters
    ----------
    fit : Fit
        A fit of a ``loss``-family law.
    inputs : mapping of str to array-like
        One 1-D array per law input (``params``, ``tokens``, ...), all of the same length.

    Returns
    -------
    xarray.DataArray
        Dims ``chain``, ``draw``, ``point`` (and the group dim of a pooled fit).
    """
    law = get_law(fit.spec.law)
    missing = [c for c in law.inputs if c not in inputs]
    if missing:
        raise BayescaleError(f"law {law.name!r} needs input(s) {', '.join(missing)}")
    arrays = {k: xr.DataArray(np.asarray(inputs[k], dtype=float), dims="point") for k in law.inputs}
    out: xr.DataArray = law(**arrays, **_params(fit, posterior))
    return out.transpose("chain", "draw", "point", ...)


def predictive_draws(
    fit: Any,
    inputs: Mapping[str, Any],
    *,
    seed: int = 0,
    posterior: xr.Dataset | None = None,
) -> xr.DataArray:
    """Like :func:`law_draws` with the fit's observation noise on log loss added."""
    post = thin(fit.posterior) if posterior is None else posterior
    mean = law_draws(fit, inputs, posterior=post)
    return _add_noise(mean, post["sigma"], fit.spec.likelihood, seed)


def _add_noise(mean: xr.DataArray, sigma: xr.DataArray, likelihood: Any, seed: int) -> xr.DataArray:
    rng = np.random.default_rng(seed)
    shape = mean.shape
    if likelihood.dist == "StudentT":
        z = rng.standard_t(likelihood.nu, size=shape)
    else:
        z = rng.standard_normal(shape)
    noise = xr.DataArray(z, dims=mean.dims, coords=mean.coords)
    noisy: xr.DataArray = np.exp(np.log(mean) + sigma * noise)  # type: ignore[assignment]
    return noisy


def prior_draws(fit: Any, *, draws: int = 500, seed: int = 0) -> xr.Dataset:
    """Draws from the spec's priors (law parameters and the noise scale), dims chain and draw."""
    import pymc as pm

    spec = fit.spec
    law = get_law(spec.law)
    names = (*law.params, "sigma")
    priors = [spec.priors[p] if p != "sigma" else spec.likelihood.sigma for p in names]
    dists = [getattr(pm, prior.dist).dist(**prior.kwargs) for prior in priors]
    with warnings.catch_warnings():  # numba falls back to object mode for some samplers
        warnings.filterwarnings("ignore", "Numba will use object mode", UserWarning)
        values = pm.draw(dists, draws=draws, random_seed=seed)
    data: dict[str, Any] = {
        p: (("chain", "draw"), np.asarray(v, dtype=float).reshape(1, draws))
        for p, v in zip(names, values, strict=True)
    }
    return xr.Dataset(data, coords={"chain": [0], "draw": np.arange(draws)})


def optimal_draws(
    fit: Any,
    flops: Sequence[float] | np.ndarray,
    *,
    posterior: xr.Dataset | None = None,
    n_grid: int = 400,
) -> xr.Dataset:
    """Compute-optimal allocation of each budget for every posterior draw (C = 6·N·D).

    The Chinchilla law uses its closed form; any other law with ``params`` and ``tokens``
    inputs is minimised numerically along the isoFLOP line on a log grid of ``n_grid`` sizes.

    Returns
    -------
    xarray.Dataset
        ``params_opt``, ``tokens_opt``, ``tokens_per_param``, ``loss_opt`` with dims
        ``chain``, ``draw``, ``flops`` (and the group dim of a pooled fit).
    """
    law = get_law(fit.spec.law)
    if set(law.inputs) != {"params", "tokens"}:
        raise BayescaleError(
            f"law {law.name!r} has inputs {law.inputs}: an allocation needs params and tokens"
        )
    post = thin(fit.posterior) if posterior is None else posterior
    c = xr.DataArray(np.asarray(flops, dtype=float), dims="flops")
    c = c.assign_coords(flops=c.values)
    params: dict[str, Any] = {p: post[p] for p in law.params}
    if law.name == "chinchilla":
        out = chinchilla_optimal(c, **params)
        return xr.Dataset(out).transpose("chain", "draw", "flops", ...)
    budget = c / FLOPS_PER_PARAM_TOKEN
    ratio = xr.DataArray(np.logspace(-4.0, 4.0, n_grid), dims="grid")
    n: xr.DataArray = np.sqrt(budget) * ratio  # type: ignore[assignment]
    d = budget / n
    loss = law(params=n, tokens=d, **params)
    best = loss.fillna(np.inf).argmin("grid")
    n_opt = n.isel(grid=best)
    d_opt = d.isel(grid=best)
    return xr.Dataset(
        {
            "params_opt": n_opt,
            "tokens_opt": d_opt,
            "tokens_per_param": d_opt / n_opt,
            "loss_opt": loss.isel(grid=best),
        }
    ).transpose("chain", "draw", "flops", ...)


def reference_allocation(name: str, flops: np.ndarray) -> dict[str, np.ndarray]:
    """Compute-optimal N and D of a published fit (``params_opt``, ``tokens_opt``).

    Kaplan's line is his eq. 6.1 (N_opt ≈ 1.3e9 · C^0.73, C in PF-days, D = C / 6N); the
    Chinchilla-law fits use the closed form of :func:`bayescale.laws.chinchilla_optimal`.
    """
    ref = REFERENCE_FITS[name]
    c = np.asarray(flops, dtype=float)
    if ref.law == "kaplan":
        n = _KAPLAN_N_COEF * (c / PF_DAY) ** _KAPLAN_N_EXP
        return {"params_opt": n, "tokens_opt": c / (FLOPS_PER_PARAM_TOKEN * n)}
    out = chinchilla_optimal(c, **ref.values)
    return {
        "params_opt": np.asarray(out["params_opt"]),
        "tokens_opt": np.asarray(out["tokens_opt"]),
    }
