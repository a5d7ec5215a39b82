"""Gradient noise scale (McCandlish et al. 2018, App. A.1) from two batch sizes.

Within one optimizer step of ``k`` micro-batches of ``b`` sequences, the runner records

* ``g2_small``: the mean over micro-batches of ``|g_i|²`` (batch ``B_small = b``), and
* ``g2_big``: ``|mean_i g_i|²`` (batch ``B_big = k·b``),

before clipping, in fp32. Both are unbiased for ``|G|² + tr(Σ)/B`` at their batch size, so

* ``|G|² ≈ (B_big·g2_big − B_small·g2_small) / (B_big − B_small)``
* ``tr(Σ) ≈ (g2_small − g2_big) / (1/B_small − 1/B_big)``

and ``B_simple = tr(Σ)/|G|²`` is estimated as a *ratio of averages* over steps (the average of
per-step ratios is biased). The raw statistics are kept so a Bayesian model can use them. The
micro-batch split follows Composer's ``NoiseScaleMonitor`` idea (no code copied).

Examples
--------
>>> import numpy as np
>>> from bayescale.runner.noise import noise_scale_simple
>>> round(noise_scale_simple(np.array([3.0]), np.array([2.0]), b_small=1, b_big=2), 6)
2.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["MicroGradNorms", "noise_components", "noise_scale_simple"]


def noise_components(
    g2_small: np.ndarray | Sequence[float],
    g2_big: np.ndarray | Sequence[float],
    *,
    b_small: float,
    b_big: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-step unbiased estimates of ``|G|²`` and ``tr(Σ)``.

    Parameters
    ----------
    g2_small, g2_big : array-like
        Squared gradient norms at batch sizes ``b_small`` and ``b_big``.
    b_small, b_big : float
        The two batch sizes (any consistent unit: sequences or tokens).

    Returns
    -------
    (g2, trace) : tuple of numpy.ndarray
        Estimates of ``|G|²`` and ``tr(Σ)`` in the unit of the batch sizes.

    Examples
    --------
    >>> g2, tr = noise_components([3.0], [2.0], b_small=1, b_big=2)
    >>> float(g2[0]), float(tr[0])
    (1.0, 2.0)
    """
    if not b_big > b_small > 0:
        raise ValueError("need 0 < b_small < b_big")
    s = np.asarray(g2_small, dtype=float)
    b = np.asarray(g2_big, dtype=float)
    g2 = (b_big * b - b_small * s) / (b_big - b_small)
    trace = (s - b) / (1.0 / b_small - 1.0 / b_big)
    return g2, trace


def noise_scale_simple(
    g2_small: np.ndarray | Sequence[float],
    g2_big: np.ndarray | Sequence[float],
    *,
    b_small: float,
    b_big: float,
) -> float:
    """Ratio-of-averages estimate of ``B_simple = tr(Σ)/|G|²`` (unit of the batch sizes).

    Parameters
    ----------
    g2_small, g2_big : array-like
        Squared gradient norms at the two batch sizes, one entry per measured step.
    b_small, b_big : float
        The batch sizes.

    Returns
    -------
    float
        ``mean(tr Σ) / mean(|G|²)``; ``nan`` when there are no steps or the mean ``|G|²``
        estimate is not positive.
    """
    g2, trace = noise_components(g2_small, g2_big, b_small=b_small, b_big=b_big)
    if g2.size == 0:
        return float("nan")
    mg = float(np.mean(g2))
    return float(np.mean(trace)) / mg if mg > 0 else float("nan")


class MicroGradNorms:
    """Accumulate micro-batch gradient norms while ``.grad`` accumulates as usual.

    Call :meth:`after_backward` after each micro-batch's ``backward()`` of a loss scaled by
    ``1/k``; then :meth:`finish` returns ``(g2_small, g2_big)`` for the step. It keeps one
    fp32 copy of the gradient to take differences, so the training loop itself is unchanged.

    Parameters
    ----------
    params : sequence of torch.Tensor
        The parameters whose ``.grad`` accumulate.
    k : int
        Micro-batches per step.
    """

    def __init__(self, params: Sequence[torch.Tensor], k: int) -> None:
        self.params = [p for p in params if p.requires_grad]
        self.k = k
        self._prev: list[torch.Tensor] | None = None
        self._small: torch.Tensor | None = None  # on the parameters' device: no host sync
        self.count = 0

    @property
    def sum_small(self) -> float:
        """Sum over this step's micro-batches of ``|g_i|²`` (one host sync)."""
        return float(self._small) if self._small is not None else 0.0

    def small_sum_tensor(self) -> torch.Tensor:
        """``[sum of |g_i|², count]`` as a float64 tensor on the parameters' device."""
        import torch

        if self._small is None:
            raise RuntimeError("after_backward was never called")
        return torch.stack([self._small, torch.full_like(self._small, float(self.count))])

    def after_backward(self) -> None:
        """Record ``|g_i|²`` of the micro-batch whose backward just ran."""
        import torch

        grads = [
            p.grad.detach().float() if p.grad is not None else torch.zeros_like(p)
            for p in self.params
        ]
        if self._prev is None:
            diff = grads
            self._prev = [g.clone() for g in grads]
        else:
            diff = list(torch._foreach_sub(grads, self._prev))
            for dst, src in zip(self._prev, grads, strict=True):
                dst.copy_(src)
        sq = torch.stack(torch._foreach_norm(diff)).double().pow(2).sum()
        sq = sq * (self.k * self.k)  # undo the 1/k loss scaling
        self._small = sq if self._small is None else self._small + sq
        self.count += 1

    def finish(self) -> tuple[float, float]:
        """Return ``(g2_small, g2_big)`` for the step and reset."""
        if self._prev is None or self.count == 0:
            raise RuntimeError("after_backward was never called")
        import torch

        big = float(torch.stack(torch._foreach_norm(self._prev)).pow(2).sum())
        small = self.sum_small / self.count
        self.reset()
        return small, big

    def reset(self) -> None:
        """Forget the current step's statistics."""
        self._prev = None
        self._small = None
        self.count = 0
