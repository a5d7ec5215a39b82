"""Run a sweep: skip finished runs, resume unfinished ones, commit results atomically.

:func:`run_sweep` is scheduler-agnostic: any array scheduler runs shard ``i`` of ``n`` with
``bayescale run SWEEP.toml --out runs.csv --shard i/n --resume`` and every shard appends to
the same result files (see :mod:`bayescale.runner.io`). :func:`submit_array` hands such
shards to the optional ``submitit`` package as one job array: on Slurm (refused when no
Slurm is found) or with submitit's local executor on this machine. Every run option reaches
the tasks; a task checkpoints and requeues on SIGUSR2 (submitit's preemption and time-limit
signal) and on SIGTERM; a task with several GPUs trains each run with data parallelism
(one process per GPU, torchrun's environment set by submitit).

Examples
--------
>>> import tempfile, pathlib
>>> from bayescale.runner import load_sweep, run_sweep
>>> out = pathlib.Path(tempfile.mkdtemp()) / "runs.csv"
>>> summary = run_sweep(load_sweep("smoke"), out, progress=False)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from bayescale.runner.config import RunSpec, Sweep, load_sweep
from bayescale.runner.errors import RunInterrupted, RunnerError, require_torch
from bayescale.runner.io import (
    CURVE_COLUMNS,
    atomic_write_bytes,
    commit_run,
    finished_ids,
    render_csv,
)

__all__ = [
    "EXECUTORS",
    "SweepSummary",
    "checkpoint_path",
    "live_curve_path",
    "parse_shard",
    "run_sweep",
    "submit_array",
    "weights_path",
]

#: Where ``bayescale run`` trains: here, serially (``serial``), or as a submitit job array
#: on this machine (``local``) or on Slurm (``slurm``).
EXECUTORS: tuple[str, ...] = ("serial", "local", "slurm")
#: Optional metrics loggers (never required).
LOGGERS: tuple[str, ...] = ("tensorboard", "wandb")


@dataclass(frozen=True)
class SweepSummary:
    """Counts of what :func:`run_sweep` did.

    Attributes
    ----------
    trained, skipped, resumed : int
        Runs trained, already finished, and resumed from a checkpoint.
    wall_s : float
        Wall time of the call.
    run_ids : tuple of str
        Ids of this shard's runs, in sweep order.
    """

    trained: int
    skipped: int
    resumed: int
    wall_s: float
    run_ids: tuple[str, ...]


def parse_shard(text: str) -> tuple[int, int]:
    """Parse ``"i/n"`` (0-based shard ``i`` of ``n``).

    Examples
    --------
    >>> parse_shard("1/4")
    (1, 4)
    """
    try:
        i_s, n_s = text.split("/")
        i, n = int(i_s), int(n_s)
    except ValueError:
        raise RunnerError(f"--shard must look like i/n (e.g. 0/4), not {text!r}") from None
    if not 0 <= i < n:
        raise RunnerError(f"--shard {text}: need 0 <= i < n")
    return i, n


def checkpoint_path(out: str | Path, run_id: str) -> Path:
    """Where run ``run_id`` of result file ``out`` keeps its checkpoint."""
    out = Path(out)
    return out.with_name(f"{out.name}.ckpt") / f"{run_id}.pt"


def live_curve_path(out: str | Path, run_id: str) -> Path:
    """The learning curve of an unfinished run, rewritten at every curve point."""
    out = Path(out)
    return out.with_name(f"{out.name}.live") / f"{run_id}.curve.csv"


def weights_path(out: str | Path, run_id: str) -> Path:
    """Where ``--keep-weights`` saves run ``run_id``'s trained weights (safetensors)."""
    out = Path(out)
    return out.with_name(f"{out.name}.weights") / f"{run_id}.safetensors"


class _Progress:
    def __init__(self, stream: TextIO, total: int) -> None:
        self.stream = stream
        self.total = total
        self.index = 0
        self.label = ""
        self.tty = stream.isatty()
        self.t0 = time.perf_counter()
        self.last = 0.0

    def start(self, index: int, label: str) -> None:
        self.index, self.label = index, label
        self.t0 = time.perf_counter()
        self.last = 0.0

    def __call__(self, step: int, steps: int, loss: float) -> None:
        now = time.perf_counter()
        if step < steps and now - self.last < (0.2 if self.tty else 30.0):
            return
        self.last = now
        width = 24
        fill = int(width * step / max(1, steps))
        el = now - self.t0
        eta = el / max(1, step) * (steps - step)
        line = (
            f"[{self.index}/{self.total}] {self.label} |{'#' * fill}{'.' * (width - fill)}| "
            f"{step}/{steps} loss {loss:.3f} {el:.0f}s eta {eta:.0f}s"
        )
        end = "\r" if self.tty and step < steps else "\n"
        self.stream.write(line + end)
        self.stream.flush()


