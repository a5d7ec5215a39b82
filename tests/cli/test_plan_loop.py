"""The closed loop of issue 19 on the CPU: run -> fit -> plan -> run ..., two rounds, tiny sizes.

Each round is the documented three-command cycle (docs/tutorials/plan-the-next-runs.md):
``bayescale run SWEEP --out runs.csv`` (rows appended), ``bayescale fit --data runs.csv``,
``bayescale plan FIT --sweep-out NEXT.toml --sweep-template SWEEP``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bayescale.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.runner]

START = """\
[sweep]
name = "loop-start"
kind = "grid"
seeds = [0]

[defaults]
corpus = "stdlib"
tokenizer = "byte"
seq_len = 32
batch_size = 16
micro_batches = 2
aspect_ratio = 16
head_dim = 16
learning_rate = 3e-3
eval_tokens = 2048
final_eval_tokens = 8192

[grid]
n_layer = [1, 2, 3]
tokens = [16384, 49152]
"""
TINY_FIT = ["--draws", "150", "--tune", "150", "--chains", "2", "--quiet"]


def _flops(runs: Path) -> tuple[int, float, float]:
    from bayescale.data.schema import read_runs

    table = read_runs(runs)  # the rows validate as a run table
    c = 6 * table["params"] * table["tokens"]
    return len(table), float(c.max()), float(c.sum())


def test_two_rounds_of_run_fit_plan(tmp_path, capsys):
    pytest.importorskip("torch")
    start = tmp_path / "start.toml"
    start.write_text(START)
    runs = tmp_path / "runs.csv"
    assert main(["run", str(start), "--out", str(runs), "--no-progress"]) == 0
    sweep = start
    counts = []
    for round_ in (1, 2):
        n_rows, top, total = _flops(runs)
        counts.append(n_rows)
        fit = tmp_path / f"fit{round_}.nc"
        assert (
            main(
                [
                    "fit",
                    "--data",
                    str(runs),
                    "--law",
                    "chinchilla",
                    "--seed",
                    str(round_),
                    "--out",
                    str(fit),
                    *TINY_FIT,
                ]
            )
            == 0
        )
        nxt = tmp_path / f"plan{round_}.toml"
        code = main(
            [
                "plan",
                str(fit),
                "--target-flops",
                f"{100 * top:g}",
                "--budget",
                f"{total / 2:g}",
                "--levels",
                "3",
                "--sizes",
                "3",
                "--replicates",
                "16",
                "--max-runs",
                "3",
                "--sweep-out",
                str(nxt),
                "--sweep-template",
                str(start),
                "--sweep-name",
                f"round{round_}",
                "--sweep-seed",
                str(round_),
                "--quiet",
            ]
        )
        assert code == 0
        planned = tomllib.loads(nxt.read_text())
        assert planned["sweep"]["kind"] == "list" and 1 <= len(planned["list"]) <= 3
        assert planned["defaults"]["seq_len"] == 32
        assert main(["run", str(nxt), "--out", str(runs), "--no-progress"]) == 0
        sweep = nxt
    n_rows, _, _ = _flops(runs)
    counts.append(n_rows)
    assert counts[0] == 6 and counts[1] > counts[0] and counts[2] > counts[1]
    # the last round's rows fit too
    assert (
        main(
            [
                "fit",
                "--data",
                str(runs),
                "--law",
                "chinchilla",
                "--seed",
                "9",
                "--out",
                str(tmp_path / "fit3.nc"),
                *TINY_FIT,
            ]
        )
        == 0
    )
    assert sweep.name == "plan2.toml"
    capsys.readouterr()
