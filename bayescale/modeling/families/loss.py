"""The loss family: a law of a run's inputs for its final loss (Chinchilla, Kaplan, ...).

Geometry: prefactors (``A``, ``B``, ``N_c``, ...) are sampled as ``log P_ref``, the prefactor at
the data's reference scale (the geometric mean of the input the prefactor multiplies). The law is
evaluated on the inputs divided by that scale, so each prefactor is nearly uncorrelated with its
exponent. The spec's LogNormal prior on ``P`` is kept exactly: ``log P = log P_ref + power·log x0``
is a unit-Jacobian shear, so ``log P_ref | power ~ Normal(mu − power·log x0, sigma)``.

Anchored geometry (the Chinchilla law without pooling, :data:`ANCHORED`): on a table that spans
about one decade of N, the data pin down the loss at the reference point and its local slopes,
but hardly the curvature that separates ``E`` from the ``A``-term, so ``(E, A, alpha)`` lie on a
curved ridge that NUTS crosses slowly (R-hat 1.06, bulk ESS 128 on misfitting2025 at ≤ 300M).
The sampler then moves in what the data pin down instead: ``log L_ref`` (the law's loss at the
reference point), ``log s_A = log(alpha·A_ref)`` and ``log s_B = log(beta·B_ref)`` (minus the
slopes of the loss in log N and log D there), beside ``alpha`` and ``beta``:

    A_ref = s_A/alpha,   B_ref = s_B/beta,   E = L_ref − A_ref − B_ref.

The prior is still the spec's prior on the published parameters, exactly: the map from
``(E, log A_ref, log B_ref)`` to ``(L_ref, log s_A, log s_B)`` at fixed exponents is triangular
with unit diagonal, so the density is the spec's density of ``E``, ``log A_ref | alpha`` and
``log B_ref | beta`` (as above) evaluated at the implied values, times ``L_ref`` for the log.
``E ≤ 0`` has zero prior density (its prior is on the positive reals), so the region is outside
the support. Chains start from a least-squares fit of log loss on log N and log D
(:func:`initial_values`).

Kaplan's ``L = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D`` (:data:`KAPLAN_ANCHORED`) is anchored the same
way: ``log L_ref``, the slopes ``g_N = α_N·w`` and ``g_D = α_D·(1−w)`` of log loss in log N and
log D, and the share ``w`` of the N-term at the reference point (see
:func:`_build_anchored_kaplan`); the density carries the Jacobian, so the prior is again the
spec's, exactly. The exponents are bounded through the data-dependent range of their free
coordinate, never by a wall inside the support. The spec option ``geometry`` (:data:`OPTIONS`)
selects the reference geometry instead; pooled fits always use it.

Pooling is non-centred on the log scale: ``θ_g = θ_pop·exp(τ·z_g)``; :func:`group_draws` draws
an unseen group's parameters with the same algebra.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from bayescale.constants import SAMPLE_DIMS
from bayescale.data.schema import validate_runs
from bayescale.exceptions import BayescaleError, RunTableError, SpecError
from bayescale.laws import Law, get_law
from bayescale.modeling.families._common import run_labels
from bayescale.modeling.families.base import Family, ModelInfo, register_family

if TYPE_CHECKING:
    from bayescale.modeling.spec import ModelSpec

__all__ = [
    "ANCHORED",
    "GEOMETRIES",
    "KAPLAN_ANCHORED",
    "LOSS",
    "OPTIONS",
    "build",
    "group_draws",
    "initial_values",
    "prepare",
    "reference_scales",
]

log = logging.getLogger("bayescale")

#: Laws of the form ``irreducible + Σ P·(x/x0)^(−exponent)`` over their prefactors, sampled in the
#: anchored geometry (module docstring) when no parameter is pooled: law name -> the irreducible
#: parameter.
ANCHORED: dict[str, str] = {"chinchilla": "E"}

#: Kaplan's ``L = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D``, sampled in its anchored geometry (module
#: docstring): law name -> the names of ``N_c``, ``D_c``, ``α_N``, ``α_D``.
KAPLAN_ANCHORED: dict[str, tuple[str, str, str, str]] = {
    "kaplan": ("N_c", "D_c", "alpha_N", "alpha_D")
}

_POSITIVE = {"LogNormal", "HalfNormal", "Gamma", "Exponential", "HalfStudentT"}


def _support(prior: Any) -> tuple[float, float] | None:
    """``(lower, upper)`` of a prior on the non-negative reals; None when it allows negatives."""
    if prior.dist in _POSITIVE:
        return 0.0, np.inf
    if prior.dist == "Beta":
        return 0.0, 1.0
    if prior.dist in {"TruncatedNormal", "Uniform"}:
        lo = float(prior.kwargs.get("lower", -np.inf))
        hi = float(prior.kwargs.get("upper", np.inf))
        return (lo, hi) if lo >= 0 else None
    return None


#: Spec ``[options]`` of the loss family: ``geometry`` is ``"auto"`` (the default: anchored where
#: the law, priors and pooling allow it, else prefactors at reference scales), ``"anchored"``
#: (an error where it does not apply) or ``"reference"`` (prefactors at reference scales only).
OPTIONS: dict[str, type] = {"geometry": str}
GEOMETRIES = ("auto", "anchored", "reference")


def _anchored(law: Law, spec: ModelSpec) -> bool:
    """Whether ``spec`` on ``law`` is sampled in the anchored geometry (see :data:`OPTIONS`)."""
    geometry = spec.option("geometry", "auto")
    if geometry not in GEOMETRIES:
        raise SpecError(
            f"spec {spec.name!r}: option geometry = {geometry!r} (use {', '.join(GEOMETRIES)})"
        )
    if geometry == "reference":
        return False
    ok = _anchorable(law, spec)
    if geometry == "anchored" and not ok:
        raise SpecError(
            f"spec {spec.name!r}: the anchored geometry needs an unpooled "
            f"{'/'.join([*ANCHORED, *KAPLAN_ANCHORED])} law, a prior on the positive reals for "
            "its floor (Chinchilla), LogNormal "
            "priors on the prefactors and non-negative exponents"
        )
    return ok


def _anchorable(law: Law, spec: ModelSpec) -> bool:
    if spec.pooling is not None:
        return False
    if law.name in KAPLAN_ANCHORED:
        n_c, d_c, a_n, a_d = KAPLAN_ANCHORED[law.name]
        return (
            spec.priors[n_c].dist == "LogNormal"
            and spec.priors[d_c].dist == "LogNormal"
            and _support(spec.priors[a_n]) is not None
            and _support(spec.priors[a_d]) is not None
        )
    if law.name not in ANCHORED:
        return False
    floor = _support(spec.priors[ANCHORED[law.name]])
    if floor != (0.0, np.inf):  # E's prior must cover exactly E > 0
        return False
    return all(
        pf.exponent is not None
        and spec.priors[p].dist == "LogNormal"
        and _support(spec.priors[pf.exponent]) is not None
        for p, pf in law.prefactors.items()
    )


def _exponent_order(law: Law, runs: pd.DataFrame) -> list[str]:
    """Prefactors in the order their exponents are drawn: widest input range first."""
    spread = {
        p: float(np.std(np.log(runs[pf.input].to_numpy(dtype=float))))
        for p, pf in law.prefactors.items()
    }
    return sorted(law.prefactors, key=lambda p: -spread[p])


def _exponent_bounds(law: Law, spec: ModelSpec, order: list[str]) -> dict[str, tuple[float, float]]:
    """Support of each prefactor's exponent prior (checked by :func:`_anchorable`)."""
    out = {}
    for p in order:
        support = _support(spec.priors[str(law.prefactors[p].exponent)])
        assert support is not None
        out[p] = support
    return out


