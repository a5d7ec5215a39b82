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
        "finished runs are always skipped; array tasks always resume)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--ckpt-every", type=int, default=50, help="checkpoint period in steps")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--device",
        default=None,
        help="train every run on cpu, cuda (cuda:LOCAL_RANK under torchrun) or cuda:N "
        "(default: each run's own device setting)",
    )
    p.add_argument(
        "--peak-flops",
        type=float,
        default=None,
        help="peak FLOP/s of one device for the mfu column (default: looked up by GPU name)",
    )
    p.add_argument(
        "--keep-weights",
        action="store_true",
        help="save each finished run's weights to OUT.weights/RUN_ID.safetensors",
    )
    p.add_argument(
        "--log",
        choices=["tensorboard", "wandb"],
        default=None,
        help="also log learning curves to TensorBoard (OUT.tb/) or wandb, if installed",
    )
    p.add_argument(
        "--executor",
        choices=["serial", "local", "slurm"],
        default="serial",
        help="serial: run here (default); local: a submitit job array on this machine; "
        "slurm: a Slurm job array (refused when no Slurm is found)",
    )
    p.add_argument("--slurm-tasks", type=int, default=8, help="array size (local/slurm)")
    p.add_argument("--slurm-partition", default=None)
    p.add_argument("--slurm-parallelism", type=int, default=32)
    p.add_argument("--slurm-timeout-min", type=int, default=240)
    p.add_argument(
        "--slurm-gpus-per-task",
        "--slurm-gpus",
        dest="slurm_gpus",
        type=int,
        default=0,
        help="GPUs per array task; > 0 trains on CUDA, > 1 data-parallel over them",
    )
    p.add_argument("--slurm-cpus-per-task", type=int, default=None, help="default: --threads")
    p.add_argument("--slurm-mem", default=None, help="Slurm --mem, e.g. 64G")
    p.add_argument("--slurm-account", default=None, help="Slurm --account")
    p.add_argument("--slurm-qos", default=None, help="Slurm --qos")
    p.add_argument("--slurm-folder", default="slurm_logs", help="submitit log folder")
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
    if args.peak_flops is not None and not args.peak_flops > 0:
        raise RunnerError(f"--peak-flops must be > 0, not {args.peak_flops:g}")
    if args.device is not None:
        from bayescale.runner.config import RunSpec

        RunSpec(n_layer=1, steps=1, device=args.device).resolved()  # checks the name
    options = {
        "ckpt_every": args.ckpt_every,
        "threads": args.threads,
        "progress": not args.no_progress,
        "device": args.device,
        "peak_flops": args.peak_flops,
        "keep_weights": args.keep_weights,
        "log": args.log,
        "_step_delay": args.step_delay,
    }
    if args.executor != "serial":
        if args.preset:
            raise RunnerError(f"--executor {args.executor} needs a sweep file")
        if shard != (0, 1):
            raise RunnerError(
                f"--shard with --executor {args.executor}: each array task runs its own shard "
                "(--slurm-tasks sets how many)"
            )
        from bayescale.runner.sweep import submit_array

        jobs = submit_array(
            args.sweep,
            args.out,
            n_tasks=args.slurm_tasks,
            executor=args.executor,
            folder=args.slurm_folder,
            parallelism=args.slurm_parallelism,
            timeout_min=args.slurm_timeout_min,
            partition=args.slurm_partition,
            gpus_per_task=args.slurm_gpus,
            cpus_per_task=args.slurm_cpus_per_task or args.threads,
            mem=args.slurm_mem,
            account=args.slurm_account,
            qos=args.slurm_qos,
            options=options,
        )
        ids = ", ".join(str(j.job_id) for j in jobs[:3]) + (", ..." if len(jobs) > 3 else "")
        if args.executor == "slurm":
            print(f"submitted {len(jobs)} array tasks to Slurm: {ids}")
            return 0
        failed = 0
        for job in jobs:  # the local array runs on this machine: wait for it
            try:
                job.result()
            except Exception as exc:
                failed += 1
                print(
                    f"task {job.job_id} failed: {str(exc).strip().splitlines()[-1]}",
                    file=sys.stderr,
                )
        print(
            f"{sweep.name}: {len(jobs) - failed} of {len(jobs)} local array tasks finished "
            f"-> {args.out}",
            file=sys.stderr,
        )
        return 1 if failed else 0
    from bayescale.runner.errors import require_torch

    require_torch()
    from bayescale.runner.sweep import run_sweep

    summary = run_sweep(
        sweep,
        args.out,
        shard=shard,
        resume=args.resume,
        **options,
    )
    print(
        f"{sweep.name}: {summary.trained} trained ({summary.resumed} resumed), "
        f"{summary.skipped} already finished, {summary.wall_s:.1f} s -> {args.out}",
        file=sys.stderr,
    )
    return 0
