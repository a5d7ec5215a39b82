"""Equal-tailed intervals, defined once: :func:`eti` on arrays, :func:`eti_dims` on named dims.

Every interval bayescale reports (summaries, analysis tables, plot bands, comparison scores) is
computed here. ``ci_prob=None`` means :data:`bayescale.constants.DEFAULT_CI_PROB`.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import xarray as xr

from bayescale.constants import DEFAULT_CI_PROB, SAMPLE_DIMS
from bayescale.exceptions import BayescaleError

__all__ = ["check_ci", "eti", "eti_dims", "interval_bounds"]


def check_ci(ci_prob: float | None = None) -> float:
    """Validate an interval mass and return it as a float (``None``: the default mass).

    Examples
    --------
    >>> check_ci(None)
    0.9
    """
    ci = DEFAULT_CI_PROB if ci_prob is None else float(ci_prob)
    if not 0.0 < ci < 1.0:
        raise BayescaleError(f"ci_prob must be between 0 and 1, got {ci_prob}")
    return ci


def interval_bounds(ci_prob: float | None = None) -> tuple[float, float]:
    """Lower and upper quantile levels of an equal-tailed interval of mass ``ci_prob``.

    Examples
    --------
    >>> interval_bounds(0.9)
    (0.05, 0.95)
    """
    ci = check_ci(ci_prob)
    lo = round((1.0 - ci) / 2.0, 12)
    return lo, round(1.0 - lo, 12)


def eti(
    values: Any,
    ci_prob: float | None = None,
    *,
    axis: int | tuple[int, ...] | None = None,
    skipna: bool = False,
) -> np.ndarray:
    """Lower bound, median and upper bound of the equal-tailed interval of mass ``ci_prob``.

    Parameters
    ----------
    values : array_like
        Draws.
    ci_prob : float, optional
        Interval mass in (0, 1); default :data:`~bayescale.constants.DEFAULT_CI_PROB`.
    axis : int or tuple of int, optional
        Axes holding the draws (default: all).
    skipna : bool, default False
        Ignore NaN draws; otherwise a NaN draw makes the interval NaN.

    Returns
    -------
    numpy.ndarray
        Shape ``(3, *rest)``: lower, median, upper (linear interpolation between order
        statistics).

    Examples
    --------
    >>> eti(np.arange(101.0), 0.9).tolist()
    [5.0, 50.0, 95.0]
    """
    lo, hi = interval_bounds(ci_prob)
    quantile = np.nanquantile if skipna else np.quantile
    return np.asarray(quantile(np.asarray(values, dtype=float), [lo, 0.5, hi], axis=axis))


def eti_dims(
    draws: xr.DataArray,
    ci_prob: float | None = None,
    *,
    dims: Sequence[Hashable] = SAMPLE_DIMS,
    skipna: bool = False,
) -> xr.Dataset:
    """:func:`eti` over the named ``dims`` of ``draws`` (those it has).

    Returns
    -------
    xarray.Dataset
        Variables ``median``, ``lower`` and ``upper`` on the remaining dims and coordinates.

    Examples
    --------
    >>> da = xr.DataArray(np.arange(202.0).reshape(2, 101), dims=("chain", "draw"))
    >>> float(eti_dims(da, 0.5)["upper"])
    150.75
    """
    core = [d for d in dims if d in draws.dims]
    n = len(core)

    def _eti(x: np.ndarray) -> np.ndarray:
        out = eti(x, ci_prob, axis=tuple(range(x.ndim - n, x.ndim)), skipna=skipna)
        return np.moveaxis(out, 0, -1)

    q = xr.apply_ufunc(_eti, draws, input_core_dims=[core], output_core_dims=[["_eti"]])
    return xr.Dataset(
        {
            "median": q.isel(_eti=1, drop=True),
            "lower": q.isel(_eti=0, drop=True),
            "upper": q.isel(_eti=2, drop=True),
        }
    )