def _bounded(xp: Any, z: Any, lo: Any, hi: float) -> tuple[Any, Any]:
    """``(value, log |d value / d z|)`` of ``z`` mapped onto ``(lo, hi)``."""
    if np.isinf(hi):
        return lo + xp.exp(z), z
    width = hi - lo
    log_sig = -xp.log1p(xp.exp(-z))
    log_one_minus = -xp.log1p(xp.exp(z))
    return lo + width * xp.exp(log_sig), xp.log(width) + log_sig + log_one_minus


def _anchored_map(
    xp: Any,
    l_ref: Any,
    slopes: dict[str, Any],
    free: dict[str, Any],
    bounds: dict[str, tuple[float, float]],
    order: list[str],
) -> tuple[dict[str, Any], Any]:
    """Exponents (by prefactor) from their free values, and the log Jacobian.

    Each exponent in turn lies above the value at which the floor ``L_ref − Σ s/e`` would reach
    0 with the exponents not yet drawn at their upper bounds, so every point has a positive
    floor and the map has no wall inside the prior's support.
    """
    exps: dict[str, Any] = {}
    log_jac: Any = 0.0
    for i, p in enumerate(order):
        room = l_ref
        for q in order[:i]:
            room = room - slopes[q] / exps[q]
        for q in order[i + 1 :]:
            hi_q = bounds[q][1]
            if np.isfinite(hi_q):
                room = room - slopes[q] / hi_q
        lo = xp.maximum(bounds[p][0], slopes[p] / room)
        exps[p], jac = _bounded(xp, free[p], lo, bounds[p][1])
        log_jac = log_jac + jac
    return exps, log_jac


