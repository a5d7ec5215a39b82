from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from bayescale.runner.io import commit_run, finished_ids, read_rows, result_paths

pytestmark = pytest.mark.runner

WRITER = """
import sys
from bayescale.runner.io import commit_run
out, w, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    rid = f"w{w}-r{i}"
    row = {"run_id": rid, "params": 1000 + i, "tokens": 10_000, "loss": 3.0 + w / 10}
    curve = [{"run": rid, "step": s, "tokens": s * 10, "loss": 4.0, "params": 1000}
             for s in (1, 2, 3)]
    noise = [{"run_id": rid, "step": s, "tokens": s, "train_loss": 4.0, "b_small": 1,
              "b_big": 2, "g2_small": 2.0, "g2_big": 1.5} for s in (0, 1)]
    commit_run(out, row, curve, noise)
"""


def test_concurrent_writers_lose_no_rows(tmp_path: Path) -> None:
    out = tmp_path / "runs.csv"
    writers, per = 4, 15
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(out), str(w), str(per)])
        for w in range(writers)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0] * writers
    runs, curves, noise = result_paths(out)
    _, rows = read_rows(runs)
    assert len(rows) == writers * per
    assert len(finished_ids(out)) == writers * per
    assert len(read_rows(curves)[1]) == 3 * writers * per
    assert len(read_rows(noise)[1]) == 2 * writers * per
    leftovers = [p.name for p in tmp_path.iterdir() if ".tmp" in p.name]
    assert leftovers == []


def test_commit_is_idempotent(tmp_path: Path) -> None:
    out = tmp_path / "runs.csv"
    row = {"run_id": "a", "params": 1, "tokens": 2, "loss": 3.0}
    curve = [{"run": "a", "step": 1, "tokens": 2, "loss": 3.0, "params": 1}]
    commit_run(out, row, curve, [])
    commit_run(out, {**row, "loss": 2.5}, curve, [])
    _, rows = read_rows(out)
    assert len(rows) == 1 and rows[0]["loss"] == "2.5"
    assert len(read_rows(result_paths(out)[1])[1]) == 1
