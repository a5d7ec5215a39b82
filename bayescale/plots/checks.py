"""Prior and posterior predictive checks, and sampler diagnostics through arviz-plots."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from bayescale.exceptions import BayescaleError
from bayescale.intervals import check_ci, eti_dims
from bayescale.laws import get_law
from bayescale.plots import _draws
from bayescale.plots._style import COLORS, get_ax, merged, tidy_linear_axis, tidy_log_axis

__all__ = ["plot_calibration", "plot_diagnostics", "plot_ppc"]


def plot_ppc(
    fit: Any,
    *,
    prior: bool = False,
    ci_prob: float | None = None,
    draws: int = 500,
    seed: int = 0,
    style: Mapping[str, Mapping[str, Any]] | None = None,
    ax: Any = None,
) -> Any:
    """Predictive check: each run's observed loss against its predictive interval.

    Every run is a point at (observed loss, predictive median) with a vertical bar for its
    ``ci_prob`` predictive interval; the dotted line is y = x. The title gives the share of runs
    whose observed loss lies inside its interval (near ``ci_prob`` when the model is calibrated).
    With ``prior=True`` the draws come from the spec's priors instead (a prior predictive check:
    are the priors wide enough to cover the data, and not absurdly wide?).

    Parameters
    ----------
    fit : Fit
        A fitted loss law.
    prior : bool
        Prior (True) or posterior (False) predictive check.
    ci_prob : float, optional
        Mass of each run's predictive interval. Default
        :data:`~bayescale.constants.DEFAULT_CI_PROB`.
    draws : int
        Number of prior draws (prior check only; the posterior check uses every draw).
    seed : int
        Seed of the prior and noise draws.
    style : mapping, optional
        Style overrides by role (``vertex``, ``identity``).
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
    >>> ax = plot_ppc(fake_fit("chinchilla", draws=100))
    >>> ax.get_xlabel()
    'observed loss'
    """
    ci_prob = check_ci(ci_prob)
    _draws.require_loss_family(fit, "plot_ppc")
    law = get_law(fit.spec.law)
    runs = fit.runs
    missing = [c for c in (*law.inputs, "loss") if c not in runs]
    if missing:
        raise BayescaleError(f"the run table lacks column(s) {', '.join(missing)}")
    inputs = {c: runs[c].to_numpy(float) for c in law.inputs}
    if prior:
        pred = _draws.prior_predictive_draws(fit, inputs, draws=draws, seed=seed)
    else:
        pred = _draws.loss_draws(fit, inputs, kind="predictive", seed=seed)
        gdim = fit.info.group
        if gdim and gdim in pred.dims:  # each run against its own group's prediction
            import xarray as xr

            labels = xr.DataArray(runs[gdim].astype(str).to_numpy(), dims="point")
            pred = pred.sel({gdim: labels})
    with np.errstate(invalid="ignore"):
        q = eti_dims(pred, ci_prob, skipna=True)
    obs = runs["loss"].to_numpy(float)
    med, lo, hi = q["median"].values, q["lower"].values, q["upper"].values
    inside = float(np.mean((obs >= lo) & (obs <= hi)))
    ax = get_ax(ax)
    color = COLORS[1] if prior else COLORS[0]
    ax.errorbar(
        obs,
        med,
        yerr=[np.clip(med - lo, 0, None), np.clip(hi - med, 0, None)],
        **merged("vertex", style, color=color, marker="o", markersize=3, capsize=0, alpha=0.7),
    )
    span = [float(np.nanmin(obs)) / 1.05, float(np.nanmax(obs)) * 1.05]
    ax.plot(span, span, **merged("identity", style))
    ax.set_xscale("log")
    ax.set_yscale("log")
    tidy_log_axis(ax, "x")
    tidy_log_axis(ax, "y")
    ax.set_xlabel("observed loss")
    ax.set_ylabel(f"{'prior' if prior else 'posterior'} predictive loss")
    which = "Prior" if prior else "Posterior"
    # two short lines: one long line overflowed a half-width panel
    ax.set_title(
        f"{which} predictive check\n{inside:.0%} of runs inside the {ci_prob:.0%} interval"
    )
    return ax


def plot_diagnostics(
    fit: Any,
    *,
    kind: Literal["trace", "rank"] = "trace",
    var_names: Sequence[str] | None = None,
) -> Any:
    """Sampler diagnostics drawn by arviz-plots: trace and density per chain, or rank plots.

    Unlike the other plots this draws a grid of panels, so it returns the matplotlib Figure
    (arviz-plots lays the panels out itself and takes no ``ax=``).

    Parameters
    ----------
    fit : Fit
        A fit.
    kind : {"trace", "rank"}
        ``trace``: per-chain densities and traces (``arviz.plot_trace_dist``); ``rank``: rank
        histograms per chain (``arviz.plot_rank``), flat when chains agree.
    var_names : sequence of str, optional
        Variables (default: the law's parameters and the noise scale).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from bayescale.testing import fake_fit
    >>> fig = plot_diagnostics(fake_fit("chinchilla", draws=100), var_names=["alpha"])
    >>> len(fig.axes)
    2
    """
    import arviz_plots as azp

    names = list(var_names) if var_names is not None else fit.param_names()
    missing = [n for n in names if n not in fit.posterior]
    if missing:
        raise BayescaleError(f"no posterior variable(s) {', '.join(missing)}")
    funcs: dict[str, Any] = {"trace": azp.plot_trace_dist, "rank": azp.plot_rank}
    if kind not in funcs:
        raise BayescaleError(f"kind must be 'trace' or 'rank', not {kind!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pc = funcs[kind](fit.tree, var_names=names, backend="matplotlib")
    fig = pc.viz["figure"].item()
    if kind == "trace":  # name every panel: the density panels come untitled
        for name in names:
            panels = pc.viz["plot"][name]
            for column, what in (("dist", "density per chain"), ("trace", "trace per chain")):
                ax = panels.sel(column=column).item()
                ax.set_title(f"{name}: {what}", fontsize="medium")
                tidy_linear_axis(ax, "x", nbins=4 if column == "dist" else 6)
    return fig


def plot_calibration(
    table: Any,
    *,
    style: Mapping[str, Mapping[str, Any]] | None = None,
    ax: Any = None,
) -> Any:
    """Nominal against empirical coverage of central predictive bands, one line per factor.

    Draws the table of :func:`bayescale.analysis.backtest.calibration` (columns ``nominal``,
    ``empirical``, ``n``, and ``factor_bin`` and/or ``model``); a calibrated model lies on the
    dotted diagonal, an over-confident one below it.

    Parameters
    ----------
    table : pandas.DataFrame
        Calibration table (one row per line and nominal mass).
    style : mapping, optional
        Style overrides by role (``line``, ``identity``).
    ax : matplotlib.axes.Axes, optional
        Where to draw.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> t = pd.DataFrame({"factor_bin": [3.0] * 2, "nominal": [0.5, 0.9],
    ...                   "empirical": [0.4, 0.8], "n": [20, 20]})
    >>> ax = plot_calibration(t)
    >>> len(ax.get_lines())
    2
    """
    missing = {"nominal", "empirical"} - set(table.columns)
    if missing:
        raise BayescaleError(f"calibration table lacks column(s) {', '.join(sorted(missing))}")
    ax = get_ax(ax)
    keys = [k for k in ("model", "factor_bin") if k in table.columns]
    groups = table.groupby(keys, sort=True) if keys else [((), table)]
    for i, (key, g) in enumerate(groups):
        parts = key if isinstance(key, tuple) else (key,)
        label = ", ".join(
            f"{v:g}× past the fit" if k == "factor_bin" else str(v)
            for k, v in zip(keys, parts, strict=True)
        )
        if "n" in g.columns:
            label += f" (n={int(g['n'].iloc[0])})"
        g = g.sort_values("nominal")
        ax.plot(
            g["nominal"],
            g["empirical"],
            **merged("line", style, marker="o", color=COLORS[i % len(COLORS)], label=label),
        )
    ax.plot([0, 1], [0, 1], **merged("identity", style))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("nominal coverage of the central predictive band")
    ax.set_ylabel("share of held-out runs inside")
    ax.legend(fontsize="small", loc="upper left")
    return ax
