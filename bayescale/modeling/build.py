"""Build a PyMC model from a spec and a validated run table (pure graph construction).

Geometry: prefactors (``A``, ``B``, ``N_c``, ...) are sampled as ``log P_ref``, the prefactor at
the data's reference scale (the geometric mean of the input the prefactor multiplies). The law is
evaluated on the inputs divided by that scale, so each prefactor is nearly uncorrelated with its
exponent. The spec's LogNormal prior on ``P`` is kept exactly: ``log P = log P_ref + power·log x0``
is a unit-Jacobian shear, so ``log P_ref | power ~ Normal(mu − power·log x0, sigma)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayescale.exceptions import RunTableError
from bayescale.laws import Law, get_law
from bayescale.modeling.spec import ModelSpec

__all__ = ["ModelInfo", "build_model", "family_module"]


@dataclass(frozen=True)
class ModelInfo:
    """What the model builder decided, needed to interpret the posterior later."""

    law: str
    scales: dict[str, float]
    group: str | None = None
    groups: tuple[str, ...] = ()
    pooled: tuple[str, ...] = ()
    run_ids: tuple[str, ...] = field(default_factory=tuple)


def family_module(family: str) -> Any:
    """The module implementing a non-default model family (``prepare`` and ``build``)."""
    import importlib

    return importlib.import_module(f"bayescale.modeling.families.{family}")


def run_labels(runs: pd.DataFrame) -> list[str]:
    """Labels of the ``run`` dim: the ``run_id`` column, else the row positions."""
    if "run_id" in runs.columns:
        return [str(v) for v in runs["run_id"]]
    return [str(i) for i in range(len(runs))]


def reference_scales(law: Law, runs: pd.DataFrame) -> dict[str, float]:
    """Geometric mean of every input that a prefactor multiplies (1 for the others)."""
    scaled = {pf.input for pf in law.prefactors.values()}
    return {
        col: float(np.exp(np.mean(np.log(runs[col].to_numpy(dtype=float)))))
        if col in scaled
        else 1.0
        for col in law.inputs
    }


def build_model(spec: ModelSpec, runs: pd.DataFrame) -> tuple[Any, ModelInfo]:
    """Build the PyMC model of ``spec`` on a validated run table.

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
    if law.family != "loss":
        return family_module(law.family).build(spec, runs)
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
