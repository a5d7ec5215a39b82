"""Parameter and FLOP counting conventions for the runner's GPT shapes (pure Python).

Every run row records all of them, because the convention alone moves fitted exponents
(Pearce & Song 2024; Porian et al. 2024). Formulas follow Kaplan et al. (2020), Table 1, and
the PaLM / nanoGPT MFU form; see ``docs/runner.md``.

Examples
--------
>>> from bayescale.runner.counting import count_params
>>> c = count_params(n_layer=2, d_model=64, vocab_size=256, seq_len=64)
>>> c.kaplan == 12 * 2 * 64**2
True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from bayescale.constants import PF_DAY

__all__ = ["FlopCounts", "ParamCounts", "count_flops", "count_params"]


@dataclass(frozen=True)
class ParamCounts:
    """Parameter counts of one GPT shape under every convention.

    Attributes
    ----------
    kaplan : int
        Kaplan's formula ``12·n_layer·d_model²`` (no biases, no LayerNorm).
    nonembedding : int
        Exact count of all parameters except the token and position tables and the head.
    with_head : int
        ``nonembedding`` plus the output head ``V·d`` (counted even when tied).
    total : int
        Every distinct parameter tensor element (tied weights counted once).
    matmul : int
        Weights that take part in a matmul: ``12·L·d²`` plus the head ``V·d``.
    embedding : int
        Token plus position tables.
    """

    kaplan: int
    nonembedding: int
    with_head: int
    total: int
    matmul: int
    embedding: int

    def as_dict(self) -> dict[str, int]:
        """Return the counts as a plain dictionary."""
        return asdict(self)


@dataclass(frozen=True)
class FlopCounts:
    """Training FLOPs of one run under every convention.

    Attributes
    ----------
    flops : float
        ``6·N_total·D`` (Chinchilla / Pearce & Song: total parameters).
    flops_kaplan : float
        ``6·N_nonembedding·D`` (Kaplan's C = 6ND).
    flops_context : float
        ``(6·N_nonembedding + 6·n_layer·n_ctx·d_model)·D`` (Kaplan with the context term).
    flops_palm : float
        ``(6·N_matmul + 12·n_layer·n_ctx·d_model)·D`` (PaLM / nanoGPT MFU form).
    """

    flops: float
    flops_kaplan: float
    flops_context: float
    flops_palm: float

    def as_dict(self) -> dict[str, float]:
        """Return the counts plus their PF-day versions as a plain dictionary."""
        out = asdict(self)
        out["pf_days"] = self.flops / PF_DAY
        out["pf_days_kaplan"] = self.flops_kaplan / PF_DAY
        out["pf_days_context"] = self.flops_context / PF_DAY
        out["pf_days_palm"] = self.flops_palm / PF_DAY
        return out


def count_params(
    *,
    n_layer: int,
    d_model: int,
    vocab_size: int,
    seq_len: int,
    tied: bool = False,
    bias: bool = False,
) -> ParamCounts:
    """Count the parameters of :class:`bayescale.runner.model.GPT` analytically.

    Parameters
    ----------
    n_layer, d_model : int
        Depth and width (``d_ff = 4·d_model``, ``d_attn = d_model``).
    vocab_size, seq_len : int
        Vocabulary size and context length (learned positions).
    tied : bool, default False
        Whether the output head shares the token-embedding matrix.
    bias : bool, default False
        Whether the linear layers have biases (LayerNorms always have weight and bias).

    Returns
    -------
    ParamCounts

    Examples
    --------
    >>> count_params(n_layer=1, d_model=32, vocab_size=256, seq_len=64).total
    30912
    """
    L, d, V, T = n_layer, d_model, vocab_size, seq_len
    per_layer = 12 * d * d + 2 * 2 * d  # qkv + proj + mlp, two LayerNorms
    if bias:
        per_layer += 3 * d + d + 4 * d + d
    nonemb = L * per_layer + 2 * d  # final LayerNorm
    head = V * d
    emb = V * d + T * d
    total = nonemb + emb + (0 if tied else head)
    return ParamCounts(
        kaplan=12 * L * d * d,
        nonembedding=nonemb,
        with_head=nonemb + head,
        total=total,
        matmul=12 * L * d * d + head,
        embedding=emb,
    )


def count_flops(
    params: ParamCounts, *, n_layer: int, d_model: int, seq_len: int, tokens: float
) -> FlopCounts:
    """Training FLOPs of ``tokens`` tokens under every convention.

    Parameters
    ----------
    params : ParamCounts
        From :func:`count_params`.
    n_layer, d_model, seq_len : int
        The shape (the context term uses ``n_ctx = seq_len``).
    tokens : float
        Training tokens ``D``.

    Returns
    -------
    FlopCounts

    Examples
    --------
    >>> p = count_params(n_layer=2, d_model=64, vocab_size=256, seq_len=64)
    >>> f = count_flops(p, n_layer=2, d_model=64, seq_len=64, tokens=1000)
    >>> f.flops == 6 * p.total * 1000
    True
    """
    ctx = n_layer * seq_len * d_model
    return FlopCounts(
        flops=6.0 * params.total * tokens,
        flops_kaplan=6.0 * params.nonembedding * tokens,
        flops_context=(6.0 * params.nonembedding + 6.0 * ctx) * tokens,
        flops_palm=(6.0 * params.matmul + 12.0 * ctx) * tokens,
    )
