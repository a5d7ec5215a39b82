"""benchmarks/gpu_check.py at toy sizes on the CPU (the GPU run is for a machine with one)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("torch")

pytestmark = pytest.mark.runner

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_gpu_check_without_pymc() -> None:
    text = SCRIPT.read_text()
    assert "pymc" not in text.lower().replace("no pymc", "")
    assert "submitit" not in text.split('"""', 2)[2]  # nothing the GPU image lacks


def test_gpu_check_tiny_on_cpu(tmp_path: Path) -> None:
    from bayescale.data import read_runs
    from bayescale.exceptions import UnitsWarning

    out = tmp_path / "gc"
    # the tiny CPU rows train on about 2,000 tokens: raw counts small enough to trip the
    # millions-or-billions check when the script (and this test) validate them, which must say so
    with pytest.warns(UnitsWarning, match="tokens"):
        summary = _script().main(
            ["--device", "cpu", "--tiny", "--sizes", "1,2", "--steps", "4,8", "--skip-resume",
             "--peak-flops", "1e11", "--out", str(out)]
        )  # fmt: skip
    assert summary == json.loads((out / "gpu_check.json").read_text())
    assert summary["rows_valid"] and len(summary["runs"]) == 4
    assert all(r["dtype"] == "float32" and r["mfu"] for r in summary["runs"])
    t = summary["throughput"]
    assert t["bare_tokens_per_s"] > 0 and t["runner_tokens_per_s"] > 0 and t["ratio"] > 0
    with pytest.warns(UnitsWarning, match="tokens"):
        rows = read_runs(out / "runs.csv")
    assert len(rows) == 4


@pytest.mark.slow
def test_gpu_check_tiny_kill_and_resume(tmp_path: Path) -> None:
    summary = _script().main(["--device", "cpu", "--tiny", "--out", str(tmp_path / "gc")])
    r = summary["resume"]
    assert r["killed_mid_run"] and r["resumed"] and r["bit_identical"]
