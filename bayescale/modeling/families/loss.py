"""The loss family: a law of a run's inputs for its final loss (Chinchilla, Kaplan, ...).

Geometry: prefactors (``A``, ``B``, ``N_c``, ...) are sampled as ``log P_ref``, the prefactor at
the data's reference scale (the geometric mean of the input the prefactor multiplies). The law is
evaluated on the inputs divided by that scale, so each prefactor is nearly uncorrelated with its
exponent. The spec's LogNormal prior on ``P`` is kept exactly: ``log P = log P_ref + power·log x0``
is a unit-Jacobian shear, so ``log P_ref | power ~ Normal(mu − power·log x0, sigma)``.

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
from bayescale.exceptions import BayescaleError, RunTableError
from bayescale.laws import Law, get_law
from bayescale.modeling.families._common import run_labels
from bayescale.modeling.families.base import Family, ModelInfo, register_family

if TYPE_CHECKING:
    from bayescale.modeling.spec import ModelSpec

__all__ = ["LOSS", "build", "group_draws", "prepare", "reference_scales"]

log = logging.getLogger("bayescale")


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
        group_draws=group_draws,
        predicts_loss=True,
        drops_outliers=True,
    )
)