def prepare(runs: pd.DataFrame, spec: ModelSpec, *, exclude_outliers: bool = True) -> pd.DataFrame:
    """Validate ``runs`` and drop flagged outliers (logged, never silent)."""
    group = spec.pooling.group if spec.pooling else None
    runs = validate_runs(runs, group=group)
    if exclude_outliers and runs["outlier"].any():
        n = int(runs["outlier"].sum())
        log.info("excluding %d run(s) flagged as outliers", n)
        attrs = dict(runs.attrs)
        runs = runs.loc[~runs["outlier"]].copy()
        runs.attrs = attrs
        runs.attrs["outliers_excluded"] = n
    if len(runs) < 3:
        raise RunTableError(f"need at least 3 runs to fit, got {len(runs)}")
    return runs


def reference_scales(law: Law, runs: pd.DataFrame) -> dict[str, float]:
    """Geometric mean of every input that a prefactor multiplies (1 for the others)."""
    scaled = {pf.input for pf in law.prefactors.values()}
    return {
        col: float(np.exp(np.mean(np.log(runs[col].to_numpy(dtype=float)))))
        if col in scaled
        else 1.0
        for col in law.inputs
    }


def build(spec: ModelSpec, runs: pd.DataFrame) -> tuple[Any, ModelInfo]:
    """Build the PyMC model of a loss-law ``spec`` on a validated run table.

    Parameters
    ----------
    spec : ModelSpec
        Law, priors, likelihood and pooling.
    runs : pandas.DataFrame
        A validated run table (outliers already removed by the caller if wanted).

    Returns
    -------
    (pymc.Model, ModelInfo)
        The model (observed variable ``log_loss`` on dim ``run``) and the reference scales.
    """
    import pymc as pm
    import pytensor.tensor as pt

    law = get_law(spec.law)
    for col in (*law.inputs, "loss"):
        if col not in runs.columns:
            raise RunTableError(f"law {law.name!r} needs column {col!r}, which the table lacks")
        values = runs[col].to_numpy(dtype=float)
        if not np.all(np.isfinite(values) & (values > 0)):
            pos = int(np.flatnonzero(~(np.isfinite(values) & (values > 0)))[0])
            raise RunTableError(
                f"law {law.name!r}: column {col!r}, row {runs.index[pos]}: needs a positive value"
            )
    scales = reference_scales(law, runs)
    run_ids = run_labels(runs)
    coords: dict[str, Any] = {"run": run_ids}
    pooling = spec.pooling
    group_idx: Any = None
    groups: tuple[str, ...] = ()
    if pooling is not None:
        if pooling.group not in runs.columns:
            raise RunTableError(f"group column {pooling.group!r} not found in the run table")
        codes, uniques = pd.factorize(runs[pooling.group].astype(str), sort=True)
        groups = tuple(str(u) for u in uniques)
        coords[pooling.group] = list(groups)
    pooled = tuple(pooling.params) if pooling is not None else ()

    if _anchored(law, spec):
        if law.name in KAPLAN_ANCHORED:
            return _build_anchored_kaplan(spec, runs, law, scales, coords, run_ids)
        return _build_anchored(spec, runs, law, scales, coords, run_ids)

    with pm.Model(coords=coords) as model:
        inputs = {
            col: pm.Data(col, runs[col].to_numpy(dtype=float) / scales[col], dims="run")
            for col in law.inputs
        }
        # reference scales are data too, so a compiled model can be reused on another table
        log_scales = {
            col: pm.Data(f"log_scale_{col}", float(np.log(scales[col])))
            for col in {pf.input for pf in law.prefactors.values()}
        }
        if pooling is not None:
            group_idx = pm.Data("group_idx", codes, dims="run")
        gdim = pooling.group if pooling is not None else None
        law_args: dict[str, Any] = {}
        population: dict[str, Any] = {}  # population-level value of each parameter
        group_level: dict[str, Any] = {}  # per-group value (pooled parameters only)

        for p in law.params:
            if p in law.prefactors:
                continue
            prior = spec.priors[p]
            if p in pooled:
                pop = prior.create(f"{p}_pop")
                tau = pm.HalfNormal(f"{p}_tau", sigma=pooling.tau)  # type: ignore[union-attr]
                z = pm.Normal(f"{p}_z", 0.0, 1.0, dims=gdim)
                val = pm.Deterministic(p, pop * pt.exp(tau * z), dims=gdim)
                population[p], group_level[p] = pop, val
                law_args[p] = val[group_idx]
            else:
                val = prior.create(p)
                population[p] = val
                law_args[p] = val

        for p, pf in law.prefactors.items():
            prior = spec.priors[p]
            mu, sigma = prior.kwargs["mu"], prior.kwargs["sigma"]
            log_x0 = log_scales[pf.input]
            power_pop = population[pf.exponent] if pf.exponent else 1.0
            if p in pooled:
                log_ref_pop = pm.Normal(f"log_{p}_ref_pop", mu - power_pop * log_x0, sigma)
                tau = pm.HalfNormal(f"{p}_tau", sigma=pooling.tau)  # type: ignore[union-attr]
                z = pm.Normal(f"{p}_z", 0.0, 1.0, dims=gdim)
                log_ref = log_ref_pop + tau * z
                power_g = group_level.get(pf.exponent, power_pop) if pf.exponent else 1.0
                pm.Deterministic(f"{p}_pop", pt.exp(log_ref_pop + power_pop * log_x0))
                pm.Deterministic(p, pt.exp(log_ref + power_g * log_x0), dims=gdim)
                law_args[p] = pt.exp(log_ref)[group_idx]
            elif pf.exponent in group_level:
                # shared reference-scale prefactor, group-level exponent: the prefactor in the
                # input's own units differs by group (P_g = P_ref·x0^power_g)
                log_ref = pm.Normal(f"log_{p}_ref", mu - power_pop * log_x0, sigma)
                power_g = group_level[pf.exponent]
                pm.Deterministic(f"{p}_pop", pt.exp(log_ref + power_pop * log_x0))
                pm.Deterministic(p, pt.exp(log_ref + power_g * log_x0), dims=gdim)
                law_args[p] = pt.exp(log_ref)
            else:
                log_ref = pm.Normal(f"log_{p}_ref", mu - power_pop * log_x0, sigma)
                pm.Deterministic(p, pt.exp(log_ref + power_pop * log_x0))
                law_args[p] = pt.exp(log_ref)

        mean_loss = law.loss(*inputs.values(), **law_args)
        log_mu = pt.log(mean_loss)
        noise = spec.likelihood.sigma.create("sigma")
        observed = pm.Data(
            "log_loss_observed", np.log(runs["loss"].to_numpy(dtype=float)), dims="run"
        )
        spec.likelihood.observe("log_loss", mu=log_mu, sigma=noise, observed=observed)

    info = ModelInfo(
        law=law.name,
        scales=scales,
        group=pooling.group if pooling is not None else None,
        groups=groups,
        pooled=pooled,
        run_ids=tuple(run_ids),
    )
    return model, info