def _check_optional(keep_weights: bool, log: str | None) -> None:
    """Refuse missing optional packages before any training (one line each)."""
    if keep_weights and importlib.util.find_spec("safetensors") is None:
        raise RunnerError('--keep-weights needs safetensors: pip install "bayescale[runner]"')
    if log is None:
        return
    if log not in LOGGERS:
        raise RunnerError(f"--log must be one of {', '.join(LOGGERS)}, not {log!r}")
    module = "tensorboard" if log == "tensorboard" else "wandb"
    if importlib.util.find_spec(module) is None:
        raise RunnerError(f"--log {log} needs the {module} package (pip install {module})")


class _Metrics:
    """Optional TensorBoard or wandb logging of one run's learning curve."""

    def __init__(self, kind: str, out: Path, run_id: str, sweep: str, config: dict) -> None:
        self.kind = kind
        self.writer: Any
        if kind == "tensorboard":
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(out.with_name(f"{out.name}.tb") / run_id))
        else:
            import wandb

            self.writer = wandb.init(project=sweep, name=run_id, config=config, reinit=True)

    def log(self, point: dict[str, Any]) -> None:
        metrics = {
            "val/loss": point["loss"],
            "train/loss": point["train_loss"],
            "lr": point["learning_rate"],
            "tokens": point["tokens"],
        }
        if self.kind == "tensorboard":
            for key, value in metrics.items():
                self.writer.add_scalar(key, value, point["step"])
        else:
            self.writer.log(metrics, step=point["step"])

    def close(self) -> None:
        if self.kind == "tensorboard":
            self.writer.close()
        else:
            self.writer.finish()


def _curve_hook(
    out: Path, run_id: str, metrics: _Metrics | None
) -> Callable[[dict[str, Any], list[dict[str, Any]]], None]:
    live = live_curve_path(out, run_id)

    def hook(point: dict[str, Any], rows: list[dict[str, Any]]) -> None:
        atomic_write_bytes(live, render_csv(CURVE_COLUMNS, rows))
        if point and metrics is not None:
            metrics.log(point)

    return hook


def _save_weights(out: Path, run_id: str, weights: dict[str, Any], spec: RunSpec) -> Path:
    from safetensors.torch import save

    path = weights_path(out, run_id)
    meta = {"run_id": run_id, "n_layer": str(spec.n_layer), "tied": str(spec.tied).lower()}
    # tied heads share the embedding: store the tensor once (safetensors refuses aliases)
    tensors = {k: v for k, v in weights.items() if not (spec.tied and k == "head.weight")}
    atomic_write_bytes(path, save(tensors, metadata=meta))
    return path


