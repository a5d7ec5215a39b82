"""Shared machinery of the analysis modules: parameter draws, input checks, interval tables.

Everything here works on whole arrays of posterior draws (dims ``chain``, ``draw`` and, for
pooled fits, the group column's name); nothing loops over draws in Python.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from bayescale.constants import SAMPLE_DIMS
from bayescale.data.published import published_fit
from bayescale.exceptions import BayescaleError
from bayescale.intervals import check_ci, eti_dims
from bayescale.modeling import build

if TYPE_CHECKING:
    from bayescale.modeling.fit import Fit

__all__ = [
    "NEW_GROUP",
    "R_STAR_TOKENS",
    "law_draws",
    "minimize_golden",
    "minimize_smooth",
    "positive_scalar",
    "positive_values",
    "to_frame",
]

#: Pass as ``group=`` to draw parameters for a group not in the data, from the population
#: values and their spread (``p_new = p_pop·exp(tau·z)``, ``z ~ Normal(0, 1)``).
NEW_GROUP = "<new>"
#: Muennighoff et al. 2023 (arXiv:2305.16264): decay constant of the value of repeated tokens
#: (R_D* fitted on C4, the published fit ``muennighoff2023``), used when a law without its own
#: ``R_star`` is asked about unique data.
R_STAR_TOKENS: float = published_fit("muennighoff2023").values["R_star"]
#: Column name carrying the group value in tidy tables of pooled fits.
GROUP_COLUMN = "group"


def positive_values(name: str, values: Any) -> np.ndarray:
    """Values as a 1-d float array, each finite and positive (errors name the entry)."""
    try:
        arr = np.atleast_1d(np.asarray(values, dtype=float))
    except (TypeError, ValueError):
        raise BayescaleError(f"{name}: needs numbers, got {values!r}") from None
    if arr.ndim != 1:
        raise BayescaleError(f"{name}: needs a scalar or a 1-d sequence, got shape {arr.shape}")
    if arr.size == 0:
        raise BayescaleError(f"{name}: needs at least one value")
    bad = ~(np.isfinite(arr) & (arr > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise BayescaleError(f"{name}[{i}] = {arr[i]!r}: needs a finite positive value")
    return arr


def positive_scalar(name: str, value: Any) -> float:
    """One finite positive number (errors name the argument).

    Examples
    --------
    >>> positive_scalar("unique_tokens", 1e12)
    1000000000000.0
    """
    arr = positive_values(name, value)
    if arr.size != 1 or np.ndim(value) > 1:
        raise BayescaleError(f"{name}: needs a single number, got {arr.size} values")
    return float(arr[0])


def law_draws(
    fit: Fit,
    *,
    group: str | None = None,
    random_seed: int | np.random.Generator | None = None,
    extra: Sequence[str] = (),
) -> xr.Dataset:
    """Posterior draws of the law's parameters (plus ``extra`` variables present).

    Parameters
    ----------
    fit : Fit
        A fitted model.
    group : str, optional
        For a pooled fit: a group value selects that group's parameters; ``NEW_GROUP`` draws the
        parameters of an unseen group from the population values; ``None`` keeps every group
        (the group column's name stays a dimension). Ignored (must be None) without pooling.
    random_seed : int or numpy.random.Generator, optional
        Seeds the group-level draws of ``NEW_GROUP``.
    extra : sequence of str
        Further posterior variables to carry along when present (e.g. ``"sigma"``).

    Returns
    -------
    xarray.Dataset
        One variable per law parameter, dims ``chain``, ``draw`` (and the group dim).

    Examples
    --------
    >>> from bayescale.testing import fake_fit
    >>> sorted(law_draws(fake_fit("chinchilla", draws=10), extra=("sigma",)).data_vars)
    ['A', 'B', 'E', 'alpha', 'beta', 'sigma']
    """
    law = fit.law
    post = fit.posterior
    missing = [p for p in law.params if p not in post]
    if missing:
        raise BayescaleError(f"the posterior of this {law.name!r} fit lacks {', '.join(missing)}")
    names = [*law.params, *(e for e in extra if e in post and e not in law.params)]
    gdim = fit.info.group
    if gdim is None:
        if group == NEW_GROUP:
            raise BayescaleError(
                "--new-group (group=NEW_GROUP) draws an unseen group from a pooled fit's "
                "population, but this fit pools nothing: its law has one set of parameters for "
                "every run, so predict without --new-group, or refit with --group COLUMN (a "
                "column naming each run's group, e.g. family) to pool"
            )
        if group is not None:
            raise BayescaleError(
                f"--group {group} (group={group!r}) selects one group of a pooled fit, but this "
                "fit pools nothing: drop --group, or refit with `bayescale fit --group COLUMN`"
            )
        return post[names]
    if group is None:
        return post[names]
    if group != NEW_GROUP:
        known = [str(g) for g in post[gdim].values] if gdim in post.coords else []
        if group not in known:
            raise BayescaleError(
                f"group {group!r} is not in the fit's {gdim!r} column (known: {', '.join(known)})"
            )
        out = post[names].sel({gdim: group})
        return out.drop_vars(gdim, errors="ignore")
    return _new_group_draws(fit, names, random_seed)


def _new_group_draws(
    fit: Fit, names: list[str], random_seed: int | np.random.Generator | None
) -> xr.Dataset:
    """Parameters of an unseen group, drawn by the model family that built the pooling."""
    family = build.family_module(fit.law.family)
    if family.group_draws is None:
        raise BayescaleError(
            f"the {family.name!r} model family cannot draw parameters for a new "
            f"{fit.info.group!r} value"
        )
    rng = np.random.default_rng(random_seed)
    return family.group_draws(fit.law, fit.posterior, fit.info, names, rng)


# ---------------------------------------------------------------------- interval tables
def summarize(
    ds: xr.Dataset, ci_prob: float | None = None, *, names: Sequence[Hashable] | None = None
) -> xr.Dataset:
    """``<name>_median``, ``<name>_lower``, ``<name>_upper`` over the sample dims.

    Variables without sample dims are passed through unchanged.
    """
    ci = check_ci(ci_prob if ci_prob is not None else ds.attrs.get("ci_prob"))
    out = xr.Dataset(attrs={**ds.attrs, "ci_prob": ci})
    for name in names if names is not None else list(ds.data_vars):
        da = ds[name]
        sdims = [d for d in SAMPLE_DIMS if d in da.dims]
        if not sdims:
            out[name] = da
            continue
        q = eti_dims(da, ci, dims=sdims)
        for part in ("median", "lower", "upper"):
            out[f"{name}_{part}"] = q[part]
    return out


def to_frame(ds: xr.Dataset, ci_prob: float | None = None) -> pd.DataFrame:
    """Tidy table of an analysis result: coordinates as columns, draws as median and interval.

    Every variable with ``chain``/``draw`` dims becomes the columns ``<name>_median``,
    ``<name>_lower`` and ``<name>_upper`` (equal-tailed, mass ``ci_prob``, default the
    dataset's ``ci_prob`` attribute); a pooled fit's group dimension becomes a ``group`` column.

    Examples
    --------
    >>> from bayescale.testing import fake_fit
    >>> from bayescale.analysis.predict import predict
    >>> ds = predict(fake_fit("chinchilla", draws=100), params=[1e9, 1e10], tokens=2e10)
    >>> list(to_frame(ds).columns)
    ['params', 'tokens', 'loss_median', 'loss_lower', 'loss_upper']
    """
    summary = summarize(ds, ci_prob)
    group_dim = ds.attrs.get("group_dim")
    frame = summary.to_dataframe().reset_index()
    index_dims = list(summary.dims)
    drop = [c for c in index_dims if c in frame.columns and c not in summary.coords]
    frame = frame.drop(columns=drop)
    if group_dim and group_dim in frame.columns:
        frame = frame.rename(columns={group_dim: GROUP_COLUMN})
    lead = [str(c) for c in frame.columns if not _is_summary_col(str(c))]
    rest = [str(c) for c in frame.columns if _is_summary_col(str(c))]
    if GROUP_COLUMN in lead:
        lead = [c for c in lead if c != GROUP_COLUMN] + [GROUP_COLUMN]
    frame = frame[lead + rest]
    frame.attrs = {"ci_prob": summary.attrs["ci_prob"]}
    return frame


def _is_summary_col(col: str) -> bool:
    return col.endswith(("_median", "_lower", "_upper"))


# ---------------------------------------------------------------------- 1-d minimisers
def minimize_smooth(
    f: Callable[[np.ndarray], np.ndarray],
    lo: np.ndarray,
    hi: np.ndarray,
    *,
    grid: int = 16,
    iters: int = 8,
    h: float = 1e-4,
) -> np.ndarray:
    """Vectorised minimiser of smooth functions of one variable, elementwise over arrays.

    A coarse grid of ``grid`` points on ``[lo, hi]`` picks the best cell around the best grid
    point. Then ``iters`` safeguarded Newton steps follow, each on central differences with
    step ``h`` (three evaluations). Every step also shrinks the cell by the sign of the
    derivative, and falls back to bisection where the Newton step leaves the cell or the
    curvature is not positive. Invalid values (NaN) count as +inf; where both sides are +inf the
    search heads back towards the best grid point. ``f`` maps an array of arguments (shape of
    ``lo``) to values of the same shape.

    Examples
    --------
    >>> import numpy as np
    >>> x = minimize_smooth(lambda x: np.cosh(x - np.array([1.0, -2.0])),
    ...                     np.full(2, -10.0), np.full(2, 10.0))
    >>> np.round(x, 9).tolist()
    [1.0, -2.0]
    """
    lo, hi = np.broadcast_arrays(np.asarray(lo, dtype=float), np.asarray(hi, dtype=float))
    a, b, best = _grid_bracket(f, lo, hi, grid)
    x = best.copy()
    for _ in range(iters):
        with np.errstate(invalid="ignore", over="ignore"):
            f0, fp, fm = _finite(f(x)), _finite(f(x + h)), _finite(f(x - h))
            slope = fp - fm
            curv = fp - 2.0 * f0 + fm
            newton = x - 0.5 * h * slope / curv
        # both sides invalid (inf − inf): head back towards the best grid point
        rising = np.where(np.isnan(slope), x > best, slope > 0)
        b = np.where(rising, x, b)
        a = np.where(rising, a, x)
        ok = np.isfinite(newton) & (curv > 0) & (newton >= a) & (newton <= b)
        x = np.where(ok, newton, 0.5 * (a + b))
    return x


def minimize_golden(
    f: Callable[[np.ndarray], np.ndarray],
    lo: np.ndarray,
    hi: np.ndarray,
    *,
    grid: int = 24,
    iters: int = 60,
) -> np.ndarray:
    """Vectorised golden-section minimiser (for non-smooth objectives such as quantiles).

    Same grid stage as :func:`minimize_smooth`, then golden-section search on the best cell.

    Examples
    --------
    >>> import numpy as np
    >>> float(np.round(minimize_golden(lambda x: np.abs(x - 0.3), np.zeros(1), np.ones(1)), 6)[0])
    0.3
    """
    lo, hi = np.broadcast_arrays(np.asarray(lo, dtype=float), np.asarray(hi, dtype=float))
    a, b, _ = _grid_bracket(f, lo, hi, grid)
    inv_phi = (np.sqrt(5.0) - 1.0) / 2.0
    c = b - inv_phi * (b - a)
    d = a + inv_phi * (b - a)
    fc, fd = _finite(f(c)), _finite(f(d))
    for _ in range(iters):
        left = fc <= fd
        b = np.where(left, d, b)
        a = np.where(left, a, c)
        new_c = b - inv_phi * (b - a)
        new_d = a + inv_phi * (b - a)
        # one of the two interior points is reused; evaluate only the new one per element
        f_new = _finite(f(np.where(left, new_c, new_d)))
        fc, fd = np.where(left, f_new, fd), np.where(left, fc, f_new)
        c, d = np.where(left, new_c, d), np.where(left, c, new_d)
    return 0.5 * (a + b)


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return np.where(np.isnan(values), np.inf, values)


def _grid_bracket(
    f: Callable[[np.ndarray], np.ndarray], lo: np.ndarray, hi: np.ndarray, grid: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cell ``[x_k-1, x_k+1]`` around the best ``x_k`` of ``grid`` equally spaced points."""
    step = (hi - lo) / (grid - 1)
    best_x = lo.copy()
    best_f = np.full(lo.shape, np.inf)
    for k in range(grid):  # a loop over grid points, each evaluated on all draws at once
        x = lo + k * step
        fx = _finite(f(x))
        better = fx < best_f
        best_x = np.where(better, x, best_x)
        best_f = np.where(better, fx, best_f)
    return np.maximum(best_x - step, lo), np.minimum(best_x + step, hi), best_x