def _prior_logp(prior: Any, value: Any) -> Any:
    """Log density of a spec prior at ``value`` (a PyMC expression)."""
    import pymc as pm

    return pm.logp(getattr(pm, prior.dist).dist(**prior.kwargs), value)


def _build_anchored(
    spec: ModelSpec,
    runs: pd.DataFrame,
    law: Law,
    scales: dict[str, float],
    coords: dict[str, Any],
    run_ids: list[str],
) -> tuple[Any, ModelInfo]:
    """The model in the anchored geometry (module docstring); same prior, same likelihood."""
    import pymc as pm
    import pytensor.tensor as pt

    irreducible = ANCHORED[law.name]
    order = _exponent_order(law, runs)
    with pm.Model(coords=coords) as model:
        inputs = {
            col: pm.Data(col, runs[col].to_numpy(dtype=float) / scales[col], dims="run")
            for col in law.inputs
        }
        log_scales = {
            col: pm.Data(f"log_scale_{col}", float(np.log(scales[col])))
            for col in {pf.input for pf in law.prefactors.values()}
        }
        law_args: dict[str, Any] = {}
        for p in law.params:
            if (
                p not in law.prefactors
                and p != irreducible
                and p not in {pf.exponent for pf in law.prefactors.values()}
            ):
                law_args[p] = spec.priors[p].create(p)
        # each coordinate is its data-based start (data, so that the compiled kernel serves
        # other tables) plus a free offset: the model's initial point is the start
        start = _anchored_start(spec, runs)

        def flat(name: str) -> Any:
            return pm.Data(f"{name}_start", float(start[name])) + pm.Flat(f"{name}_offset")

        log_l_ref = flat("log_loss_ref")
        l_ref = pt.exp(log_l_ref)
        slopes = {p: pt.exp(flat(f"log_slope_{p}")) for p in law.prefactors}
        exponent = {p: str(pf.exponent) for p, pf in law.prefactors.items()}
        free = {p: flat(f"{exponent[p]}_anchored") for p in order}
        bounds = _exponent_bounds(law, spec, order)
        exps, log_jac = _anchored_map(pt, l_ref, slopes, free, bounds, order)
        density = log_l_ref + log_jac  # Jacobians of L_ref -> log L_ref and of the exponents
        reducible: Any = 0.0
        for p, pf in law.prefactors.items():
            power = pm.Deterministic(exponent[p], exps[p])
            law_args[exponent[p]] = power
            density = density + _prior_logp(spec.priors[exponent[p]], power)
            mu, sigma = spec.priors[p].kwargs["mu"], spec.priors[p].kwargs["sigma"]
            ref = slopes[p] / power
            log_x0 = log_scales[pf.input]
            density = density + pm.logp(pm.Normal.dist(mu - power * log_x0, sigma), pt.log(ref))
            pm.Deterministic(p, ref * pt.exp(power * log_x0))
            law_args[p] = ref
            reducible = reducible + ref
        floor = pm.Deterministic(irreducible, l_ref - reducible)
        law_args[irreducible] = floor
        density = density + _prior_logp(spec.priors[irreducible], floor)
        pm.Potential("anchored_prior", density)

        mean_loss = law.loss(*inputs.values(), **{p: law_args[p] for p in law.params})
        log_mu = pt.log(mean_loss)
        noise = spec.likelihood.sigma.create("sigma")
        observed = pm.Data(
            "log_loss_observed", np.log(runs["loss"].to_numpy(dtype=float)), dims="run"
        )
        spec.likelihood.observe("log_loss", mu=log_mu, sigma=noise, observed=observed)
    info = ModelInfo(
        law=law.name, scales=scales, group=None, groups=(), pooled=(), run_ids=tuple(run_ids)
    )
    return model, info


