"""Default styles of the plots as explicit dicts (override any key through ``style=``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "COLORS",
    "REFERENCE_CYCLE",
    "REFERENCE_STYLES",
    "STYLE",
    "get_ax",
    "merged",
    "tidy_linear_axis",
    "tidy_log_axis",
]

#: Colour cycle for slices and groups (colour-blind safe, Okabe-Ito).
COLORS: tuple[str, ...] = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#000000",
)

#: Default style of each drawn element, by role.
STYLE: dict[str, dict[str, Any]] = {
    "data": {"s": 14, "alpha": 0.6, "color": "0.35", "linewidths": 0, "zorder": 3},
    "line": {"linewidth": 1.8, "zorder": 4},
    "band": {"alpha": 0.25, "linewidth": 0, "zorder": 2},
    "vertex": {"marker": "D", "markersize": 6, "capsize": 3, "zorder": 5, "linestyle": "none"},
    "hist": {"bins": 50, "density": True, "alpha": 0.55, "color": COLORS[0]},
    "interval": {"alpha": 0.15, "color": COLORS[0], "linewidth": 0},
    "identity": {"color": "0.5", "linestyle": ":", "linewidth": 1.0},
    "data_range": {"color": "0.85", "alpha": 0.5, "linewidth": 0, "zorder": 0},
}

#: Line styles of the published reference fits.
REFERENCE_STYLES: dict[str, dict[str, Any]] = {
    "kaplan": {"color": "#7F3C8D", "linestyle": "--", "linewidth": 1.3},
    "hoffmann": {"color": "#11A579", "linestyle": "-.", "linewidth": 1.3},
    "epoch": {"color": "#E73F74", "linestyle": ":", "linewidth": 1.6},
}

#: Line styles of other published values, in turn.
REFERENCE_CYCLE: tuple[dict[str, Any], ...] = (
    {"color": "#11A579", "linestyle": "-.", "linewidth": 1.3},
    {"color": "#E73F74", "linestyle": ":", "linewidth": 1.6},
    {"color": "#7F3C8D", "linestyle": "--", "linewidth": 1.3},
    {"color": "#3969AC", "linestyle": (0, (5, 1, 1, 1)), "linewidth": 1.3},
)


def merged(
    role: str, style: Mapping[str, Mapping[str, Any]] | None, **extra: Any
) -> dict[str, Any]:
    """The default style of ``role`` updated by ``extra`` and then by ``style[role]``."""
    out = {**STYLE.get(role, {}), **extra}
    if style and role in style:
        out.update(style[role])
    return out


def get_ax(ax: Any) -> Any:
    """Return ``ax``, or a new Axes on a new figure when it is None."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, new = plt.subplots(figsize=(6.0, 4.2), layout="constrained")
    return new


#: Mantissas of log-axis ticks, densest first (tidy_log_axis picks the densest that fits).
_LOG_SUBS: tuple[tuple[float, ...], ...] = (
    (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0),
    (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.0),
    (1.0, 1.5, 2.0, 3.0, 5.0, 7.0),
    (1.0, 2.0, 3.0, 5.0),
    (1.0, 2.0, 5.0),
    (1.0, 3.0),
)


def tidy_log_axis(ax: Any, which: str = "y", *, nbins: int = 6) -> None:
    """Readable ticks on a log axis: plain numbers (2, 3, 4, not 2×10⁰), enough of them.

    Over less than 1.5 decades (a loss axis, typically) matplotlib's log locator leaves one or
    two major ticks and labels the minor ones in scientific notation; there the major ticks
    become round mantissas (1, 1.5, 2, 3, ...), as many as fit in ``nbins``, labelled ``%g``.
    Over wider ranges the decades stay, with the minor ticks unlabelled. Call it after
    everything is drawn (it reads the axis limits).
    """
    import math

    from matplotlib import ticker

    axis = ax.yaxis if which == "y" else ax.xaxis
    lo, hi = sorted(ax.get_ylim() if which == "y" else ax.get_xlim())
    if lo > 0 and hi / lo < 10**1.5:
        decades = range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
        chosen: list[float] = []
        for subs in _LOG_SUBS:
            ticks = [m * 10.0**e for e in decades for m in subs]
            chosen = [t for t in ticks if lo <= t <= hi]
            if len(chosen) <= nbins:
                break
        axis.set_major_locator(ticker.FixedLocator(chosen))
        axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(ticker.NullFormatter())


def tidy_linear_axis(ax: Any, which: str = "x", *, nbins: int = 4) -> None:
    """At most ``nbins`` ticks on a linear axis, so long labels (0.0181) never collide."""
    from matplotlib import ticker

    axis = ax.yaxis if which == "y" else ax.xaxis
    axis.set_major_locator(ticker.MaxNLocator(nbins=nbins))
