"""Figures of a fit. These functions only draw; what they draw is computed from the posterior.

Every ``plot_*`` function takes keyword-only arguments, an optional ``ax=`` (a matplotlib Axes;
a new figure when omitted) and returns the Axes it drew on, so figures compose. Styles are
explicit dicts by role (``style={"band": {"alpha": 0.1}}``); defaults are in
:data:`bayescale.plots._style.STYLE`. The one exception is :func:`plot_diagnostics`, a grid laid
out by arviz-plots, which returns the Figure.

Examples
--------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import matplotlib.pyplot as plt
>>> from bayescale.testing import fake_fit
>>> from bayescale import plots
>>> fit = fake_fit("chinchilla", draws=100)
>>> fig, (left, right) = plt.subplots(1, 2)
>>> _ = plots.plot_loss(fit, x="params", ax=left)
>>> _ = plots.plot_frontier(fit, quantity="params", ax=right)
>>> plt.close(fig)
"""

from __future__ import annotations

from bayescale.plots.allocation import plot_frontier
from bayescale.plots.checks import plot_calibration, plot_diagnostics, plot_ppc
from bayescale.plots.loss import plot_isoflop, plot_loss
from bayescale.plots.parameters import plot_comparison, plot_parameter

__all__ = [
    "plot_calibration",
    "plot_comparison",
    "plot_diagnostics",
    "plot_frontier",
    "plot_isoflop",
    "plot_loss",
    "plot_parameter",
    "plot_ppc",
]
