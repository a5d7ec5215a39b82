"""Array executors that tell the truth, options that reach the task, what a run keeps."""

from __future__ import annotations

import importlib.machinery
import json
import os
import signal
import subprocess
import sys
import types
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from bayescale.runner import RunnerError, load_corpus, load_sweep  # noqa: E402
from bayescale.runner.errors import RunInterrupted  # noqa: E402
from bayescale.runner.io import read_rows, result_paths  # noqa: E402
from bayescale.runner.sweep import (  # noqa: E402
    _ShardTask,
    live_curve_path,
    run_sweep,
    submit_array,
    weights_path,
)

pytestmark = pytest.mark.runner

SWEEP = """\
[sweep]
name = "two"
[defaults]
corpus = "CORPUS"
seq_len = 16
batch_size = 4
micro_batches = 2
aspect_ratio = 16
head_dim = 16
eval_tokens = 256
final_eval_tokens = 512
[grid]
n_layer = [1]
steps = [4, 6]
"""


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bayescale.runner", "run", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )


@pytest.fixture
def sweep_file(tmp_path: Path) -> Path:
    import argparse
    import json as json_mod

    text = tmp_path / "corpus.txt"  # small, so array tasks load it in no time
    text.write_bytes(Path(argparse.__file__).read_bytes() + Path(json_mod.__file__).read_bytes())
    p = tmp_path / "two.toml"
    p.write_text(SWEEP.replace("CORPUS", f"text:{text}"))
    return p


def test_slurm_without_slurm_exits_2_with_one_line(sweep_file: Path, tmp_path: Path) -> None:
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": str(bindir)}  # no sbatch on this PATH
    res = _cli(str(sweep_file), "--out", str(tmp_path / "r.csv"), "--executor", "slurm", env=env)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "no Slurm here" in lines[0] and "--executor local" in lines[0]
    assert not (tmp_path / "r.csv").exists()  # nothing trained locally behind the user's back


class _FakeExecutor:
    made: ClassVar[list[_FakeExecutor]] = []

    def __init__(self, folder: str) -> None:
        self.folder, self.params = folder, {}
        self.tasks: list[Any] = []
        _FakeExecutor.made.append(self)

    def update_parameters(self, **kw: Any) -> None:
        self.params.update(kw)

    def map_array(self, fn: Any, items: list[int]) -> list[Any]:
        self.tasks.append(fn)
        return [types.SimpleNamespace(job_id=f"1_{i}") for i in items]


def _fake_submitit(monkeypatch: pytest.MonkeyPatch) -> None:
    mod = types.ModuleType("submitit")
    mod.SlurmExecutor = _FakeExecutor  # type: ignore[attr-defined]
    mod.LocalExecutor = _FakeExecutor  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "submitit", mod)
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")
    _FakeExecutor.made.clear()


def test_slurm_resources_and_every_option_reach_the_task(
    monkeypatch: pytest.MonkeyPatch, sweep_file: Path, tmp_path: Path
) -> None:
    _fake_submitit(monkeypatch)
    opts = {"ckpt_every": 7, "threads": 3, "progress": False, "device": None,
            "peak_flops": 1e14, "keep_weights": True, "log": None}  # fmt: skip
    jobs = submit_array(sweep_file, tmp_path / "r.csv", n_tasks=3, gpus_per_task=2,
                        cpus_per_task=6, mem="64G", account="proj", qos="high",
                        partition="gpu", options=opts)  # fmt: skip
    assert len(jobs) == 3
    (ex,) = _FakeExecutor.made
    assert ex.params == {
        "array_parallelism": 32, "time": 240, "nodes": 1, "ntasks_per_node": 2,
        "cpus_per_task": 6, "gpus_per_node": 2, "partition": "gpu", "mem": "64G",
        "account": "proj", "qos": "high",
    }  # fmt: skip
    (task,) = ex.tasks
    assert task.options == {**opts, "device": "cuda"}  # GPUs requested: train on them
    with pytest.raises(RunnerError, match="--device cpu"):
        submit_array(sweep_file, tmp_path / "r.csv", n_tasks=1, gpus_per_task=1,
                     options={"device": "cpu"})  # fmt: skip


def test_stopped_task_hands_over_to_submitits_requeue(monkeypatch: pytest.MonkeyPatch) -> None:
    mod = types.ModuleType("submitit")
    mod.JobEnvironment = lambda: types.SimpleNamespace(num_tasks=1)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "submitit", mod)

    def stopped(*a: Any, **k: Any) -> None:
        raise RunInterrupted("stopped", signum=signal.SIGTERM)

    monkeypatch.setattr("bayescale.runner.sweep.run_sweep", stopped)
    got: list[int] = []
    previous = signal.signal(signal.SIGUSR2, lambda s, f: got.append(s))  # submitit's handler
    try:
        with pytest.raises(RunInterrupted):
            _ShardTask("s.toml", "r.csv", 2, {})(0)
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert got == [signal.SIGUSR2]  # SIGTERM too ends in checkpoint-and-requeue


def _rows(out: Path) -> dict[str, dict[str, str]]:
    return {r["run_id"]: r for r in read_rows(out)[1]}


