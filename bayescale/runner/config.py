"""Run specifications, sweep files and run ids (pure Python, no torch).

A :class:`RunSpec` is one training run. Its :meth:`RunSpec.run_id` hashes every field that
changes the result (shape, batch, steps, optimiser, schedule, seed, corpus fingerprint,
device kind and runner version), so the same spec always gets the same id and a finished run
is never trained twice.

A sweep file is TOML::

    [sweep]
    name = "demo"
    kind = "grid"            # "grid" (Kaplan N × B × S), "isoflop" or "list"
    seeds = [0]

    [defaults]               # any RunSpec field
    corpus = "stdlib"
    seq_len = 64

    [grid]                   # kind = "grid": the product of every list
    n_layer = [1, 2, 3]
    batch_size = [16, 32]    # sequences per step
    tokens = [262144, 524288]  # or steps = [...]

    # several products: write [[grid]] tables instead of one [grid]

    [isoflop]                # kind = "isoflop": budgets × sizes, D = C / (6·N_total)
    budgets = [1e12, 3e12]
    n_layer = [1, 2, 3]
    convention = "flops"     # or flops_kaplan / flops_context / flops_palm
    tolerance = 0.05         # refuse a run whose whole steps miss the budget by more

    [[list]]                 # kind = "list": one table per run (e.g. written by `bayescale plan`)
    params = 200000          # total parameters: the depth whose count is nearest (or n_layer = 3)
    tokens = 1048576

Examples
--------
>>> from bayescale.runner.config import RunSpec
>>> s = RunSpec(n_layer=2, tokens=65536).resolved()
>>> s.d_model, s.steps
(48, 32)
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from bayescale._version import __version__
from bayescale.runner.counting import count_params
from bayescale.runner.errors import RunnerError
from bayescale.runner.schedule import SCHEDULES

__all__ = [
    "PRESETS",
    "RunSpec",
    "Sweep",
    "expand_sweep",
    "load_sweep",
    "parse_sweep",
]

RUNNER_VERSION: str = __version__
#: Training precisions of :attr:`RunSpec.precision`.
PRECISIONS: tuple[str, ...] = ("auto", "bf16", "fp32")
#: FLOP conventions an isoFLOP budget may be stated in (columns of every row).
ISOFLOP_CONVENTIONS: tuple[str, ...] = ("flops", "flops_kaplan", "flops_context", "flops_palm")
#: How far (relative) an isoFLOP run's compute may land from its budget.
ISOFLOP_TOLERANCE: float = 0.05


@dataclass(frozen=True)
class RunSpec:
    """One training run.

    Attributes
    ----------
    n_layer : int
        Depth; the width is ``aspect_ratio·n_layer`` rounded to a multiple of ``head_dim``
        unless ``d_model`` is given.
    d_model, n_head : int
        Width and heads (0: derived from ``n_layer``).
    aspect_ratio, head_dim : int
        Shape rule (default 24 and 24).
    seq_len : int
        Context length in tokens.
    batch_size : int
        Sequences per optimizer step (tokens per step: ``batch_size·seq_len``).
    micro_batches : int
        Micro-batches per step (>= 2 enables the gradient-noise statistics).
    steps, tokens : int
        Run length; give one (``tokens`` is rounded to whole steps).
    learning_rate, min_lr_ratio : float
        Peak rate and the final fraction of it.
    schedule : {"cosine", "kaplan", "wsd", "constant"}
        See :mod:`bayescale.runner.schedule`.
    warmup : int
        Warm-up steps; -1 picks Porian's rule (``kaplan``: 3000).
    horizon : int
        ``kaplan`` cosine length (0: the run's steps).
    weight_decay, beta1, beta2, eps, grad_clip, dropout, init_std : float
        AdamW and regularisation settings.
    tied, bias : bool
        Tie the head to the embedding; biases in linear layers.
    seed : int
        Seed of the initialisation and the data order.
    corpus, tokenizer : str
        See :func:`bayescale.runner.data.load_corpus`.
    eval_tokens, final_eval_tokens : int
        Validation tokens per learning-curve point and for the final loss.
    eval_every : int
        Regular curve spacing in steps after the log-spaced start (0: steps // 16).
    noise_every : int
        Record the noise statistics every this many steps (0: about 128 points per run).
    max_epochs : float
        Refuse runs that would see the training split more often than this.
    device : str
        ``cpu``, ``cuda`` (``cuda:LOCAL_RANK`` under torchrun, else ``cuda:0``) or
        ``cuda:N`` (the GPU path: bf16 autocast, torch.compile, fused attention).
    precision : {"auto", "bf16", "fp32"}
        ``auto``: bf16 autocast where the GPU has native bf16, else fp32 with a warning
        (never emulated bf16); the CPU always trains in fp32.
    compile : bool
        ``torch.compile`` the model (GPU path only).
    deterministic : bool
        ``torch.use_deterministic_algorithms(True)`` (and a fixed cuBLAS workspace): GPU
        reruns and resumed runs are then bit-identical, at some speed; CPU runs are
        deterministic anyway.
    """

    n_layer: int
    d_model: int = 0
    n_head: int = 0
    aspect_ratio: int = 24
    head_dim: int = 24
    seq_len: int = 64
    batch_size: int = 32
    micro_batches: int = 2
    steps: int = 0
    tokens: int = 0
    learning_rate: float = 3e-3
    min_lr_ratio: float = 0.1
    schedule: str = "cosine"
    warmup: int = -1
    horizon: int = 0
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    grad_clip: float = 1.0
    dropout: float = 0.0
    init_std: float = 0.02
    tied: bool = False
    bias: bool = False
    seed: int = 0
    corpus: str = "stdlib"
    tokenizer: str = "byte"
    eval_tokens: int = 8192
    final_eval_tokens: int = 65536
    eval_every: int = 0
    noise_every: int = 0
    max_epochs: float = 4.0
    device: str = "cpu"
    precision: str = "auto"
    compile: bool = True
    deterministic: bool = False

    @property
    def tokens_per_step(self) -> int:
        """Tokens per optimizer step."""
        return self.batch_size * self.seq_len

    def resolved(self, vocab_size: int = 256) -> RunSpec:
        """Fill in derived fields (width, heads, steps, warm-up) and check the spec.

        Parameters
        ----------
        vocab_size : int, default 256
            Vocabulary of the corpus (used by the warm-up rule).

        Returns
        -------
        RunSpec
            A copy with ``d_model``, ``n_head``, ``steps``, ``tokens`` and ``warmup`` set.
        """
        if self.n_layer < 1:
            raise RunnerError("n_layer must be >= 1")
        d, h = self.d_model, self.n_head
        if d <= 0:
            # aspect_ratio·n_layer rounded up to a multiple of the head size
            d = -(-self.aspect_ratio * self.n_layer // self.head_dim) * self.head_dim
        if h <= 0:
            h = max(1, d // self.head_dim)
        if d % h:
            raise RunnerError(f"d_model={d} is not divisible by n_head={h}")
        if self.batch_size < 1 or self.micro_batches < 1:
            raise RunnerError("batch_size and micro_batches must be >= 1")
        if self.batch_size % self.micro_batches:
            raise RunnerError(
                f"batch_size={self.batch_size} is not divisible by "
                f"micro_batches={self.micro_batches}"
            )
        tps = self.batch_size * self.seq_len
        steps = self.steps
        if steps <= 0:
            if self.tokens <= 0:
                raise RunnerError("give steps or tokens (> 0)")
            steps = max(1, round(self.tokens / tps))
        if self.schedule not in SCHEDULES:
            raise RunnerError(f"schedule must be one of {', '.join(SCHEDULES)}")
        warmup = self.warmup
        if warmup < 0:
            if self.schedule == "kaplan":
                warmup = 3000
            else:
                n = count_params(
                    n_layer=self.n_layer,
                    d_model=d,
                    vocab_size=vocab_size,
                    seq_len=self.seq_len,
                    tied=self.tied,
                    bias=self.bias,
                ).total
                warmup = max(1, min(n // tps, steps // 10))
        if self.device not in ("cpu", "cuda") and not (
            self.device.startswith("cuda:") and self.device[5:].isdigit()
        ):
            raise RunnerError(f"device must be 'cpu', 'cuda' or 'cuda:N', not {self.device!r}")
        if self.precision not in PRECISIONS:
            raise RunnerError(f"precision must be one of {', '.join(PRECISIONS)}")
        return dataclasses.replace(
            self, d_model=d, n_head=h, steps=steps, tokens=steps * tps, warmup=warmup
        )

    def identity(self, fingerprint: str) -> dict[str, Any]:
        """The fields that determine the result, as a JSON-ready dict."""
        d = dataclasses.asdict(self.resolved())
        d.pop("compile")
        d["device"] = "cuda" if self.device.startswith("cuda") else "cpu"
        d["corpus_fingerprint"] = fingerprint
        d["runner_version"] = RUNNER_VERSION
        return d

    def run_id(self, fingerprint: str) -> str:
        """A 16-hex-digit id hashed from :meth:`identity`.

        Parameters
        ----------
        fingerprint : str
            The corpus fingerprint.

        Returns
        -------
        str

        Examples
        --------
        >>> RunSpec(n_layer=1, steps=10).run_id("x") == RunSpec(n_layer=1, steps=10).run_id("x")
        True
        """
        blob = json.dumps(self.identity(fingerprint), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunSpec:
        """Build a spec from a mapping, rejecting unknown keys."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise RunnerError(f"unknown run setting(s): {', '.join(unknown)}")
        if "n_layer" not in data:
            raise RunnerError("every run needs n_layer")
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in data:
                v = data[f.name]
                kind = type(f.default) if f.default is not dataclasses.MISSING else int
                try:
                    if kind is bool:
                        if not isinstance(v, bool):
                            raise TypeError
                    elif kind is float:
                        v = float(v)
                    elif kind is int:
                        if isinstance(v, float) and not v.is_integer():
                            raise TypeError
                        v = int(v)
                    else:
                        v = str(v)
                except (TypeError, ValueError):
                    raise RunnerError(f"setting {f.name}={v!r} has the wrong type") from None
                kwargs[f.name] = v
        return cls(**kwargs)


@dataclass(frozen=True)
class Sweep:
    """A named list of run specs expanded from a sweep file.

    Attributes
    ----------
    name : str
        The sweep's name.
    specs : tuple of RunSpec
        The runs, in a fixed order.
    source : str
        The TOML text it came from (recorded for provenance).
    """

    name: str
    specs: tuple[RunSpec, ...]
    source: str = field(default="", repr=False)


def _as_list(value: Any, key: str) -> list[Any]:
    if isinstance(value, list):
        if not value:
            raise RunnerError(f"sweep list {key!r} is empty")
        return value
    return [value]


def expand_sweep(config: Mapping[str, Any]) -> list[RunSpec]:
    """Expand a parsed sweep mapping into run specs.

    Parameters
    ----------
    config : mapping
        The parsed TOML (``sweep``, ``defaults`` and ``grid`` or ``isoflop`` tables).

    Returns
    -------
    list of RunSpec

    Examples
    --------
    >>> cfg = {"sweep": {"kind": "grid"}, "grid": {"n_layer": [1, 2], "steps": [5, 10]}}
    >>> len(expand_sweep(cfg))
    4
    """
    meta = dict(config.get("sweep", {}))
    kind = meta.get("kind", "isoflop" if "isoflop" in config else "grid")
    seeds = _as_list(meta.get("seeds", [0]), "seeds")
    defaults = dict(config.get("defaults", {}))
    specs: list[RunSpec] = []
    if kind == "grid":
        raw = config.get("grid", {})
        tables = [dict(t) for t in raw] if isinstance(raw, list) else [dict(raw)]
        if not tables or not all(tables):
            raise RunnerError("a grid sweep needs a [grid] table (or [[grid]] tables)")
        for seed in seeds:
            for grid in tables:
                keys = sorted(grid)
                lists = [_as_list(grid[k], k) for k in keys]
                for combo in itertools.product(*lists):
                    data = {**defaults, **dict(zip(keys, combo, strict=True)), "seed": seed}
                    specs.append(RunSpec.from_dict(data))
    elif kind == "isoflop":
        iso = dict(config.get("isoflop", {}))
        budgets = [float(b) for b in _as_list(iso.pop("budgets", []), "budgets")]
        convention = str(iso.pop("convention", "flops"))
        if convention not in ISOFLOP_CONVENTIONS:
            raise RunnerError(
                f"[isoflop] convention must be one of {', '.join(ISOFLOP_CONVENTIONS)}, "
                f"not {convention!r}"
            )
        tolerance = float(iso.pop("tolerance", ISOFLOP_TOLERANCE))
        rest = sorted(iso)
        lists = [_as_list(iso[k], k) for k in rest]
        for seed in seeds:
            for budget in budgets:
                for combo in itertools.product(*lists):
                    data = {**defaults, **dict(zip(rest, combo, strict=True)), "seed": seed}
                    data.pop("steps", None)
                    data.pop("tokens", None)
                    specs.append(_isoflop_spec(data, budget, convention, tolerance))
    elif kind == "list":
        raw = config.get("list", [])
        entries = [dict(t) for t in raw] if isinstance(raw, list) else [dict(raw)]
        if not entries or not all(entries):
            raise RunnerError("a list sweep needs [[list]] tables, one per run")
        for seed in seeds:
            for entry in entries:
                data = {**defaults, **entry, "seed": seed}
                specs.append(_sized_spec(data) if "params" in data else RunSpec.from_dict(data))
    else:
        raise RunnerError(f"sweep kind must be 'grid', 'isoflop' or 'list', not {kind!r}")
    return specs


#: Deepest network a ``params`` entry of a list sweep may resolve to.
MAX_LIST_LAYERS: int = 128


def _sized_spec(data: dict[str, Any]) -> RunSpec:
    """A list-sweep run given by its total parameters: the depth whose count is nearest.

    Depth sets the width through the shape rule (``aspect_ratio``, ``head_dim``, or a fixed
    ``d_model``); the count uses the corpus's real vocabulary and the run's context length,
    and the nearest count is taken on the log scale.
    """
    from bayescale.runner.data import corpus_vocab_size

    data = dict(data)
    target = data.pop("params")
    if "n_layer" in data:
        raise RunnerError("a list run gives params or n_layer, not both")
    try:
        target = float(target)
    except (TypeError, ValueError):
        raise RunnerError(f"params must be a number, got {target!r}") from None
    if not (target == target and target > 0):
        raise RunnerError(f"params must be positive, got {target!r}")
    base = RunSpec.from_dict({**data, "n_layer": 1, "steps": 1})
    vocab = corpus_vocab_size(base.corpus, base.tokenizer)
    best, best_gap = 1, float("inf")
    for depth in range(1, MAX_LIST_LAYERS + 1):
        shaped = RunSpec.from_dict({**data, "n_layer": depth, "steps": 1}).resolved(vocab)
        n = count_params(
            n_layer=depth,
            d_model=shaped.d_model,
            vocab_size=vocab,
            seq_len=shaped.seq_len,
            tied=shaped.tied,
            bias=shaped.bias,
        ).total
        gap = abs(math.log(n / target))
        if gap < best_gap:
            best, best_gap = depth, gap
        if n > target:
            break
    return RunSpec.from_dict({**data, "n_layer": best})


def _isoflop_spec(
    data: dict[str, Any], budget: float, convention: str, tolerance: float
) -> RunSpec:
    """The run of one isoFLOP point: whole steps whose compute is closest to ``budget``.

    The parameter count uses the corpus's real vocabulary (read from the tokenizer or the
    token file's metadata, see :func:`bayescale.runner.data.corpus_vocab_size`) and the
    run's own context length, and the budget is met in ``convention``.
    """
    from bayescale.runner.counting import count_flops
    from bayescale.runner.data import corpus_vocab_size

    base = RunSpec.from_dict({**data, "steps": 1})
    vocab = corpus_vocab_size(base.corpus, base.tokenizer)
    base = base.resolved(vocab)
    n = count_params(
        n_layer=base.n_layer,
        d_model=base.d_model,
        vocab_size=vocab,
        seq_len=base.seq_len,
        tied=base.tied,
        bias=base.bias,
    )
    per_token = count_flops(
        n, n_layer=base.n_layer, d_model=base.d_model, seq_len=base.seq_len, tokens=1.0
    ).as_dict()[convention]
    tps = base.tokens_per_step
    steps = max(1, round(budget / (per_token * tps)))
    actual = per_token * steps * tps
    if abs(actual / budget - 1) > tolerance:
        raise RunnerError(
            f"isoFLOP budget {budget:g} with n_layer={base.n_layer} (d_model={base.d_model}, "
            f"vocab {vocab}): {steps} whole step(s) of {tps} tokens give {actual:.4g} "
            f"{convention}, {100 * (actual / budget - 1):+.1f}% off (tolerance "
            f"{100 * tolerance:g}%); use a bigger budget or a smaller batch_size"
        )
    return RunSpec.from_dict({**data, "tokens": steps * tps})


def parse_sweep(text: str, name: str = "sweep") -> Sweep:
    """Parse sweep TOML text.

    Parameters
    ----------
    text : str
        TOML.
    name : str
        Fallback name when ``[sweep] name`` is absent.

    Returns
    -------
    Sweep
    """
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RunnerError(f"{name}: not valid TOML ({exc})") from None
    specs = expand_sweep(config)
    sweep_name = str(config.get("sweep", {}).get("name", name))
    return Sweep(name=sweep_name, specs=tuple(specs), source=text)


def load_sweep(path: str | Path) -> Sweep:
    """Read a sweep file or a preset name (``smoke``).

    Parameters
    ----------
    path : str or pathlib.Path
        A TOML file, or the name of a preset in :data:`PRESETS`.

    Returns
    -------
    Sweep
    """
    if str(path) in PRESETS:
        return parse_sweep(PRESETS[str(path)], name=str(path))
    p = Path(path)
    if not p.is_file():
        raise RunnerError(f"{p}: no such sweep file")
    return parse_sweep(p.read_text(encoding="utf-8"), name=p.stem)


#: Built-in sweeps. ``smoke`` trains 4 tiny runs on the CPU in well under two minutes.
PRESETS: dict[str, str] = {
    "smoke": """\
[sweep]
name = "smoke"
kind = "grid"
seeds = [0]

[defaults]
corpus = "stdlib"
seq_len = 32
batch_size = 16
micro_batches = 2
learning_rate = 3e-3
eval_tokens = 2048
final_eval_tokens = 8192
aspect_ratio = 16
head_dim = 16

[grid]
n_layer = [1, 2]
tokens = [16384, 49152]
""",
}
