"""The Kaplan et al. (2020) family of laws and the McCandlish et al. (2018) batch relations.

Parameter counts are non-embedding (Kaplan's N); compute is in FLOP (Kaplan quotes PF-days:
multiply by :data:`bayescale.constants.PF_DAY`).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "alpha_c_min",
    "c_min",
    "critical_batch",
    "e_min",
    "kaplan_loss_c",
    "kaplan_loss_d",
    "kaplan_loss_n",
    "kaplan_loss_nd",
    "kaplan_loss_ns",
    "s_min",
]


def kaplan_loss_n(params: Any, *, N_c: Any, alpha_N: Any) -> Any:
    """L(N) = (N_c / N)^α_N, converged loss of a model with N non-embedding parameters.

    Examples
    --------
    >>> round(float(kaplan_loss_n(1e9, N_c=8.8e13, alpha_N=0.076)), 3)
    2.376
    """
    return (N_c / params) ** alpha_N


def kaplan_loss_d(tokens: Any, *, D_c: Any, alpha_D: Any) -> Any:
    """L(D) = (D_c / D)^α_D, loss of a large model trained on D tokens with early stopping.

    Examples
    --------
    >>> round(float(kaplan_loss_d(1e10, D_c=5.4e13, alpha_D=0.095)), 3)
    2.262
    """
    return (D_c / tokens) ** alpha_D


def kaplan_loss_c(flops: Any, *, C_c: Any, alpha_C: Any) -> Any:
    """L(C) = (C_c / C)^α_C, loss on the compute-efficient frontier (C in FLOP).

    Examples
    --------
    >>> from bayescale.constants import PF_DAY
    >>> round(float(kaplan_loss_c(1.0 * PF_DAY, C_c=3.1e8 * PF_DAY, alpha_C=0.050)), 3)
    2.658
    """
    return (C_c / flops) ** alpha_C


def kaplan_loss_nd(
    params: Any, tokens: Any, *, N_c: Any, D_c: Any, alpha_N: Any, alpha_D: Any
) -> Any:
    """L(N, D) = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D (Kaplan et al. 2020, eq. 1.5).

    Examples
    --------
    >>> round(float(kaplan_loss_nd(1e9, 2e10, N_c=6.4e13, D_c=1.8e13,
    ...                            alpha_N=0.076, alpha_D=0.103)), 3)
    2.374
    """
    return ((N_c / params) ** (alpha_N / alpha_D) + D_c / tokens) ** alpha_D


def kaplan_loss_ns(
    params: Any, steps: Any, *, N_c: Any, S_c: Any, alpha_N: Any, alpha_S: Any
) -> Any:
    """L(N, S_min) = (N_c/N)^α_N + (S_c/S_min)^α_S (Kaplan et al. 2020, eq. 1.6).

    ``steps`` must be S_min, the steps at a batch far below B_crit (see :func:`s_min`).

    Examples
    --------
    >>> round(float(kaplan_loss_ns(1e9, 1e5, N_c=6.5e13, S_c=2.1e3,
    ...                            alpha_N=0.077, alpha_S=0.76)), 3)
    2.401
    """
    return (N_c / params) ** alpha_N + (S_c / steps) ** alpha_S


def critical_batch(loss: Any, *, B_star: Any, alpha_B: Any) -> Any:
    """B_crit(L) = B* / L^(1/α_B), critical batch size in tokens.

    Examples
    --------
    >>> round(float(critical_batch(3.0, B_star=2.1e8, alpha_B=0.21)) / 1e6, 3)
    1.123
    """
    return B_star / loss ** (1.0 / alpha_B)


def s_min(steps: Any, batch_size: Any, b_crit: Any) -> Any:
    """S_min = S / (1 + B_crit / B): the fewest steps that reach the same loss.

    Examples
    --------
    >>> float(s_min(1000.0, 1e6, 1e6))
    500.0
    """
    return steps / (1.0 + b_crit / batch_size)


def e_min(tokens: Any, batch_size: Any, b_crit: Any) -> Any:
    """E_min = E / (1 + B / B_crit): the fewest tokens that reach the same loss.

    Examples
    --------
    >>> float(e_min(1e9, 1e6, 1e6))
    500000000.0
    """
    return tokens / (1.0 + batch_size / b_crit)


def c_min(flops: Any, batch_size: Any, b_crit: Any) -> Any:
    """C_min = C / (1 + B / B_crit(L)): compute at a batch far below B_crit.

    Examples
    --------
    >>> float(c_min(2e18, 1e6, 1e6))
    1e+18
    """
    return flops / (1.0 + batch_size / b_crit)


def alpha_c_min(*, alpha_S: Any, alpha_B: Any, alpha_N: Any) -> Any:
    """α_C^min = 1 / (1/α_S + 1/α_B + 1/α_N), the compute-efficient frontier's exponent.

    Examples
    --------
    >>> round(alpha_c_min(alpha_S=0.76, alpha_B=0.21, alpha_N=0.076), 4)
    0.052
    """
    return 1.0 / (1.0 / alpha_S + 1.0 / alpha_B + 1.0 / alpha_N)
