"""Train one run: :func:`train` (imports torch when called).

The loop is a plain AdamW loop with gradient accumulation over ``micro_batches``, written as
named steps that :func:`train` calls in order:

* :func:`setup` — device, precision, model, optimiser, ``torch.compile``, collectives;
* :func:`train_step` — one optimizer step (micro-batches, the noise statistics, clipping);
* :func:`evaluate` — validation loss over fixed windows;
* :func:`save_checkpoint` / :func:`read_checkpoint` — the resumable state;
* :func:`make_row` — the run-table row, learning curve and noise records.

Around the loop the runner adds only cheap bookkeeping: the learning curve (log-spaced
early, then regular, appended to a live file as it happens), the micro-batch gradient norms
of the noise scale on some steps, and an atomic checkpoint (model, optimiser, step, curve,
noise records, RNG states) every ``ckpt_every`` steps and on SIGTERM/SIGUSR1/SIGUSR2, from
which a killed run resumes with a bit-identical loss (data order is counter-based: see
:meth:`bayescale.runner.data.Corpus.batch_indices`).

Scaling out: one run on several GPUs is launched with ``torchrun`` (``WORLD_SIZE > 1``);
rank ``r`` trains on ``cuda:LOCAL_RANK``, ranks split each step's micro-batches and
all-reduce the gradient. Every collective works on tensors on the training device (NCCL has
no CPU path).

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
import re
import signal
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from bayescale.runner.config import RUNNER_VERSION, RunSpec
from bayescale.runner.counting import ParamCounts, count_flops, count_params
from bayescale.runner.data import Corpus, load_corpus
from bayescale.runner.errors import RunInterrupted, RunnerError, RunnerWarning, require_torch
from bayescale.runner.io import atomic_write_bytes
from bayescale.runner.noise import MicroGradNorms, noise_scale_simple
from bayescale.runner.schedule import lr_at

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "PEAK_FLOPS",
    "RunResult",
    "curve_steps",
    "evaluate",
    "make_row",
    "noise_steps",
    "peak_flops",
    "read_checkpoint",
    "save_checkpoint",
    "select_device",
    "setup",
    "train",
    "train_step",
]

#: Dense (no sparsity) bf16 tensor-core peak FLOP/s, matched against the upper-cased device
#: name (``-`` and ``_`` read as spaces) in this order, first match wins. Values are the
#: vendors' data sheets; GeForce cards at their FP32-accumulate rate (the rate autocast
#: uses). A device not listed gets no MFU unless ``peak_flops`` is given.
PEAK_FLOPS: tuple[tuple[str, float], ...] = (
    (r"\bGH200\b", 989.4e12),
    (r"\bH200\b.*\bNVL\b", 835.5e12),
    (r"\bH200\b", 989.4e12),
    (r"\bH100\b.*\bPCIE\b", 756.5e12),
    (r"\bH100\b.*\bNVL\b", 835.5e12),
    (r"\bH100\b", 989.4e12),  # SXM5 ("H100 80GB HBM3")
    (r"\bB200\b", 2250e12),
    (r"\bA100\b", 312e12),
    (r"\bA40\b", 149.7e12),
    (r"\bA10\b", 125e12),  # not A10G (no published tensor figure): pass peak_flops
    (r"\bL40S\b", 362.1e12),
    (r"\bL40\b", 181.0e12),
    (r"\bL4\b", 121.0e12),
    (r"\bRTX A6000\b", 154.8e12),
    (r"\bRTX 3090 TI\b", 80.0e12),
    (r"\bRTX 3090\b", 71.0e12),
    (r"\bRTX 4090\b", 165.2e12),
    (r"\bMI300X\b", 1307.4e12),
)


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
    weights : dict, optional
        The trained model's state dict on the CPU (only with ``keep_weights=True``).
    """

    row: dict[str, Any]
    curve: list[dict[str, Any]] = field(default_factory=list)
    noise: list[dict[str, Any]] = field(default_factory=list)
    weights: dict[str, Any] | None = field(default=None, repr=False)


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