def _kaplan_share_bounds(
    xp: Any, g_n: Any, g_d: Any, bounds_n: tuple[float, float], bounds_d: tuple[float, float]
) -> tuple[Any, Any]:
    """Range of the share ``w`` that keeps ``α_N = g_N/w`` and ``α_D = g_D/(1−w)`` in bounds."""
    lo: Any = 0.0
    hi: Any = 1.0
    if np.isfinite(bounds_n[1]):
        lo = xp.maximum(lo, g_n / bounds_n[1])
    if bounds_d[0] > 0:
        lo = xp.maximum(lo, 1.0 - g_d / bounds_d[0])
    if np.isfinite(bounds_d[1]):
        hi = xp.minimum(hi, 1.0 - g_d / bounds_d[1])
    if bounds_n[0] > 0:
        hi = xp.minimum(hi, g_n / bounds_n[0])
    return lo, hi


def _build_anchored_kaplan(
    spec: ModelSpec,
    runs: pd.DataFrame,
    law: Law,
    scales: dict[str, float],
    coords: dict[str, Any],
    run_ids: list[str],
) -> tuple[Any, ModelInfo]:
    """Kaplan's L(N, D) in its anchored geometry (module docstring); same prior and likelihood.

    Free: ``ℓ = log L_ref``, ``log g_N``, ``log g_D`` (minus the slopes of log loss in log N and
    log D at the reference point) and the share ``w = T_N/(T_N + T_D)`` of the N-term in the
    bracket there (``T_N = N_c_ref^(α_N/α_D)``, ``T_D = D_c_ref``), on the range that keeps the
    exponents in their priors' supports. Then ``α_N = g_N/w``, ``α_D = g_D/(1−w)``,
    ``log N_c_ref = (α_D·log w + ℓ)/α_N`` and ``log D_c_ref = log(1−w) + ℓ/α_D``; the density
    of ``(ℓ, log g_N, log g_D, w)`` is the spec's density of ``(log N_c_ref, log D_c_ref, α_N,
    α_D)`` times ``α_D/(w(1−w))``.
    """
    import pymc as pm
    import pytensor.tensor as pt

    n_c, d_c, a_n, a_d = KAPLAN_ANCHORED[law.name]
    pf_n, pf_d = law.prefactors[n_c], law.prefactors[d_c]
    start = _anchored_start(spec, runs)
    bounds_n = _support(spec.priors[a_n])
    bounds_d = _support(spec.priors[a_d])
    assert bounds_n is not None and bounds_d is not None
    with pm.Model(coords=coords) as model:
        inputs = {
            col: pm.Data(col, runs[col].to_numpy(dtype=float) / scales[col], dims="run")
            for col in law.inputs
        }
        log_x0 = {
            col: pm.Data(f"log_scale_{col}", float(np.log(scales[col])))
            for col in (pf_n.input, pf_d.input)
        }

        def flat(name: str) -> Any:
            return pm.Data(f"{name}_start", float(start[name])) + pm.Flat(f"{name}_offset")

        ell = flat("log_loss_ref")
        g_n = pt.exp(flat(f"log_slope_{n_c}"))
        g_d = pt.exp(flat(f"log_slope_{d_c}"))
        lo, hi = _kaplan_share_bounds(pt, g_n, g_d, bounds_n, bounds_d)
        z = flat("share_anchored")
        log_sig, log_one_minus = -pt.log1p(pt.exp(-z)), -pt.log1p(pt.exp(z))
        w = lo + (hi - lo) * pt.exp(log_sig)
        log_jac = pt.log(hi - lo) + log_sig + log_one_minus
        alpha_n = pm.Deterministic(a_n, g_n / w)
        alpha_d = pm.Deterministic(a_d, g_d / (1.0 - w))
        log_n_ref = (alpha_d * pt.log(w) + ell) / alpha_n
        log_d_ref = pt.log1p(-w) + ell / alpha_d
        density = log_jac + pt.log(alpha_d) - pt.log(w) - pt.log1p(-w)
        density = density + _prior_logp(spec.priors[a_n], alpha_n)
        density = density + _prior_logp(spec.priors[a_d], alpha_d)
        for name, log_ref, pf in ((n_c, log_n_ref, pf_n), (d_c, log_d_ref, pf_d)):
            mu, sigma = spec.priors[name].kwargs["mu"], spec.priors[name].kwargs["sigma"]
            density = density + pm.logp(pm.Normal.dist(mu - log_x0[pf.input], sigma), log_ref)
            pm.Deterministic(name, pt.exp(log_ref + log_x0[pf.input]))
        pm.Potential("anchored_prior", density)
        law_args = {n_c: pt.exp(log_n_ref), d_c: pt.exp(log_d_ref), a_n: alpha_n, a_d: alpha_d}
        mean_loss = law.loss(*inputs.values(), **{p: law_args[p] for p in law.params})
        noise = spec.likelihood.sigma.create("sigma")
        observed = pm.Data(
            "log_loss_observed", np.log(runs["loss"].to_numpy(dtype=float)), dims="run"
        )
        spec.likelihood.observe("log_loss", mu=pt.log(mean_loss), sigma=noise, observed=observed)
    info = ModelInfo(
        law=law.name, scales=scales, group=None, groups=(), pooled=(), run_ids=tuple(run_ids)
    )
    return model, info


