"""How far a prediction or an allocation reaches beyond the runs a fit saw.

The distance is counted in decades (powers of ten) outside the fitted range of each input:
``extrap_N`` for parameters, ``extrap_D`` for tokens and ``extrap_C`` for compute, 0 inside
the range, ``log10(x / max)`` above it and ``log10(min / x)`` below it. :func:`label` adds the
three columns to a table of points (predictions) or of optima (allocations), warns past
:data:`WARN_DECADES` and refuses points that are not models at all (fewer than one parameter
or one training token, e.g. ``params=70e9, flops=1``).

Examples
--------
>>> from bayescale.testing import fake_fit
>>> import pandas as pd
>>> fit = fake_fit("chinchilla", draws=50)
>>> t = distance(fit, pd.DataFrame({"params": [fit.runs["params"].max() * 100]}))
>>> float(t["extrap_N"].iloc[0])
2.0
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bayescale.constants import FLOPS_PER_PARAM_TOKEN
from bayescale.exceptions import BayescaleError, ExtrapolationWarning

if TYPE_CHECKING:
    from bayescale.modeling.fit import Fit

__all__ = ["COLUMNS", "WARN_DECADES", "check_models", "distance", "fitted_range", "label"]

#: Beyond this many decades outside the fitted range (in N, D or C), :func:`label` warns.
WARN_DECADES = 2.0
#: The distance columns, by the run-table column they measure.
COLUMNS: dict[str, str] = {"params": "extrap_N", "tokens": "extrap_D", "flops": "extrap_C"}


def fitted_range(fit: Fit) -> dict[str, tuple[float, float]]:
    """``{column: (min, max)}`` of params, tokens and flops over the runs the fit used."""
    runs = fit.runs
    if "outlier" in runs.columns:
        runs = runs.loc[~runs["outlier"].astype(bool)]
    out: dict[str, tuple[float, float]] = {}
    for col in COLUMNS:
        if col in runs.columns:
            values = pd.to_numeric(runs[col], errors="coerce").to_numpy(dtype=float)
            values = values[np.isfinite(values) & (values > 0)]
            if values.size:
                out[col] = (float(values.min()), float(values.max()))
    if "flops" not in out and {"params", "tokens"} <= set(out):
        c = FLOPS_PER_PARAM_TOKEN * runs["params"].to_numpy(float) * runs["tokens"].to_numpy(float)
        out["flops"] = (float(c.min()), float(c.max()))
    return out


def _decades(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        above = np.log10(values / hi)
        below = np.log10(lo / values)
    return np.round(np.maximum(0.0, np.fmax(above, below)), 2)


def distance(
    fit: Fit,
    table: pd.DataFrame,
    *,
    columns: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Decades outside the fitted range, per row of ``table``: ``extrap_N``, ``_D``, ``_C``.

    Parameters
    ----------
    fit : Fit
        The fit whose runs define the range.
    table : pandas.DataFrame
        Points or optima.
    columns : dict, optional
        Where ``table`` holds params, tokens and flops, e.g. ``{"params": "params_opt_median"}``
        for an allocation (default: the run-table names). ``flops`` is derived as 6·N·D when
        absent; a quantity the table lacks gets NaN.

    Returns
    -------
    pandas.DataFrame
        The three distance columns, on ``table``'s index.
    """
    where = {c: c for c in COLUMNS} | dict(columns or {})
    ranges = fitted_range(fit)
    values: dict[str, np.ndarray] = {}
    for col, name in where.items():
        if name in table.columns:
            values[col] = pd.to_numeric(table[name], errors="coerce").to_numpy(dtype=float)
    if "flops" not in values and {"params", "tokens"} <= set(values):
        values["flops"] = FLOPS_PER_PARAM_TOKEN * values["params"] * values["tokens"]
    out = pd.DataFrame(index=table.index)
    for col, name in COLUMNS.items():
        if col in values and col in ranges:
            out[name] = _decades(values[col], *ranges[col])
        else:
            out[name] = np.nan
    return out


def check_models(table: pd.DataFrame, *, columns: dict[str, str] | None = None) -> None:
    """Refuse rows with fewer than one parameter or one training token.

    Raises
    ------
    BayescaleError
        Naming the row, the value and what to change (e.g. ``params=70e9, flops=1`` gives
        D = 2.4e-12 tokens).
    """
    where = {c: c for c in COLUMNS} | dict(columns or {})
    for col, unit in (("params", "parameter"), ("tokens", "training token")):
        name = where[col]
        if name not in table.columns:
            continue
        values = pd.to_numeric(table[name], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(values < 1)
        if bad.size:
            row = int(bad[0])
            raise BayescaleError(
                f"row {row}: {name} = {values[row]:.3g} is below one {unit}, not a model one can "
                "train: raise the compute (--flops) or lower the model size (--params)"
            )


def label(
    fit: Fit,
    table: pd.DataFrame,
    *,
    columns: dict[str, str] | None = None,
    warn: bool = True,
) -> pd.DataFrame:
    """``table`` with its extrapolation distance columns, after refusing non-models.

    Parameters
    ----------
    fit : Fit
        The fit whose runs define the range.
    table : pandas.DataFrame
        Points (``params``, ``tokens``, ``flops``) or optima (see ``columns``).
    columns : dict, optional
        As in :func:`distance`.
    warn : bool, default True
        Emit an :class:`~bayescale.exceptions.ExtrapolationWarning` naming the rows more than
        :data:`WARN_DECADES` decades outside the fitted range.

    Returns
    -------
    pandas.DataFrame
        A copy of ``table`` with ``extrap_N``, ``extrap_D``, ``extrap_C`` appended.

    Raises
    ------
    BayescaleError
        When a row has fewer than one parameter or one training token (e.g. a budget far too
        small for the model size asked for).
    """
    check_models(table, columns=columns)
    dist = distance(fit, table, columns=columns)
    out = table.copy()
    for name in dist.columns:
        out[name] = dist[name].to_numpy()
    if warn:
        worst = dist.max(axis=1, skipna=True)
        far = np.flatnonzero(worst.to_numpy() > WARN_DECADES)
        if far.size:
            ranges = fitted_range(fit)
            span = ", ".join(
                f"{COLUMNS[c][-1]} {ranges[c][0]:.3g}..{ranges[c][1]:.3g}"
                for c in COLUMNS
                if c in ranges
            )
            warnings.warn(
                f"{far.size} of {len(table)} row(s) lie up to {float(worst.max()):.1f} decades "
                f"beyond the fitted range ({span}; more than {WARN_DECADES:g} decades): the law "
                "is extrapolated far from its data, so treat the bands as a guess; fit runs "
                "closer to the target to narrow this (columns extrap_N, extrap_D, extrap_C)",
                ExtrapolationWarning,
                stacklevel=2,
            )
    return out