def run_sweep(
    sweep: Sweep | str | Path,
    out: str | Path,
    *,
    shard: tuple[int, int] = (0, 1),
    resume: bool = True,
    ckpt_every: int = 50,
    threads: int | None = 1,
    progress: bool | TextIO = True,
    device: str | None = None,
    peak_flops: float | None = None,
    keep_weights: bool = False,
    log: str | None = None,
    _step_delay: float = 0.0,
) -> SweepSummary:
    """Train every unfinished run of ``sweep`` that belongs to ``shard``.

    Parameters
    ----------
    sweep : Sweep, str or pathlib.Path
        A sweep, a sweep file or a preset name.
    out : str or pathlib.Path
        The runs file; curves and noise go beside it (see
        :func:`bayescale.runner.io.result_paths`).
    shard : (int, int), default (0, 1)
        Run only specs with ``index % n == i``.
    resume : bool, default True
        Resume unfinished runs from their checkpoints (otherwise they restart).
    ckpt_every : int, default 50
        Checkpoint period in steps.
    threads : int or None, default 1
        Torch CPU threads.
    progress : bool or file, default True
        Print a progress bar to stderr (or to the given stream).
    device : str, optional
        Train every run on this device (``cpu``, ``cuda``, ``cuda:N``) whatever the sweep
        says; part of each run's id.
    peak_flops : float, optional
        Peak FLOP/s per device for ``mfu`` (default: the table in
        :data:`bayescale.runner.trainer.PEAK_FLOPS`).
    keep_weights : bool, default False
        Save each finished run's weights to :func:`weights_path` (safetensors).
    log : {"tensorboard", "wandb"}, optional
        Also log learning curves there (the package must be installed).

    Returns
    -------
    SweepSummary
    """
    require_torch()
    _check_optional(keep_weights, log)
    from bayescale.runner.data import load_corpus
    from bayescale.runner.trainer import train

    t0 = time.perf_counter()
    if not isinstance(sweep, Sweep):
        sweep = load_sweep(sweep)
    out = Path(out)
    i, n = shard
    mine: list[tuple[RunSpec, str]] = []
    for idx, spec in enumerate(sweep.specs):
        if idx % n != i:
            continue
        if device is not None:
            spec = dataclasses.replace(spec, device=device)
        corpus = load_corpus(spec.corpus, spec.tokenizer)
        spec = spec.resolved(corpus.vocab_size)
        mine.append((spec, spec.run_id(corpus.fingerprint)))
    done = finished_ids(out)
    stream: TextIO | None = None
    if progress is True:
        stream = sys.stderr
    elif progress is not False:
        stream = progress
    bar = _Progress(stream, len(mine)) if stream is not None else None
    trained = skipped = resumed = 0
    rank0 = int(os.environ.get("RANK", "0")) == 0  # under torchrun only rank 0 writes
    for pos, (spec, run_id) in enumerate(mine, start=1):
        if run_id in done or run_id in finished_ids(out):
            skipped += 1
            continue
        ckpt = checkpoint_path(out, run_id)
        if ckpt.is_file():
            if resume:
                resumed += 1
            elif rank0:
                ckpt.unlink()
        if bar is not None:
            bar.start(pos, f"{run_id[:8]} L={spec.n_layer} d={spec.d_model} D={spec.tokens:.3g}")
        metrics = None
        if log is not None and rank0:
            config = spec.identity(load_corpus(spec.corpus, spec.tokenizer).fingerprint)
            metrics = _Metrics(log, out, run_id, sweep.name, config)
        try:
            result = train(
                spec,
                checkpoint=ckpt,
                ckpt_every=ckpt_every,
                threads=threads,
                progress=bar,
                corpus=load_corpus(spec.corpus, spec.tokenizer),
                peak=peak_flops,
                keep_weights=keep_weights and rank0,
                on_curve=_curve_hook(out, run_id, metrics) if rank0 else None,
                _step_delay=_step_delay,
            )
        finally:
            if metrics is not None:
                metrics.close()
        result.row["sweep"] = sweep.name
        if rank0:
            if keep_weights and result.weights is not None:
                result.row["weights"] = str(_save_weights(out, run_id, result.weights, spec))
            commit_run(out, result.row, result.curve, result.noise)
            live = live_curve_path(out, run_id)
            live.unlink(missing_ok=True)
            for folder in (ckpt.parent, live.parent):
                with contextlib.suppress(OSError):
                    folder.rmdir()
        trained += 1
    return SweepSummary(
        trained=trained,
        skipped=skipped,
        resumed=resumed,
        wall_s=time.perf_counter() - t0,
        run_ids=tuple(r for _, r in mine),
    )


class _ShardTask:
    """A picklable submitit callable: one shard of the sweep, requeued when stopped.

    Parameters
    ----------
    sweep, out : str
        Absolute paths of the sweep file and the runs file.
    n : int
        Number of shards.
    options : dict
        Keyword arguments of :func:`run_sweep` (every CLI option reaches the task).
    """

    def __init__(self, sweep: str, out: str, n: int, options: dict[str, Any]) -> None:
        self.sweep, self.out, self.n, self.options = sweep, out, n, dict(options)

    def __call__(self, i: int) -> dict[str, Any]:
        import submitit

        env = submitit.JobEnvironment()
        if env.num_tasks > 1:  # one process per GPU: torchrun's variables for the trainer
            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        try:
            s = run_sweep(self.sweep, self.out, shard=(i, self.n), resume=True, **self.options)
        except RunInterrupted:
            # the checkpoint is saved: hand over to submitit's preemption handler, which
            # calls self.checkpoint and requeues the task (SIGTERM included)
            signal.raise_signal(signal.SIGUSR2)
            raise
        return {"trained": s.trained, "skipped": s.skipped, "wall_s": s.wall_s}

    def checkpoint(self, i: int) -> Any:  # submitit's preemption / timeout hook
        import submitit

        # the runner's own checkpoint makes the requeued task resume
        return submitit.helpers.DelayedSubmission(self, i)


