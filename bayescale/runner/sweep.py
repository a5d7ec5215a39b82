"""Run a sweep: skip finished runs, resume unfinished ones, commit results atomically.

:func:`run_sweep` is scheduler-agnostic: any array scheduler runs shard ``i`` of ``n`` with
``bayescale run SWEEP.toml --out runs.csv --shard i/n --resume`` and every shard appends to
the same result files (see :mod:`bayescale.runner.io`). :func:`submit_slurm` submits such
shards as one Slurm job array through the optional ``submitit`` package.

Examples
--------
>>> import tempfile, pathlib
>>> from bayescale.runner import load_sweep, run_sweep
>>> out = pathlib.Path(tempfile.mkdtemp()) / "runs.csv"
>>> summary = run_sweep(load_sweep("smoke"), out, progress=False)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from bayescale.runner.config import RunSpec, Sweep, load_sweep
from bayescale.runner.errors import RunnerError, require_torch
from bayescale.runner.io import commit_run, finished_ids

__all__ = ["SweepSummary", "checkpoint_path", "parse_shard", "run_sweep", "submit_slurm"]


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


def run_sweep(
    sweep: Sweep | str | Path,
    out: str | Path,
    *,
    shard: tuple[int, int] = (0, 1),
    resume: bool = True,
    ckpt_every: int = 50,
    threads: int | None = 1,
    progress: bool | TextIO = True,
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

    Returns
    -------
    SweepSummary
    """
    require_torch()
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
        corpus = load_corpus(spec.corpus, spec.tokenizer)
        mine.append((spec, spec.run_id(corpus.fingerprint)))
    done = finished_ids(out)
    stream: TextIO | None = None
    if progress is True:
        stream = sys.stderr
    elif progress is not False:
        stream = progress
    bar = _Progress(stream, len(mine)) if stream is not None else None
    trained = skipped = resumed = 0
    for pos, (spec, run_id) in enumerate(mine, start=1):
        if run_id in done or run_id in finished_ids(out):
            skipped += 1
            continue
        ckpt = checkpoint_path(out, run_id)
        if ckpt.is_file():
            if resume:
                resumed += 1
            else:
                ckpt.unlink()
        if bar is not None:
            r = spec.resolved()
            bar.start(pos, f"{run_id[:8]} L={r.n_layer} d={r.d_model} D={r.tokens:.3g}")
        result = train(
            spec,
            checkpoint=ckpt,
            ckpt_every=ckpt_every,
            threads=threads,
            progress=bar,
            corpus=load_corpus(spec.corpus, spec.tokenizer),
            _step_delay=_step_delay,
        )
        result.row["sweep"] = sweep.name
        if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only rank 0 writes
            commit_run(out, result.row, result.curve, result.noise)
        trained += 1
        with contextlib.suppress(OSError):
            ckpt.parent.rmdir()
    return SweepSummary(
        trained=trained,
        skipped=skipped,
        resumed=resumed,
        wall_s=time.perf_counter() - t0,
        run_ids=tuple(r for _, r in mine),
    )


class _ShardTask:
    """A picklable submitit callable that runs one shard and requeues on preemption."""

    def __init__(self, sweep: str, out: str, n: int, threads: int | None) -> None:
        self.sweep, self.out, self.n, self.threads = sweep, out, n, threads

    def __call__(self, i: int) -> dict[str, Any]:
        s = run_sweep(
            self.sweep,
            self.out,
            shard=(i, self.n),
            resume=True,
            threads=self.threads,
            progress=True,
        )
        return {"trained": s.trained, "skipped": s.skipped, "wall_s": s.wall_s}

    def checkpoint(self, i: int) -> Any:  # submitit's preemption / timeout hook
        import submitit

        # the runner's own checkpoint (every ckpt_every steps) makes the requeued task resume
        return submitit.helpers.DelayedSubmission(self, i)


def submit_slurm(
    sweep: str | Path,
    out: str | Path,
    *,
    n_tasks: int,
    folder: str | Path = "slurm_logs",
    parallelism: int = 32,
    timeout_min: int = 240,
    partition: str | None = None,
    gpus_per_task: int = 0,
    cpus_per_task: int = 2,
    threads: int | None = None,
    extra: dict[str, Any] | None = None,
) -> list[Any]:
    """Submit the sweep as one Slurm job array of ``n_tasks`` shards (needs ``submitit``).

    Parameters
    ----------
    sweep : str or pathlib.Path
        Sweep file (must be readable from the compute nodes).
    out : str or pathlib.Path
        Results file on a shared file system.
    n_tasks : int
        Array size; task ``i`` runs ``--shard i/n_tasks``.
    folder : str or pathlib.Path
        submitit log folder.
    parallelism : int
        ``slurm_array_parallelism``.
    timeout_min, partition, gpus_per_task, cpus_per_task
        Slurm resources.
    threads : int, optional
        Torch CPU threads per task.
    extra : dict, optional
        More ``executor.update_parameters`` keywords.

    Returns
    -------
    list of submitit.Job

    Raises
    ------
    RunnerError
        When ``submitit`` is not installed.
    """
    try:
        import submitit
    except ImportError:
        raise RunnerError(
            'the Slurm backend needs submitit: pip install "bayescale[slurm]"'
        ) from None
    executor = submitit.AutoExecutor(folder=str(folder))
    params: dict[str, Any] = {
        "slurm_array_parallelism": parallelism,
        "timeout_min": timeout_min,
        "gpus_per_node": gpus_per_task,
        "cpus_per_task": cpus_per_task,
        "tasks_per_node": 1,
    }
    if partition:
        params["slurm_partition"] = partition
    params.update(extra or {})
    executor.update_parameters(**params)
    task = _ShardTask(str(Path(sweep).resolve()), str(Path(out).resolve()), n_tasks, threads)
    return list(executor.map_array(task, list(range(n_tasks))))
