"""Posterior loss bands at new points: the law's expected loss, or new observations.

The law functions of :mod:`bayescale.laws` are evaluated on the posterior draws directly: the
draws (dims ``chain``, ``draw`` and a pooled fit's group dim) and the points (dim ``point``)
broadcast by name in xarray. Nothing is re-sampled and nothing loops over draws.

Examples
--------
>>> from bayescale.testing import fake_fit
>>> fit = fake_fit("chinchilla", draws=200)
>>> ds = predict(fit, params=70e9, tokens=1.4e12)
>>> ds["loss"].dims
('chain', 'draw', 'point')
>>> table = bands(fit, params=[1e9, 70e9], tokens=[2e10, 1.4e12])
>>> list(table.columns)
['params', 'tokens', 'loss_median', 'loss_lower', 'loss_upper']
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from bayescale.analysis._common import (
    NEW_GROUP,
    law_draws,
    positive_values,
    summarize,
    to_frame,
)
from bayescale.analysis.discrepancy import LawError, coordinates, draw_law_error
from bayescale.analysis.extrapolation import check_models
from bayescale.constants import FLOPS_PER_PARAM_TOKEN, SAMPLE_DIMS
from bayescale.exceptions import BayescaleError
from bayescale.intervals import check_ci

log = logging.getLogger("bayescale")

if TYPE_CHECKING:
    from bayescale.laws import Law
    from bayescale.modeling.fit import Fit
    from bayescale.modeling.spec import Discrepancy

__all__ = [
    "KINDS",
    "NEW_GROUP",
    "bands",
    "predict",
    "to_frame",
]

#: Most draws × points a result holding every draw may have (8 bytes each); beyond it use
#: ``keep_draws=False`` (or :func:`bands`), which summarises chunk by chunk.
MAX_DRAW_ELEMENTS = 100_000_000
#: Target draws × points per chunk when summarising (32 MB of float64).
CHUNK_ELEMENTS = 4_000_000

Kind = Literal["mean", "noise", "predictive"]
KINDS: tuple[str, ...] = ("mean", "noise", "predictive")


def predict(
    fit: Fit,
    *,
    params: Any = None,
    tokens: Any = None,
    flops: Any = None,
    at: pd.DataFrame | None = None,
    kind: Kind = "mean",
    ci_prob: float | None = None,
    group: str | None = None,
    random_seed: int | np.random.Generator | None = None,
    grid: bool = False,
    keep_draws: bool = True,
    chunk_size: int | None = None,
    discrepancy: Discrepancy | None = None,
) -> xr.Dataset:
    """Posterior loss at new points, as draws (and a band via :func:`to_frame`).

    Give the points either as arrays (``params``, ``tokens``, ``flops``: two of them for an
    (N, D) law, the third follows from C = 6·N·D) or as a table ``at`` holding the law's input
    columns. ``flops`` alone on an (N, D) law predicts on the compute-optimal frontier: each
    draw's loss at its own optimal allocation for that budget (see
    :func:`bayescale.analysis.allocate.allocate`).

    Parameters
    ----------
    fit : Fit
        A fitted model.
    params, tokens, flops : float or 1-d array-like, optional
        Coordinates of the points; broadcast together (lengths equal or 1), or crossed into a
        grid with ``grid=True`` (``params`` varying slowest).
    at : pandas.DataFrame, optional
        Points as rows; its columns are carried along as coordinates of the ``point`` dim (a
        ``loss`` column, as in a run table, is carried as ``loss_observed``).
    kind : {"mean", "noise", "predictive"}
        ``"mean"``: the law's expected loss (uncertainty of the law's parameters only).
        ``"noise"``: a new run's loss if the law were exactly right, adding the likelihood's
        noise on log loss (Student-t with the spec's ``nu``, or Normal, scale the posterior
        ``sigma``). ``"predictive"``: a new run's loss, adding to that the uncertainty about
        the law itself, which grows with the distance from the fitted range (the spec's
        :class:`~bayescale.modeling.spec.Discrepancy`; equal to ``"noise"`` inside the range
        or when the spec has none). Noise and discrepancy are drawn from ``random_seed``.
    ci_prob : float, optional
        Mass of the equal-tailed interval reported by :func:`to_frame` / :func:`bands`. Default
        :data:`~bayescale.constants.DEFAULT_CI_PROB`.
    group : str, optional
        Pooled fits: one group's value, :data:`NEW_GROUP` (``"<new>"``) for an unseen group
        drawn from the population, or None for every group (the group column's name becomes a
        dim). With None and an ``at`` table that holds the fit's group column, each row is
        predicted for the group in that column; a value the fit has not seen gets the
        new-group prediction and is listed in the result's ``new_groups`` attribute.
    random_seed : int or numpy.random.Generator, optional
        Seed of the noise draws (``kind="predictive"``) and of new-group draws.
    grid : bool, default False
        Cross ``params`` with ``tokens`` (or with ``flops``) instead of broadcasting them.
    keep_draws : bool, default True
        Return every draw (variable ``loss``); with False, return only ``loss_median``,
        ``loss_lower`` and ``loss_upper``, computed chunk by chunk so memory stays bounded.
    chunk_size : int, optional
        Points per chunk (default: about 4 million draws × points per chunk).
    discrepancy : Discrepancy, optional
        Replaces the spec's discrepancy term for ``kind="predictive"`` (e.g. to see a band
        without it, ``Discrepancy()``).

    Returns
    -------
    xarray.Dataset
        ``loss`` with dims ``chain``, ``draw``, ``point`` (and the group dim); the inputs are
        coordinates on ``point``. Attributes ``kind``, ``ci_prob``, ``law``, ``group_dim``,
        ``new_groups`` (group values of ``at`` rows the fit had not seen, comma-separated).

    Examples
    --------
    >>> from bayescale.testing import fake_fit
    >>> ds = predict(fake_fit("chinchilla", draws=200), params=70e9, tokens=1.4e12)
    >>> row = to_frame(ds).iloc[0]
    >>> bool(row.loss_lower < row.loss_median < row.loss_upper)
    True
    """
    ci = check_ci(ci_prob)
    if kind not in KINDS:
        raise BayescaleError(f"kind must be 'mean', 'noise' or 'predictive', not {kind!r}")
    law = fit.law
    points, frontier = _points(law, params=params, tokens=tokens, flops=flops, at=at, grid=grid)
    rng = np.random.default_rng(random_seed)
    row_groups = _row_groups(fit, points, group=group, at=at)
    new_groups: list[str] = []
    if row_groups is None:
        theta = law_draws(fit, group=group, random_seed=rng, extra=("sigma",))
    else:
        theta, new_groups = _per_row_draws(fit, row_groups, rng)
    if kind != "mean" and "sigma" not in theta:
        raise BayescaleError(
            f"kind={kind!r} needs the noise scale 'sigma', which this {law.name!r} fit lacks"
        )
    error = None
    if kind == "predictive":
        # its own stream (spawned, so the noise draws match kind="noise" with the same seed)
        error = draw_law_error(fit, discrepancy, random_seed=rng.spawn(1)[0])
    n_draws = int(np.prod([theta.sizes[d] for d in SAMPLE_DIMS]))
    n_groups = int(
        np.prod([n for d, n in theta.sizes.items() if d not in (*SAMPLE_DIMS, _ROW_GROUP)])
    )
    per_point = n_draws * n_groups
    if keep_draws and per_point * len(points) > MAX_DRAW_ELEMENTS:
        raise BayescaleError(
            f"{len(points)} points × {per_point} draws is too many to keep every draw; "
            "use keep_draws=False (or bands()), which summarises chunk by chunk"
        )
    if chunk_size is None:
        chunk_size = max(1, CHUNK_ELEMENTS // per_point)
    if chunk_size < 1:
        raise BayescaleError(f"chunk_size must be at least 1, got {chunk_size}")

    pieces: list[xr.Dataset] = []
    for start in range(0, len(points), chunk_size):
        chunk = points.iloc[start : start + chunk_size]
        theta_c = theta
        if row_groups is not None:
            labels = xr.DataArray(row_groups[start : start + chunk_size], dims="point")
            theta_c = theta.sel({_ROW_GROUP: labels}).drop_vars(_ROW_GROUP)
        loss = _evaluate(fit, theta_c, chunk, frontier=frontier, error=error)
        if kind != "mean":
            loss = _add_noise(loss, theta_c["sigma"], fit, rng)
        loss = loss.transpose(*SAMPLE_DIMS, "point", ...)
        piece = xr.Dataset({"loss": loss})
        pieces.append(piece if keep_draws else summarize(piece, ci))
    out = xr.concat(pieces, dim="point") if len(pieces) > 1 else pieces[0]
    coords = {str(c): ("point", points[c].to_numpy()) for c in points.columns}
    out = out.assign_coords(coords)
    out.attrs = {
        "kind": kind,
        "ci_prob": ci,
        "law": law.name,
        "group_dim": fit.info.group or "" if group is None and row_groups is None else "",
        "frontier": int(frontier),
        "new_groups": ",".join(new_groups),
    }
    if new_groups:
        log.info(
            "%s value(s) %s not in the fit: predicted as a new group drawn from the population",
            fit.info.group,
            ", ".join(map(repr, new_groups)),
        )
    return out


def bands(fit: Fit, **kwargs: Any) -> pd.DataFrame:
    """Tidy loss bands: the points' columns plus ``loss_median``, ``loss_lower``, ``loss_upper``.

    Takes the keywords of :func:`predict` and summarises chunk by chunk (``keep_draws=False``),
    so a large grid never holds all its draws in memory. A pooled fit adds a ``group`` column.

    Examples
    --------
    >>> from bayescale.testing import fake_fit
    >>> t = bands(fake_fit("chinchilla", draws=100), params=[1e8, 1e9], tokens=[1e9, 1e10, 1e11],
    ...           grid=True)
    >>> len(t)
    6
    """
    kwargs.setdefault("keep_draws", False)
    return to_frame(predict(fit, **kwargs))


# ---------------------------------------------------------------------- points
def _points(
    law: Law, *, params: Any, tokens: Any, flops: Any, at: pd.DataFrame | None, grid: bool
) -> tuple[pd.DataFrame, bool]:
    """The points as a table holding (at least) the law's inputs; and whether on the frontier."""
    needs_nd = "params" in law.inputs and "tokens" in law.inputs
    if at is not None:
        if any(v is not None for v in (params, tokens, flops)):
            raise BayescaleError("give the points either as at= or as params/tokens/flops")
        if not isinstance(at, pd.DataFrame):
            raise BayescaleError(f"at= must be a pandas DataFrame, got {type(at).__name__}")
        table = at.reset_index(drop=True).copy()
        if "loss" in table.columns:  # e.g. a run table: keep the observed loss beside the band
            if "loss_observed" in table.columns:
                raise BayescaleError("the at= table has both 'loss' and 'loss_observed' columns")
            table = table.rename(columns={"loss": "loss_observed"})
        clash = [
            str(c)
            for c in table.columns
            if str(c) in {"chain", "draw", "point", "loss_median", "loss_lower", "loss_upper"}
        ]
        if clash:
            raise BayescaleError(
                f"the at= table has column(s) {', '.join(clash)}, which name outputs; rename them"
            )
        given = {c: table[c] for c in ("params", "tokens", "flops") if c in table.columns}
    else:
        arrays = {
            name: positive_values(name, v)
            for name, v in (("params", params), ("tokens", tokens), ("flops", flops))
            if v is not None
        }
        if not arrays:
            raise BayescaleError("no points given: pass params/tokens (or flops) or at=")
        table = _combine(arrays, grid)
        given = {str(k): v for k, v in table.items()}
    frontier = False
    if needs_nd:
        have = {c for c in ("params", "tokens", "flops") if c in given}
        if have == {"flops"}:
            frontier = True
        elif have == {"params", "flops"}:
            table["tokens"] = table["flops"] / (FLOPS_PER_PARAM_TOKEN * table["params"])
        elif have == {"tokens", "flops"}:
            table["params"] = table["flops"] / (FLOPS_PER_PARAM_TOKEN * table["tokens"])
        elif have == {"params", "tokens", "flops"} and at is None:
            raise BayescaleError("give two of params, tokens and flops (C = 6·N·D fixes the third)")
    needed = ["flops"] if frontier else list(law.inputs)
    for col in needed:
        if col not in table.columns:
            where = "the at= table" if at is not None else "the arguments"
            raise BayescaleError(
                f"law {law.name!r} needs {col!r}, which {where} lack(s)"
                + ("" if at is None else f" (columns: {', '.join(map(str, table.columns))})")
            )
        try:
            values = table[col].to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise BayescaleError(f"column {col!r} must be numeric") from None
        bad = ~(np.isfinite(values) & (values > 0))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise BayescaleError(f"column {col!r}, row {row}: needs a finite positive value")
        table[col] = values
    if len(table) == 0:
        raise BayescaleError("no points given (the table is empty)")
    check_models(table)  # e.g. params=70e9 with flops=1 leaves 2.4e-12 tokens
    return table, frontier


