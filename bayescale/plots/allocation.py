"""The allocation frontier: compute-optimal N and D against the budget, with published lines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from bayescale.exceptions import BayescaleError
from bayescale.intervals import check_ci, eti_dims
from bayescale.plots import _draws
from bayescale.plots._style import COLORS, REFERENCE_STYLES, get_ax, merged

__all__ = ["plot_frontier"]

_QUANTITY = {
    "params": ("params_opt", "compute-optimal parameters N_opt"),
    "tokens": ("tokens_opt", "compute-optimal tokens D_opt"),
    "tokens_per_param": ("tokens_per_param", "tokens per parameter D_opt / N_opt"),
}


def plot_frontier(
    fit: Any,
    *,
    quantity: Literal["params", "tokens", "tokens_per_param"] = "params",
    flops: Sequence[float] | None = None,
    references: Sequence[str] = ("kaplan", "hoffmann", "epoch"),
    ci_prob: float | None = None,
    show_data_range: bool = True,
    style: Mapping[str, Mapping[str, Any]] | None = None,
    ax: Any = None,
) -> Any:
    """N_opt(C), D_opt(C) or D/N against the budget, with the posterior band and published lines.

    Parameters
    ----------
    fit : Fit
        A fit of a law with ``params`` and ``tokens`` inputs.
    quantity : {"params", "tokens", "tokens_per_param"}
        What to draw against compute.
    flops : sequence of float, optional
        The budgets (default: from the data's smallest compute to 10⁴ times its largest).
    references : sequence of str
        Published fits drawn for contrast: ``"kaplan"`` (Kaplan et al. 2020, eq. 6.1),
        ``"hoffmann"`` (Hoffmann et al. 2022, Approach 3) and ``"epoch"`` (Besiroglu et al.
        2024); see :data:`bayescale.plots._draws.REFERENCE_FITS`.
    ci_prob : float, optional
        Mass of the equal-tailed band. Default
        :data:`~bayescale.constants.DEFAULT_CI_PROB`.
    show_data_range : bool
        Shade the range of compute the fit saw (outside it the frontier is an extrapolation).
    style : mapping, optional
        Style overrides by role (``line``, ``band``, ``data_range``) or reference name.
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
    >>> ax = plot_frontier(fake_fit("chinchilla", draws=100), quantity="tokens")
    >>> ax.get_ylabel()
    'compute-optimal tokens D_opt'
    """
    ci_prob = check_ci(ci_prob)
    if quantity not in _QUANTITY:
        raise BayescaleError(f"quantity must be one of {', '.join(_QUANTITY)}, not {quantity!r}")
    unknown = [r for r in references if r not in _draws.REFERENCE_FITS]
    if unknown:
        raise BayescaleError(
            f"unknown reference fit(s) {unknown}; known: {', '.join(_draws.REFERENCE_FITS)}"
        )
    ax = get_ax(ax)
    runs = fit.runs
    data_c = runs["flops"].to_numpy(float) if "flops" in runs else None
    if flops is None:
        lo = float(data_c.min()) if data_c is not None else 1e18
        hi = float(data_c.max()) * 1e4 if data_c is not None else 1e26
        flops = list(np.logspace(np.log10(lo), np.log10(hi), 60))
    c = np.asarray(flops, dtype=float)
    if c.ndim != 1 or c.size < 2 or np.any(c <= 0):
        raise BayescaleError("flops must hold at least two positive budgets")
    var, label = _QUANTITY[quantity]
    q = eti_dims(_draws.optimal_draws(fit, c)[var], ci_prob, skipna=True)
    gdim = fit.info.group if fit.info.group in q.dims else None
    groups = list(q[gdim].values) if gdim else [None]
    for i, g in enumerate(groups):
        qg = q.sel({gdim: g}) if gdim else q
        color = COLORS[i % len(COLORS)]
        ax.fill_between(
            c, qg["lower"].values, qg["upper"].values, **merged("band", style, color=color)
        )
        text = "this fit" + (f" ({g})" if g is not None else "") + f", {ci_prob:.0%} band"
        ax.plot(c, qg["median"].values, label=text, **merged("line", style, color=color))
    for name in references:
        ref = _draws.reference_allocation(name, c)
        if quantity == "tokens_per_param":
            y = ref["tokens_opt"] / ref["params_opt"]
        else:
            y = ref[var]
        line_style = {**REFERENCE_STYLES[name], **(style or {}).get(name, {})}
        ax.plot(c, y, label=_draws.REFERENCE_FITS[name].label, **line_style)
    if show_data_range and data_c is not None:
        ax.axvspan(
            data_c.min(),
            data_c.max(),
            label="compute range of the runs",
            **merged("data_range", style),
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training compute C (FLOP)")
    ax.set_ylabel(label)
    ax.set_title(f"Allocation frontier: {label.split(' ', 1)[1]}")
    ax.legend(fontsize="small", frameon=False)
    return ax
