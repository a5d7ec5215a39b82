"""What the plots draw, taken from the analysis layer (plots only draw).

Loss draws come from :func:`bayescale.analysis.predict.predict`, allocations from
:func:`bayescale.analysis.allocate.allocate`, published values from
:mod:`bayescale.data.published`. The only thing computed here is the prior predictive (the
analysis layer works on posteriors): the spec's priors drawn with PyMC and pushed through the
law function.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayescale.constants import FLOPS_PER_PARAM_TOKEN, SAMPLE_DIMS
from bayescale.exceptions import BayescaleError
from bayescale.laws import chinchilla_optimal, get_law
from bayescale.modeling import build

__all__ = [
    "REFERENCE_FITS",
    "ReferenceFit",
    "excluded_runs",
    "loss_draws",
    "optimal_draws",
    "prior_predictive_draws",
    "reference_allocation",
    "require_loss_family",
]


@dataclass(frozen=True)
class ReferenceFit:
    """A published fit drawn for contrast: a short legend label and its registry entry."""

    label: str
    published: str

    @property
    def law(self) -> str:
        """The law of the published fit."""
        return self._entry().law

    @property
    def values(self) -> Mapping[str, float]:
        """The published values."""
        return self._entry().values

    @property
    def citation(self) -> str:
        """Source and locator."""
        entry = self._entry()
        return f"{entry.citation}; {entry.locator}"

    def _entry(self) -> Any:
        from bayescale.data.published import published_fit

        return published_fit(self.published)


#: Published fits drawn as reference lines, by short name.
REFERENCE_FITS: dict[str, ReferenceFit] = {
    "kaplan": ReferenceFit("Kaplan et al. 2020", "kaplan2020_allocation"),
    "hoffmann": ReferenceFit("Hoffmann et al. 2022", "hoffmann2022_approach3_unrounded"),
    "epoch": ReferenceFit("Besiroglu et al. 2024 (Epoch)", "besiroglu2024"),
}


def require_loss_family(fit: Any, what: str) -> None:
    """Raise a clear error when ``fit``'s family does not predict runs (e.g. IsoFLOP parabolas)."""
    law = get_law(fit.spec.law)
    if not build.family_module(law.family).predicts_loss:
        raise BayescaleError(
            f"{what} draws loss laws of N and D; {law.name!r} is a {law.family!r}-family model"
        )


def loss_draws(
    fit: Any,
    inputs: Mapping[str, Any],
    *,
    kind: str = "mean",
    group: str | None = None,
    seed: int = 0,
) -> xr.DataArray:
    """Posterior loss draws at the points ``inputs`` (dims chain, draw, point[, group])."""
    from bayescale.analysis.predict import predict

    points: dict[str, Any] = {k: np.asarray(v, dtype=float) for k, v in inputs.items()}
    ds = predict(fit, **points, kind=kind, group=group, random_seed=seed)  # type: ignore[arg-type]
    return ds["loss"]


def optimal_draws(
    fit: Any, flops: Sequence[float] | np.ndarray, *, group: str | None = None
) -> xr.Dataset:
    """Posterior of the compute-optimal allocation per budget (dims chain, draw, flops[, group])."""
    from bayescale.analysis.allocate import allocate

    return allocate(fit, flops=np.asarray(flops, dtype=float), group=group)


def excluded_runs(fit: Any) -> pd.DataFrame | None:
    """The runs a fit excluded as flagged outliers, re-read from its source; None if unknown.

    A fit keeps only the runs it used and the count it excluded (``outliers_excluded``); the
    excluded rows come back from the registered dataset (checked against its SHA-256) or the
    source file, when either is at hand, so the plots can draw them apart.
    """
    attrs = fit.tree.attrs
    if not int(attrs.get("outliers_excluded", 0) or 0):
        return None
    from pathlib import Path

    from bayescale.data.registry import load_dataset
    from bayescale.data.schema import read_runs

    try:
        if attrs.get("dataset"):
            table = load_dataset(str(attrs["dataset"]))
        elif attrs.get("source") and Path(str(attrs["source"])).is_file():
            table = read_runs(str(attrs["source"]))
        else:
            return None
    except (BayescaleError, OSError):
        return None
    if "outlier" not in table:
        return None
    return table.loc[table["outlier"].astype(bool)].reset_index(drop=True)


def prior_predictive_draws(
    fit: Any, inputs: Mapping[str, Any], *, draws: int = 500, seed: int = 0
) -> xr.DataArray:
    """Loss of new runs at ``inputs`` under the spec's priors (dims chain, draw, point)."""
    import pymc as pm

    spec = fit.spec
    law = get_law(spec.law)
    if not build.family_module(law.family).predicts_loss:
        raise BayescaleError(f"no prior predictive for the {law.family!r} model family")
    names = (*law.params, "sigma")
    priors = [spec.priors[p] if p != "sigma" else spec.likelihood.sigma for p in names]
    dists = [getattr(pm, prior.dist).dist(**prior.kwargs) for prior in priors]
    with warnings.catch_warnings():  # numba falls back to object mode for some samplers
        warnings.filterwarnings("ignore", "Numba will use object mode", UserWarning)
        values = pm.draw(dists, draws=draws, random_seed=seed, mode="FAST_COMPILE")
    theta = {
        p: xr.DataArray(np.asarray(v, dtype=float).reshape(1, draws), dims=SAMPLE_DIMS)
        for p, v in zip(names, values, strict=True)
    }
    x = {c: xr.DataArray(np.asarray(inputs[c], dtype=float), dims="point") for c in law.inputs}
    rng = np.random.default_rng(seed)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        mean = law(**x, **{p: theta[p] for p in law.params}).transpose(*SAMPLE_DIMS, "point")
        noise = xr.DataArray(spec.likelihood.sample_noise(rng, mean.shape), dims=mean.dims)
        out: xr.DataArray = np.exp(np.log(mean) + theta["sigma"] * noise)
    return out


def reference_allocation(name: str, flops: np.ndarray) -> dict[str, np.ndarray]:
    """Compute-optimal N and D of a published fit (``params_opt``, ``tokens_opt``).

    Kaplan's line is his eq. (6.1) with D = C / (6·N); the Chinchilla-law fits use the closed
    form of :func:`bayescale.laws.chinchilla_optimal` with their published values.
    """
    ref = REFERENCE_FITS[name]
    c = np.asarray(flops, dtype=float)
    if ref.law == "compute_optimal":
        n = ref.values["n_coef"] * c ** ref.values["a"]
        return {"params_opt": n, "tokens_opt": c / (FLOPS_PER_PARAM_TOKEN * n)}
    values = {p: ref.values[p] for p in ("E", "A", "B", "alpha", "beta")}
    out = chinchilla_optimal(c, **values)
    return {
        "params_opt": np.asarray(out["params_opt"]),
        "tokens_opt": np.asarray(out["tokens_opt"]),
    }