def _combine(arrays: dict[str, np.ndarray], grid: bool) -> pd.DataFrame:
    names = list(arrays)
    if grid:
        if len(names) != 2:
            raise BayescaleError("grid=True crosses exactly two of params, tokens and flops")
        first, second = (arrays[n] for n in names)
        return pd.DataFrame(
            {names[0]: np.repeat(first, second.size), names[1]: np.tile(second, first.size)}
        )
    sizes = {n: a.size for n, a in arrays.items()}
    lengths = {s for s in sizes.values() if s != 1}
    if len(lengths) > 1:
        raise BayescaleError(
            f"lengths {sizes} do not broadcast (equal or 1); use grid=True to cross them"
        )
    n = max(sizes.values())
    return pd.DataFrame({k: np.broadcast_to(a, (n,)) for k, a in arrays.items()})


# ---------------------------------------------------------------------- groups per row
#: Internal dim of per-row draws: one entry per group value present in the ``at`` table.
_ROW_GROUP = "_row_group"


def _row_groups(
    fit: Fit, points: pd.DataFrame, *, group: str | None, at: pd.DataFrame | None
) -> np.ndarray | None:
    """Each row's group value, when a pooled fit is asked about an ``at`` table with its column."""
    gdim = fit.info.group
    if gdim is None or group is not None or at is None or gdim not in points.columns:
        return None
    values = points[gdim]
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise BayescaleError(f"column {gdim!r}, row {row}: needs a group value")
    return np.array([str(v) for v in values], dtype=object)


