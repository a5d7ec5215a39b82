"""Train one run: :func:`train` (imports torch when called).

The loop is a plain AdamW loop with gradient accumulation over ``micro_batches``. Around it
the runner adds only cheap bookkeeping: the learning curve (log-spaced early, then regular),
the micro-batch gradient norms of the noise scale on some steps, and an atomic checkpoint
(model, optimiser, step, curve, noise records, RNG states) every ``ckpt_every`` steps and on
SIGTERM/SIGUSR1, from which a killed run resumes with a bit-identical loss (data order is
counter-based: see :meth:`bayescale.runner.data.Corpus.batch_indices`).

Scaling out: one run on several GPUs is launched with ``torchrun`` (``WORLD_SIZE > 1``);
ranks split each step's micro-batches and all-reduce the gradient.

Examples
--------
>>> from bayescale.runner import RunSpec, train
>>> res = train(RunSpec(n_layer=1, steps=4, seq_len=16, batch_size=4, final_eval_tokens=512))
>>> res.row["steps"]
4
"""

from __future__ import annotations

import io
import math
import os
import platform
import random
import signal
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bayescale.runner.config import RUNNER_VERSION, RunSpec
from bayescale.runner.counting import count_flops, count_params
from bayescale.runner.data import Corpus, load_corpus
from bayescale.runner.errors import RunnerError, RunnerWarning, require_torch
from bayescale.runner.io import atomic_write_bytes
from bayescale.runner.noise import MicroGradNorms, noise_scale_simple
from bayescale.runner.schedule import lr_at

__all__ = ["RunResult", "curve_steps", "noise_steps", "train"]

#: Dense bf16 peak FLOP/s by device-name fragment (GPU path; MFU is empty on CPU).
PEAK_FLOPS: dict[str, float] = {
    "H200": 989e12,
    "H100": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "A10G": 125e12,
    "L4": 121e12,
    "4090": 165e12,
    "V100": 125e12,
}


@dataclass
class RunResult:
    """What one finished run produced.

    Attributes
    ----------
    row : dict
        The run-table row (see ``docs/runner.md`` for every column).
    curve : list of dict
        Learning-curve rows.
    noise : list of dict
        Raw gradient-noise statistics, one per measured step.
    """

    row: dict[str, Any]
    curve: list[dict[str, Any]] = field(default_factory=list)
    noise: list[dict[str, Any]] = field(default_factory=list)


