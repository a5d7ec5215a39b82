"""The runner on a GPU: sizes with bf16 + compile, kill and resume, throughput, MFU, rows.

Run from the working tree on a machine with one GPU (torch, numpy and pandas only; no PyMC,
submitit, safetensors or tokenizers needed), in under 5 minutes:

    PYTHONPATH=. python3 benchmarks/gpu_check.py --out gpu_check_out

It

1. trains a small sweep (``--sizes`` depths × ``--steps`` lengths, bf16 autocast where the
   GPU has native bf16, ``torch.compile``) on the standard-library byte corpus through
   :func:`bayescale.runner.run_sweep`, and writes ``runs.csv`` (+ curves, noise) to fit
   afterwards on the CPU side (``bayescale fit --data OUT/runs.csv --law chinchilla``);
2. trains one run in a subprocess, SIGKILLs it after a checkpoint, resumes it in a fresh
   process, and compares the final loss and curve with an uninterrupted run on the same
   device (``deterministic = true`` for both: bit-identical is the expectation);
3. times a bare PyTorch loop (same model, compile, precision, optimiser and batches; one
   host sync at the end) and compares the runner's ``tokens_per_s`` with it (target ≥ 0.9),
   with MFU from the runner's peak-FLOPs table or ``--peak-flops``.

It prints a summary and writes it to ``OUT/gpu_check.json``. ``--device cpu --tiny`` runs
the same steps at toy sizes on the CPU in about a minute (the test suite does that).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before CUDA starts

GPU = {
    "seq_len": 512,
    "batch_size": 32,
    "micro_batches": 2,
    "aspect_ratio": 64,
    "head_dim": 64,
    "learning_rate": 1e-3,
    "eval_tokens": 16384,
    "final_eval_tokens": 65536,
}
TINY = {
    "seq_len": 32,
    "batch_size": 8,
    "micro_batches": 2,
    "aspect_ratio": 16,
    "head_dim": 16,
    "learning_rate": 3e-3,
    "eval_tokens": 512,
    "final_eval_tokens": 2048,
}


def sweep_toml(name: str, defaults: dict[str, Any], sizes: list[int], steps: list[int]) -> str:
    lines = ["[sweep]", f'name = "{name}"', 'kind = "grid"', "", "[defaults]"]
    for key, value in defaults.items():
        lines.append(f"{key} = {json.dumps(value)}")
    lines += ["", "[grid]", f"n_layer = {sizes}", f"steps = {steps}", ""]
    return "\n".join(lines).replace("True", "true").replace("False", "false")


def cli(sweep: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bayescale.runner",
        "run",
        str(sweep),
        "--out",
        str(out),
        "--no-progress",
        "--threads",
        "2",
        *extra,
    ]


def kill_and_resume(
    folder: Path, defaults: dict[str, Any], n_layer: int, steps: int, every: int, timeout: float
) -> dict[str, Any]:
    """SIGKILL a run after its first checkpoint, resume it, compare with an unbroken run."""
    from bayescale.runner import load_sweep
    from bayescale.runner.io import read_rows, result_paths
    from bayescale.runner.sweep import checkpoint_path, run_sweep

    sweep = folder / "resume.toml"
    sweep.write_text(sweep_toml("resume", {**defaults, "deterministic": True}, [n_layer], [steps]))
    ref_out, out = folder / "resume_ref.csv", folder / "resume.csv"
    t0 = time.perf_counter()
    run_sweep(sweep, ref_out, progress=False, threads=2)
    ref_s = time.perf_counter() - t0
    spec = load_sweep(sweep).specs[0]
    from bayescale.runner import load_corpus

    run_id = spec.resolved().run_id(load_corpus(spec.corpus).fingerprint)
    ckpt = checkpoint_path(out, run_id)
    env = {**os.environ, "PYTHONHASHSEED": "7"}
    delay = "0.2" if defaults.get("device") == "cuda" else "0.05"
    proc = subprocess.Popen(
        cli(sweep, out, "--ckpt-every", str(every), "--step-delay", delay),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + timeout
    while not ckpt.exists():
        if proc.poll() is not None:
            raise SystemExit(f"the run to kill ended first:\n{proc.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("no checkpoint appeared in time")
        time.sleep(0.05)
    time.sleep(float(delay) * 1.5)
    killed_alive = proc.poll() is None
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    import torch

    step_at_kill = int(torch.load(ckpt, map_location="cpu", weights_only=False)["state"]["step"])
    done = subprocess.run(cli(sweep, out, "--resume"), env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"resume failed:\n{done.stderr[-2000:]}")
    (a,) = read_rows(ref_out)[1]
    (b,) = read_rows(out)[1]
    ca = [r["loss"] for r in read_rows(result_paths(ref_out)[1])[1]]
    cb = [r["loss"] for r in read_rows(result_paths(out)[1])[1]]
    return {
        "n_layer": n_layer,
        "steps": steps,
        "killed_mid_run": killed_alive,
        "checkpoint_step_at_kill": step_at_kill,
        "resumed": "1 resumed" in done.stderr,
        "loss_uninterrupted": float(a["loss"]),
        "loss_resumed": float(b["loss"]),
        "bit_identical": a["loss"] == b["loss"] and ca == cb,
        "reference_wall_s": ref_s,
    }


def bare_loop(defaults: dict[str, Any], n_layer: int, steps: int, device: str) -> dict[str, Any]:
    """Tokens/s of a plain loop over the same model, batches, precision and optimiser."""
    import torch

    from bayescale.runner import RunSpec, load_corpus
    from bayescale.runner.model import GPT, GPTConfig

    spec = RunSpec(n_layer=n_layer, steps=steps, device=device, **defaults).resolved()
    corpus = load_corpus(spec.corpus)
    dev = torch.device("cuda", 0) if device == "cuda" else torch.device("cpu")
    bf16 = dev.type == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False)
    model = GPT(
        GPTConfig(
            n_layer=spec.n_layer,
            d_model=spec.d_model,
            n_head=spec.n_head,
            vocab_size=corpus.vocab_size,
            seq_len=spec.seq_len,
        )
    ).to(dev)
    fwd = torch.compile(model) if dev.type == "cuda" else model
    opt = torch.optim.AdamW(
        model.parameters(), lr=spec.learning_rate, betas=(0.9, 0.95), weight_decay=0.1
    )
    B, T, k = spec.batch_size, spec.seq_len, spec.micro_batches

    def step(i: int) -> None:
        batch = torch.from_numpy(corpus.windows(corpus.batch_indices(i, B, T, 0), T))
        if dev.type == "cuda":
            batch = batch.pin_memory().to(dev, non_blocking=True)
        for j in range(k):
            mb = batch[j * (B // k) : (j + 1) * (B // k)]
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
                logits = fwd(mb[:, :-1])
            loss = (
                torch.nn.functional.cross_entropy(
                    logits.float().reshape(-1, logits.shape[-1]), mb[:, 1:].reshape(-1)
                )
                / k
            )
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    step(0)  # compilation and warm-up, as the runner times apart
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(1, steps):
        step(i)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    return {"n_layer": n_layer, "steps": steps, "tokens_per_s": (steps - 1) * B * T / dt}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="gpu_check_out", help="folder for rows and the summary")
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    ap.add_argument("--tiny", action="store_true", help="toy sizes (the CPU test)")
    ap.add_argument("--sizes", default=None, help="depths, e.g. 4,8,12")
    ap.add_argument("--steps", default=None, help="run lengths, e.g. 150,300")
    ap.add_argument("--peak-flops", type=float, default=None, help="override the peak table")
    ap.add_argument("--skip-resume", action="store_true", help="leave out the kill/resume step")
    args = ap.parse_args(argv)

    import torch

    from bayescale.runner.io import read_rows
    from bayescale.runner.sweep import run_sweep

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run with --device cpu --tiny for the CPU version")
    defaults = TINY if args.tiny else GPU
    sizes = [int(x) for x in (args.sizes or ("1,2" if args.tiny else "4,8,12")).split(",")]
    steps = [int(x) for x in (args.steps or ("8,16" if args.tiny else "150,300")).split(",")]
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    summary: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu",
        "torch": torch.__version__,
        "sizes": sizes,
        "steps": steps,
    }

    # 1. the sweep: rows to fit later
    sweep = out_dir / "sweep.toml"
    sweep.write_text(sweep_toml("gpu_check", {**defaults, "device": args.device}, sizes, steps))
    runs = out_dir / "runs.csv"
    t0 = time.perf_counter()
    run_sweep(sweep, runs, progress=False, threads=2, peak_flops=args.peak_flops)
    summary["sweep_wall_s"] = time.perf_counter() - t0
    rows = read_rows(runs)[1]
    summary["runs"] = [
        {
            k: r[k]
            for k in (
                "n_layer",
                "params",
                "tokens",
                "loss",
                "dtype",
                "compiled",
                "tokens_per_s",
                "compile_s",
                "mfu",
                "peak_flops",
            )
        }
        for r in rows
    ]
    import pandas as pd

    from bayescale.data import read_runs

    table = read_runs(runs)  # the rows validate as a run table (fit them on the CPU side)
    summary["rows_valid"] = bool(len(table) == len(sizes) * len(steps))
    summary["loss_falls_with_tokens"] = bool(
        all(
            g.sort_values("tokens")["loss"].is_monotonic_decreasing
            for _, g in pd.DataFrame(table).groupby("params")
        )
    )

    # 2. kill and resume
    mid = sizes[len(sizes) // 2]
    every = max(2, steps[-1] // 6)
    if not args.skip_resume:
        summary["resume"] = kill_and_resume(
            out_dir, {**defaults, "device": args.device}, mid, steps[-1], every, timeout=240
        )

    # 3. the bare loop against the runner's row of the same size and length
    bare = bare_loop(defaults, mid, steps[-1], args.device)
    runner_row = next(r for r in rows if int(r["n_layer"]) == mid and int(r["steps"]) == steps[-1])
    runner_tps = float(runner_row["tokens_per_s"])
    summary["throughput"] = {
        "n_layer": mid,
        "bare_tokens_per_s": bare["tokens_per_s"],
        "runner_tokens_per_s": runner_tps,
        "ratio": runner_tps / bare["tokens_per_s"],
        "target": 0.9,
        "runner_mfu": runner_row["mfu"] or None,
        "peak_flops": runner_row["peak_flops"] or None,
    }
    summary["wall_s"] = time.perf_counter() - t_all
    (out_dir / "gpu_check.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
