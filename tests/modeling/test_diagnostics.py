"""numpy R-hat / ESS against arviz-stats (issue 20: one summary, no arviz-stats import)."""

import numpy as np
import pytest

from bayescale.modeling import diagnostics

azs = pytest.importorskip("arviz_stats")


def _chains(seed: int, chains: int, draws: int, *, ties: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(chains, draws)).cumsum(axis=1) * 0.1 + rng.normal(size=(chains, draws))
    x += rng.normal(size=(chains, 1)) * 0.3  # chains a little apart: R-hat above 1
    return np.round(x, 1) if ties else x


CASES = [
    (0, 4, 1000, False),
    (1, 2, 7, False),
    (2, 3, 101, True),
    (3, 1, 50, False),
    (4, 4, 400, True),
]


@pytest.mark.parametrize(("seed", "chains", "draws", "ties"), CASES)
def test_bulk_ess_and_rank_rhat_match_arviz_stats(seed, chains, draws, ties):
    x = _chains(seed, chains, draws, ties=ties)
    np.testing.assert_allclose(diagnostics.ess_bulk(x), azs.ess(x, method="bulk"), rtol=1e-10)
    expected = azs.rhat(x, method="rank")
    if chains < 2:
        assert np.isnan(expected) and np.isnan(diagnostics.rhat(x))
    else:
        np.testing.assert_allclose(diagnostics.rhat(x), expected, rtol=1e-10)


@pytest.mark.parametrize(("seed", "chains", "draws", "ties"), CASES)
def test_tail_ess_is_arviz_stats_at_the_5_and_95_percent_quantiles(seed, chains, draws, ties):
    x = _chains(seed, chains, draws, ties=ties)
    np.testing.assert_allclose(
        diagnostics.ess_tail(x), azs.ess(x, method="tail", prob=0.05), rtol=1e-10
    )


def test_tail_ess_does_not_follow_the_interval_setting():
    """arviz-stats' Dataset interface takes the tail probability from ``stats.ci_prob`` (0.89):
    its "tail" ESS then measures the 11 % / 89 % quantiles. Ours is the 5 % / 95 % one."""
    import xarray as xr

    x = _chains(0, 4, 1000)
    ds = xr.Dataset({"v": (("chain", "draw"), x)})
    via_dataset = float(azs.ess(ds, sample_dims=["chain", "draw"], method="tail")["v"])
    np.testing.assert_allclose(via_dataset, azs.ess(x, method="tail", prob=0.89), rtol=1e-10)
    assert abs(diagnostics.ess_tail(x) - via_dataset) > 1  # differs on these chains


def test_degenerate_chains():
    const = np.full((4, 100), 2.0)
    assert diagnostics.ess_bulk(const) == azs.ess(const, method="bulk") == 400
    bad = _chains(0, 4, 100)
    bad[0, 3] = np.nan
    assert np.isnan(diagnostics.rhat(bad)) and np.isnan(diagnostics.ess_bulk(bad))
    assert np.isnan(diagnostics.ess_tail(bad))
    assert np.isnan(diagnostics.rhat(np.zeros((4, 3))))  # fewer than 4 draws
