"""The optimal_batch family: grid validation, graph == law, a tiny fit, the Step Law check."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bayescale.exceptions import ConvergenceWarning, RunTableError
from bayescale.laws.batch import optimal_hyperparameters
from bayescale.modeling.build import build_model
from bayescale.modeling.families.optimal_batch import (
    grid_minimum_regression,
    prepare,
    simulate_grid,
)
from bayescale.modeling.model import ScalingModel
from bayescale.modeling.spec import load_spec

TRUE = {"B_0": 0.58, "b_N": 0.0, "b_D": 0.571, "eta_0": 1.79, "e_N": -0.713, "e_D": 0.307}
TINY = {"draws": 300, "tune": 300, "chains": 2}


@pytest.fixture(scope="module")
def spec():
    return load_spec("optimal_batch")


@pytest.fixture(scope="module")
def grid():
    return simulate_grid(grid=6, seed=4)


@pytest.mark.parametrize("col", ["params", "tokens", "learning_rate", "batch_size", "loss"])
def test_prepare_names_missing_column(grid, spec, col):
    with pytest.raises(RunTableError, match=f"'{col}'"):
        prepare(grid.drop(columns=col), spec)


def test_prepare_names_the_row_of_a_bad_value(grid, spec):
    bad = grid.copy()
    bad.loc[11, "learning_rate"] = 0.0
    with pytest.raises(RunTableError, match=r"'learning_rate', row 11"):
        prepare(bad, spec)


def test_prepare_needs_enough_cells(grid, spec):
    two = grid[grid["params"] < 6e8]
    with pytest.raises(RunTableError, match="at least 3"):
        prepare(two[two["tokens"] == two["tokens"].min()], spec)


def test_prepare_keeps_the_window_and_drops_outliers(grid, spec):
    table = grid.copy()
    table["outlier"] = False
    table.loc[0, "outlier"] = True
    out = prepare(table, spec, window=0.01)
    best = out.groupby("cell")["loss"].transform("min")
    assert (out["loss"] <= best * 1.01).all()
    assert out.attrs["runs_outside_window"] > 0
    assert table.loc[0, "run_id"] not in set(out["run_id"])


def test_prepare_prefers_smooth_loss(grid, spec):
    table = grid.assign(smooth_loss=grid["loss"] * 1.001)
    out = prepare(table, spec)
    assert out.attrs["loss_column"] == "smooth_loss"


def test_graph_matches_numpy_law(grid, spec):
    import pytensor

    runs = prepare(grid, spec)
    model, info = build_model(spec, runs)
    point = model.initial_point()
    for i, name in enumerate(("b_N", "b_D", "e_N", "e_D", "log_B_ref", "log_eta_ref")):
        point[f"{name}_offset"] = np.asarray(0.05 * (i + 1))
    point["z_B"] = np.linspace(-1, 1, len(model.coords["cell"]))
    names = ("b_N", "b_D", "e_N", "e_D", "B_0", "eta_0", "batch_size_opt", "learning_rate_opt")
    outs = model.replace_rvs_by_values([model[v] for v in (*names, "tau_B")])
    fn = pytensor.function(model.value_vars, outs, on_unused_input="ignore")
    got = dict(zip((*names, "tau_B"), fn(*(point[v.name] for v in model.value_vars)), strict=True))
    first = runs.groupby("cell", sort=True).first()
    law = optimal_hyperparameters(
        first["params"].to_numpy(),
        first["tokens"].to_numpy(),
        **{k: got[k] for k in ("B_0", "b_N", "b_D", "eta_0", "e_N", "e_D")},
    )
    deviation = np.exp(got["tau_B"] * point["z_B"])
    np.testing.assert_allclose(got["batch_size_opt"], law["batch_size_opt"] * deviation)
    np.testing.assert_allclose(got["learning_rate_opt"], law["learning_rate_opt"])
    assert len(info.run_ids) == len(runs)


def test_shifted_parameters_keep_the_spec_prior(grid, spec):
    """start + offset with a potential: the prior density on the parameter is the spec's."""
    import pytensor
    from scipy import stats

    model, _ = build_model(spec, prepare(grid, spec))
    offset = model["e_N_offset"]
    value = model.rvs_to_values[offset]
    (potential,) = model.replace_rvs_by_values([model["e_N_prior"]])
    total = model.logp(vars=[offset], jacobian=False) + potential
    fn = pytensor.function([value], total, on_unused_input="ignore")
    start = float(model["e_N_start"].get_value())
    prior = spec.priors["e_N"].kwargs
    for x in (-0.3, 0.0, 0.4):
        expected = stats.norm(prior["mu"], prior["sigma"]).logpdf(start + x)
        assert float(fn(np.asarray(x))) == pytest.approx(expected)


def test_grid_minimum_regression_is_quantised(grid):
    naive = grid_minimum_regression(grid)
    assert set(naive) == {"b_N", "b_D", "e_N", "e_D", "b_D_only"}
    assert all(np.isfinite(v) for v in naive.values())


def test_tiny_fit_locates_the_optimum(grid):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = ScalingModel("optimal_batch").fit(grid, random_seed=3, **TINY)
    table = fit.summary(ci_prob=0.99)
    assert list(table.index) == ["B_0", "b_N", "b_D", "eta_0", "e_N", "e_D", "sigma"]
    for name in ("b_N", "b_D", "e_N", "e_D"):
        assert table.loc[name, "lower"] - 0.05 < TRUE[name] < table.loc[name, "upper"] + 0.05
    assert table.loc["sigma", "median"] == pytest.approx(0.002, rel=0.5)
    assert fit.posterior["batch_size_opt"].dims[-1] == "cell"


@pytest.mark.slow
def test_steplaw_intervals_overlap_the_bootstrap_ranges():
    """Acceptance (issue 6): 90% intervals overlap the authors' 5-95% bootstrap ranges."""
    import bayescale as bs

    runs = bs.load_dataset("steplaw2025")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = ScalingModel("optimal_batch").fit(runs, random_seed=1)  # the spec's 4 x 1000
    table = fit.summary(ci_prob=0.9)
    boot = bs.load_dataset("steplaw2025_bootstrap")
    ranges = {
        "b_D": boot["bs_coefD"].quantile([0.05, 0.95]).to_numpy(),
        "e_N": boot["lr_coefN"].quantile([0.05, 0.95]).to_numpy(),
        "e_D": boot["lr_coefD"].quantile([0.05, 0.95]).to_numpy(),
    }
    for name, (lo, hi) in ranges.items():
        assert table.loc[name, "lower"] <= hi and table.loc[name, "upper"] >= lo, (
            name,
            table.loc[name, ["lower", "upper"]].tolist(),
            (lo, hi),
        )
