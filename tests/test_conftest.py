"""The suite's own mirror logic (tests/conftest.py): absolute once, fails in CI, skips outside."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "BAYESCALE_DATA")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def test_a_relative_mirror_path_is_made_absolute_once(tmp_path):
    (tmp_path / "mirror" / "epoch_chinchilla").mkdir(parents=True)
    code = (
        "import os, tests.conftest as c; "
        "print(os.environ['BAYESCALE_DATA']); print(c.mirror_available())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=_env(BAYESCALE_DATA="mirror", PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == [str((tmp_path / "mirror").resolve()), "True"]


def _pytest(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    # one real-data test (needs_mirror) run against a mirror that does not exist
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:xdist",
            "-p",
            "no:cacheprovider",
            "-q",
            "tests/data/test_conventions.py",
        ],
        cwd=ROOT,
        env=_env(BAYESCALE_DATA=str(tmp_path / "absent"), **env),
        capture_output=True,
        text=True,
    )


def test_in_ci_a_missing_mirror_fails_the_run(tmp_path):
    res = _pytest(tmp_path, CI="true")
    assert res.returncode != 0, res.stdout
    assert "CI: dataset mirror not found" in res.stdout + res.stderr
    assert str(tmp_path / "absent") in res.stdout + res.stderr


def test_outside_ci_a_missing_mirror_skips_with_the_reason(tmp_path):
    res = _pytest(tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "skipped" in res.stdout and "dataset mirror not found" in res.stdout
