"""Other published forms: data-constrained scaling (Muennighoff et al. 2023)."""

from __future__ import annotations

from typing import Any

from bayescale.laws import _math
from bayescale.laws.base import Law, register_law
from bayescale.laws.chinchilla import chinchilla_loss, chinchilla_optimal_exponent

__all__ = ["data_constrained_loss", "effective_data"]


def effective_data(tokens: Any, unique: Any, *, R_star: Any) -> Any:
    """Effective data D' = U + U·R*·(1 − exp(−R/R*)) with R = D/U − 1 repetitions.

    Parameters
    ----------
    tokens : array-like
        Tokens seen D (or parameters, for the N-side version).
    unique : array-like
        Unique tokens U (≤ D).
    R_star : array-like
        Decay constant of the value of repeated data (15.39 for tokens on C4).

    Examples
    --------
    >>> float(effective_data(1e9, 1e9, R_star=15.39))
    1000000000.0
    >>> round(float(effective_data(4e9, 1e9, R_star=15.39)) / 1e9, 3)
    3.726
    """
    repeats = tokens / unique - 1.0
    return unique + unique * R_star * (1.0 - _math.exp(-repeats / R_star))


def data_constrained_loss(
    params: Any,
    tokens: Any,
    unique_tokens: Any,
    *,
    E: Any,
    A: Any,
    B: Any,
    alpha: Any,
    beta: Any,
    R_star: Any,
) -> Any:
    """Chinchilla loss evaluated at effective data D' (Muennighoff et al. 2023).

    Examples
    --------
    >>> round(float(data_constrained_loss(1e9, 1e11, 2.5e10, E=1.869, A=521, B=1488,
    ...                                   alpha=0.3527, beta=0.3527, R_star=15.39)), 3)
    2.419
    """
    d_eff = effective_data(tokens, unique_tokens, R_star=R_star)
    return chinchilla_loss(params, d_eff, E=E, A=A, B=B, alpha=alpha, beta=beta)


register_law(
    Law(
        name="data_constrained",
        loss=data_constrained_loss,
        description="Chinchilla at effective data D' (Muennighoff et al. 2023)",
        params_kind="total",
        published_fits=("muennighoff2023",),
        citation="Muennighoff et al. 2023, arXiv:2305.16264",
        # with unlimited unique data the law is Chinchilla's, and so is its exponent
        optimal_exponent=chinchilla_optimal_exponent,
    )
)