def _kaplan_start(spec: ModelSpec, runs: pd.DataFrame, law: Law) -> dict[str, float]:
    n_c, d_c, a_n, a_d = KAPLAN_ANCHORED[law.name]
    scales = reference_scales(law, runs)
    cols = [
        np.log(
            runs[law.prefactors[p].input].to_numpy(dtype=float) / scales[law.prefactors[p].input]
        )
        for p in (n_c, d_c)
    ]
    x = np.column_stack([np.ones(len(runs)), *cols])
    coef = np.linalg.lstsq(x, np.log(runs["loss"].to_numpy(dtype=float)), rcond=None)[0]
    g_n, g_d = (float(np.clip(-c, 1e-3, 0.5)) for c in coef[1:])
    bounds_n, bounds_d = _support(spec.priors[a_n]), _support(spec.priors[a_d])
    assert bounds_n is not None and bounds_d is not None
    lo, hi = _kaplan_share_bounds(np, g_n, g_d, bounds_n, bounds_d)
    mu_n = float(spec.priors[a_n].kwargs.get("mu", 0.1))
    mu_d = float(spec.priors[a_d].kwargs.get("mu", 0.1))
    w = 0.5 * (g_n / mu_n + 1.0 - g_d / mu_d) if mu_n > 0 and mu_d > 0 else 0.5 * (lo + hi)
    if not lo + 0.05 * (hi - lo) < w < hi - 0.05 * (hi - lo):
        w = 0.5 * (lo + hi)
    return {
        "log_loss_ref": float(coef[0]),
        f"log_slope_{n_c}": float(np.log(g_n)),
        f"log_slope_{d_c}": float(np.log(g_d)),
        "share_anchored": _logit_inverse(float(w - lo), 0.0, float(hi - lo)),
    }


