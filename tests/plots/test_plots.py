"""Structure of the plots (lines, bands, labels, log axes) on fake posteriors."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import FillBetweenPolyCollection, PathCollection

from bayescale import plots
from bayescale.exceptions import BayescaleError
from bayescale.laws import chinchilla_optimal
from bayescale.plots import _draws
from bayescale.testing import EPOCH_POSTERIOR, fake_fit, synthetic_runs


@pytest.fixture(scope="module")
def fit():
    return fake_fit("chinchilla", draws=200)


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def bands(ax):
    return [c for c in ax.collections if isinstance(c, FillBetweenPolyCollection)]


def scatters(ax):
    return [c for c in ax.collections if isinstance(c, PathCollection)]


@pytest.mark.parametrize("x", ["params", "tokens"])
def test_plot_loss_slices(fit, ax, x):
    out = plots.plot_loss(fit, x=x, ax=ax)
    assert out is ax
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert len(ax.lines) == 3 and len(bands(ax)) == 3  # three slices, each a line and a band
    assert len(scatters(ax)) == 1
    assert scatters(ax)[0].get_offsets().shape[0] == len(fit.runs)
    assert "loss" in ax.get_ylabel() and x in ax.get_title()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[-1] == "runs"
    assert labels[0].startswith("D = " if x == "params" else "N = ")


def test_plot_loss_band_contains_median_and_matches_law(fit, ax):
    tokens = 1e10
    plots.plot_loss(fit, x="params", at=[tokens], ax=ax, ci_prob=0.5)
    line = ax.lines[0]
    n, med = line.get_xdata(), line.get_ydata()
    post = fit.posterior
    expect = np.median(
        post["E"].values.ravel()[:, None]
        + post["A"].values.ravel()[:, None] * n[None, :] ** (-post["alpha"].values.ravel()[:, None])
        + post["B"].values.ravel()[:, None] * tokens ** (-post["beta"].values.ravel()[:, None]),
        axis=0,
    )
    np.testing.assert_allclose(med, expect, rtol=1e-6)
    path = bands(ax)[0].get_paths()[0].vertices
    assert path[:, 1].min() < med.min() and path[:, 1].max() > med.max()


def band_width(ax, i=0):
    """Largest vertical width of band ``i`` at any of its x positions."""
    v = bands(ax)[i].get_paths()[0].vertices
    xs = np.unique(v[:, 0])
    return max(np.ptp(v[v[:, 0] == x, 1]) for x in xs)


def test_plot_loss_predictive_band_is_wider():
    tight = {**{k: (v[0], 0.001) for k, v in EPOCH_POSTERIOR.items()}, "sigma": (0.05, 0.01)}
    fit = fake_fit("chinchilla", draws=200, posterior=tight)
    widths = {}
    for kind in ("mean", "predictive"):
        fig, ax = plt.subplots()
        plots.plot_loss(fit, x="params", at=[1e10], kind=kind, ax=ax)
        widths[kind] = band_width(ax)
        plt.close(fig)
    assert widths["predictive"] > 5 * widths["mean"]


def test_plot_loss_against_flops_is_the_optimal_loss(fit, ax):
    plots.plot_loss(fit, x="flops", ax=ax)
    line = ax.lines[0]
    c, med = line.get_xdata(), line.get_ydata()
    vals = {k: v[0] for k, v in EPOCH_POSTERIOR.items() if k != "sigma"}
    at_centre = float(chinchilla_optimal(c[len(c) // 2], **vals)["loss_opt"])
    assert med[len(c) // 2] == pytest.approx(at_centre, rel=0.05)
    assert np.all(np.diff(med) < 0)  # more compute, lower optimal loss
    assert ax.get_xlabel().startswith("training compute")


def test_plot_loss_rejects_unknown_axis(fit, ax):
    with pytest.raises(BayescaleError, match="steps"):
        plots.plot_loss(fit, x="steps", ax=ax)
    with pytest.raises(BayescaleError, match="kind"):
        plots.plot_loss(fit, x="params", kind="wrong", ax=ax)  # type: ignore[arg-type]


def test_plot_loss_per_group(ax):
    runs = pd.concat(
        [
            synthetic_runs(seed=1, n=20).assign(family="a"),
            synthetic_runs(seed=2, n=20).assign(family="b"),
        ],
        ignore_index=True,
    )
    fit = fake_fit("chinchilla", runs=runs, draws=100)
    # give the fake posterior a group dim on alpha, as a pooled fit has
    post = fit.posterior
    alpha = post["alpha"].expand_dims(family=["a", "b"]).copy()
    alpha.loc[{"family": "b"}] = alpha.sel(family="b") * 1.2
    tree = fit.tree.copy()
    tree["posterior"] = tree["posterior"].to_dataset().assign(alpha=alpha)
    from dataclasses import replace

    fit = type(fit)(tree, fit.spec, runs, replace(fit.info, group="family", groups=("a", "b")))
    fig, iso = plt.subplots()
    plots.plot_isoflop(fit, flops=[1e19], group="b", ax=iso)
    assert "(family = b)" in iso.get_title()
    with pytest.raises(BayescaleError, match="'z' is not in the fit's 'family'"):
        plots.plot_isoflop(fit, flops=[1e19], group="z", ax=iso)
    plt.close(fig)
    plots.plot_loss(fit, x="params", ax=ax)
    assert len(ax.lines) == 2 and len(bands(ax)) == 2  # one curve per group at the median slice
    assert len(scatters(ax)) == 2
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("(a)" in t for t in labels) and any("(b)" in t for t in labels)


def test_plot_isoflop_vertex(fit, ax):
    budgets = [1e19, 1e20, 1e21]
    plots.plot_isoflop(fit, flops=budgets, ax=ax)
    assert ax.get_xscale() == "log"
    curves = [ln for ln in ax.lines if ln.get_linestyle() != "None"]
    assert len(curves) == 3 and len(bands(ax)) >= 3
    vals = {k: v[0] for k, v in EPOCH_POSTERIOR.items() if k != "sigma"}
    for c, curve in zip(budgets, curves, strict=True):
        n, loss = curve.get_xdata(), curve.get_ydata()
        # the curve is a valley whose minimum sits near the closed-form optimum
        n_min = n[np.argmin(loss)]
        expect = float(chinchilla_optimal(c, **vals)["params_opt"])
        assert abs(np.log(n_min / expect)) < np.log(2.0)
        assert loss[0] > loss.min() and loss[-1] > loss.min()
    markers = [ln for ln in ax.lines if ln.get_marker() == "D"]
    assert len(markers) == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()][:3] == [
        "C = 1e+19",
        "C = 1e+20",
        "C = 1e+21",
    ]


@pytest.mark.parametrize("quantity", ["params", "tokens", "tokens_per_param"])
def test_plot_frontier(fit, ax, quantity):
    c = np.logspace(19, 25, 20)
    plots.plot_frontier(fit, quantity=quantity, flops=c, ax=ax)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("this fit")
    assert {"Kaplan et al. 2020", "Hoffmann et al. 2022", "Besiroglu et al. 2024 (Epoch)"} <= set(
        labels
    )
    assert len(bands(ax)) == 1
    kaplan = ax.lines[1]
    slope = np.polyfit(np.log(kaplan.get_xdata()), np.log(kaplan.get_ydata()), 1)[0]
    expect = {"params": 0.73, "tokens": 0.27, "tokens_per_param": -0.46}[quantity]
    assert slope == pytest.approx(expect, abs=1e-6)
    hoffmann = ax.lines[2].get_ydata()
    ref = _draws.reference_allocation("hoffmann", c)
    if quantity != "tokens_per_param":
        np.testing.assert_allclose(hoffmann, ref[f"{quantity}_opt"])


def test_plot_frontier_errors(fit, ax):
    with pytest.raises(BayescaleError, match="quantity"):
        plots.plot_frontier(fit, quantity="loss", ax=ax)  # type: ignore[arg-type]
    with pytest.raises(BayescaleError, match="unknown reference"):
        plots.plot_frontier(fit, references=["nobody"], ax=ax)


def test_plot_parameter_references(fit, ax):
    plots.plot_parameter(fit, name="alpha", ax=ax, ci_prob=0.9)
    assert ax.get_xlabel() == "alpha"
    vlines = [ln.get_xdata()[0] for ln in ax.lines]
    assert 0.33917 in vlines and 0.3478 in vlines and 0.34 in vlines  # Hoffmann, Besiroglu
    assert len(ax.patches) > 10  # histogram bars (+ the interval span)
    assert ax.get_xscale() == "linear"
    fig, ax2 = plt.subplots()
    plots.plot_parameter(fit, name="A", ax=ax2)  # a prefactor: log axis by default
    assert ax2.get_xscale() == "log"
    plt.close(fig)
    with pytest.raises(BayescaleError, match="no posterior variable 'gamma'"):
        plots.plot_parameter(fit, name="gamma", ax=ax)


def test_plot_comparison(ax):
    table = pd.DataFrame(
        {"elpd_loo": [-10.0, 5.0, 1.0], "se": [2.0, 1.0, 3.0], "crps": [0.3, 0.1, 0.2]},
        index=["k", "c", "d"],
    )
    plots.plot_comparison(table, ax=ax)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["k", "d", "c"]
    assert ax.get_xlabel() == "elpd_loo (± se)"
    xs = ax.lines[0].get_xdata()
    assert list(xs) == [-10.0, 1.0, 5.0]
    fig, ax2 = plt.subplots()
    plots.plot_comparison(table, score="crps", error=None, higher_is_better=False, ax=ax2)
    assert [t.get_text() for t in ax2.get_yticklabels()] == ["k", "d", "c"]  # best (lowest) on top
    plt.close(fig)
    with pytest.raises(BayescaleError, match="no column 'loo'"):
        plots.plot_comparison(table, score="loo", ax=ax)


@pytest.mark.parametrize("prior", [False, True])
def test_plot_ppc(fit, ax, prior):
    plots.plot_ppc(fit, prior=prior, draws=200, ax=ax)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_ylabel() == ("prior" if prior else "posterior") + " predictive loss"
    points = [ln for ln in ax.lines if ln.get_marker() == "o"]
    assert len(points[0].get_xdata()) == len(fit.runs)
    assert "% of runs inside the 90% interval" in ax.get_title()


def test_ppc_coverage_of_the_true_model():
    # runs drawn from the posterior centre with small noise: the posterior check covers them
    fit = fake_fit("chinchilla", draws=200, posterior={**EPOCH_POSTERIOR, "sigma": (0.02, 0.01)})
    fig, ax = plt.subplots()
    plots.plot_ppc(fit, ax=ax)
    share = int(ax.get_title().split("\n")[1].split("%")[0])
    assert share >= 80
    plt.close(fig)


@pytest.mark.parametrize("kind", ["trace", "rank"])
def test_plot_diagnostics(fit, kind):
    fig = plots.plot_diagnostics(fit, kind=kind, var_names=["alpha", "beta"])
    assert len(fig.axes) >= 2
    plt.close(fig)
    with pytest.raises(BayescaleError, match="nope"):
        plots.plot_diagnostics(fit, var_names=["nope"])


def test_kaplan_fit_allocation_is_numeric(ax):
    fit = fake_fit("kaplan", draws=100)
    plots.plot_frontier(fit, quantity="params", flops=np.logspace(19, 23, 5), ax=ax)
    med = ax.lines[0].get_ydata()
    assert np.all(np.diff(np.log(med)) > 0)
    plots.plot_loss(fit, x="params", ax=ax)


def test_other_model_families_are_refused_clearly(fit, ax):
    from bayescale.modeling.spec import load_spec

    isoflop = type(fit)(fit.tree, load_spec("isoflop"), fit.runs, fit.info)
    for draw in (plots.plot_loss, plots.plot_isoflop, plots.plot_ppc):
        with pytest.raises(BayescaleError, match="'isoflop' is a 'isoflop'-family model"):
            draw(isoflop, ax=ax)


def test_plot_parameter_with_an_extra_dim(ax):
    fit = fake_fit("chinchilla", draws=100)
    tree = fit.tree.copy()
    alpha = fit.posterior["alpha"].expand_dims(family=["a", "b"]).copy()
    alpha.loc[{"family": "b"}] = alpha.sel(family="b") + 0.1
    tree["posterior"] = tree["posterior"].to_dataset().assign(alpha=alpha)
    grouped = type(fit)(tree, fit.spec, fit.runs, fit.info)
    plots.plot_parameter(grouped, name="alpha", ax=ax)  # every group's draws together
    plots.plot_parameter(grouped, name="alpha", group="b", ax=ax)
    assert ax.get_xlabel() == "alpha[b]"
    with pytest.raises(BayescaleError, match="group 'z'"):
        plots.plot_parameter(grouped, name="alpha", group="z", ax=ax)
