"""SIGINT, SIGTERM and SIGKILL at random points of ``bayescale fit`` (issue 17): afterwards the
output path holds either nothing or a complete, loadable fit (the new one, or the fit that was
there before), and only a killed process may leave a temporary file, which the next write
removes. 20 trials per signal, half of them refitting over an existing fit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bayescale.modeling.fit import load_fit
from bayescale.testing import synthetic_runs

TRIALS = 20
DRAWS, TUNE, CHAINS = 150, 150, 2


def _fit_command(data: Path, out: Path, seed: int) -> list[str]:
    return [
        sys.executable, "-m", "bayescale", "fit", "--data", str(data), "--out", str(out),
        "--draws", str(DRAWS), "--tune", str(TUNE), "--chains", str(CHAINS),
        "--seed", str(seed), "--quiet",
    ]  # fmt: skip


def _env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[2])
    return {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _temporaries(folder: Path, name: str) -> list[Path]:
    return sorted(folder.glob(f".{name}.*.tmp"))


@pytest.mark.slow
def test_signals_leave_nothing_or_a_complete_fit(tmp_path):
    data = tmp_path / "runs.csv"
    synthetic_runs("chinchilla", n=30, seed=5).to_csv(data, index=False)
    old = tmp_path / "old.nc"
    t0 = time.monotonic()
    subprocess.run(_fit_command(data, old, 0), check=True, env=_env(), capture_output=True)
    full = time.monotonic() - t0  # one whole fit: the window the signals are drawn from
    old_bytes = old.read_bytes()
    rng = np.random.default_rng(17)
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)
    tally = {
        sig.name: dict.fromkeys(
            ["nothing", "old_fit", "new_fit", "temporaries_left", "tracebacks"], 0
        )
        for sig in signals
    }
    for trial in range(TRIALS):
        for sig in signals:  # interleaved, so every signal meets the same conditions
            counts = tally[sig.name]
            out = tmp_path / f"{sig.name}.nc"
            out.unlink(missing_ok=True)
            refit = trial % 2 == 1
            if refit:
                out.write_bytes(old_bytes)
            proc = subprocess.Popen(
                _fit_command(data, out, trial + 1),
                env=_env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            delay = float(rng.uniform(0.0, 1.1 * full))
            time.sleep(delay)
            if proc.poll() is None:
                proc.send_signal(sig)
            _, err = proc.communicate(timeout=600)
            counts["tracebacks"] += "Traceback" in err
            assert proc.returncode in {0, 130, 143, -sig.value}, (sig.name, trial, err)
            if not out.exists():
                assert not refit, "the fit that was there before was lost"
                state = "nothing"
            elif refit and out.read_bytes() == old_bytes:
                state = "old_fit"
            else:
                fit = load_fit(out)  # complete and loadable, or this raises
                sizes = (fit.posterior.sizes["chain"], fit.posterior.sizes["draw"])
                assert sizes == (CHAINS, DRAWS)
                state = "new_fit"
            counts[state] += 1
            left = _temporaries(tmp_path, out.name)
            counts["temporaries_left"] += bool(left)
            if sig != signal.SIGKILL:
                assert left == [], (sig.name, trial, left)
            print(
                f"trial {trial} {sig.name} at {delay:.1f} s of {full:.1f} s: exit "
                f"{proc.returncode}, {state}, {len(left)} temporaries",
                flush=True,
            )
    print("\nsignal trials:", tally)
    assert tally["SIGINT"]["tracebacks"] == tally["SIGTERM"]["tracebacks"] == 0
    # a killed writer's temporary is removed by the next write to the same path
    from bayescale._atomic import atomic_path

    with atomic_path(tmp_path / "SIGKILL.nc") as tmp:
        tmp.write_bytes(old_bytes)
    assert _temporaries(tmp_path, "SIGKILL.nc") == []
