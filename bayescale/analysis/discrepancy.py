"""The law's own error beyond the fitted range, shared by predictions, allocations and decisions.

A posterior is honest about the law's parameters *given that the law is exactly right*. Past
the fitted runs the law's form is the larger error, so ``predict(kind="predictive")``,
``allocate`` and ``decide`` (their default) multiply the law's loss by ``exp(delta)``, with

``delta(x) = sum_k tau_k · z_k · d_k(x)``,  ``z_k ~ Normal(0, 1)`` once per posterior draw,

over the directions ``k`` of :data:`DIRECTIONS`: decades of training compute C = 6·N·D
(``compute``; for a one-input law, of that input), of tokens per parameter D/N (``ratio``), of
parameters N (``params``) and of training tokens D (``tokens``), each counted outside the fitted
runs' range of that coordinate (0 inside). ``tau_k`` are the spec's
:class:`~bayescale.modeling.spec.Discrepancy` scales, ``sqrt(a_k² + (b_k·sigma)²)`` with
``sigma`` the draw's noise scale (the fitted runs' scatter around the law). A draw's error is
a random *slope* beyond the data, shared by every point of that draw: a law that is 2 % high
at 10× is also high at 30×. The ``params`` and ``tokens`` slopes act like small errors in
the exponents α and β past the data, so they move each draw's compute-optimal allocation too,
and ``allocate``'s N_opt and D_opt intervals widen with them; the ``compute`` slope shifts
every allocation of one budget alike, so it widens the loss but leaves the optimum alone.

This module is the one implementation: :func:`draw_law_error` draws the slopes,
:meth:`LawError.log_shift` evaluates ``delta`` on xarray or numpy coordinates.

Examples
--------
>>> from bayescale.testing import fake_fit
>>> from bayescale.modeling.spec import Discrepancy
>>> fit = fake_fit("chinchilla", draws=100)
>>> err = draw_law_error(fit, Discrepancy(params=0.02, tokens=0.02), random_seed=1)
>>> sorted(err.slopes.data_vars)
['params', 'tokens']
>>> top_n, top_d = (10 ** err.bounds[k][1] for k in ("params", "tokens"))
>>> shift = err.log_shift(coordinates(fit.law, {"params": 100 * top_n, "tokens": 100 * top_d}))
>>> round(float(shift.std()) / 0.02, 1)  # two decades past both: sqrt(2² + 2²) ≈ 2.8 expected
3.0
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from bayescale.constants import FLOPS_PER_PARAM_TOKEN, SAMPLE_DIMS
from bayescale.exceptions import BayescaleError

if TYPE_CHECKING:
    from bayescale.laws import Law
    from bayescale.modeling.fit import Fit
    from bayescale.modeling.spec import Discrepancy

__all__ = [
    "DIRECTIONS",
    "LawError",
    "coordinates",
    "distances",
    "draw_law_error",
    "fitted_bounds",
    "scale",
]

#: Directions of the law's error, in the order their standard normals are drawn (the
#: :class:`~bayescale.modeling.spec.Discrepancy` fields of the same names).
DIRECTIONS: tuple[str, ...] = ("compute", "ratio", "params", "tokens")


def _nd(law: Law) -> bool:
    return law.inputs[:2] == ("params", "tokens")


def coordinates(law: Law, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """log10 of each direction's coordinate at ``inputs`` (numpy or xarray, broadcast).

    An (N, D) law has all of :data:`DIRECTIONS`; any other law only ``compute``, the log10 of
    its first input.

    Examples
    --------
    >>> from bayescale.laws import get_law
    >>> c = coordinates(get_law("chinchilla"), {"params": 1e9, "tokens": 2e10})
    >>> {k: round(float(v), 3) for k, v in c.items()}
    {'compute': 20.079, 'ratio': 1.301, 'params': 9.0, 'tokens': 10.301}
    """
    if _nd(law):
        n, d = inputs["params"], inputs["tokens"]
        log_n, log_d = np.log10(n), np.log10(d)
        return {
            "compute": np.log10(FLOPS_PER_PARAM_TOKEN) + log_n + log_d,
            "ratio": log_d - log_n,
            "params": log_n,
            "tokens": log_d,
        }
    return {"compute": np.log10(inputs[law.inputs[0]])}


def fitted_bounds(fit: Fit) -> dict[str, tuple[float, float]]:
    """The fitted runs' range of each direction's log10 coordinate (flagged outliers left out).

    Examples
    --------
    >>> from bayescale.testing import fake_fit
    >>> sorted(fitted_bounds(fake_fit("chinchilla", draws=10)))
    ['compute', 'params', 'ratio', 'tokens']
    """
    runs = fit.runs
    if "outlier" in runs.columns:
        runs = runs.loc[~runs["outlier"].astype(bool)]
    law = fit.law
    cols = {
        c: pd.to_numeric(runs[c], errors="coerce").to_numpy(dtype=float)
        for c in law.inputs
        if c in runs.columns
    }
    out = {}
    for k, v in coordinates(law, cols).items():
        v = np.asarray(v, dtype=float)
        v = v[np.isfinite(v)]
        if v.size:
            out[k] = (float(v.min()), float(v.max()))
    return out


def _outside(values: Any, bounds: tuple[float, float]) -> Any:
    lo, hi = bounds
    return np.maximum(values - hi, 0.0) + np.maximum(lo - values, 0.0)


def distances(fit: Fit, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Decades outside the fitted range in each direction the law has (0 inside).

    Examples
    --------
    >>> from bayescale.testing import fake_fit
    >>> fit = fake_fit("chinchilla", draws=10)
    >>> top = 10 ** fitted_bounds(fit)["params"][1]
    >>> round(float(distances(fit, {"params": 10 * top, "tokens": 1e10})["params"]), 6)
    1.0
    """
    bounds = fitted_bounds(fit)
    coords = coordinates(fit.law, inputs)
    return {k: _outside(v, bounds[k]) for k, v in coords.items() if k in bounds}