def _per_row_draws(
    fit: Fit, row_groups: np.ndarray, rng: np.random.Generator
) -> tuple[xr.Dataset, list[str]]:
    """Draws stacked over the rows' group values (dim ``_ROW_GROUP``); unseen values listed."""
    gdim = fit.info.group
    known = set(fit.info.groups)
    present = list(dict.fromkeys(row_groups.tolist()))
    unseen = [g for g in present if g not in known]
    pieces = [law_draws(fit, group=g, extra=("sigma",)) for g in present if g in known]
    labels = [g for g in present if g in known]
    for _ in unseen:  # each unseen value is its own new group, drawn from the population
        pieces.append(law_draws(fit, group=NEW_GROUP, random_seed=rng, extra=("sigma",)))
    labels += unseen
    theta = xr.concat(pieces, dim=_ROW_GROUP, coords="minimal", compat="override")
    theta = theta.assign_coords({_ROW_GROUP: labels})
    if gdim is not None and gdim in theta.coords:
        theta = theta.drop_vars(gdim)
    return theta, unseen


# ---------------------------------------------------------------------- evaluation
def _evaluate(
    fit: Fit,
    theta: xr.Dataset,
    chunk: pd.DataFrame,
    *,
    frontier: bool,
    error: LawError | None = None,
) -> xr.DataArray:
    """The law's loss at the chunk's points, times the law's own error when given.

    On a frontier each draw's optimum is taken with its error included (as ``allocate``).
    """
    law = fit.law
    if frontier:
        from bayescale.analysis.allocate import optimum

        flops = xr.DataArray(chunk["flops"].to_numpy(), dims="point")
        return optimum(law, theta, flops, error=error)["loss_opt"]
    inputs = {c: xr.DataArray(chunk[c].to_numpy(dtype=float), dims="point") for c in law.inputs}
    loss = law.loss(*inputs.values(), **{p: theta[p] for p in law.params})
    if error is not None:
        loss = loss * np.exp(error.log_shift(coordinates(law, inputs)))
    return loss


def _add_noise(
    loss: xr.DataArray, sigma: xr.DataArray, fit: Fit, rng: np.random.Generator
) -> xr.DataArray:
    """Log L_new = log L + sigma·eps, eps drawn from the spec's likelihood."""
    sigma_b = sigma.broadcast_like(loss).transpose(*loss.dims)
    eps = fit.spec.likelihood.sample_noise(rng, loss.shape)
    return loss * np.exp(sigma_b * eps)