def peak_flops(device_name: str, dtype: str = "bfloat16") -> float | None:
    """Dense peak FLOP/s of a device for MFU, from :data:`PEAK_FLOPS` (bf16 only).

    Parameters
    ----------
    device_name : str
        As ``torch.cuda.get_device_name`` returns it.
    dtype : str, default "bfloat16"
        The training precision; only bf16 peaks are tabulated.

    Returns
    -------
    float or None
        None for an unknown device or another precision.

    Examples
    --------
    >>> peak_flops("NVIDIA H100 PCIe"), peak_flops("NVIDIA L40"), peak_flops("NVIDIA A10G")
    (756500000000000.0, 181000000000000.0, None)
    """
    if dtype != "bfloat16":
        return None
    name = " ".join(re.sub(r"[-_]", " ", device_name.upper()).split())
    for pattern, value in PEAK_FLOPS:
        if re.search(pattern, name):
            return value
    return None


# --- RNG -----------------------------------------------------------------------------------


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


# --- setup ---------------------------------------------------------------------------------


def select_device(spec_device: str, *, world: int = 1, local_rank: int = 0) -> torch.device:
    """The ``torch.device`` a run trains on, always with an index on CUDA.

    Parameters
    ----------
    spec_device : str
        ``cpu``, ``cuda`` or ``cuda:N``.
    world, local_rank : int
        ``WORLD_SIZE`` and ``LOCAL_RANK`` (torchrun): rank ``r`` of a node takes
        ``cuda:LOCAL_RANK``.

    Returns
    -------
    torch.device

    Raises
    ------
    RunnerError
        When CUDA is asked for but not available, the index does not exist, or ``cuda:N``
        is combined with several ranks.
    """
    import torch

    if spec_device == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise RunnerError(f"device={spec_device!r} but torch.cuda.is_available() is False")
    if spec_device == "cuda":
        index = local_rank
    else:
        if world > 1:
            raise RunnerError(
                f"device={spec_device!r} with WORLD_SIZE={world}: use device='cuda' "
                "(each rank trains on cuda:LOCAL_RANK)"
            )
        index = int(spec_device.split(":", 1)[1])
    count = torch.cuda.device_count()
    if not 0 <= index < count:
        raise RunnerError(f"device cuda:{index} does not exist ({count} CUDA device(s) visible)")
    return torch.device("cuda", index)


class _Dist(Protocol):
    def all_reduce(self, tensor: torch.Tensor) -> Any: ...