def curve_steps(steps: int, every: int = 0) -> list[int]:
    """Steps after which the validation loss is recorded.

    Powers of two up to the regular spacing, then every ``every`` steps (default
    ``steps // 16``), always including the last step (Pythia-style log-spaced start).

    Parameters
    ----------
    steps : int
        Run length.
    every : int, default 0
        Regular spacing (0: ``max(1, steps // 16)``).

    Returns
    -------
    list of int

    Examples
    --------
    >>> curve_steps(64)
    [1, 2, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48, 52, 56, 60, 64]
    """
    every = every or max(1, steps // 16)
    out = set()
    s = 1
    while s < every and s <= steps:
        out.add(s)
        s *= 2
    out.update(range(every, steps + 1, every))
    out.add(steps)
    return sorted(out)


def noise_steps(steps: int, every: int = 0) -> set[int]:
    """0-based steps whose gradient-noise statistics are recorded (about 128 per run).

    Examples
    --------
    >>> sorted(noise_steps(10, 4))
    [0, 4, 8]
    """
    every = every or max(1, math.ceil(steps / 128))
    return set(range(0, steps, every))


def _rng_state() -> dict[str, Any]:
    import torch

    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),  # noqa: NPY002 (the legacy global state, saved as is)
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])  # noqa: NPY002
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _seed_all(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (seed the global state for user code)
    torch.manual_seed(seed)


def _peak_flops(name: str) -> float | None:
    for key, value in PEAK_FLOPS.items():
        if key in name:
            return value
    return None


class _Stop(Exception):
    pass


def train(
    spec: RunSpec,
    *,
    checkpoint: str | Path | None = None,
    ckpt_every: int = 0,
    threads: int | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    corpus: Corpus | None = None,
    _step_delay: float = 0.0,
) -> RunResult:
    """Train one run and return its row, learning curve and noise statistics.

    Parameters
    ----------
    spec : RunSpec
        The run.
    checkpoint : str or pathlib.Path, optional
        Checkpoint file. If it exists the run resumes from it; it is rewritten atomically
        every ``ckpt_every`` steps and on SIGTERM/SIGUSR1, and deleted when the run ends.
    ckpt_every : int, default 0
        Checkpoint period in steps (0: only on signals).
    threads : int, optional
        ``torch.set_num_threads`` for this process (CPU results are bit-reproducible only at
        a fixed thread count).
    progress : callable, optional
        Called as ``progress(step, steps, last_train_loss)`` after each step.
    corpus : Corpus, optional
        An already loaded corpus (else loaded from ``spec.corpus``).

    Returns
    -------
    RunResult

    Raises
    ------
    RunnerError
        When torch is missing, the corpus is invalid, or the run would exceed
        ``spec.max_epochs`` epochs.
    """
    require_torch()
    import torch

    from bayescale.runner.model import GPT, GPTConfig

    if threads:
        torch.set_num_threads(threads)
    corpus = corpus or load_corpus(spec.corpus, spec.tokenizer)
    spec = spec.resolved(corpus.vocab_size)
    run_id = spec.run_id(corpus.fingerprint)
    T, B, k = spec.seq_len, spec.batch_size, spec.micro_batches
    epochs = spec.tokens / max(1, len(corpus.train))
    if epochs > spec.max_epochs:
        raise RunnerError(
            f"run {run_id} would see the training split {epochs:.2f} times "
            f"(max_epochs={spec.max_epochs}); use a bigger corpus or raise max_epochs"
        )
    if epochs > 1:
        warnings.warn(
            f"run {run_id} exceeds one epoch ({epochs:.2f} epochs of {corpus.name!r}); "
            "repeated data changes the scaling law",
            RunnerWarning,
            stacklevel=2,
        )

    # --- distributed (torchrun) ------------------------------------------------------------
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    dist: Any = None
    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if spec.device.startswith("cuda") else "gloo")
        if k % world:
            raise RunnerError(f"micro_batches={k} must be a multiple of WORLD_SIZE={world}")

    # --- device ------------------------------------------------------------------------------
    if spec.device.startswith("cuda"):
        # GPU path: TF32 matmuls, bf16 autocast, fused SDPA kernels, torch.compile.
        # Not exercised by the CPU test-suite.
        if not torch.cuda.is_available():
            raise RunnerError("device='cuda' but torch.cuda.is_available() is False")
        local = int(os.environ.get("LOCAL_RANK", "0"))
        device = torch.device(f"cuda:{local}" if world > 1 else spec.device)
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
        device_name = torch.cuda.get_device_name(device)
    else:
        device = torch.device("cpu")
        amp_dtype = torch.float32
        device_name = f"cpu:{platform.machine()}:{torch.get_num_threads()}t"
    use_amp = amp_dtype != torch.float32

    # --- model and optimiser --------------------------------------------------------------------
    _seed_all(spec.seed)
    cfg = GPTConfig(
        n_layer=spec.n_layer,
        d_model=spec.d_model,
        n_head=spec.n_head,
        vocab_size=corpus.vocab_size,
        seq_len=T,
        tied=spec.tied,
        bias=spec.bias,
        dropout=spec.dropout,
        init_std=spec.init_std,
    )
    model = GPT(cfg).to(device)
    # weight decay on matmul weights only (not embeddings, LayerNorms or biases), as minGPT
    decay = [
        p
        for n, p in model.named_parameters()
        if p.dim() >= 2 and n.split(".")[0] in ("blocks", "head")
    ]
    ids = {id(p) for p in decay}
    other = [p for p in model.parameters() if id(p) not in ids]
    opt = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": spec.weight_decay},
            {"params": other, "weight_decay": 0.0},
        ],
        lr=spec.learning_rate,
        betas=(spec.beta1, spec.beta2),
        eps=spec.eps,
    )
    fwd: Any = model
    compiled = False
    if device.type == "cuda" and spec.compile:  # GPU path
        fwd = torch.compile(model)
        compiled = True
    params = count_params(
        n_layer=spec.n_layer,
        d_model=spec.d_model,
        vocab_size=corpus.vocab_size,
        seq_len=T,
        tied=spec.tied,
        bias=spec.bias,
    )
    if params.total != model.num_params():
        raise RuntimeError("analytic parameter count disagrees with the model")

    def to_dev(arr: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(arr)
        if device.type == "cuda":  # GPU path
            return t.pin_memory().to(device, non_blocking=True)
        return t

    def loss_of(batch: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
            logits = fwd(batch[:, :-1])
        return torch.nn.functional.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1)
        )

    def evaluate(n_tokens: int) -> float:
        starts = corpus.val_starts(T, max(1, n_tokens // T))
        model.eval()
        total = 0.0
        with torch.no_grad():
            for chunk in np.array_split(starts, max(1, math.ceil(len(starts) / B))):
                batch = to_dev(corpus.windows(chunk, T, split="val"))
                total += float(loss_of(batch)) * len(chunk)
        model.train()
        return total / len(starts)

    # --- state, resume --------------------------------------------------------------------------
    steps = spec.steps
    ckpt = Path(checkpoint) if checkpoint else None
    state: dict[str, Any] = {
        "step": 0,
        "curve": [],
        "noise": [],
        "wall_s": 0.0,
        "train_s": 0.0,
        "eval_s": 0.0,
        "tl_sum": 0.0,
        "tl_n": 0,
        "loss_init": float("nan"),
    }
    resumed = False
    if ckpt is not None and ckpt.is_file():
        blob = torch.load(ckpt, map_location=device, weights_only=False)
        if blob.get("run_id") != run_id:
            raise RunnerError(f"checkpoint {ckpt} belongs to run {blob.get('run_id')}")
        model.load_state_dict(blob["model"])
        opt.load_state_dict(blob["optim"])
        state = blob["state"]
        _set_rng_state(blob["rng"])
        resumed = True
    stop_signal: list[int] = []

    def save_ckpt() -> None:
        if ckpt is None or rank != 0:
            return
        buf = io.BytesIO()
        torch.save(
            {
                "run_id": run_id,
                "spec": spec.identity(corpus.fingerprint),
                "model": model.state_dict(),
                "optim": opt.state_dict(),
                "state": state,
                "rng": _rng_state(),
            },
            buf,
        )
        atomic_write_bytes(ckpt, buf.getvalue())

    def on_signal(signum: int, _frame: Any) -> None:
        stop_signal.append(signum)

    old_handlers: dict[signal.Signals, Any] = {}
    if ckpt is not None and threading_main():
        for sig in (signal.SIGTERM, signal.SIGUSR1):
            old_handlers[sig] = signal.signal(sig, on_signal)

    t_start = time.perf_counter()
    wall0 = state["wall_s"]
    if state["step"] == 0 and not resumed:
        t0 = time.perf_counter()
        state["loss_init"] = evaluate(spec.eval_tokens)
        state["eval_s"] += time.perf_counter() - t0
    evals = set(curve_steps(steps, spec.eval_every))
    measure = noise_steps(steps, spec.noise_every) if k >= 2 else set()
    norms = MicroGradNorms(list(model.parameters()), k)
    my_micro = [j for j in range(k) if j % world == rank]
    b_micro = B // k
    last_loss = float("nan")
    try:
        while state["step"] < steps:
            step = state["step"]
            t0 = time.perf_counter()
            lr = lr_at(
                step,
                peak=spec.learning_rate,
                steps=steps,
                warmup=spec.warmup,
                kind=spec.schedule,
                min_ratio=spec.min_lr_ratio,
                horizon=spec.horizon or None,
            )
            for group in opt.param_groups:
                group["lr"] = lr
            starts = corpus.batch_indices(step, B, T, spec.seed)
            batch = to_dev(corpus.windows(starts, T))
            do_noise = step in measure
            step_loss = torch.zeros((), device=device)
            for j in my_micro:
                loss = loss_of(batch[j * b_micro : (j + 1) * b_micro]) / k
                loss.backward()
                step_loss += loss.detach()
                if do_noise:
                    norms.after_backward()
            if world > 1:  # torchrun: average gradients and losses over ranks
                for p in model.parameters():
                    if p.grad is not None:
                        dist.all_reduce(p.grad)
                dist.all_reduce(step_loss)
            g2_small = g2_big = float("nan")
            if do_noise:
                if world > 1:
                    small = torch.tensor([norms.sum_small, norms.count], dtype=torch.float64)
                    dist.all_reduce(small)
                    g2_small = float(small[0] / small[1])
                    g2_big = sum(
                        float(p.grad.float().pow(2).sum())
                        for p in model.parameters()
                        if p.grad is not None
                    )
                    norms.reset()
                else:
                    g2_small, g2_big = norms.finish()
            if spec.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
            last_loss = float(step_loss)
            state["tl_sum"] += last_loss
            state["tl_n"] += 1
            state["step"] = step + 1
            state["train_s"] += time.perf_counter() - t0
            if do_noise:
                state["noise"].append(
                    {
                        "run_id": run_id,
                        "step": step,
                        "tokens": step * B * T,
                        "train_loss": last_loss,
                        "b_small": b_micro * T,
                        "b_big": B * T,
                        "g2_small": g2_small,
                        "g2_big": g2_big,
                    }
                )
            if state["step"] in evals:
                t1 = time.perf_counter()
                val = evaluate(spec.eval_tokens)
                state["eval_s"] += time.perf_counter() - t1
                state["curve"].append(
                    {
                        "step": state["step"],
                        "loss": val,
                        "train_loss": state["tl_sum"] / max(1, state["tl_n"]),
                        "learning_rate": lr,
                        "wall_s": wall0 + time.perf_counter() - t_start,
                    }
                )
                state["tl_sum"], state["tl_n"] = 0.0, 0
            if not math.isfinite(last_loss):
                raise RunnerError(f"run {run_id} diverged at step {step} (loss {last_loss})")
            if progress is not None:
                progress(state["step"], steps, last_loss)
            if _step_delay:
                time.sleep(_step_delay)
            state["wall_s"] = wall0 + time.perf_counter() - t_start
            if stop_signal:
                save_ckpt()
                raise _Stop
            if ckpt_every and state["step"] % ckpt_every == 0 and state["step"] < steps:
                save_ckpt()
    except _Stop:
        raise RunnerError(
            f"run {run_id} stopped by signal {stop_signal[0]} at step {state['step']}; "
            "checkpoint saved, run again to resume"
        ) from None
    finally:
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)

    t1 = time.perf_counter()
    final = evaluate(spec.final_eval_tokens)
    state["eval_s"] += time.perf_counter() - t1
    wall = wall0 + time.perf_counter() - t_start
    if ckpt is not None and ckpt.is_file() and rank == 0:
        ckpt.unlink()

    flops = count_flops(
        params, n_layer=spec.n_layer, d_model=spec.d_model, seq_len=T, tokens=spec.tokens
    )
    tok_s = spec.tokens / state["train_s"] if state["train_s"] > 0 else float("nan")
    mfu: float | None = None
    if device.type == "cuda":  # GPU path
        peak = _peak_flops(device_name)
        if peak:
            mfu = tok_s * (flops.flops_palm / spec.tokens) / (peak * world)
    noise = state["noise"]
    bs = b_micro * T
    gns = (
        noise_scale_simple(
            [r["g2_small"] for r in noise], [r["g2_big"] for r in noise], b_small=bs, b_big=B * T
        )
        if noise and k >= 2
        else float("nan")
    )
    row: dict[str, Any] = {
        "run_id": run_id,
        "params": params.total,
        "tokens": spec.tokens,
        "loss": final,
        "flops": flops.flops,
        "params_nonembedding": params.nonembedding,
        "params_with_head": params.with_head,
        "params_kaplan": params.kaplan,
        "params_matmul": params.matmul,
        "params_embedding": params.embedding,
        **{k2: v for k2, v in flops.as_dict().items() if k2 != "flops"},
        "batch_size": B * T,
        "batch_seqs": B,
        "micro_batches": k,
        "steps": steps,
        "learning_rate": spec.learning_rate,
        "min_lr_ratio": spec.min_lr_ratio,
        "warmup_steps": spec.warmup,
        "schedule": spec.schedule,
        "n_layer": spec.n_layer,
        "d_model": spec.d_model,
        "n_head": spec.n_head,
        "seq_len": T,
        "tied": spec.tied,
        "weight_decay": spec.weight_decay,
        "beta2": spec.beta2,
        "grad_clip": spec.grad_clip,
        "seed": spec.seed,
        "loss_init": state["loss_init"],
        "loss_bits_per_byte": final / math.log(2) / corpus.bytes_per_token
        if math.isfinite(corpus.bytes_per_token)
        else float("nan"),
        "train_loss_final": state["curve"][-1]["train_loss"] if state["curve"] else last_loss,
        "noise_scale_simple": gns,
        "noise_b_small": bs,
        "noise_b_big": B * T,
        "noise_points": len(noise),
        "epochs": epochs,
        "wall_s": wall,
        "train_s": state["train_s"],
        "eval_s": state["eval_s"],
        "tokens_per_s": tok_s,
        "device": device_name,
        "dtype": str(amp_dtype).replace("torch.", ""),
        "compiled": compiled,
        "world_size": world,
        "mfu": mfu,
        "corpus": corpus.name,
        "corpus_fingerprint": corpus.fingerprint,
        "tokenizer": corpus.tokenizer,
        "vocab_size": corpus.vocab_size,
        "params_kind": "total",
        "loss_unit": "nats_per_token",
        "runner_version": RUNNER_VERSION,
        "torch_version": torch.__version__,
        "python_version": sys.version.split()[0],
    }
    per_tok = {
        "params": params.total,
        "params_nonembedding": params.nonembedding,
        "batch_size": B * T,
        "n_layer": spec.n_layer,
        "d_model": spec.d_model,
        "seed": spec.seed,
    }
    curve = [
        {
            "run": run_id,
            "step": c["step"],
            "tokens": c["step"] * B * T,
            "loss": c["loss"],
            "train_loss": c["train_loss"],
            "learning_rate": c["learning_rate"],
            "flops": 6.0 * params.total * c["step"] * B * T,
            "wall_s": c["wall_s"],
            **per_tok,
        }
        for c in state["curve"]
    ]
    return RunResult(row=row, curve=curve, noise=list(noise))


def threading_main() -> bool:
    """Whether this is the main thread (signal handlers can only be set there)."""
    import threading

    return threading.current_thread() is threading.main_thread()
