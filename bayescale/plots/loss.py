"""Loss against parameters, tokens or compute, with posterior bands; IsoFLOP curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import xarray as xr

from bayescale.constants import FLOPS_PER_PARAM_TOKEN
from bayescale.exceptions import BayescaleError
from bayescale.intervals import check_ci, eti_dims
from bayescale.laws import get_law
from bayescale.plots import _draws
from bayescale.plots._style import COLORS, get_ax, merged, tidy_log_axis

__all__ = ["plot_isoflop", "plot_loss"]

_LABELS = {
    "params": "parameters N",
    "tokens": "training tokens D",
    "flops": "training compute C (FLOP)",
    "steps": "optimizer steps S",
    "unique_tokens": "unique tokens U",
}


def _fmt(value: float) -> str:
    return f"{value:.2g}"


def _grid(values: np.ndarray, extend: float, n: int) -> np.ndarray:
    lo, hi = np.log10(values.min()), np.log10(values.max())
    return np.logspace(lo - np.log10(extend), hi + np.log10(extend), n)


def _group_dim(fit: Any) -> str | None:
    group = fit.info.group
    return group if group and group in fit.posterior.dims else None


def _loss_unit(fit: Any) -> str:
    unit = str(fit.runs.attrs.get("loss_unit") or "")
    return f"loss ({unit.replace('_', ' ')})" if unit else "loss"


def _draws_for(fit: Any, inputs: Mapping[str, Any], kind: str, seed: int) -> xr.DataArray:
    if kind not in ("mean", "predictive"):
        raise BayescaleError(f"kind must be 'mean' or 'predictive', got {kind!r}")
    return _draws.loss_draws(fit, inputs, kind=kind, seed=seed)


def _band(
    ax: Any,
    x: np.ndarray,
    q: xr.Dataset,
    *,
    color: str,
    label: str,
    style: Mapping[str, Mapping[str, Any]] | None,
) -> None:
    ax.fill_between(x, q["lower"].values, q["upper"].values, **merged("band", style, color=color))
    ax.plot(x, q["median"].values, label=label, **merged("line", style, color=color))


def _scatter_data(
    ax: Any,
    fit: Any,
    x: str,
    style: Mapping[str, Mapping[str, Any]] | None,
    *,
    mask: np.ndarray | None = None,
    **extra: Any,
) -> None:
    runs = fit.runs
    gdim = _group_dim(fit)
    if mask is None:
        mask = np.ones(len(runs), dtype=bool)
    if gdim is None or "color" in extra:
        ax.scatter(
            runs[x].to_numpy(float)[mask],
            runs["loss"].to_numpy(float)[mask],
            **merged("data", style, label=extra.pop("label", "runs"), **extra),
        )
        return
    labels = runs[gdim].astype(str).to_numpy()
    for i, g in enumerate(fit.posterior[gdim].values):
        sel = mask & (labels == str(g))
        ax.scatter(
            runs[x].to_numpy(float)[sel],
            runs["loss"].to_numpy(float)[sel],
            **merged("data", style, color=COLORS[i % len(COLORS)], label=f"runs ({g})"),
        )


def plot_loss(
    fit: Any,
    *,
    x: str = "params",
    at: Sequence[float] | None = None,
    kind: Literal["mean", "predictive"] = "mean",
    ci_prob: float | None = None,
    extend: float = 3.0,
    n_points: int = 120,
    show_data: bool = True,
    seed: int = 0,
    style: Mapping[str, Mapping[str, Any]] | None = None,
    ax: Any = None,
) -> Any:
    """Runs and the fitted law with its posterior band, against N, D or C (log-log).

    Against ``params`` the law is drawn at a few fixed token counts (``at``; default the 10th,
    50th and 90th percentiles of the data's tokens), against ``tokens`` at a few fixed
    parameter counts; against ``flops`` the curve is the loss of the compute-optimal
    allocation of each budget. A pooled fit draws one curve per group (colours) at the median
    slice.

    Parameters
    ----------
    fit : Fit
        A fitted loss law.
    x : {"params", "tokens", "flops"} or another law input
        The horizontal axis.
    at : sequence of float, optional
        Values of the other input at which to draw the law (``params``/``tokens`` only).
    kind : {"mean", "predictive"}
        Band of the law's expected loss, or with the observation noise added.
    ci_prob : float, optional
        Mass of the equal-tailed band. Default
        :data:`~bayescale.constants.DEFAULT_CI_PROB`.
    extend : float, default 3
        How far beyond the data's range to draw the law (a factor on each side).
    n_points : int
        Points of the curve.
    show_data : bool
        Draw the runs.
    seed : int
        Seed of the noise draws of a predictive band.
    style : mapping, optional
        Style overrides by role (``data``, ``line``, ``band``), e.g. ``{"band": {"alpha": 0.1}}``.
    ax : matplotlib.axes.Axes, optional
        Where to draw (default: a new figure).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from bayescale.testing import fake_fit
    >>> ax = plot_loss(fake_fit("chinchilla", draws=100), x="params")
    >>> ax.get_xscale(), ax.get_yscale()
    ('log', 'log')
    """
    ci_prob = check_ci(ci_prob)
    _draws.require_loss_family(fit, "plot_loss")
    law = get_law(fit.spec.law)
    ax = get_ax(ax)
    runs = fit.runs
    gdim = _group_dim(fit)
    if x == "flops" and "flops" not in law.inputs:
        if set(law.inputs) != {"params", "tokens"}:
            raise BayescaleError(f"law {law.name!r} cannot be drawn against flops")
        flops = runs["flops"].to_numpy(float) if "flops" in runs else None
        if flops is None:
            raise BayescaleError("the run table has no 'flops' column to draw against")
        grid = _grid(flops, extend, n_points)
        loss = _draws_for(fit, {"flops": grid}, kind, seed)  # the compute-optimal frontier
        q = eti_dims(loss, ci_prob, skipna=True)
        groups = list(q[gdim].values) if gdim else [None]
        for i, g in enumerate(groups):
            qg = q.sel({gdim: g}) if gdim else q
            label = "compute-optimal loss" + (f" ({g})" if g is not None else "")
            _band(ax, grid, qg, color=COLORS[i % len(COLORS)], label=label, style=style)
    else:
        if x not in law.inputs:
            raise BayescaleError(
                f"law {law.name!r} has inputs {', '.join(law.inputs)}; cannot draw against {x!r}"
            )
        if x not in runs:
            raise BayescaleError(f"the run table has no {x!r} column to draw against")
        grid = _grid(runs[x].to_numpy(float), extend, n_points)
        others = [c for c in law.inputs if c != x]
        if len(others) > 1:
            raise BayescaleError(f"law {law.name!r} has more than two inputs; plot_loss needs two")
        if others:
            other = others[0]
            if at is None:
                pct = [50.0] if gdim else [10.0, 50.0, 90.0]
                at = [float(v) for v in np.percentile(runs[other].to_numpy(float), pct)]
            slices: list[tuple[dict[str, Any], str]] = [
                ({other: np.full(n_points, v)}, f"{'D' if other == 'tokens' else 'N'} = {_fmt(v)}")
                for v in at
            ]
        else:
            slices = [({}, "law")]
        k = 0
        for extra, label in slices:
            draws = _draws_for(fit, {x: grid, **extra}, kind, seed)
            q = eti_dims(draws, ci_prob, skipna=True)
            groups = list(q[gdim].values) if gdim else [None]
            for g in groups:
                qg = q.sel({gdim: g}) if gdim else q
                text = label + (f" ({g})" if g is not None else "")
                _band(ax, grid, qg, color=COLORS[k % len(COLORS)], label=text, style=style)
                k += 1
    if show_data:
        _scatter_data(ax, fit, x, style)
        if x in ("params", "tokens", "flops"):
            _scatter_excluded(ax, fit, x)
    ax.set_xscale("log")
    ax.set_yscale("log")
    tidy_log_axis(ax, "y")
    tidy_log_axis(ax, "x")
    ax.set_xlabel(_LABELS.get(x, x))
    ax.set_ylabel(_loss_unit(fit))
    band = "mean" if kind == "mean" else "predictive"
    ax.set_title(f"{law.name}: loss vs {x} ({ci_prob:.0%} {band} band)")
    ax.legend(fontsize="small", frameon=False)
    return ax


def _scatter_excluded(ax: Any, fit: Any, x: str) -> None:
    """The runs excluded from the fit as outliers: drawn apart (red crosses), named."""
    out = _draws.excluded_runs(fit)
    if out is None or out.empty:
        return
    if x == "flops" and "flops" not in out:
        xs = FLOPS_PER_PARAM_TOKEN * out["params"].to_numpy(float) * out["tokens"].to_numpy(float)
    else:
        xs = out[x].to_numpy(float)
    ids = (
        ", ".join(out["run_id"].astype(str).head(3)) + ("…" if len(out) > 3 else "")
        if "run_id" in out
        else ""
    )
    ax.scatter(
        xs,
        out["loss"].to_numpy(float),
        marker="x",
        s=24,
        color="#b42318",
        linewidths=1.2,
        zorder=6,
        label=f"excluded outliers ({len(out)}{': ' + ids if ids else ''})",
    )


def plot_isoflop(
    fit: Any,
    *,
    flops: Sequence[float] | None = None,
    group: str | None = None,
    ci_prob: float | None = None,
    span: float = 30.0,
    n_points: int = 120,
    show_data: bool = True,
    style: Mapping[str, Mapping[str, Any]] | None = None,
    ax: Any = None,
) -> Any:
    """IsoFLOP curves: loss against N along C = 6·N·D for a few budgets, with the posterior vertex.

    Each budget's curve is the posterior median of the law along its isoFLOP line with its
    band; the diamond marks the posterior median of the compute-optimal size and its loss, and
    its horizontal bar the ``ci_prob`` interval of that size.

    Parameters
    ----------
    fit : Fit
        A fit of a law with ``params`` and ``tokens`` inputs.
    flops : sequence of float, optional
        Budgets (default: four budgets spread over the data's compute range).
    group : str, optional
        Pooled fits: the group to draw (default: the first), or ``"<new>"`` for an unseen one.
    ci_prob : float, optional
        Mass of the bands and of the interval of the optimal size. Default
        :data:`~bayescale.constants.DEFAULT_CI_PROB`.
    span : float, default 30
        The curve covers ``N_opt / span`` to ``N_opt · span``.
    n_points : int
        Points per curve.
    show_data : bool
        Draw the runs whose compute lies within ±15 % of a budget, in the budget's colour.
    style : mapping, optional
        Style overrides by role (``line``, ``band``, ``vertex``, ``data``).
    ax : matplotlib.axes.Axes, optional
        Where to draw.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from bayescale.testing import fake_fit
    >>> ax = plot_isoflop(fake_fit("chinchilla", draws=100), flops=[1e18, 1e20])
    >>> len(ax.lines) >= 2
    True
    """
    ci_prob = check_ci(ci_prob)
    _draws.require_loss_family(fit, "plot_isoflop")
    ax = get_ax(ax)
    runs = fit.runs
    if flops is None:
        if "flops" not in runs:
            raise BayescaleError("give flops=: the run table has no 'flops' column")
        c = runs["flops"].to_numpy(float)
        flops = list(np.logspace(np.log10(c.min()), np.log10(c.max()), 6)[1:-1])
    budgets = np.asarray(flops, dtype=float)
    if budgets.ndim != 1 or budgets.size == 0 or np.any(budgets <= 0):
        raise BayescaleError("flops must be a non-empty list of positive budgets")
    gdim = _group_dim(fit)
    if gdim is None and group is not None:
        raise BayescaleError(f"group={group!r} given, but the fit is not pooled")
    if gdim is not None and group is None:
        group = str(fit.posterior[gdim].values[0])  # one group per panel
    opt = _draws.optimal_draws(fit, budgets, group=group)
    n_q = eti_dims(opt["params_opt"], ci_prob, skipna=True)
    l_q = eti_dims(opt["loss_opt"], ci_prob, skipna=True)
    for i, c in enumerate(budgets):
        color = COLORS[i % len(COLORS)]
        centre = float(n_q["median"].isel(flops=i))
        n = np.logspace(np.log10(centre / span), np.log10(centre * span), n_points)
        d = c / (FLOPS_PER_PARAM_TOKEN * n)
        q = eti_dims(
            _draws.loss_draws(fit, {"params": n, "tokens": d}, group=group), ci_prob, skipna=True
        )
        _band(ax, n, q, color=color, label=f"C = {_fmt(c)}", style=style)
        med = float(n_q["median"].isel(flops=i))
        xerr = [
            [med - float(n_q["lower"].isel(flops=i))],
            [float(n_q["upper"].isel(flops=i)) - med],
        ]
        ax.errorbar(
            [med],
            [float(l_q["median"].isel(flops=i))],
            xerr=xerr,
            **merged("vertex", style, color=color),
        )
        if show_data and "flops" in runs:
            cf = runs["flops"].to_numpy(float)
            near = np.abs(np.log(cf / c)) < np.log(1.15)
            if near.any():
                _scatter_data(ax, fit, "params", style, mask=near, color=color, label=None)
    ax.set_xscale("log")
    tidy_log_axis(ax, "x")
    ax.set_xlabel(_LABELS["params"])
    ax.set_ylabel(_loss_unit(fit))
    where = f" ({gdim} = {group})" if group is not None else ""
    ax.set_title(f"IsoFLOP curves{where}, vertex = posterior N_opt ({ci_prob:.0%} interval)")
    ax.legend(fontsize="small", frameon=False)
    return ax