def _logit_inverse(value: float, lo: float, hi: float) -> float:
    """The free value that :func:`_bounded` maps onto ``value`` in ``(lo, hi)``."""
    if np.isinf(hi):
        return float(np.log(value - lo))
    u = (value - lo) / (hi - lo)
    return float(np.log(u) - np.log1p(-u))


def initial_values(spec: ModelSpec, runs: pd.DataFrame) -> dict[str, np.ndarray]:
    """Chains of the anchored geometry start at its data-based start ({} for other models).

    The model's free variables are offsets from :func:`_anchored_start` (zero there), so the
    values are zeros; giving them makes the chains start there jittered by
    ±``sampling.INIT_JITTER`` rather than by PyMC's ±1.

    Examples
    --------
    >>> from bayescale.modeling.spec import load_spec
    >>> from bayescale.testing import simulate_runs
    >>> start = initial_values(load_spec("chinchilla"), simulate_runs(n=30, seed=1))
    >>> sorted(start)[:2], float(start["log_loss_ref_offset"])
    (['alpha_anchored_offset', 'beta_anchored_offset'], 0.0)
    """
    if not _anchored(get_law(spec.law), spec):
        return {}
    return {f"{k}_offset": np.asarray(0.0) for k in _anchored_start(spec, runs)}


