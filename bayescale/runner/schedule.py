"""Learning-rate schedules (pure Python, no torch).

* ``cosine`` (Chinchilla, Hoffmann et al. 2022, App. B): linear warm-up, then cosine decay to
  ``min_ratio`` (default 10 %) of the peak, with the cosine length equal to the run's own steps.
* ``kaplan`` (Kaplan et al. 2020): 3,000-step linear warm-up, cosine to zero over ``horizon``
  steps (default: the run's steps).
* ``wsd`` (warm-up-stable-decay, Hägele et al. 2024): warm-up, constant, then a linear
  cool-down over the last ``decay_frac`` of the run to ``min_ratio`` of the peak.

Examples
--------
>>> from bayescale.runner.schedule import lr_at
>>> lr_at(99, peak=1.0, steps=100, warmup=10, kind="cosine")
0.1
"""

from __future__ import annotations

import math

__all__ = ["KAPLAN_WARMUP", "SCHEDULES", "auto_warmup", "lr_at"]

SCHEDULES: tuple[str, ...] = ("cosine", "kaplan", "wsd", "constant")
#: Kaplan et al. (2020) warm-up length in steps.
KAPLAN_WARMUP: int = 3000


def auto_warmup(params_total: int, tokens_per_step: int, steps: int) -> int:
    """Porian et al. (2024) warm-up rule: about N tokens, at most 10 % of the run.

    Parameters
    ----------
    params_total : int
        Total parameters.
    tokens_per_step : int
        Tokens per optimizer step.
    steps : int
        Length of the run.

    Returns
    -------
    int
        Warm-up steps, at least 1.

    Examples
    --------
    >>> auto_warmup(100_000, 2048, 1000)
    48
    """
    return max(1, min(params_total // max(tokens_per_step, 1), steps // 10))


def lr_at(
    step: int,
    *,
    peak: float,
    steps: int,
    warmup: int,
    kind: str = "cosine",
    min_ratio: float = 0.1,
    horizon: int | None = None,
    decay_frac: float = 0.2,
) -> float:
    """Learning rate used for the update at 0-based ``step``.

    Parameters
    ----------
    step : int
        0-based optimizer step (the last update of a run is ``steps - 1``).
    peak : float
        Peak learning rate.
    steps : int
        Steps in the run.
    warmup : int
        Linear warm-up steps (the rate reaches ``peak`` at step ``warmup - 1``).
    kind : {"cosine", "kaplan", "wsd", "constant"}
        Schedule family.
    min_ratio : float, default 0.1
        Final rate as a fraction of ``peak`` (``cosine`` and ``wsd``; ``kaplan`` decays to 0).
    horizon : int, optional
        ``kaplan`` only: the cosine length (defaults to ``steps``).
    decay_frac : float, default 0.2
        ``wsd`` only: fraction of the run spent in the cool-down.

    Returns
    -------
    float

    Examples
    --------
    >>> round(lr_at(0, peak=1.0, steps=100, warmup=10), 3)
    0.1
    """
    if kind not in SCHEDULES:
        raise ValueError(f"unknown schedule {kind!r}; choose one of {', '.join(SCHEDULES)}")
    if warmup > 0 and step < warmup:
        return peak * (step + 1) / warmup
    if kind == "constant":
        return peak
    if kind == "wsd":
        n_decay = max(1, round(decay_frac * steps))
        start = steps - n_decay
        if step < start:
            return peak
        frac = (step - start + 1) / n_decay
        return peak * (1.0 - (1.0 - min_ratio) * frac)
    if kind == "kaplan":
        length = (horizon or steps) - warmup
        floor = 0.0
    else:
        length = steps - warmup
        floor = min_ratio
    if length <= 1:
        return peak * floor if kind == "cosine" and step >= steps - 1 else peak
    frac = min(1.0, (step - warmup) / (length - 1))
    return peak * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * frac)))
