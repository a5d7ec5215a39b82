"""The Chinchilla law (Hoffmann et al. 2022) and its compute-optimal allocation.

L(N, D) = E + A / N^α + B / D^β, with N parameters (total count) and D training tokens.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bayescale.constants import FLOPS_PER_PARAM_TOKEN
from bayescale.laws.base import Law, Prefactor, register_law

__all__ = [
    "chinchilla_loss",
    "chinchilla_optimal",
    "chinchilla_optimal_exponent",
    "chinchilla_tokens_for_loss",
]


def chinchilla_loss(
    params: Any, tokens: Any, *, E: Any, A: Any, B: Any, alpha: Any, beta: Any
) -> Any:
    """Chinchilla loss ``E + A / params**alpha + B / tokens**beta``.

    Works on numpy arrays, xarray objects (broadcast by dimension name) and pytensor tensors.

    Parameters
    ----------
    params, tokens : array-like
        Parameter count N and training tokens D.
    E, A, B, alpha, beta : array-like
        Irreducible loss, prefactors and exponents.

    Returns
    -------
    array-like
        Loss in the unit of ``E`` (nats per token for the published values).

    Examples
    --------
    >>> round(float(chinchilla_loss(70e9, 1.4e12, E=1.69, A=406.4, B=410.7,
    ...                               alpha=0.34, beta=0.28)), 3)
    1.937
    """
    return E + A * params ** (-alpha) + B * tokens ** (-beta)


def chinchilla_optimal(
    flops: Any,
    *,
    E: Any,
    A: Any,
    B: Any,
    alpha: Any,
    beta: Any,
    flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN,
) -> dict[str, Any]:
    """Closed-form compute-optimal allocation of a FLOP budget under C = 6·N·D.

    Minimising the Chinchilla loss on the constraint gives
    ``G = (α·A / (β·B))^(1/(α+β))``, ``N_opt = G·(C/6)^(β/(α+β))`` and
    ``D_opt = (C/6)^(α/(α+β)) / G`` (Hoffmann et al. 2022, eq. 4).

    Parameters
    ----------
    flops : array-like
        Training compute C in FLOP.
    E, A, B, alpha, beta : array-like
        Chinchilla parameters.
    flops_per_param_token : float, default 6
        FLOPs per parameter per token.

    Returns
    -------
    dict
        ``params_opt``, ``tokens_opt``, ``tokens_per_param`` and ``loss_opt``.

    Examples
    --------
    >>> out = chinchilla_optimal(5.76e23, E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
    >>> round(float(out["params_opt"]) / 1e9, 1)
    32.2
    """
    total = alpha + beta
    G = (alpha * A / (beta * B)) ** (1.0 / total)
    budget = flops / flops_per_param_token
    n_opt = G * budget ** (beta / total)
    d_opt = budget ** (alpha / total) / G
    return {
        "params_opt": n_opt,
        "tokens_opt": d_opt,
        "tokens_per_param": d_opt / n_opt,
        "loss_opt": chinchilla_loss(n_opt, d_opt, E=E, A=A, B=B, alpha=alpha, beta=beta),
    }


def chinchilla_optimal_exponent(*, alpha: Any, beta: Any) -> Any:
    """Exponent ``a = β/(α+β)`` of ``N_opt ∝ C^a`` (Hoffmann et al. 2022, eq. 4).

    Examples
    --------
    >>> round(chinchilla_optimal_exponent(alpha=0.34, beta=0.28), 4)
    0.4516
    """
    return beta / (alpha + beta)


def chinchilla_tokens_for_loss(
    target: Any, params: Any, *, E: Any, A: Any, B: Any, alpha: Any, beta: Any
) -> Any:
    """Tokens at which a model of ``params`` parameters reaches loss ``target``.

    ``D = (B / (target − E − A/N^α))^(1/β)``; NaN where the target is out of reach (at or
    below ``E + A/N^α``) or needs more than 1e30 tokens.

    Examples
    --------
    >>> d = chinchilla_tokens_for_loss(2.0, 7e10, E=1.69, A=406.4, B=410.7, alpha=0.34,
    ...                                beta=0.28)
    >>> round(float(d) / 1e12, 3)
    0.434
    """
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        room = target - E - A * params ** (-alpha)
        d = (B / room) ** (1.0 / beta)
    return np.where((room > 0) & (d < 1e30), d, np.nan)


register_law(
    Law(
        name="chinchilla",
        loss=chinchilla_loss,
        description="L = E + A/N^alpha + B/D^beta (Hoffmann et al. 2022)",
        params_kind="total",
        prefactors={"A": Prefactor("params", "alpha"), "B": Prefactor("tokens", "beta")},
        published_fits=("hoffmann2022_approach3_unrounded",),
        citation="Hoffmann et al. 2022, arXiv:2203.15556, Approach 3 (unrounded)",
        optimal=chinchilla_optimal,
        optimal_exponent=chinchilla_optimal_exponent,
        tokens_for_loss=chinchilla_tokens_for_loss,
    )
)
