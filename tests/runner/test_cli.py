from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from bayescale.exceptions import BayescaleError
from bayescale.runner.cli import register
from bayescale.runner.errors import RunnerError, require_torch

pytestmark = pytest.mark.runner


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bayescale")
    register(parser.add_subparsers(dest="command"))
    return parser


def test_cli_module_does_not_import_torch() -> None:
    code = (
        "import sys, bayescale.runner.cli, bayescale.runner;"
        "assert 'torch' not in sys.modules and 'pymc' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_register_adds_run(tmp_path: Path) -> None:
    args = _parser().parse_args(["run", "--preset", "smoke", "--out", str(tmp_path / "r.csv")])
    assert args.preset == "smoke" and args.shard == "0/1" and not args.resume
    assert callable(args.func)


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["run", "--out", "x.csv"], "sweep file or --preset"),
        (["run", "nope.toml", "--out", "x.csv"], "no such sweep file"),
        (["run", "--preset", "smoke", "--out", "x.csv", "--shard", "2/2"], "0 <= i < n"),
        (["run", "--preset", "smoke", "--out", "x.csv", "--shard", "a"], "i/n"),
    ],
)
def test_user_errors_are_bayescale_errors(argv: list[str], match: str) -> None:
    args = _parser().parse_args(argv)
    with pytest.raises(BayescaleError, match=match):
        args.func(args)


def test_bad_sweep_settings(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[grid]\nn_layer = [1]\nsteps = [2]\nbogus = ["x"]\n')
    args = _parser().parse_args(["run", str(bad), "--out", str(tmp_path / "r.csv")])
    with pytest.raises(RunnerError, match="unknown run setting"):
        args.func(args)


def test_missing_torch_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(RunnerError, match=r'pip install "bayescale\[runner\]"'):
        require_torch()


def test_shard_runs_only_its_part(tmp_path: Path, tiny_sweep: Path) -> None:
    from bayescale.runner import load_sweep
    from bayescale.runner.sweep import run_sweep

    text = tiny_sweep.read_text().replace("steps = [40]", "steps = [2, 3, 4]")
    tiny_sweep.write_text(text)
    out = tmp_path / "r.csv"
    s1 = run_sweep(tiny_sweep, out, shard=(1, 2), progress=False)
    assert s1.trained == 1
    s0 = run_sweep(tiny_sweep, out, shard=(0, 2), progress=False)
    assert s0.trained == 2
    again = run_sweep(tiny_sweep, out, progress=False)
    assert again.trained == 0 and again.skipped == 3
    assert len(load_sweep(tiny_sweep).specs) == 3


def test_isoflop_grid() -> None:
    from bayescale.runner.config import parse_sweep

    sw = parse_sweep("[isoflop]\nbudgets = [1e12, 4e12]\nn_layer = [1, 2]\n")
    assert len(sw.specs) == 4
    from bayescale.runner.counting import count_params

    for s in sw.specs:
        r = s.resolved()
        n = count_params(n_layer=r.n_layer, d_model=r.d_model, vocab_size=256, seq_len=64).total
        c = 6 * n * r.tokens
        assert min(abs(c / 1e12 - 1), abs(c / 4e12 - 1)) < 0.05


def test_several_grid_tables() -> None:
    from bayescale.runner.config import parse_sweep

    sw = parse_sweep(
        "[[grid]]\nn_layer = [1, 2]\nsteps = [3]\n[[grid]]\nn_layer = [3]\nsteps = [4, 5]\n"
    )
    assert [(s.n_layer, s.steps) for s in sw.specs] == [(1, 3), (2, 3), (3, 4), (3, 5)]


def test_array_backend_needs_submitit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from bayescale.runner.sweep import submit_array

    monkeypatch.setitem(sys.modules, "submitit", None)
    with pytest.raises(RunnerError, match=r"bayescale\[slurm\]"):
        submit_array("smoke", tmp_path / "r.csv", n_tasks=2)