def _anchored_start(spec: ModelSpec, runs: pd.DataFrame) -> dict[str, float]:
    """Starting values of the anchored coordinates read off the data.

    A least-squares plane of log loss on the log inputs at the reference point gives
    ``L_ref`` and the slopes; each exponent starts at its prior median if that leaves the
    floor above a third of ``L_ref``, else in the middle of its allowed range.

    Examples
    --------
    >>> from bayescale.modeling.spec import load_spec
    >>> from bayescale.testing import simulate_runs
    >>> start = _anchored_start(load_spec("chinchilla"), simulate_runs(n=30, seed=1))
    >>> sorted(start)
    ['alpha_anchored', 'beta_anchored', 'log_loss_ref', 'log_slope_A', 'log_slope_B']
    """
    law = get_law(spec.law)
    if law.name in KAPLAN_ANCHORED:
        return _kaplan_start(spec, runs, law)
    scales = reference_scales(law, runs)
    names = list(law.prefactors)
    cols = [
        np.log(
            runs[law.prefactors[p].input].to_numpy(dtype=float) / scales[law.prefactors[p].input]
        )
        for p in names
    ]
    x = np.column_stack([np.ones(len(runs)), *cols])
    coef = np.linalg.lstsq(x, np.log(runs["loss"].to_numpy(dtype=float)), rcond=None)[0]
    l_ref = float(np.exp(coef[0]))
    # slopes of the loss (not its log) in log input; kept small enough that a floor exists
    slopes = {
        p: float(np.clip(-c, 1e-3, 0.2)) * l_ref for p, c in zip(names, coef[1:], strict=True)
    }
    order = _exponent_order(law, runs)
    bounds = _exponent_bounds(law, spec, order)
    out: dict[str, float] = {"log_loss_ref": float(np.log(l_ref))}
    out.update({f"log_slope_{p}": float(np.log(s)) for p, s in slopes.items()})
    exps: dict[str, float] = {}
    for i, p in enumerate(order):
        lo_b, hi = bounds[p]
        room = l_ref - sum(slopes[q] / exps[q] for q in order[:i])
        room -= sum(slopes[q] / bounds[q][1] for q in order[i + 1 :] if np.isfinite(bounds[q][1]))
        lo = max(lo_b, slopes[p] / room)
        mid = lo + 1.0 if np.isinf(hi) else 0.5 * (lo + hi)
        prior = spec.priors[str(law.prefactors[p].exponent)]
        guess = float(prior.kwargs.get("mu", mid))
        # the floor left if this and the later exponents sat at the guess / their upper bounds
        ok = lo < guess < hi and room - slopes[p] / guess > l_ref / (3 * len(order))
        exps[p] = guess if ok else mid
        out[f"{law.prefactors[p].exponent}_anchored"] = _logit_inverse(exps[p], lo, hi)
    return out


def group_draws(
    law: Law, post: xr.Dataset, info: ModelInfo, names: list[str], rng: np.random.Generator
) -> xr.Dataset:
    """Parameters of an unseen group: ``log p_new = log p_pop + tau·z`` (as :func:`build` pools).

    Parameters
    ----------
    law : Law
        The fitted law.
    post : xarray.Dataset
        The posterior (with ``<p>_pop`` and ``<p>_tau`` for every pooled ``p``).
    info : ModelInfo
        The builder's record (group dim, pooled parameters, reference scales).
    names : list of str
        Variables wanted: the law's parameters and any extras (taken as they are).
    rng : numpy.random.Generator
        Draws the new group's standard-normal offsets.

    Returns
    -------
    xarray.Dataset
        ``names``, dims ``chain`` and ``draw``.
    """
    gdim = info.group
    shape = (post.sizes["chain"], post.sizes["draw"])
    out: dict[str, xr.DataArray] = {}
    pooled = set(info.pooled)
    for p in (p for p in names if p not in law.prefactors):
        if p not in pooled:
            out[p] = post[p]
            continue
        z = xr.DataArray(rng.standard_normal(shape), dims=SAMPLE_DIMS)
        out[p] = post[f"{p}_pop"] * np.exp(post[f"{p}_tau"] * z)
    for p, pf in law.prefactors.items():
        if p not in pooled:
            out[p] = post[p]
            continue
        # build sets P_g = exp(log P_ref_pop + tau·z_g + power_g·log x0) and stores
        # P_pop = exp(log P_ref_pop + power_pop·log x0); so P_new = P_pop·exp(tau·z)·x0^Δpower.
        log_x0 = float(np.log(info.scales[pf.input]))
        if pf.exponent is not None:
            d_power = out[pf.exponent] - post[f"{pf.exponent}_pop"] if pf.exponent in pooled else 0
        else:
            d_power = 0
        z = xr.DataArray(rng.standard_normal(shape), dims=SAMPLE_DIMS)
        out[p] = post[f"{p}_pop"] * np.exp(post[f"{p}_tau"] * z + d_power * log_x0)
    ds = xr.Dataset({n: out[n] for n in names if n in out})
    for n in names:
        if n not in ds:
            ds[n] = post[n]
    if gdim in ds.dims:  # only when a carried variable had the group dim
        raise BayescaleError(
            f"cannot draw {sorted(map(str, ds.data_vars))} for a new {gdim!r} value"
        )
    return ds[names]


#: The loss family (``Law.family = "loss"``, the default).
LOSS = register_family(
    Family(
        name="loss",
        description="a law of a run's inputs for its final loss, prefactors at reference scales",
        prepare=prepare,
        build=build,
        options=OPTIONS,
        initial_values=initial_values,
        group_draws=group_draws,
        predicts_loss=True,
        drops_outliers=True,
    )
)
