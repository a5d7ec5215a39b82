"""A GPT-style decoder for scaling-law runs (imports torch; load it lazily).

Pre-LN blocks, GELU MLP with ``d_ff = 4·d_model``, ``d_attn = d_model``, a fixed head size,
learned positions and an untied output head by default. Attention uses
:func:`torch.nn.functional.scaled_dot_product_attention` (fused kernels on CUDA), or a plain
matmul path (``attn_impl="manual"``) whose FLOPs :class:`torch.utils.flop_counter.FlopCounterMode`
can count exactly. The layout follows the ideas of nanoGPT and minGPT (no code copied).

Examples
--------
>>> import torch
>>> from bayescale.runner.model import GPT, GPTConfig
>>> m = GPT(GPTConfig(n_layer=1, d_model=32, n_head=2, vocab_size=256, seq_len=16))
>>> m(torch.zeros(2, 16, dtype=torch.long)).shape
torch.Size([2, 16, 256])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["GPT", "GPTConfig", "shape_for"]


@dataclass(frozen=True)
class GPTConfig:
    """Shape of a :class:`GPT`.

    Attributes
    ----------
    n_layer, d_model, n_head : int
        Depth, width and number of heads (``d_model`` divisible by ``n_head``).
    vocab_size, seq_len : int
        Vocabulary and context length.
    tied : bool
        Share the token embedding with the output head.
    bias : bool
        Biases in the linear layers.
    dropout : float
        Dropout on attention output and MLP output.
    attn_impl : {"sdpa", "manual"}
        Fused attention or plain matmuls (for FLOP checks).
    init_std : float
        Standard deviation of the normal initialisation.
    """

    n_layer: int
    d_model: int
    n_head: int
    vocab_size: int = 256
    seq_len: int = 64
    tied: bool = False
    bias: bool = False
    dropout: float = 0.0
    attn_impl: str = "sdpa"
    init_std: float = 0.02


def shape_for(n_layer: int, *, aspect_ratio: int = 24, head_dim: int = 24) -> tuple[int, int]:
    """Width and head count from depth at a fixed aspect ratio and head size.

    Parameters
    ----------
    n_layer : int
        Depth.
    aspect_ratio : int, default 24
        ``d_model = aspect_ratio·n_layer``, rounded up to a multiple of ``head_dim``.
    head_dim : int, default 24
        Fixed head size.

    Returns
    -------
    (d_model, n_head) : tuple of int

    Examples
    --------
    >>> shape_for(3)
    (72, 3)
    """
    d = aspect_ratio * n_layer
    d = max(head_dim, math.ceil(d / head_dim) * head_dim)
    return d, d // head_dim


class _Attention(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        if cfg.d_model % cfg.n_head:
            raise ValueError("d_model must be divisible by n_head")
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=cfg.bias)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=cfg.bias)
        self.dropout = cfg.dropout
        self.manual = cfg.attn_impl == "manual"
        if cfg.attn_impl not in ("sdpa", "manual"):
            raise ValueError(f"attn_impl must be 'sdpa' or 'manual', not {cfg.attn_impl!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)
        hd = d // self.n_head
        q = q.view(b, t, self.n_head, hd).transpose(1, 2)
        k = k.view(b, t, self.n_head, hd).transpose(1, 2)
        v = v.view(b, t, self.n_head, hd).transpose(1, 2)
        p = self.dropout if self.training else 0.0
        if self.manual:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
            mask = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
            att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
            if p:
                att = F.dropout(att, p)
            y = att @ v
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=p)
        y = y.transpose(1, 2).reshape(b, t, d)
        return F.dropout(self.proj(y), p, self.training) if p else self.proj(y)


class _Block(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = _Attention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.fc = nn.Linear(cfg.d_model, 4 * cfg.d_model, bias=cfg.bias)
        self.out = nn.Linear(4 * cfg.d_model, cfg.d_model, bias=cfg.bias)
        self.dropout = cfg.dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        h = self.out(F.gelu(self.fc(self.ln2(x))))
        if self.dropout and self.training:
            h = F.dropout(h, self.dropout)
        return x + h


class GPT(nn.Module):
    """Decoder-only transformer returning logits of shape ``(batch, time, vocab)``.

    Parameters
    ----------
    cfg : GPTConfig
        The shape.
    """

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos = nn.Embedding(cfg.seq_len, cfg.d_model)
        self.blocks = nn.ModuleList(_Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tied:
            self.head.weight = self.tok.weight
        self.apply(self._init)
        # GPT-2 style scaled init of residual projections
        for name, p in self.named_parameters():
            if name.endswith(("attn.proj.weight", "out.weight")):
                nn.init.normal_(p, 0.0, cfg.init_std / math.sqrt(2 * cfg.n_layer))

    def _init(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, 0.0, self.cfg.init_std)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits for token ids ``idx`` of shape ``(batch, time)``."""
        t = idx.shape[1]
        pos = torch.arange(t, device=idx.device)
        x = self.tok(idx) + self.pos(pos)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))

    def loss(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy in nats per token (computed in fp32)."""
        logits = self(idx)
        return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), targets.reshape(-1))

    def num_params(self) -> int:
        """Distinct parameter elements (tied weights counted once)."""
        return sum(p.numel() for p in self.parameters())
