"""Compute-optimal allocations: the posterior of N_opt, D_opt, D/N and L_opt per FLOP budget.

Each posterior draw has its own optimum. For a law with a closed form (``Law.optimal``, e.g.
Chinchilla's, :func:`bayescale.laws.chinchilla_optimal`) it is that; for any other law (Kaplan's
forms included), and whenever inference demand or a cap on unique tokens changes the constraint,
a vectorised numerical optimum over log N, for all draws × budgets at once
(:func:`bayescale.analysis._common.minimize_smooth`).

Constraints:

- training only: C = 6·N·D;
- with inference demand ``T`` tokens (Sardana et al. 2023, arXiv:2401.00448): the budget pays
  for training and serving, C = 6·N·D + 2·N·T, so D = (C − 2·N·T) / (6·N);
- with ``unique_tokens`` U (Muennighoff et al. 2023, arXiv:2305.16264): the loss sees the
  effective data D' = U + U·R*·(1 − exp(−(D/U − 1)/R*)) once D exceeds U (R* from the
  posterior when the law has ``R_star``, else 15.39);
- the law's own error past the fitted range (default ``kind="predictive"``): each draw's loss
  is the law's times ``exp(delta)``, the random-slope discrepancy of the spec's
  ``[likelihood.discrepancy]`` (:mod:`bayescale.analysis.discrepancy`, the same term as
  ``predict(kind="predictive")``); its ``params`` and ``tokens`` slopes move each draw's
  optimum, so the N_opt and D_opt intervals widen with the distance from the data.
  ``kind="mean"`` optimises the law alone;
- Kaplan L(N, S_min) with a critical batch B_crit(L) = B*/L^(1/α_B): training at B = B_crit
  takes S = 2·S_min steps (McCandlish et al. 2018), so C = 6·N·B_crit·S = 12·N·B_crit·S_min;
  B*, α_B come from the posterior when present, else Kaplan's 2.1e8 tokens and 0.21.

Examples
--------
>>> from bayescale.testing import fake_fit
>>> ds = allocate(fake_fit("chinchilla", draws=200), flops=[1e21, 5.76e23])
>>> sorted(ds.data_vars)
['loss_opt', 'params_opt', 'tokens_opt', 'tokens_per_param']
>>> list(to_frame(ds).columns[:4])
['flops', 'params_opt_median', 'params_opt_lower', 'params_opt_upper']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import xarray as xr

from bayescale.analysis._common import (
    NEW_GROUP,
    R_STAR_TOKENS,
    law_draws,
    minimize_golden,
    minimize_smooth,
    positive_scalar,
    positive_values,
    to_frame,
)
from bayescale.analysis.discrepancy import LawError, draw_law_error
from bayescale.constants import (
    FLOPS_PER_PARAM_TOKEN,
    INFERENCE_FLOPS_PER_PARAM_TOKEN,
    SAMPLE_DIMS,
)
from bayescale.data.published import published_fit
from bayescale.exceptions import BayescaleError
from bayescale.intervals import check_ci
from bayescale.laws import Law, call_with, critical_batch, effective_data
from bayescale.modeling import build

if TYPE_CHECKING:
    from bayescale.modeling.families import Family
    from bayescale.modeling.fit import Fit
    from bayescale.modeling.spec import Discrepancy

__all__ = [
    "ALLOCATION_VARS",
    "KINDS",
    "allocate",
    "law_error",
    "loss_function",
    "optimum",
    "to_frame",
]

#: The variables every allocation reports, in table order.
ALLOCATION_VARS: tuple[str, ...] = ("params_opt", "tokens_opt", "tokens_per_param", "loss_opt")
#: Search range of the numerical optimum, as tokens per parameter D/N.
RATIO_RANGE: tuple[float, float] = (1e-6, 1e8)
#: Kaplan et al. 2020 critical batch B_crit(L) = B*/L^(1/α_B), used when the posterior has none
#: (the published fit ``kaplan2020_bcrit`` of ``datasets/published_fits.toml``).
KAPLAN_B_STAR: float = published_fit("kaplan2020_bcrit").values["B_star"]
KAPLAN_ALPHA_B: float = published_fit("kaplan2020_bcrit").values["alpha_B"]
#: A 12·N·B_crit·S_min budget: S = 2·S_min steps at B = B_crit (McCandlish et al. 2018).
_KAPLAN_NS_FACTOR = 2.0 * FLOPS_PER_PARAM_TOKEN

Method = Literal["auto", "closed", "numeric"]
Kind = Literal["mean", "predictive"]
#: ``kind=`` of :func:`allocate` and :func:`~bayescale.analysis.decide.decide`.
KINDS: tuple[str, ...] = ("mean", "predictive")


def law_error(
    fit: Fit,
    kind: str,
    discrepancy: Discrepancy | None,
    rng: np.random.Generator,
) -> LawError | None:
    """The law's own error for ``kind`` (None for ``"mean"`` or an inactive term).

    Drawn from a stream spawned off ``rng``, so new-group draws do not depend on it.
    """
    if kind not in KINDS:
        raise BayescaleError(f"kind must be 'mean' or 'predictive', not {kind!r}")
    if kind == "mean":
        return None
    return draw_law_error(fit, discrepancy, random_seed=rng.spawn(1)[0])


def allocate(
    fit: Fit,
    *,
    flops: Any,
    ci_prob: float | None = None,
    inference_tokens: float = 0.0,
    unique_tokens: float | None = None,
    group: str | None = None,
    method: Method = "auto",
    random_seed: int | np.random.Generator | None = None,
    kind: Kind = "predictive",
    discrepancy: Discrepancy | None = None,
) -> xr.Dataset:
    """Posterior of the compute-optimal allocation for each FLOP budget.

    Parameters
    ----------
    fit : Fit
        A fitted model of an (N, D) law, Kaplan's L(N, S), or a model family providing its own
        ``allocate(posterior, flops)``.
    flops : float or 1-d array-like
        Budgets C in FLOP (training, plus serving when ``inference_tokens`` > 0).
    ci_prob : float, optional
        Interval mass used by :func:`to_frame`. Default
        :data:`~bayescale.constants.DEFAULT_CI_PROB`.
    inference_tokens : float, default 0
        Tokens the model will serve over its life; the budget pays 2·N per served token.
    unique_tokens : float, optional
        Cap on unique training tokens; repeated tokens count as effective data D'.
    group : str, optional
        Pooled fits: a group, ``NEW_GROUP`` for an unseen one, or None for every group.
    method : {"auto", "closed", "numeric"}
        ``"auto"`` uses the closed form where it applies (Chinchilla, no inference demand, no
        data cap, no law error) and the numerical optimum otherwise.
    random_seed : int or numpy.random.Generator, optional
        Seeds new-group draws and the law's error.
    kind : {"predictive", "mean"}
        ``"predictive"`` (default): each draw's loss includes the law's own error past the
        fitted range (the spec's discrepancy, as in ``predict(kind="predictive")``), so the
        optimum's intervals carry what the data cannot tell apart. ``"mean"``: the law alone.
    discrepancy : Discrepancy, optional
        Replaces the spec's discrepancy term for ``kind="predictive"``.

    Returns
    -------
    xarray.Dataset
        ``params_opt``, ``tokens_opt``, ``tokens_per_param``, ``loss_opt`` (Kaplan L(N, S) adds
        ``batch_opt`` and ``steps_opt``; a data cap adds ``epochs_opt``), dims ``chain``,
        ``draw``, ``flops`` (and the group dim).

    Examples
    --------
    >>> from bayescale.testing import fake_fit
    >>> ds = allocate(fake_fit("chinchilla", draws=200), flops=5.76e23)
    >>> n = float(ds["params_opt"].median())
    >>> 3e10 < n < 2e11
    True
    """
    ci = check_ci(ci_prob)
    budgets = positive_values("flops", flops)
    inference = _nonnegative("inference_tokens", inference_tokens)
    unique = None if unique_tokens is None else positive_scalar("unique_tokens", unique_tokens)
    law = fit.law
    flops_da = xr.DataArray(budgets, dims="flops", coords={"flops": budgets})
    family = build.family_module(law.family)
    rng = np.random.default_rng(random_seed)
    error = law_error(fit, kind, discrepancy, rng) if _generic(family) else None
    if not _generic(family):
        out = _family_allocate(
            fit, family, flops_da, group=group, inference=inference, unique=unique
        )
    else:
        theta = law_draws(fit, group=group, random_seed=rng, extra=("B_star", "alpha_B", "R_star"))
        out = optimum(
            law,
            theta,
            flops_da,
            inference_tokens=inference,
            unique_tokens=unique,
            method=method,
            error=error,
        )
    ordered = [v for v in ALLOCATION_VARS if v in out] + sorted(
        v for v in out if v not in ALLOCATION_VARS
    )
    ds = xr.Dataset({v: out[v].transpose(*SAMPLE_DIMS, "flops", ...) for v in ordered})
    ds.attrs = {
        "ci_prob": ci,
        "law": law.name,
        "group_dim": fit.info.group if (fit.info.group and group is None) else "",
        "inference_tokens": inference,
        "unique_tokens": np.nan if unique is None else unique,
        "method": _resolve_method(law, method, inference, unique, family, error),
        "kind": kind,
        "law_error": "" if error is None else ",".join(error.directions),
    }
    return ds


def _nonnegative(name: str, value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise BayescaleError(f"{name} must be a number, got {value!r}") from None
    if not (np.isfinite(v) and v >= 0):
        raise BayescaleError(f"{name} must be finite and non-negative, got {value!r}")
    return v


def _generic(family: Family) -> bool:
    """Whether the generic optimum over the law allocates (no allocation of the family's own)."""
    return getattr(family, "allocate", None) is None and getattr(family, "predicts_loss", False)


def _resolve_method(
    law: Law,
    method: str,
    inference: float,
    unique: float | None,
    family: Family,
    error: LawError | None = None,
) -> str:
    if method not in ("auto", "closed", "numeric"):
        raise BayescaleError(f"method must be 'auto', 'closed' or 'numeric', not {method!r}")
    if not _generic(family):
        return f"family:{law.family}"
    closed_ok = law.optimal is not None and inference == 0 and unique is None and error is None
    if method == "closed" and not closed_ok:
        raise BayescaleError(
            "the closed form applies to laws with a closed-form optimum (Law.optimal, e.g. "
            "Chinchilla's) without inference demand, data cap or the law's own error "
            f"(kind='mean'); {law.name!r} here"
        )
    if method == "auto":
        return "closed" if closed_ok else "numeric"
    return method


def _family_allocate(
    fit: Fit,
    model_family: Family,
    flops: xr.DataArray,
    *,
    group: str | None,
    inference: float,
    unique: float | None,
) -> dict[str, xr.DataArray]:
    """Delegate to the model family's own ``allocate(posterior, flops)``."""
    family = fit.law.family
    func = getattr(model_family, "allocate", None)
    if func is None:
        raise BayescaleError(
            f"law {fit.law.name!r} (model family {family!r}) provides no compute-optimal allocation"
        )
    if inference or unique is not None:
        raise BayescaleError(
            f"law {fit.law.name!r} (model family {family!r}): inference_tokens and "
            "unique_tokens are supported for loss laws only"
        )
    post = fit.posterior
    gdim = fit.info.group
    if group is not None:
        if gdim is None or group == NEW_GROUP:
            raise BayescaleError(f"group={group!r} is not available for family {family!r}")
        post = post.sel({gdim: group}).drop_vars(gdim, errors="ignore")
    out = dict(func(post, flops))
    for key in ("params_opt", "tokens_opt"):
        if key not in out:
            raise BayescaleError(f"family {family!r}: allocate() returned no {key!r}")
    out["tokens_per_param"] = out["tokens_opt"] / out["params_opt"]
    return out


# ---------------------------------------------------------------------- the optimum
def optimum(
    law: Law,
    theta: xr.Dataset,
    flops: xr.DataArray,
    *,
    inference_tokens: float = 0.0,
    unique_tokens: float | None = None,
    method: Method = "auto",
    error: LawError | None = None,
) -> dict[str, xr.DataArray]:
    """Each draw's compute-optimal allocation, broadcast by name over draws and budgets.

    Parameters
    ----------
    law : Law
        A loss law with inputs (params, tokens[, unique_tokens]) or Kaplan's (params, steps).
    theta : xarray.Dataset
        Parameter draws named as the law's keywords.
    flops : xarray.DataArray
        Budgets in FLOP, along any named dim.
    inference_tokens, unique_tokens, method
        As in :func:`allocate`.
    error : LawError, optional
        The law's own error per draw (:func:`bayescale.analysis.discrepancy.draw_law_error`):
        each draw's loss is the law's times ``exp(delta)``, and its optimum is of that loss.

    Returns
    -------
    dict of str to xarray.DataArray
        ``params_opt``, ``tokens_opt``, ``tokens_per_param``, ``loss_opt`` (and extras).

    Examples
    --------
    >>> import xarray as xr
    >>> from bayescale.laws import get_law
    >>> theta = xr.Dataset({"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28})
    >>> c = xr.DataArray([5.76e23], dims="flops")
    >>> closed = optimum(get_law("chinchilla"), theta, c)["params_opt"]
    >>> numeric = optimum(get_law("chinchilla"), theta, c, method="numeric")["params_opt"]
    >>> round(float(closed[0]) / 1e9, 2), bool(abs(float(numeric[0] / closed[0]) - 1) < 1e-6)
    (32.19, True)
    """
    resolved = _resolve_method(
        law, method, inference_tokens, unique_tokens, build.family_module(law.family), error
    )
    args = {p: theta[p] for p in law.params}
    if resolved == "closed" and law.optimal is not None:
        return dict(call_with(law.optimal, args, flops))
    if law.inputs == ("params", "steps"):
        if inference_tokens or unique_tokens is not None:
            raise BayescaleError(
                f"law {law.name!r}: inference_tokens and unique_tokens need an (N, D) law"
            )
        if error is not None:
            raise BayescaleError(
                f"law {law.name!r}: the law's own error (a discrepancy term) needs an (N, D) "
                "law; allocate with kind='mean'"
            )
        return _kaplan_ns_optimum(law, theta, flops)
    if law.inputs[:2] != ("params", "tokens"):
        raise BayescaleError(
            f"law {law.name!r} (inputs {', '.join(law.inputs)}) has no parameters/tokens split "
            "to allocate; use predict(flops=...) for its loss at a budget"
        )
    slopes = {} if error is None else {f"_slope_{k}": error.slopes[k] for k in error.directions}
    dims, arrays = _aligned({**args, **slopes, "_flops": flops})
    budget = arrays.pop("_flops")
    aligned = {k[len("_slope_") :]: arrays.pop(k) for k in slopes}
    r_star = arrays.get("R_star", R_STAR_TOKENS)  # the law's own R_star when it has one
    loss = loss_function(
        law,
        arrays,
        unique_tokens=unique_tokens,
        r_star=r_star,
        shift=None if error is None else error.on_nd(aligned),
    )

    def tokens_for(n: np.ndarray) -> np.ndarray:
        return (budget - INFERENCE_FLOPS_PER_PARAM_TOKEN * n * inference_tokens) / (
            FLOPS_PER_PARAM_TOKEN * n
        )

    def along(x: np.ndarray) -> np.ndarray:
        n = np.exp(x)
        d = tokens_for(n)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            if inference_tokens == 0:  # D > 0 always: skip the masking
                return np.asarray(loss(n, d))
            return np.where(d > 0, loss(n, np.where(d > 0, d, 1.0)), np.inf)

    shape = np.broadcast_shapes(
        budget.shape, *(a.shape for a in (*arrays.values(), *aligned.values()))
    )
    lo, hi = _bracket(np.broadcast_to(budget, shape), inference_tokens)
    # with the law's error the loss has kinks (at the fitted range's ends) and can be nearly
    # flat: golden-section search, which needs neither smoothness nor curvature
    x = (minimize_smooth if error is None else minimize_golden)(along, lo, hi)
    n_opt = np.exp(x)
    d_opt = tokens_for(n_opt)
    out = {
        "params_opt": n_opt,
        "tokens_opt": d_opt,
        "tokens_per_param": d_opt / n_opt,
        "loss_opt": loss(n_opt, d_opt),
    }
    if unique_tokens is not None:
        out["epochs_opt"] = d_opt / unique_tokens
    coords = _coords({**args, **slopes, "_flops": flops}, dims)
    return {
        k: xr.DataArray(np.broadcast_to(v, shape), dims=dims, coords=coords) for k, v in out.items()
    }


def _coords(named: dict[str, xr.DataArray], dims: tuple[str, ...]) -> dict[str, Any]:
    """Coordinates of the inputs that index the result's dims."""
    coords: dict[str, Any] = {}
    for a in named.values():
        for name, c in a.coords.items():
            if name not in coords and set(c.dims) <= set(dims) and c.dims:
                coords[str(name)] = c
    return coords


def _bracket(budget: np.ndarray, inference_tokens: float) -> tuple[np.ndarray, np.ndarray]:
    """Log N range: D/N within :data:`RATIO_RANGE`, and D > 0 when serving costs compute."""
    log_b = np.log(budget / FLOPS_PER_PARAM_TOKEN)
    lo = 0.5 * (log_b - np.log(RATIO_RANGE[1]))
    hi = 0.5 * (log_b - np.log(RATIO_RANGE[0]))
    if inference_tokens > 0:
        cap = np.log(budget / (INFERENCE_FLOPS_PER_PARAM_TOKEN * inference_tokens))
        hi = np.minimum(hi, cap - 1e-9)
        lo = np.minimum(lo, hi - 1.0)
    return lo, hi


def loss_function(
    law: Law,
    theta: dict[str, Any],
    *,
    unique_tokens: float | None = None,
    r_star: Any = R_STAR_TOKENS,
    shift: Callable[[Any, Any], Any] | None = None,
) -> Callable[[Any, Any], Any]:
    """The law as a function of (N, D) only, with any data cap folded in.

    A law with a ``unique_tokens`` input receives ``min(U, D)`` (U = D when no cap is given);
    a plain (N, D) law sees the effective data D' when D exceeds the cap U. ``shift`` (the
    law's own error, :meth:`bayescale.analysis.discrepancy.LawError.on_nd`) multiplies the
    loss by ``exp(shift(N, D))``, D the tokens trained on.

    Examples
    --------
    >>> from bayescale.laws import get_law
    >>> law = get_law("chinchilla")
    >>> f = loss_function(law, dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28))
    >>> round(float(f(70e9, 1.4e12)), 3)
    1.937
    """
    args = {p: theta[p] for p in law.params}
    base: Callable[[Any, Any], Any]
    if "unique_tokens" in law.inputs:

        def with_cap(n: Any, d: Any) -> Any:
            u = d if unique_tokens is None else np.minimum(unique_tokens, d)
            return law.loss(n, d, u, **args)

        base = with_cap
    elif unique_tokens is None:

        def plain(n: Any, d: Any) -> Any:
            return law.loss(n, d, **args)

        base = plain
    else:
        cap = unique_tokens

        def effective(n: Any, d: Any) -> Any:
            repeated = np.maximum(d, cap)
            d_eff = np.where(d > cap, effective_data(repeated, cap, R_star=r_star), d)
            return law.loss(n, d_eff, **args)

        base = effective
    if shift is None:
        return base
    move = shift

    def with_error(n: Any, d: Any) -> Any:
        return base(n, d) * np.exp(move(n, d))

    return with_error


def _aligned(named: dict[str, xr.DataArray]) -> tuple[tuple[str, ...], dict[str, np.ndarray]]:
    """Numpy views of DataArrays on one common dim order, size-1 where a dim is absent."""
    dims: list[str] = [d for d in SAMPLE_DIMS if any(d in a.dims for a in named.values())]
    for a in named.values():
        dims += [str(d) for d in a.dims if d not in dims]
    out = {}
    for k, a in named.items():
        missing = [d for d in dims if d not in a.dims]
        out[k] = np.asarray(a.expand_dims(missing).transpose(*dims).values, dtype=float)
    return tuple(dims), out


def _kaplan_ns_optimum(law: Law, theta: xr.Dataset, flops: xr.DataArray) -> dict[str, xr.DataArray]:
    """Compute-efficient N, B, S for Kaplan's L(N, S_min) with B_crit(L)."""
    critical: dict[str, Any] = {
        "B_star": theta["B_star"] if "B_star" in theta else xr.DataArray(KAPLAN_B_STAR),
        "alpha_B": theta["alpha_B"] if "alpha_B" in theta else xr.DataArray(KAPLAN_ALPHA_B),
    }
    args = {p: theta[p] for p in law.params}
    dims, arrays = _aligned({**args, **critical, "_flops": flops})
    budget = arrays.pop("_flops")
    b_star, alpha_b = arrays.pop("B_star"), arrays.pop("alpha_B")
    shape = np.broadcast_shapes(budget.shape, *(a.shape for a in arrays.values()))
    log_c = np.log(np.broadcast_to(budget, shape))

    def loss_ns(n: np.ndarray, s_min: np.ndarray) -> np.ndarray:
        return np.asarray(law.loss(n, s_min, **arrays))

    def s_min_for(n: np.ndarray) -> np.ndarray:
        # 12·N·B_crit(L(N, S_min))·S_min = C is increasing in S_min: bisect on log S_min
        lo = np.full(shape, -30.0)
        hi = log_c.copy()
        for _ in range(64):
            mid = 0.5 * (lo + hi)
            s = np.exp(mid)
            b = critical_batch(loss_ns(n, s), B_star=b_star, alpha_B=alpha_b)
            over = np.log(_KAPLAN_NS_FACTOR * n * b) + mid > log_c
            hi = np.where(over, mid, hi)
            lo = np.where(over, lo, mid)
        return np.exp(0.5 * (lo + hi))

    def along(x: np.ndarray) -> np.ndarray:
        n = np.exp(x)
        with np.errstate(over="ignore", invalid="ignore"):
            return loss_ns(n, s_min_for(n))

    lo, hi = _bracket(np.exp(log_c), 0.0)
    x = minimize_smooth(along, lo, hi)
    n_opt = np.exp(x)
    s_opt = s_min_for(n_opt)
    loss_opt = loss_ns(n_opt, s_opt)
    batch = critical_batch(loss_opt, B_star=b_star, alpha_B=alpha_b)
    steps = 2.0 * s_opt
    tokens = batch * steps
    out = {
        "params_opt": n_opt,
        "tokens_opt": tokens,
        "tokens_per_param": tokens / n_opt,
        "loss_opt": loss_opt,
        "batch_opt": batch,
        "steps_opt": steps,
    }
    coords = _coords({**args, **critical, "_flops": flops}, dims)
    return {
        k: xr.DataArray(np.broadcast_to(v, shape), dims=dims, coords=coords) for k, v in out.items()
    }
