"""Back-tests: cuts, per-row scores, summaries, calibration, cached fits, optimal sizes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayescale.analysis.backtest import (
    backtest,
    backtest_cuts,
    budget_optima,
    calibration,
    factor_bin,
    score_draws,
    summarize_backtest,
)
from bayescale.exceptions import BayescaleError, RunTableError
from bayescale.testing import synthetic_runs
from tests.conftest import TINY


def test_cuts_reach_each_factor_and_skip_what_the_table_cannot():
    runs = pd.DataFrame({"flops": np.repeat(np.geomspace(1e18, 1e21, 7), 3)})
    cuts = backtest_cuts(runs, factors=(3, 10, 30, 1000), min_fit=4)
    top = runs.flops.max()
    # largest grid value at or below top/f, so the factor reached is at least f
    assert all(top / c >= f for c, f in zip(cuts, (3, 10, 30), strict=True))
    assert len(cuts) == 3  # 1000× would leave fewer than 4 runs to fit
    with pytest.raises(RunTableError, match="cut column 'size'"):
        backtest_cuts(runs, on="size")
    with pytest.raises(BayescaleError, match="must exceed 1"):
        backtest_cuts(runs, factors=(0.5,))


def test_factor_bins_are_nearest_on_a_log_scale():
    assert factor_bin(np.array([1.0, 1.8, 5.0, 6.0, 16.0, 18.0, 100.0])).tolist() == [
        1.0,
        3.0,
        3.0,
        10.0,
        10.0,
        30.0,
        30.0,
    ]


def test_scores_match_their_definitions():
    rng = np.random.default_rng(1)
    sd = 0.02
    draws = np.log(2.0) + sd * rng.standard_normal((4, 20000))
    loss = np.array([2.0, 2.0 * np.exp(sd), 2.0 * np.exp(2 * sd), 2.0 * np.exp(-3 * sd)])
    rows = score_draws(draws, loss)
    # PIT is the normal CDF of the standardised error
    np.testing.assert_allclose(rows["pit"], stats.norm.cdf([0, 1, 2, -3]), atol=0.01)
    assert rows["inside_50"].tolist() == [True, False, False, False]
    assert rows["inside_90"].tolist() == [True, True, False, False]
    np.testing.assert_allclose(rows["rel_error"], 2.0 / loss - 1, atol=1e-3)
    lo, hi = 2 * np.exp(-1.645 * sd), 2 * np.exp(1.645 * sd)
    np.testing.assert_allclose(rows["width_90"], (hi - lo) / loss, rtol=0.02)
    # interval score: width, plus 20× the miss beyond the band
    expect = (hi - lo + 20 * np.maximum(loss - hi, 0) + 20 * np.maximum(lo - loss, 0)) / loss
    np.testing.assert_allclose(rows["interval_score_90"], expect, rtol=0.03)
    with pytest.raises(BayescaleError, match="do not match"):
        score_draws(draws, loss[:2])


def _rows(inside90, inside50, pit, table="t"):
    n = len(pit)
    return pd.DataFrame(
        {
            "table": table,
            "model": "m",
            "factor_bin": 3.0,
            "inside_50": inside50,
            "inside_90": inside90,
            "pit": pit,
            "interval_score_90": np.arange(n, dtype=float),
            "rel_error": np.linspace(-0.02, 0.04, n),
            "width_90": 0.05,
        }
    )


def test_summary_pools_tables_and_counts_them():
    a = _rows([True, True, False, True], [True, False, False, True], [0.5, 0.6, 0.99, 0.3], "a")
    b = _rows([True, False], [False, False], [0.1, 0.0], "b")
    s = summarize_backtest(pd.concat([a, b])).set_index("table")
    assert s.loc["a", "coverage_90"] == 0.75 and s.loc["b", "coverage_90"] == 0.5
    assert s.loc["all", "n"] == 6 and s.loc["all", "tables"] == 2
    assert s.loc["all", "coverage_90"] == pytest.approx(4 / 6)
    assert s.loc["a", "median_abs_rel_error"] == pytest.approx(np.median(np.abs(a.rel_error)))


def test_calibration_from_pit():
    pit = np.linspace(0.0, 1.0, 1001)  # a uniform PIT: perfectly calibrated
    table = calibration(_rows(True, True, pit))
    np.testing.assert_allclose(table["empirical"], table["nominal"], atol=2e-3)
    skewed = calibration(_rows(True, True, np.full(10, 0.97)))  # every run far in the tail
    assert skewed.loc[skewed.nominal == 0.9, "empirical"].item() == 0.0
    assert skewed.loc[skewed.nominal == 0.95, "empirical"].item() == 1.0


def test_budget_optima_vertex_or_lowest_run():
    n = np.geomspace(1e8, 1e10, 7)
    convex = pd.DataFrame({"flops": 1e20, "params": n, "loss": 2 * np.exp(np.log(n / 2e9) ** 2)})
    edge = pd.DataFrame({"flops": 1e21, "params": n, "loss": 3 - 0.01 * np.log(n)})
    few = pd.DataFrame({"flops": 1e22, "params": n[:2], "loss": [2.0, 2.1]})
    out = budget_optima(pd.concat([convex, edge, few])).set_index("flops")
    assert out.loc[1e20, "params_opt"] == pytest.approx(2e9, rel=1e-6)
    assert out.loc[1e21, "params_opt"] == pytest.approx(1e10)  # no interior vertex
    assert 1e22 not in out.index


def test_backtest_fits_below_the_cut_scores_above_and_caches(tmp_path):
    runs = synthetic_runs("chinchilla", n=30, seed=4)
    cut = float(np.quantile(runs.flops, 0.6))
    kwargs = {"cuts": [cut], "random_seed": 3, "cache_dir": tmp_path, **TINY}
    lines: list[str] = []
    rows = backtest(runs, progress=lines.append, **kwargs)
    held = runs.loc[runs.flops > cut]
    assert len(rows) == len(held) and (rows["flops"] > cut).all()
    assert rows["n_fit"].iloc[0] == int((runs.flops <= cut).sum())
    assert (rows["factor"] > 1).all() and rows["model"].iloc[0] == "chinchilla:predictive"
    # the law is right and the noise known: most held-out runs inside the 90 % band
    assert rows["inside_90"].mean() >= 0.7
    assert "(cached fit)" not in lines[0] and len(list(tmp_path.glob("fit-*.nc"))) == 1
    again = backtest(runs, progress=lines.append, **kwargs)
    assert "(cached fit)" in lines[1]
    pd.testing.assert_frame_equal(rows, again)