def submit_array(
    sweep: str | Path,
    out: str | Path,
    *,
    n_tasks: int,
    executor: str = "slurm",
    folder: str | Path = "slurm_logs",
    parallelism: int = 32,
    timeout_min: int = 240,
    partition: str | None = None,
    gpus_per_task: int = 0,
    cpus_per_task: int = 2,
    mem: str | None = None,
    account: str | None = None,
    qos: str | None = None,
    options: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> list[Any]:
    """Submit the sweep as one job array of ``n_tasks`` shards through ``submitit``.

    Parameters
    ----------
    sweep : str or pathlib.Path
        Sweep file (must be readable from the compute nodes).
    out : str or pathlib.Path
        Results file on a shared file system.
    n_tasks : int
        Array size; task ``i`` runs ``--shard i/n_tasks``.
    executor : {"slurm", "local"}, default "slurm"
        Slurm (refused when ``sbatch`` is not on ``PATH``) or submitit's local executor.
    folder : str or pathlib.Path
        submitit log folder.
    parallelism : int
        Tasks running at once (``--array=...%P`` on Slurm).
    timeout_min, partition : int, str
        Time limit and partition.
    gpus_per_task : int, default 0
        GPUs per array task; above 1 every run trains data-parallel on all of them (one
        process per GPU).
    cpus_per_task : int, default 2
        CPUs per process.
    mem, account, qos : str, optional
        Slurm ``--mem`` (e.g. ``"64G"``), ``--account`` and ``--qos``.
    options : dict, optional
        :func:`run_sweep` keywords for every task (``ckpt_every``, ``threads``, ``device``,
        ``progress``, ``peak_flops``, ``keep_weights``, ``log``).
    extra : dict, optional
        More ``update_parameters`` keywords of the submitit executor.

    Returns
    -------
    list of submitit.Job

    Raises
    ------
    RunnerError
        When ``submitit`` is not installed, or Slurm is asked for and not found.
    """
    if executor not in ("slurm", "local"):
        raise RunnerError(f"executor must be 'slurm' or 'local', not {executor!r}")
    try:
        import submitit
    except ImportError:
        raise RunnerError(
            f'--executor {executor} needs submitit: pip install "bayescale[slurm]"'
        ) from None
    if n_tasks < 1:
        raise RunnerError("--slurm-tasks must be >= 1")
    procs = max(1, gpus_per_task)
    opts = dict(options or {})
    if gpus_per_task > 0 and opts.get("device") in (None, "cpu"):
        if opts.get("device") == "cpu":
            raise RunnerError(f"{gpus_per_task} GPU(s) per task requested but --device cpu")
        opts["device"] = "cuda"  # a task that holds GPUs trains on them
    if executor == "slurm":
        if shutil.which("sbatch") is None:
            raise RunnerError(
                "--executor slurm: no Slurm here (sbatch is not on PATH); submit from a "
                "Slurm login node, or use --executor local to run the array on this machine"
            )
        ex: Any = submitit.SlurmExecutor(folder=str(folder))
        params: dict[str, Any] = {
            "array_parallelism": parallelism,
            "time": timeout_min,
            "nodes": 1,
            "ntasks_per_node": procs,
            "cpus_per_task": cpus_per_task,
        }
        if gpus_per_task:
            params["gpus_per_node"] = gpus_per_task
        for key, value in (("partition", partition), ("mem", mem), ("account", account)):
            if value:
                params[key] = value
        if qos:
            params["qos"] = qos
    else:
        ex = submitit.LocalExecutor(folder=str(folder))
        params = {"timeout_min": timeout_min, "tasks_per_node": procs}
        if gpus_per_task:
            params["gpus_per_node"] = gpus_per_task
    params.update(extra or {})
    ex.update_parameters(**params)
    task = _ShardTask(str(Path(sweep).resolve()), str(Path(out).resolve()), n_tasks, opts)
    if executor == "local":
        return [ex.submit(task, i) for i in range(n_tasks)]
    return list(ex.map_array(task, list(range(n_tasks))))
