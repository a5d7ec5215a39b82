"""The Kaplan et al. (2020) family of laws and the McCandlish et al. (2018) batch relations.

Parameter counts are non-embedding (Kaplan's N); compute is in FLOP (Kaplan quotes PF-days:
multiply by :data:`bayescale.constants.PF_DAY`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bayescale.constants import FLOPS_PER_PARAM_TOKEN
from bayescale.laws.base import Law, Prefactor, register_law

__all__ = [
    "KAPLAN_NS_BUDGET_FACTOR",
    "alpha_c_min",
    "c_min",
    "critical_batch",
    "e_min",
    "kaplan_loss_c",
    "kaplan_loss_d",
    "kaplan_loss_n",
    "kaplan_loss_nd",
    "kaplan_loss_ns",
    "kaplan_ns_optimal",
    "kaplan_optimal_exponent",
    "s_min",
]

#: Training at B = B_crit takes S = 2·S_min steps: C = 2·C_min = 12·N·B·S_min (McCandlish et
#: al. 2018; Kaplan et al. 2020, §6).
KAPLAN_NS_BUDGET_FACTOR: float = 2.0


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


def kaplan_optimal_exponent(*, alpha_N: Any, alpha_D: Any) -> Any:
    """Exponent ``a = α_D/(α_N + α_D)`` of ``N_opt ∝ C^a`` implied by L(N, D) (eq. 1.5).

    Examples
    --------
    >>> round(kaplan_optimal_exponent(alpha_N=0.076, alpha_D=0.103), 3)
    0.575
    """
    return alpha_D / (alpha_N + alpha_D)


def kaplan_ns_optimal(
    flops: Any,
    *,
    N_c: Any,
    S_c: Any,
    alpha_N: Any,
    alpha_S: Any,
    B_star: Any,
    alpha_B: Any,
) -> dict[str, Any]:
    """Closed-form compute-efficient N, B, S of L(N, S_min) with ``B_crit(L) = B*/L^(1/α_B)``.

    Training at ``B = B_crit`` for ``S = 2·S_min`` steps costs ``C = 12·N·B_crit·S_min``
    (McCandlish et al. 2018). Minimising ``C_min`` over ``N`` at a fixed loss splits the loss
    as ``(N_c/N)^α_N = L·α_S/(α_N + α_S)`` and ``(S_c/S_min)^α_S = L·α_N/(α_N + α_S)``, so
    ``L(C) = (C_c/C_min)^α_C`` with ``α_C^min = 1/(1/α_S + 1/α_B + 1/α_N)`` (Kaplan et al.
    2020, §6 and App. B.2).

    Parameters
    ----------
    flops : array-like
        Budgets ``C = 12·N·B_crit·S_min`` in FLOP (numpy or xarray, broadcast by name).
    N_c, S_c, alpha_N, alpha_S, B_star, alpha_B : array-like
        Parameters of L(N, S_min) and B_crit(L).

    Returns
    -------
    dict
        ``params_opt``, ``tokens_opt`` (= B·S), ``loss_opt``, ``batch_opt`` (= B_crit,
        tokens), ``steps_opt`` (= 2·S_min), ``steps_min`` and ``alpha_C_min``.

    Examples
    --------
    >>> kaplan = dict(N_c=6.5e13, S_c=2.1e3, alpha_N=0.077, alpha_S=0.76, B_star=2.1e8,
    ...               alpha_B=0.21)
    >>> a, b = kaplan_ns_optimal(1e21, **kaplan), kaplan_ns_optimal(1e23, **kaplan)
    >>> round(float(np.log(b["params_opt"] / a["params_opt"]) / np.log(100)), 3)  # α_C/α_N
    0.681
    """
    a_c = alpha_c_min(alpha_S=alpha_S, alpha_B=alpha_B, alpha_N=alpha_N)
    f_n = alpha_S / (alpha_N + alpha_S)
    f_s = alpha_N / (alpha_N + alpha_S)
    log_k = (
        np.log(KAPLAN_NS_BUDGET_FACTOR * FLOPS_PER_PARAM_TOKEN)
        + np.log(N_c)
        + np.log(S_c)
        + np.log(B_star)
        - np.log(f_n) / alpha_N
        - np.log(f_s) / alpha_S
    )
    log_loss = a_c * (log_k - np.log(flops))
    loss = np.exp(log_loss)
    params = N_c * np.exp(-(np.log(f_n) + log_loss) / alpha_N)
    steps_min = S_c * np.exp(-(np.log(f_s) + log_loss) / alpha_S)
    batch = B_star * np.exp(-log_loss / alpha_B)
    steps = KAPLAN_NS_BUDGET_FACTOR * steps_min
    return {
        "params_opt": params,
        "tokens_opt": batch * steps,
        "loss_opt": loss,
        "batch_opt": batch,
        "steps_opt": steps,
        "steps_min": steps_min,
        "alpha_C_min": a_c + 0.0 * log_loss,
    }


for _law in (
    Law(
        name="kaplan",
        loss=kaplan_loss_nd,
        description="L = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D (Kaplan et al. 2020)",
        params_kind="non_embedding",
        prefactors={"N_c": Prefactor("params"), "D_c": Prefactor("tokens")},
        published_fits=("kaplan2020_nd",),
        citation="Kaplan et al. 2020, arXiv:2001.08361, eq. 1.5",
        optimal_exponent=kaplan_optimal_exponent,
    ),
    Law(
        name="kaplan_n",
        loss=kaplan_loss_n,
        description="L = (N_c/N)^alpha_N (Kaplan et al. 2020)",
        params_kind="non_embedding",
        prefactors={"N_c": Prefactor("params")},
        published_fits=("kaplan2020_n",),
        citation="Kaplan et al. 2020, arXiv:2001.08361, eq. 1.1",
    ),
    Law(
        name="kaplan_d",
        loss=kaplan_loss_d,
        description="L = (D_c/D)^alpha_D (Kaplan et al. 2020)",
        params_kind="non_embedding",
        prefactors={"D_c": Prefactor("tokens")},
        published_fits=("kaplan2020_d",),
        citation="Kaplan et al. 2020, arXiv:2001.08361, eq. 1.2",
    ),
    Law(
        name="kaplan_c",
        loss=kaplan_loss_c,
        description="L = (C_c/C)^alpha_C, C in FLOP (Kaplan et al. 2020)",
        params_kind="non_embedding",
        prefactors={"C_c": Prefactor("flops")},
        published_fits=("kaplan2020_cmin",),
        citation="Kaplan et al. 2020, arXiv:2001.08361, eq. 1.3 (C_min form)",
    ),
    Law(
        name="kaplan_ns",
        loss=kaplan_loss_ns,
        description="L = (N_c/N)^alpha_N + (S_c/S_min)^alpha_S (Kaplan et al. 2020)",
        params_kind="non_embedding",
        prefactors={"N_c": Prefactor("params"), "S_c": Prefactor("steps")},
        published_fits=("kaplan2020_ns",),
        citation="Kaplan et al. 2020, arXiv:2001.08361, eq. 1.6",
    ),
):
    register_law(_law)
