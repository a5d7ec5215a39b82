from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")

from bayescale.runner import load_corpus, load_sweep, train
from bayescale.runner.io import read_rows
from bayescale.runner.sweep import checkpoint_path

pytestmark = pytest.mark.runner


def _cmd(sweep: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "bayescale.runner", "run", str(sweep), "--out", str(out),
        "--threads", "1", "--no-progress", *extra,
    ]  # fmt: skip


def test_sigkill_then_resume_is_bit_identical(tiny_sweep: Path, tmp_path: Path) -> None:
    spec = load_sweep(tiny_sweep).specs[0]
    ref = train(spec, threads=1)
    run_id = spec.run_id(load_corpus(spec.corpus).fingerprint)
    assert ref.row["run_id"] == run_id

    out = tmp_path / "runs.csv"
    ckpt = checkpoint_path(out, run_id)
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    log = tmp_path / "first.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            _cmd(tiny_sweep, out, "--ckpt-every", "5", "--step-delay", "0.05"),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=fh,
        )
        deadline = time.monotonic() + 180  # a loaded 2-core machine starts torch slowly
        while not ckpt.exists():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.02)
        time.sleep(0.12)  # land somewhere after the checkpoint, mid-run
        assert proc.poll() is None, "the run finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()  # nothing committed by the killed run
    assert ckpt.exists()

    done = subprocess.run(
        _cmd(tiny_sweep, out, "--resume"), env=env, capture_output=True, text=True, check=True
    )
    assert "1 resumed" in done.stderr
    assert not ckpt.exists()
    _, rows = read_rows(out)
    assert len(rows) == 1 and rows[0]["run_id"] == run_id
    assert float(rows[0]["loss"]) == ref.row["loss"]  # bit-identical (repr round trip)
    _, curve = read_rows(out.with_name("runs.curves.csv"))
    assert [float(r["loss"]) for r in curve] == [c["loss"] for c in ref.curve]
    _, noise = read_rows(out.with_name("runs.noise.csv"))
    assert [float(r["g2_big"]) for r in noise] == [n["g2_big"] for n in ref.noise]

    from bayescale.runner.sweep import run_sweep

    again = run_sweep(tiny_sweep, out, resume=True, progress=False)
    assert again.trained == 0 and again.skipped == 1