class Collectives:
    """The all-reduces of one data-parallel run, on tensors on the training device.

    NCCL has no CPU tensors; gloo accepts device tensors too, so one code path serves both.

    Parameters
    ----------
    dist : module-like
        ``torch.distributed`` (or anything with ``all_reduce``).
    device : torch.device
        The training device.
    """

    def __init__(self, dist: _Dist, device: torch.device) -> None:
        self.dist = dist
        self.device = device

    def grads(self, params: Sequence[torch.Tensor]) -> None:
        """Sum every parameter's gradient over ranks (in place)."""
        for p in params:
            if p.grad is not None:
                self.dist.all_reduce(p.grad)

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum a device tensor over ranks (in place) and return it."""
        self.dist.all_reduce(tensor)
        return tensor


@dataclass
class Setup:
    """Everything :func:`setup` builds for one run.

    Attributes
    ----------
    spec, corpus, run_id
        The resolved spec, its corpus and run id.
    device, amp_dtype, device_name
        Where and in which precision it trains.
    world, rank : int
        Data-parallel size and this process's rank.
    comm : Collectives or None
        The all-reduces (None on one process).
    model, fwd, opt
        The model, the (possibly compiled) forward and the optimiser.
    compiled : bool
        Whether ``fwd`` is ``torch.compile``d.
    params : ParamCounts
        Analytic parameter counts (checked against the model).
    epochs : float
        Passes over the training split.
    peak_flops : float or None
        Peak FLOP/s per device for MFU.
    """

    spec: RunSpec
    corpus: Corpus
    run_id: str
    device: torch.device
    amp_dtype: torch.dtype
    device_name: str
    world: int
    rank: int
    comm: Collectives | None
    model: Any
    fwd: Any
    opt: Any
    compiled: bool
    params: ParamCounts
    epochs: float
    peak_flops: float | None


def _precision(spec: RunSpec, device: torch.device, name: str) -> torch.dtype:
    import torch

    if device.type != "cuda":
        if spec.precision == "bf16":
            raise RunnerError("precision='bf16' needs a CUDA device (CPU runs train in fp32)")
        return torch.float32
    native = torch.cuda.is_bf16_supported(including_emulation=False)
    if spec.precision == "fp32":
        return torch.float32
    if native:
        return torch.bfloat16
    if spec.precision == "bf16":
        raise RunnerError(f"{name} has no native bf16; use precision='auto' or 'fp32'")
    warnings.warn(
        f"{name} has no native bf16: training in fp32 (TF32 matmuls where supported)",
        RunnerWarning,
        stacklevel=3,
    )
    return torch.float32


def setup(
    spec: RunSpec,
    corpus: Corpus | None = None,
    *,
    threads: int | None = None,
    peak: float | None = None,
    dist: Any = None,
) -> Setup:
    """Resolve the device and precision, build the model and optimiser.

    Parameters
    ----------
    spec : RunSpec
        The run.
    corpus : Corpus, optional
        An already loaded corpus (else loaded from ``spec.corpus``).
    threads : int, optional
        ``torch.set_num_threads`` for this process.
    peak : float, optional
        Peak FLOP/s per device for MFU (default: :func:`peak_flops` of the device name).
    dist : module, optional
        ``torch.distributed`` stand-in (tests); by default initialised from the torchrun
        environment when ``WORLD_SIZE > 1``.

    Returns
    -------
    Setup
    """
    require_torch()
    import torch

    from bayescale.runner.model import GPT, GPTConfig

    if threads:
        torch.set_num_threads(threads)
    corpus = corpus or load_corpus(spec.corpus, spec.tokenizer)
    spec = spec.resolved(corpus.vocab_size)
    run_id = spec.run_id(corpus.fingerprint)
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
            stacklevel=3,
        )
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if world > 1 and spec.micro_batches % world:
        raise RunnerError(
            f"micro_batches={spec.micro_batches} must be a multiple of WORLD_SIZE={world}"
        )
    device = select_device(spec.device, world=world, local_rank=local_rank)
    if spec.deterministic:  # bit-identical reruns on a GPU (slower kernels, no atomics)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        device_name = torch.cuda.get_device_name(device)
    else:
        device_name = f"cpu:{platform.machine()}:{torch.get_num_threads()}t"
    amp_dtype = _precision(spec, device, device_name)
    comm: Collectives | None = None
    if world > 1:
        if dist is None:
            import torch.distributed

            dist = torch.distributed
            if not torch.distributed.is_initialized():
                torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
        comm = Collectives(dist, device)

    _seed_all(spec.seed)
    cfg = GPTConfig(
        n_layer=spec.n_layer,
        d_model=spec.d_model,
        n_head=spec.n_head,
        vocab_size=corpus.vocab_size,
        seq_len=spec.seq_len,
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
    compiled = device.type == "cuda" and spec.compile
    fwd: Any = torch.compile(model) if compiled else model
    params = count_params(
        n_layer=spec.n_layer,
        d_model=spec.d_model,
        vocab_size=corpus.vocab_size,
        seq_len=spec.seq_len,
        tied=spec.tied,
        bias=spec.bias,
    )
    if params.total != model.num_params():
        raise RuntimeError("analytic parameter count disagrees with the model")
    dtype_name = str(amp_dtype).replace("torch.", "")
    if peak is None and device.type == "cuda":
        peak = peak_flops(device_name, dtype_name)
    return Setup(
        spec=spec,
        corpus=corpus,
        run_id=run_id,
        device=device,
        amp_dtype=amp_dtype,
        device_name=device_name,
        world=world,
        rank=rank,
        comm=comm,
        model=model,
        fwd=fwd,
        opt=opt,
        compiled=compiled,
        params=params,
        epochs=epochs,
        peak_flops=peak,
    )


# --- step and evaluation -------------------------------------------------------------------


def _to_device(s: Setup, arr: np.ndarray) -> torch.Tensor:
    import torch

    t = torch.from_numpy(arr)
    if s.device.type == "cuda":
        return t.pin_memory().to(s.device, non_blocking=True)
    return t


def _loss(s: Setup, batch: torch.Tensor) -> torch.Tensor:
    import torch

    with torch.autocast(s.device.type, dtype=s.amp_dtype, enabled=s.amp_dtype != torch.float32):
        logits = s.fwd(batch[:, :-1])
    return torch.nn.functional.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1)
    )


def evaluate(s: Setup, n_tokens: int) -> float:
    """Mean validation loss (nats per token) over the corpus's first fixed windows.

    Parameters
    ----------
    s : Setup
        The run.
    n_tokens : int
        About how many validation tokens to read.

    Returns
    -------
    float
    """
    import torch

    T, B = s.spec.seq_len, s.spec.batch_size
    starts = s.corpus.val_starts(T, max(1, n_tokens // T))
    s.model.eval()
    total = 0.0
    with torch.no_grad():
        for chunk in np.array_split(starts, max(1, math.ceil(len(starts) / B))):
            batch = _to_device(s, s.corpus.windows(chunk, T, split="val"))
            total += float(_loss(s, batch)) * len(chunk)
    s.model.train()
    return total / len(starts)


@dataclass(frozen=True)
class StepStats:
    """What one optimizer step measured.

    Attributes
    ----------
    loss : float
        Mean training loss of the step (over all ranks).
    g2_small, g2_big : float
        Noise statistics (nan when the step is not measured).
    """

    loss: float
    g2_small: float
    g2_big: float


def train_step(s: Setup, step: int, norms: MicroGradNorms, *, measure: bool) -> StepStats:
    """One optimizer step: micro-batches, gradient all-reduce, noise statistics, clipping.

    Parameters
    ----------
    s : Setup
        The run.
    step : int
        0-based step number (picks the learning rate and the batch).
    norms : MicroGradNorms
        The noise-statistics accumulator of ``s.model``.
    measure : bool
        Record the noise statistics of this step.

    Returns
    -------
    StepStats
    """
    import torch

    spec = s.spec
    T, B, k = spec.seq_len, spec.batch_size, spec.micro_batches
    lr = lr_at(
        step,
        peak=spec.learning_rate,
        steps=spec.steps,
        warmup=spec.warmup,
        kind=spec.schedule,
        min_ratio=spec.min_lr_ratio,
        horizon=spec.horizon or None,
    )
    for group in s.opt.param_groups:
        group["lr"] = lr
    batch = _to_device(s, s.corpus.windows(s.corpus.batch_indices(step, B, T, spec.seed), T))
    b_micro = B // k
    step_loss = torch.zeros((), device=s.device)
    for j in range(s.rank, k, s.world):
        loss = _loss(s, batch[j * b_micro : (j + 1) * b_micro]) / k
        loss.backward()
        step_loss += loss.detach()
        if measure:
            norms.after_backward()
    g2_small = g2_big = float("nan")
    if s.comm is not None:  # torchrun: sum gradients and losses over ranks
        s.comm.grads(list(s.model.parameters()))
        s.comm.sum(step_loss)
        if measure:
            small = s.comm.sum(norms.small_sum_tensor())
            g2_small = float(small[0] / small[1])
            g2_big = float(
                sum(p.grad.float().pow(2).sum() for p in s.model.parameters() if p.grad is not None)
            )
            norms.reset()
    elif measure:
        g2_small, g2_big = norms.finish()
    if spec.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(s.model.parameters(), spec.grad_clip)
    s.opt.step()
    s.opt.zero_grad(set_to_none=True)
    return StepStats(float(step_loss), g2_small, g2_big)


# --- checkpoint ----------------------------------------------------------------------------


def _fresh_state() -> dict[str, Any]:
    return {
        "step": 0,
        "curve": [],
        "noise": [],
        "wall_s": 0.0,
        "train_s": 0.0,
        "warmup_s": 0.0,
        "warmup_steps": 0,
        "eval_s": 0.0,
        "tl_sum": 0.0,
        "tl_n": 0,
        "loss_init": float("nan"),
    }


def save_checkpoint(s: Setup, path: Path, state: dict[str, Any]) -> None:
    """Write the resumable state of a run atomically (rank 0 only).

    Parameters
    ----------
    s : Setup
        The run.
    path : pathlib.Path
        Checkpoint file.
    state : dict
        Step, curve, noise records and timers.
    """
    import torch

    if s.rank != 0:
        return
    buf = io.BytesIO()
    torch.save(
        {
            "run_id": s.run_id,
            "spec": s.spec.identity(s.corpus.fingerprint),
            "model": s.model.state_dict(),
            "optim": s.opt.state_dict(),
            "state": state,
            "rng": _rng_state(),
        },
        buf,
    )
    atomic_write_bytes(path, buf.getvalue())


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint onto the CPU.

    Everything is mapped to the CPU: ``torch.set_rng_state`` and
    ``torch.cuda.set_rng_state_all`` take CPU byte tensors, and ``load_state_dict`` copies
    weights and optimiser moments onto the training device itself.

    Parameters
    ----------
    path : pathlib.Path
        Checkpoint file.

    Returns
    -------
    dict
    """
    import torch

    return torch.load(path, map_location="cpu", weights_only=False)