def test_local_executor_gives_the_serial_rows(sweep_file: Path, tmp_path: Path) -> None:
    serial = tmp_path / "serial.csv"
    run_sweep(sweep_file, serial, progress=False, threads=1)
    local = tmp_path / "local.csv"
    res = _cli(str(sweep_file), "--out", str(local), "--executor", "local", "--slurm-tasks",
               "2", "--slurm-folder", str(tmp_path / "logs"), "--no-progress",
               "--keep-weights")  # fmt: skip
    assert res.returncode == 0, res.stderr
    a, b = _rows(serial), _rows(local)
    assert set(a) == set(b) and len(a) == 2
    for rid in a:
        assert a[rid]["loss"] == b[rid]["loss"]
        assert a[rid]["noise_scale_simple"] == b[rid]["noise_scale_simple"]
        assert weights_path(local, rid).is_file()  # --keep-weights reached the tasks
    ca = [(r["run"], r["loss"]) for r in read_rows(result_paths(serial)[1])[1]]
    cb = [(r["run"], r["loss"]) for r in read_rows(result_paths(local)[1])[1]]
    assert sorted(ca) == sorted(cb)


def test_finished_runs_are_skipped_for_any_vocabulary(tmp_path: Path) -> None:
    tok = tmp_path / "t.bin"
    np.random.default_rng(0).integers(0, 512, 40_000, dtype=np.uint16).tofile(tok)
    tok.with_name("meta.json").write_text(json.dumps({"vocab_size": 512}))
    sweep = tmp_path / "s.toml"
    sweep.write_text(SWEEP.replace("CORPUS", f"bin:{tok}").replace("[4, 6]", "[3]"))
    out = tmp_path / "r.csv"
    assert run_sweep(sweep, out, progress=False).trained == 1
    again = run_sweep(sweep, out, progress=False)
    assert again.trained == 0 and again.skipped == 1  # one run id, sweep and trainer alike


def test_keep_weights_reproduce_the_final_loss(sweep_file: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from bayescale.runner.model import GPT, GPTConfig
    from bayescale.runner.trainer import evaluate, setup

    out = tmp_path / "r.csv"
    run_sweep(sweep_file, out, progress=False, keep_weights=True)
    spec = load_sweep(sweep_file).specs[0]
    row = _rows(out)[next(iter(_rows(out)))]
    s = setup(spec)
    row = _rows(out)[s.run_id]
    assert row["weights"] == str(weights_path(out, s.run_id))
    r = s.spec
    model = GPT(GPTConfig(n_layer=r.n_layer, d_model=r.d_model, n_head=r.n_head,
                          vocab_size=256, seq_len=r.seq_len))  # fmt: skip
    model.load_state_dict(load_file(row["weights"]))
    s.model = s.fwd = model
    assert evaluate(s, r.final_eval_tokens) == float(row["loss"])


def test_live_curve_follows_the_checkpoint(sweep_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    kicked: list[int] = []

    class Bar:  # stands in for the progress bar; stops the run at step 5 of 6
        def start(self, *a: Any) -> None: ...

        def __call__(self, step: int, steps: int, loss: float) -> None:
            if steps == 6 and step == 5 and not kicked:
                kicked.append(step)
                os.kill(os.getpid(), signal.SIGUSR1)

    import bayescale.runner.sweep as sweep_mod

    real = sweep_mod._Progress
    sweep_mod._Progress = lambda stream, total: Bar()  # type: ignore[assignment,misc]
    try:
        with pytest.raises(RunInterrupted):
            run_sweep(sweep_file, out, progress=sys.stderr)
    finally:
        sweep_mod._Progress = real  # type: ignore[misc]
    spec = load_sweep(sweep_file).specs[1]
    run_id = spec.resolved().run_id(load_corpus(spec.corpus).fingerprint)
    live = live_curve_path(out, run_id)
    steps = [int(r["step"]) for r in read_rows(live)[1]]
    assert steps == [1, 2, 3, 4, 5]  # appended as they happened, up to the checkpoint
    run_sweep(sweep_file, out, progress=False)
    assert not live.exists()
    assert [int(r["step"]) for r in read_rows(result_paths(out)[1])[1] if r["run"] == run_id] == [
        1, 2, 3, 4, 5, 6,
    ]  # fmt: skip


def test_optional_loggers(
    monkeypatch: pytest.MonkeyPatch, sweep_file: Path, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(RunnerError, match="--log tensorboard needs the tensorboard package"):
        run_sweep(sweep_file, tmp_path / "r.csv", progress=False, log="tensorboard")
    logged: list[tuple[dict[str, float], int]] = []
    finished: list[bool] = []
    wandb = types.ModuleType("wandb")
    wandb.__spec__ = importlib.machinery.ModuleSpec("wandb", None)
    wandb.init = lambda **kw: types.SimpleNamespace(  # type: ignore[attr-defined]
        log=lambda m, step: logged.append((m, step)), finish=lambda: finished.append(True)
    )
    monkeypatch.setitem(sys.modules, "wandb", wandb)
    run_sweep(sweep_file, tmp_path / "r.csv", progress=False, log="wandb")
    assert finished == [True, True]
    assert [s for _, s in logged] == [1, 2, 3, 4, 1, 2, 3, 4, 5, 6]
    assert all(set(m) == {"val/loss", "train/loss", "lr", "tokens"} for m, _ in logged)
