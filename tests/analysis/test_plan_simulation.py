"""Issue 19's acceptance on synthetic ladders with known truth (slow: about 60 small fits).

``benchmarks/plan_simulation.py`` at its defaults: 20 replicates, each a fitted 20-run
Chinchilla ladder, a planned batch and an equal-cost naive ladder trained from the truth and
refitted. The planned batch must shrink the 90 % interval of N_opt at a target 100x beyond the
data at least 1.5x more per FLOP than the naive ladder (median over replicates), its interval
must still cover the true N_opt in at least 85 % of replicates, and the preposterior's
predicted width must match the refitted one within 25 % (median over replicates).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "plan_simulation.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("plan_simulation", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_planned_batch_beats_an_equal_cost_grid_and_stays_calibrated():
    sim = _script()
    rows = [sim.replicate(seed) for seed in range(20)]
    s = sim.summarize(rows)
    assert s["median_ratio_reduction_per_flop"] >= 1.5, s
    assert s["coverage_plan"] >= 0.85, s
    assert s["median_abs_predicted_error"] <= 0.25, s