def _restore(s: Setup, blob: dict[str, Any], path: Path) -> dict[str, Any]:
    if blob.get("run_id") != s.run_id:
        raise RunnerError(f"checkpoint {path} belongs to run {blob.get('run_id')}")
    s.model.load_state_dict(blob["model"])
    s.opt.load_state_dict(blob["optim"])
    _set_rng_state(blob["rng"])
    state = _fresh_state()
    state.update(blob["state"])
    return state


# --- row -----------------------------------------------------------------------------------


def make_row(
    s: Setup, state: dict[str, Any], final: float, wall: float, last_loss: float
) -> RunResult:
    """Assemble the run-table row, the learning curve and the noise records.

    Parameters
    ----------
    s : Setup
        The run.
    state : dict
        The finished training state.
    final : float
        Final validation loss.
    wall : float
        Wall time of the whole run (all processes that worked on it).
    last_loss : float
        Training loss of the last step.

    Returns
    -------
    RunResult
    """
    import torch

    spec, params, corpus = s.spec, s.params, s.corpus
    T, B, k = spec.seq_len, spec.batch_size, spec.micro_batches
    flops = count_flops(
        params, n_layer=spec.n_layer, d_model=spec.d_model, seq_len=T, tokens=spec.tokens
    )
    # the first step of each process (compilation, allocator warm-up) is timed apart
    timed = state["train_s"] - state["warmup_s"]
    timed_steps = spec.steps - state["warmup_steps"]
    tok_s = timed_steps * B * T / timed if timed > 0 and timed_steps > 0 else float("nan")
    mfu: float | None = None
    if s.peak_flops and math.isfinite(tok_s):
        mfu = tok_s * (flops.flops_palm / spec.tokens) / (s.peak_flops * s.world)
    noise = state["noise"]
    bs = (B // k) * T
    gns = (
        noise_scale_simple(
            [r["g2_small"] for r in noise], [r["g2_big"] for r in noise], b_small=bs, b_big=B * T
        )
        if noise and k >= 2
        else float("nan")
    )
    row: dict[str, Any] = {
        "run_id": s.run_id,
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
        "steps": spec.steps,
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
        "epochs": s.epochs,
        "wall_s": wall,
        "train_s": state["train_s"],
        "compile_s": state["warmup_s"],
        "eval_s": state["eval_s"],
        "tokens_per_s": tok_s,
        "device": s.device_name,
        "dtype": str(s.amp_dtype).replace("torch.", ""),
        "compiled": s.compiled,
        "world_size": s.world,
        "peak_flops": s.peak_flops,
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
    curve = [_curve_row(s, c) for c in state["curve"]]
    return RunResult(row=row, curve=curve, noise=list(noise))


def _curve_row(s: Setup, c: dict[str, Any]) -> dict[str, Any]:
    spec = s.spec
    tokens = c["step"] * spec.batch_size * spec.seq_len
    return {
        "run": s.run_id,
        "step": c["step"],
        "tokens": tokens,
        "loss": c["loss"],
        "train_loss": c["train_loss"],
        "learning_rate": c["learning_rate"],
        "flops": 6.0 * s.params.total * tokens,
        "wall_s": c["wall_s"],
        "params": s.params.total,
        "params_nonembedding": s.params.nonembedding,
        "batch_size": spec.batch_size * spec.seq_len,
        "n_layer": spec.n_layer,
        "d_model": spec.d_model,
        "seed": spec.seed,
    }


# --- the loop ------------------------------------------------------------------------------

#: Signals that make a run checkpoint at the next step boundary and stop (SIGUSR2 is
#: submitit's preemption / time-limit signal).
STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)

CurveHook = Callable[[dict[str, Any], list[dict[str, Any]]], None]


def train(
    spec: RunSpec,
    *,
    checkpoint: str | Path | None = None,
    ckpt_every: int = 0,
    threads: int | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    corpus: Corpus | None = None,
    peak: float | None = None,
    keep_weights: bool = False,
    on_curve: CurveHook | None = None,
    _step_delay: float = 0.0,
) -> RunResult:
    """Train one run and return its row, learning curve and noise statistics.

    Parameters
    ----------
    spec : RunSpec
        The run.
    checkpoint : str or pathlib.Path, optional
        Checkpoint file. If it exists the run resumes from it; it is rewritten atomically
        every ``ckpt_every`` steps and on SIGTERM/SIGUSR1/SIGUSR2, and deleted when the run
        ends.
    ckpt_every : int, default 0
        Checkpoint period in steps (0: only on signals).
    threads : int, optional
        ``torch.set_num_threads`` for this process (CPU results are bit-reproducible only at
        a fixed thread count).
    progress : callable, optional
        Called as ``progress(step, steps, last_train_loss)`` after each step.
    corpus : Corpus, optional
        An already loaded corpus (else loaded from ``spec.corpus``).
    peak : float, optional
        Peak FLOP/s per device for ``mfu`` (default: looked up by device name).
    keep_weights : bool, default False
        Return the trained weights (CPU state dict) in :attr:`RunResult.weights`.
    on_curve : callable, optional
        Called as ``on_curve(curve_row, all_curve_rows)`` (rank 0) after every learning-curve
        point, and once with ``({}, rows)`` after a resume with the rows restored.

    Returns
    -------
    RunResult

    Raises
    ------
    RunnerError
        When torch is missing, the corpus is invalid, or the run would exceed
        ``spec.max_epochs`` epochs.
    RunInterrupted
        When a stop signal arrived (the checkpoint is saved; run again to resume).
    """
    s = setup(spec, corpus, threads=threads, peak=peak)
    spec = s.spec
    steps = spec.steps
    ckpt = Path(checkpoint) if checkpoint else None
    state = _fresh_state()
    resumed = False
    if ckpt is not None and ckpt.is_file():
        state = _restore(s, read_checkpoint(ckpt), ckpt)
        resumed = True
        if on_curve is not None and s.rank == 0:
            on_curve({}, [_curve_row(s, c) for c in state["curve"]])
    stop_signal: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        stop_signal.append(signum)

    old_handlers: dict[signal.Signals, Any] = {}
    if ckpt is not None and threading_main():
        for sig in STOP_SIGNALS:
            old_handlers[sig] = signal.signal(sig, on_signal)

    t_start = time.perf_counter()
    wall0 = state["wall_s"]
    if state["step"] == 0 and not resumed:
        t0 = time.perf_counter()
        state["loss_init"] = evaluate(s, spec.eval_tokens)
        state["eval_s"] += time.perf_counter() - t0
    evals = set(curve_steps(steps, spec.eval_every))
    k = spec.micro_batches
    measure = noise_steps(steps, spec.noise_every) if k >= 2 else set()
    norms = MicroGradNorms(list(s.model.parameters()), k)
    T, B = spec.seq_len, spec.batch_size
    last_loss = float("nan")
    first = True
    try:
        while state["step"] < steps:
            step = state["step"]
            t0 = time.perf_counter()
            stats = train_step(s, step, norms, measure=step in measure)
            last_loss = stats.loss  # a host sync on the step's loss (divergence check)
            dt = time.perf_counter() - t0
            state["train_s"] += dt
            if first:  # compilation and allocator warm-up of this process, timed apart
                state["warmup_s"] += dt
                state["warmup_steps"] += 1
                first = False
            state["tl_sum"] += last_loss
            state["tl_n"] += 1
            state["step"] = step + 1
            if step in measure:
                state["noise"].append(
                    {
                        "run_id": s.run_id,
                        "step": step,
                        "tokens": step * B * T,
                        "train_loss": last_loss,
                        "b_small": (B // k) * T,
                        "b_big": B * T,
                        "g2_small": stats.g2_small,
                        "g2_big": stats.g2_big,
                    }
                )
            if state["step"] in evals:
                t1 = time.perf_counter()
                val = evaluate(s, spec.eval_tokens)
                state["eval_s"] += time.perf_counter() - t1
                point = {
                    "step": state["step"],
                    "loss": val,
                    "train_loss": state["tl_sum"] / max(1, state["tl_n"]),
                    "learning_rate": s.opt.param_groups[0]["lr"],
                    "wall_s": wall0 + time.perf_counter() - t_start,
                }
                state["curve"].append(point)
                state["tl_sum"], state["tl_n"] = 0.0, 0
                if on_curve is not None and s.rank == 0:
                    on_curve(_curve_row(s, point), [_curve_row(s, c) for c in state["curve"]])
            if not math.isfinite(last_loss):
                raise RunnerError(f"run {s.run_id} diverged at step {step} (loss {last_loss})")
            if progress is not None:
                progress(state["step"], steps, last_loss)
            if _step_delay:
                time.sleep(_step_delay)
            state["wall_s"] = wall0 + time.perf_counter() - t_start
            if stop_signal and ckpt is not None:
                save_checkpoint(s, ckpt, state)
                raise RunInterrupted(
                    f"run {s.run_id} stopped by signal {stop_signal[0]} at step "
                    f"{state['step']}; checkpoint saved, run again to resume",
                    signum=stop_signal[0],
                )
            at = state["step"]
            if ckpt is not None and ckpt_every and at % ckpt_every == 0 and at < steps:
                save_checkpoint(s, ckpt, state)
    finally:
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)

    t1 = time.perf_counter()
    final = evaluate(s, spec.final_eval_tokens)
    state["eval_s"] += time.perf_counter() - t1
    wall = wall0 + time.perf_counter() - t_start
    if ckpt is not None and ckpt.is_file() and s.rank == 0:
        ckpt.unlink()
    result = make_row(s, state, final, wall, last_loss)
    if keep_weights:
        result.weights = {
            name: t.detach().to("cpu", copy=True).contiguous()
            for name, t in s.model.state_dict().items()
        }
    return result


def threading_main() -> bool:
    """Whether this is the main thread (signal handlers can only be set there)."""
    import threading

    return threading.current_thread() is threading.main_thread()
