"""Parameter posteriors against published values, and model-comparison scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayescale.exceptions import BayescaleError
from bayescale.intervals import check_ci, eti
from bayescale.plots._style import (
    COLORS,
    REFERENCE_CYCLE,
    get_ax,
    merged,
    tidy_linear_axis,
    tidy_log_axis,
)

__all__ = ["plot_comparison", "plot_parameter"]


def plot_parameter(
    fit: Any,
    *,
    name: str,
    group: str | None = None,
    references: Sequence[str] | None = None,
    log: bool | None = None,
    ci_prob: float | None = None,
    style: Mapping[str, Mapping[str, Any]] | None = None,
    ax: Any = None,
) -> Any:
    """Posterior of one parameter (histogram, median, interval) with published values as lines.

    Parameters
    ----------
    fit : Fit
        A fit.
    name : str
        A posterior variable, e.g. ``"alpha"``.
    group : str, optional
        For a parameter with an extra dim (a group-level value), the group to draw (default:
        the draws of every group together).
    references : sequence of str, optional
        Published fits (names in :func:`bayescale.data.published.published_fits`) whose value
        of ``name`` is drawn as a vertical line; default: every published fit of the fit's law.
    log : bool, optional
        Log-scaled horizontal axis (default: for the law's prefactors, such as ``A`` and ``B``,
        whose posteriors are skewed over orders of magnitude).
    ci_prob : float, optional
        Mass of the shaded equal-tailed interval. Default
        :data:`~bayescale.constants.DEFAULT_CI_PROB`.
    style : mapping, optional
        Style overrides by role (``hist``, ``interval``, ``line``) or reference name.
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
    >>> ax = plot_parameter(fake_fit("chinchilla", draws=100), name="alpha")
    >>> ax.get_xlabel()
    'alpha'
    """
    post = fit.posterior
    if name not in post:
        raise BayescaleError(
            f"no posterior variable {name!r}; available: {', '.join(map(str, post.data_vars))}"
        )
    da = post[name]
    extra = [d for d in da.dims if d not in ("chain", "draw")]
    if group is not None:
        if not extra:
            raise BayescaleError(f"{name!r} has no group dim; drop group={group!r}")
        if group not in [str(v) for v in da[extra[0]].values]:
            raise BayescaleError(f"group {group!r} not in {extra[0]!r} of {name!r}")
        da = da.sel({extra[0]: group})
    values = np.asarray(da.values, dtype=float).ravel()  # every group (or budget) together
    ci_prob = check_ci(ci_prob)
    if log is None:
        law = fit.law
        log = name in law.prefactors or name.removesuffix("_pop") in law.prefactors
    if log and not np.all(values > 0):
        raise BayescaleError(f"log=True needs positive draws; {name!r} has some <= 0")
    ax = get_ax(ax)
    hist = merged("hist", style)
    if log:
        bins = hist.pop("bins")
        n_bins = bins if isinstance(bins, int) else 50
        hist["bins"] = np.geomspace(values.min(), values.max(), n_bins + 1)
        hist["density"] = False  # equal-width bins in log x: counts are the density of log x
        ax.set_xscale("log")
    ax.hist(values, **hist)
    lo, med, hi = (float(v) for v in eti(values, ci_prob))
    ax.axvspan(lo, hi, label=f"{ci_prob:.0%} interval", **merged("interval", style))
    ax.axvline(med, label=f"median {med:.4g}", **merged("line", style, color=COLORS[0]))
    from bayescale.data.published import published_fit, published_fits

    if references is None:
        references = [k for k, v in published_fits().items() if v.law == fit.spec.law]
    for i, ref_name in enumerate(references):
        ref = published_fit(ref_name)
        if ref.law != fit.spec.law or name not in ref.values:
            continue
        v = float(ref.values[name])
        line_style = {
            **REFERENCE_CYCLE[i % len(REFERENCE_CYCLE)],
            **(style or {}).get(ref_name, {}),
        }
        ax.axvline(v, label=f"{ref.label}: {v:.4g}", **line_style)
    ax.set_xlabel(name if group is None else f"{name}[{group}]")
    ax.set_ylabel("posterior density")
    ax.set_yticks([])
    if log:
        tidy_log_axis(ax, "x", nbins=4)
    else:  # long labels (0.0181, 0.0200, ...) collided at matplotlib's default density
        tidy_linear_axis(ax, "x")
    # below the panel: published values far from the posterior would otherwise hide it
    ax.legend(fontsize="x-small", frameon=False, loc="upper left", bbox_to_anchor=(0.0, -0.2))
    return ax


def plot_comparison(
    table: pd.DataFrame,
    *,
    score: str = "elpd_loo",
    error: str | None = "se",
    higher_is_better: bool = True,
    style: Mapping[str, Mapping[str, Any]] | None = None,
    ax: Any = None,
) -> Any:
    """Comparison scores of several fits as points with error bars, best at the top.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per model (the index names it), e.g. from
        :func:`bayescale.analysis.compare.compare`.
    score : str
        Column with the score: ``elpd_loo`` (``method="loo"``, default) or ``lpd`` /
        ``crps`` (``method="extrapolation"``; ``crps`` with ``higher_is_better=False``).
    error : str or None
        Column with its standard error (None: no error bars, e.g. for ``lpd``).
    higher_is_better : bool
        Order so the best model is on top.
    style : mapping, optional
        Style overrides by role (``vertex``).
    ax : matplotlib.axes.Axes, optional
        Where to draw.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib, pandas as pd
    >>> matplotlib.use("Agg")
    >>> t = pd.DataFrame({"elpd_loo": [510.0, 480.0], "se": [9.0, 11.0]},
    ...                  index=["chinchilla", "kaplan"])
    >>> [t.get_text() for t in plot_comparison(t).get_yticklabels()]
    ['kaplan', 'chinchilla']
    """
    for col in (score, error):
        if col is not None and col not in table.columns:
            raise BayescaleError(
                f"comparison table has no column {col!r} "
                f"(columns: {', '.join(map(str, table.columns))})"
            )
    if table.empty:
        raise BayescaleError("comparison table is empty")
    ordered = table.sort_values(score, ascending=higher_is_better)
    ax = get_ax(ax)
    y = np.arange(len(ordered))
    xerr = ordered[error].to_numpy(float) if error is not None else None
    ax.errorbar(
        ordered[score].to_numpy(float),
        y,
        xerr=xerr,
        **merged("vertex", style, color=COLORS[0], marker="o"),
    )
    best = float(ordered[score].iloc[-1])
    ax.axvline(best, **merged("identity", style))
    ax.set_yticks(y, [str(i) for i in ordered.index])
    ax.set_xlabel(score + (f" (± {error})" if error else ""))
    ax.set_title(
        "Model comparison" + (" (higher is better)" if higher_is_better else " (lower is better)")
    )
    return ax
