"""``bayescale plan`` (issue 19): ranked candidates, the batch, a runner sweep, one-line errors."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from bayescale.cli import main
from bayescale.testing import fake_fit

SWEEP = Path(__file__).resolve().parents[2] / "datasets" / "runner_cpu" / "sweep.toml"


@pytest.fixture(scope="module")
def fit_path(tmp_path_factory):
    return fake_fit("chinchilla", draws=200).save(tmp_path_factory.mktemp("fits") / "f.nc")


def _base(fit_path):
    return [
        "plan",
        str(fit_path),
        "--target-flops",
        "1e24",
        "--budget",
        "2e21",
        "--replicates",
        "8",
        "--levels",
        "3",
        "--sizes",
        "3",
        "--quiet",
    ]


def test_plan_prints_ranking_and_batch_and_writes_the_sweep(fit_path, tmp_path, capsys):
    sweep = tmp_path / "next.toml"
    out = tmp_path / "cands.csv"
    args = [
        *_base(fit_path),
        "--sweep-out",
        str(sweep),
        "--sweep-template",
        str(SWEEP),
        "--out",
        str(out),
    ]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "recommended batch" in text and "reduction_per_flop" in text
    table = pd.read_csv(out)
    assert len(table) == 9 and list(table["rank"]) == list(range(1, 10))
    config = tomllib.loads(sweep.read_text())
    assert config["sweep"]["kind"] == "list" and config["sweep"]["seeds"] == [0]
    assert config["defaults"]["corpus"] == "stdlib" and config["defaults"]["seq_len"] == 64
    assert all({"params", "tokens"} == set(run) for run in config["list"])
    # written again only with --force (both outputs are checked before any work)
    out.unlink()
    assert main(args) == 2
    assert "--sweep-out" in capsys.readouterr().err and not out.exists()
    assert main([*args, "--force", "--sweep-seed", "2"]) == 0
    assert tomllib.loads(sweep.read_text())["sweep"]["seeds"] == [2]


def test_plan_json_and_candidates_file(fit_path, tmp_path, capsys):
    cands = tmp_path / "c.csv"
    pd.DataFrame({"N": [1e9, 3e9], "D": [2e10, 6e10]}).to_csv(cands, index=False)
    assert main([*_base(fit_path), "--candidates", str(cands), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["candidates"]) == 2
    assert data["attrs"]["target_flops"] == 1e24
    assert sum(r["flops"] for r in data["batch"]) <= 2e21


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--budget", "1e25"], "exceeds --target-flops"),
        (["--candidates", "missing.csv"], "no such file"),
        (["--sweep-template", "x.toml"], "needs --sweep-out"),
        (["--candidates", "c.csv", "--grid", "ladder"], "not allowed with argument"),
        (["--objective", "loss"], "invalid choice"),
    ],
)
def test_plan_bad_input_is_one_line_exit_2(fit_path, capsys, extra, message):
    assert main([*_base(fit_path), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
