"""The ``bayescale run`` subcommand (torch is imported only when the command runs).

``bayescale run (SWEEP.toml | --preset smoke) --out runs.csv [--shard i/n] [--resume]``

The main CLI calls :func:`register`; ``python -m bayescale.runner run ...`` works too.
"""

from __future__ import annotations

import argparse
import sys

from bayescale.runner.errors import RunnerError

__all__ = ["build_parser", "register", "run_command"]


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep", nargs="?", help="sweep TOML file (or use --preset)")
    p.add_argument("--preset", choices=["smoke"], help="a built-in sweep")
    p.add_argument("--out", required=True, help="runs CSV (curves and noise go beside it)")
    p.add_argument("--shard", default="0/1", help="run shard i of n (0-based), e.g. 3/8")
    p.add_argument(
        "--resume",
        action="store_true",
        help="resume unfinished runs from their checkpoints (default: restart them; "
        "finished runs are always skipped)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--ckpt-every", type=int, default=50, help="checkpoint period in steps")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--executor",
        choices=["local", "slurm"],
        default="local",
        help="local: run here; slurm: submit a job array with submitit",
    )
    p.add_argument("--slurm-tasks", type=int, default=8, help="array size (slurm)")
    p.add_argument("--slurm-partition", default=None)
    p.add_argument("--slurm-parallelism", type=int, default=32)
    p.add_argument("--slurm-timeout-min", type=int, default=240)
    p.add_argument("--slurm-gpus", type=int, default=0, help="GPUs per task (slurm)")
    p.add_argument("--slurm-folder", default="slurm_logs")
    p.add_argument("--step-delay", type=float, default=0.0, help=argparse.SUPPRESS)
    p.set_defaults(func=run_command)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``run`` subcommand to the main CLI's subparsers.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From ``parser.add_subparsers()``.
    """
    p = subparsers.add_parser(
        "run",
        help="train a sweep of small GPTs and write a run table (needs bayescale[runner])",
        description="Train a sweep of small GPT models on the CPU or a GPU and append one "
        "row per run to --out, plus learning curves (.curves.csv) and gradient-noise "
        "statistics (.noise.csv) beside it.",
    )
    _add_arguments(p)


def build_parser() -> argparse.ArgumentParser:
    """A stand-alone parser (``python -m bayescale.runner``)."""
    parser = argparse.ArgumentParser(prog="python -m bayescale.runner")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    return parser


def run_command(args: argparse.Namespace) -> int:
    """Handle ``bayescale run``; returns the exit code.

    Raises
    ------
    RunnerError
        For a bad sweep, bad options or a missing torch.
    """
    if bool(args.sweep) == bool(args.preset):
        raise RunnerError("give a sweep file or --preset (not both)")
    source = args.preset or args.sweep
    from bayescale.runner.config import load_sweep
    from bayescale.runner.sweep import parse_shard

    shard = parse_shard(args.shard)
    sweep = load_sweep(source)
    if args.executor == "slurm":
        if args.preset:
            raise RunnerError("--executor slurm needs a sweep file")
        from bayescale.runner.sweep import submit_slurm

        jobs = submit_slurm(
            args.sweep,
            args.out,
            n_tasks=args.slurm_tasks,
            folder=args.slurm_folder,
            parallelism=args.slurm_parallelism,
            timeout_min=args.slurm_timeout_min,
            partition=args.slurm_partition,
            gpus_per_task=args.slurm_gpus,
            threads=args.threads,
        )
        print(f"submitted {len(jobs)} array tasks: {jobs[0].job_id if jobs else ''}")
        return 0
    from bayescale.runner.errors import require_torch

    require_torch()
    from bayescale.runner.sweep import run_sweep

    summary = run_sweep(
        sweep,
        args.out,
        shard=shard,
        resume=args.resume,
        ckpt_every=args.ckpt_every,
        threads=args.threads,
        progress=not args.no_progress,
        _step_delay=args.step_delay,
    )
    print(
        f"{sweep.name}: {summary.trained} trained ({summary.resumed} resumed), "
        f"{summary.skipped} already finished, {summary.wall_s:.1f} s -> {args.out}",
        file=sys.stderr,
    )
    return 0
