"""bs.plan: preposterior value of candidate runs per FLOP (issue 19)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayescale.analysis.plan import (
    candidate_grid,
    equal_cost_ladder,
    plan,
    preposterior_width,
    sweep_toml,
)
from bayescale.exceptions import BayescaleError
from bayescale.testing import EPOCH_POSTERIOR, fake_fit

#: A posterior of Chinchilla's parameters whose draws are narrow enough for reweighting to
#: keep its effective sample size (relative spreads of about 1 %), noise 0.5 % on log loss.
NARROW = {
    **{k: (v, s / 4) for k, (v, s) in EPOCH_POSTERIOR.items() if k != "sigma"},
    "sigma": (0.005, 0.05),
}
#: Three runs at different tokens per parameter (they inform N_opt; one D/N would not).
SPREAD = pd.DataFrame({"params": [4e9, 1e9, 1.6e10], "tokens": [8e10, 3e11, 2e10]})


@pytest.fixture(scope="module")
def fit():
    return fake_fit("chinchilla", posterior=NARROW, draws=400)


def _top(fit):
    return float(fit.runs["flops"].max())


def test_plan_ranks_affordable_candidates_and_batch_fits_budget(fit):
    top = _top(fit)
    r = plan(fit, target_flops=100 * top, budget_flops=2 * top, replicates=24, random_seed=0)
    table = r.candidates
    assert list(table["rank"]) == list(range(1, len(table) + 1))
    within = table.loc[table["affordable"]]
    per_flop = within["reduction_per_flop"].to_numpy()
    assert np.all(np.diff(per_flop) <= 1e-30)  # ranked best first
    assert r.batch["flops"].sum() <= 2 * top * (1 + 1e-9)
    assert np.allclose(r.batch["cumulative_flops"], r.batch["flops"].cumsum())
    # each added run narrows the expected interval (the greedy stops when nothing does)
    widths = np.r_[r.attrs["width_now"], r.batch["width_after"].to_numpy()]
    assert np.all(np.diff(widths) < 0)
    assert r.attrs["width_after"] < r.attrs["width_now"]
    reweighted = table.loc[table["method"] == "reweight"]
    assert len(reweighted) and (reweighted["reduction_se"] > 0).all()
    assert table.loc[table["method"] == "linear", "reduction_se"].isna().all()
    assert "StudentT" in r.attrs["noise"] and "discrepancy" in r.attrs["noise"]


def test_plan_is_reproducible_with_a_seed(fit):
    top = _top(fit)
    a = plan(fit, target_flops=100 * top, budget_flops=top, replicates=16, random_seed=3)
    b = plan(fit, target_flops=100 * top, budget_flops=top, replicates=16, random_seed=3)
    pd.testing.assert_frame_equal(a.candidates, b.candidates)
    pd.testing.assert_frame_equal(a.batch, b.batch)


def test_uninformative_runs_change_nothing():
    """With noise far larger than the loss differences between draws, runs carry no news."""
    noisy = fake_fit("chinchilla", posterior={**NARROW, "sigma": (5.0, 0.01)}, draws=400)
    runs = pd.DataFrame({"params": [1e9, 3e9], "tokens": [2e10, 6e10]})
    out = preposterior_width(noisy, runs, target_flops=1e24, replicates=32, random_seed=0)
    assert out["ess"] > 0.95 * 800
    assert abs(out["width_after"] - out["width_now"]) < 0.02 * out["width_now"]
    ranked = plan(
        noisy, target_flops=1e24, budget_flops=1e22, candidates=runs, replicates=32, random_seed=0
    ).candidates
    # the Monte Carlo error bar tells these null gains apart from real ones
    assert (ranked["reduction"].abs() < 3 * ranked["reduction_se"]).all()
    lin = preposterior_width(noisy, runs, target_flops=1e24, method="linear", random_seed=0)
    assert abs(lin["width_after"] - lin["width_now"]) < 0.01 * lin["width_now"]


def test_reweighting_and_linearisation_agree_where_both_apply(fit):
    rw = preposterior_width(fit, SPREAD, target_flops=1e24, replicates=64, random_seed=1)
    lin = preposterior_width(fit, SPREAD, target_flops=1e24, method="linear", random_seed=1)
    assert rw["ess"] > 100
    assert rw["width_after"] < 0.8 * rw["width_now"]  # the runs do inform
    assert lin["width_after"] == pytest.approx(rw["width_after"], rel=0.15)


def test_auto_linearises_where_the_ess_collapses():
    """A near noise-free run pins the draws down: few carry the weight, auto linearises."""
    sharp = fake_fit("chinchilla", posterior={**NARROW, "sigma": (1e-4, 0.01)}, draws=300)
    runs = pd.DataFrame({"params": [3e9], "tokens": [6e10]})
    r = plan(
        sharp, target_flops=1e24, budget_flops=1e22, candidates=runs, replicates=16, random_seed=0
    )
    row = r.candidates.iloc[0]
    assert row["ess"] < 100 and row["method"] == "linear"
    forced = plan(
        sharp,
        target_flops=1e24,
        budget_flops=1e22,
        candidates=runs,
        replicates=16,
        random_seed=0,
        method="reweight",
    )
    assert forced.candidates.iloc[0]["method"] == "reweight"


def test_more_runs_narrow_more(fit):
    one = pd.DataFrame({"params": [4e9], "tokens": [8e10]})
    a = preposterior_width(fit, one, target_flops=1e24, replicates=48, random_seed=2)
    b = preposterior_width(fit, SPREAD, target_flops=1e24, replicates=48, random_seed=2)
    assert b["width_after"] < a["width_after"] < a["width_now"]


def test_candidate_grids(fit):
    iso = candidate_grid(fit, budget_flops=1e22, levels=3, sizes=4)
    assert len(iso) == 12
    assert np.allclose(iso["flops"], 6 * iso["params"] * iso["tokens"])
    assert iso["flops"].max() == pytest.approx(1e22)
    ladder = candidate_grid(fit, budget_flops=1e22, kind="ladder", levels=5, tokens_per_param=20)
    assert np.allclose(ladder["tokens"] / ladder["params"], 20)
    naive = equal_cost_ladder(fit, budget_flops=3e21, runs=5)
    assert naive["flops"].sum() == pytest.approx(3e21)
    ratios = naive["params"].to_numpy()[1:] / naive["params"].to_numpy()[:-1]
    assert np.allclose(ratios, ratios[0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"objective": "loss"}, "objective must be one of"),
        ({"method": "fisher"}, "method must be one of"),
        (
            {"budget_flops": 1e15, "candidates": pd.DataFrame({"params": [1e9], "tokens": [1e9]})},
            "no candidate fits the budget",
        ),
        ({"budget_flops": 1.0}, "not a model one can"),
        ({"candidates": pd.DataFrame({"params": [1e9]})}, "candidates need columns"),
        ({"candidates": pd.DataFrame({"params": [1e9], "tokens": [-1.0]})}, "row 0"),
        ({"replicates": 1}, "replicates must be an integer"),
    ],
)
def test_plan_errors(fit, kwargs, message):
    args = {"target_flops": 1e24, "budget_flops": 1e22, **kwargs}
    with pytest.raises(BayescaleError, match=message):
        plan(fit, **args)


def test_plan_refuses_a_law_without_params_and_tokens():
    with pytest.raises(BayescaleError, match="needs a fit of an"):
        plan(fake_fit("kaplan_ns", draws=20), target_flops=1e24, budget_flops=1e22)


def test_sweep_toml_lists_each_run():
    import tomllib

    batch = pd.DataFrame({"params": [2.1e5, 9.6e5], "tokens": [1.3e5, 2.6e6]})
    text = sweep_toml(
        batch,
        name="round-1",
        defaults={"corpus": "stdlib", "seq_len": 64, "tied": False, "n_layer": 9},
        comment="two runs\nfrom a plan",
    )
    config = tomllib.loads(text)
    assert config["sweep"] == {"name": "round-1", "kind": "list", "seeds": [0]}
    assert config["defaults"] == {"corpus": "stdlib", "seq_len": 64, "tied": False}
    assert config["list"] == [
        {"params": 210000, "tokens": 130000},
        {"params": 960000, "tokens": 2600000},
    ]
    assert text.startswith("# two runs\n# from a plan\n")