@dataclass(frozen=True)
class LawError:
    """Each posterior draw's random slopes of the law's error, and where they start.

    Attributes
    ----------
    slopes : xarray.Dataset
        One variable per active direction: ``tau_k·z_k``, dims ``chain``, ``draw``.
    bounds : dict
        The fitted range of each direction's log10 coordinate (:func:`fitted_bounds`).
    """

    slopes: xr.Dataset
    bounds: Mapping[str, tuple[float, float]]

    @property
    def directions(self) -> tuple[str, ...]:
        """The active directions, in :data:`DIRECTIONS` order."""
        return tuple(str(k) for k in self.slopes.data_vars)

    def log_shift(self, coords: Mapping[str, Any], slopes: Mapping[str, Any] | None = None) -> Any:
        """``delta`` at points with log10 coordinates ``coords`` (:func:`coordinates`).

        ``slopes`` replaces :attr:`slopes` with the same variables as other arrays (e.g. numpy
        arrays aligned with ``coords`` for a vectorised optimum); by default the Dataset's
        DataArrays broadcast with ``coords`` by dim name.
        """
        source = self.slopes if slopes is None else slopes
        total: Any = 0.0
        for k in self.directions:
            total = total + source[k] * _outside(coords[k], self.bounds[k])
        return total

    def on_nd(self, slopes: Mapping[str, Any]) -> Any:
        """``delta`` as a function of (N, D) arrays, with ``slopes`` aligned to them."""

        def shift(n: Any, d: Any) -> Any:
            log_n, log_d = np.log10(n), np.log10(d)
            coords = {
                "compute": np.log10(FLOPS_PER_PARAM_TOKEN) + log_n + log_d,
                "ratio": log_d - log_n,
                "params": log_n,
                "tokens": log_d,
            }
            return self.log_shift(coords, slopes)

        return shift


def draw_law_error(
    fit: Fit,
    term: Discrepancy | None = None,
    *,
    random_seed: int | np.random.Generator | None = None,
) -> LawError | None:
    """Random slopes of the law's error for every posterior draw (None when the term is off).

    Parameters
    ----------
    fit : Fit
        The fit (its posterior's ``chain`` and ``draw`` and its runs' range).
    term : Discrepancy, optional
        Scales per direction; default the fit's spec's ``[likelihood.discrepancy]``.
    random_seed : int or numpy.random.Generator, optional
        One standard normal per direction of :data:`DIRECTIONS` and draw, drawn in that order
        (so a scale that is 0 does not change the others' draws).

    Each draw's slope in direction ``k`` is ``sqrt(a_k² + (b_k·sigma)²)·z_k``, with ``sigma``
    that draw's noise scale when a ``b_k`` is set (a pooled fit's per-group sigma is not
    used: the population value is, if the posterior has no plain ``sigma`` it is an error).

    Returns
    -------
    LawError or None
        None when no scale the law can use is positive.
    """
    term = fit.spec.likelihood.discrepancy if term is None else term
    bounds = fitted_bounds(fit)
    active = [
        k for k in DIRECTIONS if k in bounds and (term.absolute(k) > 0 or term.per_sigma(k) > 0)
    ]
    if not active:
        return None
    post = fit.posterior
    shape = (post.sizes["chain"], post.sizes["draw"])
    sigma = np.zeros(shape)
    if any(term.per_sigma(k) > 0 for k in active):
        if "sigma" not in post or set(post["sigma"].dims) != set(SAMPLE_DIMS):
            raise BayescaleError(
                "the discrepancy's *_per_sigma scales need the posterior noise scale 'sigma' "
                "(one per draw), which this fit lacks"
            )
        sigma = post["sigma"].transpose(*SAMPLE_DIMS).to_numpy()
    rng = np.random.default_rng(random_seed)
    z = rng.standard_normal((len(DIRECTIONS), *shape))
    coords = {d: post[d] for d in SAMPLE_DIMS}
    slopes = xr.Dataset(
        {k: (SAMPLE_DIMS, scale(term, k, sigma) * z[DIRECTIONS.index(k)]) for k in active},
        coords=coords,
    )
    return LawError(slopes=slopes, bounds={k: bounds[k] for k in active})


def scale(term: Discrepancy, direction: str, sigma: Any) -> Any:
    """``tau_k = sqrt(a_k² + (b_k·sigma)²)``: sd of log loss per decade in one direction.

    Examples
    --------
    >>> from bayescale.modeling.spec import Discrepancy
    >>> round(float(scale(Discrepancy(compute=0.03, compute_per_sigma=2.0), "compute", 0.02)), 6)
    0.05
    """
    a, b = term.absolute(direction), term.per_sigma(direction)
    return np.sqrt(a**2 + (b * np.asarray(sigma)) ** 2)
