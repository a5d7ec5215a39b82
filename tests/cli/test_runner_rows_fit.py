"""The runner's own rows fit through the CLI (issue 7): the committed table and a smoke sweep."""

import json
from pathlib import Path

import pytest

from bayescale.cli import main

RUNS = Path(__file__).resolve().parents[2] / "datasets" / "runner_cpu" / "runs.csv"
TINY = ["--draws", "150", "--tune", "150", "--chains", "2", "--quiet"]


def test_committed_runner_table_fits_with_the_chinchilla_spec(tmp_path, capsys):
    out = tmp_path / "fit.nc"
    assert (
        main(
            [
                "fit",
                "--data",
                str(RUNS),
                "--law",
                "chinchilla",
                "--seed",
                "1",
                "--out",
                str(out),
                *TINY,
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["summary", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert 0.1 < summary["alpha"]["median"] < 1.5 and 0.1 < summary["beta"]["median"] < 1.5


def test_fresh_smoke_sweep_rows_fit_through_the_cli(tmp_path, capsys):
    pytest.importorskip("torch")
    runs = tmp_path / "runs.csv"
    assert main(["run", "--preset", "smoke", "--out", str(runs)]) == 0
    out = tmp_path / "fit.nc"
    assert (
        main(
            [
                "fit",
                "--data",
                str(runs),
                "--law",
                "chinchilla",
                "--seed",
                "2",
                "--out",
                str(out),
                *TINY,
            ]
        )
        == 0
    )
    assert out.exists()
    noise = tmp_path / "runs.noise.csv"
    assert (
        main(
            [
                "fit",
                "--data",
                str(noise),
                "--law",
                "bcrit",
                "--seed",
                "3",
                "--out",
                str(tmp_path / "bcrit.nc"),
                *TINY,
            ]
        )
        == 0
    )
