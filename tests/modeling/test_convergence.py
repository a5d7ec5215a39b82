"""Convergence on small tables (issue 14): the battery of benchmarks/convergence.py.

The fast tests fit one synthetic 5 x 5 ladder over one decade of N and one real subset
(misfitting2025's final runs with N <= 300M, where the reference geometry gives R-hat 1.06 and
bulk ESS 128 of 4,000 draws) with 2 chains x 500 draws, and ask for the battery's criteria on
those draws: R-hat <= 1.01, bulk ESS >= 400 (40 % of the draws) and no divergences. The full
battery (default settings, seeds 1-5, every table) is the slow test.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.conftest import needs_mirror

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "convergence.py"
SHORT = {"draws": 500, "tune": 500, "chains": 2}


def _battery():
    spec = importlib.util.spec_from_file_location("convergence_battery", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _check(row):
    assert row["chains"] == SHORT["chains"] and row["draws"] == SHORT["draws"]
    assert row["r_hat_max"] <= 1.01, row
    assert row["ess_bulk_min"] >= 400, row
    assert row["divergences"] == 0, row


def test_chinchilla_converges_on_a_5x5_ladder_over_one_decade_of_n():
    battery = _battery()
    runs = battery.synthetic_ladder(1)
    assert len(runs) == 25
    assert runs["params"].max() / runs["params"].min() == pytest.approx(10.0)
    _check(battery.fit_row("chinchilla", "synthetic:5x5", runs, 1, SHORT))


@needs_mirror
def test_chinchilla_converges_on_misfitting2025_up_to_300m():
    battery = _battery()
    runs = dict(battery.battery_tables({"misfitting2025"}))["misfitting2025:N<=3e8"](1)
    assert len(runs) == 72
    _check(battery.fit_row("chinchilla", "misfitting2025:N<=3e8", runs, 2, SHORT))


@pytest.mark.slow
@needs_mirror
def test_full_battery_at_default_settings(tmp_path):
    """Issue 14's acceptance: every fit of the battery passes (several hours on 2 cores)."""
    battery = _battery()
    out = tmp_path / "battery.csv"
    sys.argv = ["convergence.py", "--out", str(out)]
    assert battery.main() == 0
    import pandas as pd

    rows = pd.read_csv(out)
    assert len(rows) == 2 * 5 * rows["table"].nunique()
    failed = rows.loc[~rows["passed"].astype(bool)]
    assert failed.empty, failed.to_string()
