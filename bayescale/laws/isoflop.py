"""The IsoFLOP law (Chinchilla's Approach 2, fitted jointly over all budgets).

For a fixed training budget ``C`` the loss, as a function of model size, has a valley whose
bottom moves with the budget. Approach 2 of Hoffmann et al. (2022) fits a parabola in
``log N`` to each budget's runs, then a power law ``N_opt ∝ C^a`` to the parabola minima. Here
the two stages are one model: the vertex of every budget's valley lies on

    log N*(C) = log G + a · log(C / 6)

(so ``N_opt = G·(C/6)^a`` and, under ``C = 6·N·D``, ``D_opt = (C/6)^b / G`` with ``b = 1 − a``,
the notation of Hoffmann et al. 2022, eq. 4), and the log loss around it is

    log L = log L*(C) + k(C) · u² · (1 + s·tanh(u)),    u = log N − log N*(C),

where ``L*(C)`` (``loss_opt``) and ``k(C)`` (``curvature``) belong to each budget and ``s``
(``skew``, |s| < 1) is a shared asymmetry: far from the vertex the valley's curvature is
``k·(1 + s)`` on the large-N side and ``k·(1 − s)`` on the small-N side (with ``s = 0`` the valley
is the plain parabola of Approach 2). For |s| < 1 the added term is never negative, so the
bottom of the valley is ``N*(C)`` with loss ``L*(C)``, and the valley never turns down.

Parameter names (and posterior variables): ``a``, ``G``, ``curvature``, ``loss_opt``, ``skew``;
``b = 1 − a`` is a deterministic of the posterior.
"""

from __future__ import annotations

from typing import Any

from bayescale.constants import FLOPS_PER_PARAM_TOKEN
from bayescale.laws import _math
from bayescale.laws.base import Law, register_law

__all__ = [
    "ISOFLOP_LAW",
    "isoflop_log_loss",
    "isoflop_loss",
    "isoflop_optimal",
    "isoflop_optimal_exponent",
]


def isoflop_loss(
    params: Any,
    flops: Any,
    *,
    a: Any,
    G: Any,
    curvature: Any,
    loss_opt: Any,
    skew: Any = 0.0,
) -> Any:
    """Loss of a model of ``params`` parameters trained with ``flops`` FLOP, on an IsoFLOP valley.

    ``L = loss_opt · exp(curvature · u² · (1 + skew·tanh(u)))`` with
    ``u = log(params) − log(G · (flops/6)^a)``.

    Works on numpy arrays, xarray objects (broadcast by dimension name) and pytensor tensors.

    Parameters
    ----------
    params, flops : array-like
        Parameter count N and training compute C (FLOP).
    a : array-like
        Exponent of ``N_opt ∝ C^a``.
    G : array-like
        Prefactor: ``N_opt = G · (C/6)^a``.
    curvature : array-like
        Curvature ``k`` of the valley of log loss in (natural) log N, at the budget ``flops``.
    loss_opt : array-like
        Loss at the bottom of the valley of the budget ``flops``.
    skew : array-like, default 0
        Asymmetry of the valley, between -1 and 1 (0: a parabola).

    Returns
    -------
    array-like
        The loss, in the unit of ``loss_opt``.

    Examples
    --------
    >>> import numpy as np
    >>> n_opt = 0.1 * (1e21 / 6) ** 0.5
    >>> float(isoflop_loss(n_opt, 1e21, a=0.5, G=0.1, curvature=0.05, loss_opt=2.5))
    2.5
    >>> round(float(isoflop_loss(n_opt * np.e, 1e21, a=0.5, G=0.1, curvature=0.05,
    ...                          loss_opt=2.5)), 4)
    2.6282
    """
    return _math.exp(
        isoflop_log_loss(params, flops, a=a, G=G, curvature=curvature, loss_opt=loss_opt, skew=skew)
    )


def isoflop_log_loss(
    params: Any,
    flops: Any,
    *,
    a: Any,
    G: Any,
    curvature: Any,
    loss_opt: Any,
    skew: Any = 0.0,
) -> Any:
    """The logarithm of :func:`isoflop_loss`, the form the IsoFLOP model's graph evaluates.

    ``log L = log loss_opt + curvature · u² · (1 + skew·tanh(u))``; in a graph on log loss it
    never overflows (PyTensor folds ``log(exp(x))`` of inputs given on the log scale).

    Examples
    --------
    >>> n_opt = 0.1 * (1e21 / 6) ** 0.5
    >>> round(float(isoflop_log_loss(n_opt * 2.0, 1e21, a=0.5, G=0.1, curvature=0.05,
    ...                              loss_opt=1.0)), 6)
    0.024023
    """
    log_n_opt = _math.log(G) + a * _math.log(flops / FLOPS_PER_PARAM_TOKEN)
    u = _math.log(params) - log_n_opt
    return _math.log(loss_opt) + curvature * u**2 * (1.0 + skew * _math.tanh(u))


def isoflop_optimal(
    flops: Any,
    *,
    a: Any,
    G: Any,
    flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN,
) -> dict[str, Any]:
    """Compute-optimal parameters and tokens at a budget: ``N = G·(C/6)^a``, ``D = C/(6·N)``.

    Parameters
    ----------
    flops : array-like
        Training budget C (FLOP).
    a, G : array-like
        Exponent and prefactor of ``N_opt = G·(C/6)^a``.
    flops_per_param_token : float, default 6
        The ``C = 6·N·D`` convention.

    Returns
    -------
    dict
        ``params_opt``, ``tokens_opt`` and ``tokens_per_param``.

    Examples
    --------
    >>> out = isoflop_optimal(6e20, a=0.5, G=0.1)
    >>> float(out["params_opt"]), float(out["tokens_opt"])
    (1000000000.0, 100000000000.0)
    """
    params_opt = G * (flops / flops_per_param_token) ** a
    tokens_opt = flops / (flops_per_param_token * params_opt)
    return {
        "params_opt": params_opt,
        "tokens_opt": tokens_opt,
        "tokens_per_param": tokens_opt / params_opt,
    }


def isoflop_optimal_exponent(*, a: Any) -> Any:
    """The exponent of ``N_opt ∝ C^a`` is the law's own parameter ``a``.

    Examples
    --------
    >>> isoflop_optimal_exponent(a=0.49)
    0.49
    """
    return a


#: The registered :class:`~bayescale.laws.Law` (``get_law("isoflop")``).
ISOFLOP_LAW = register_law(
    Law(
        name="isoflop",
        loss=isoflop_loss,
        log_loss=isoflop_log_loss,
        description=(
            "IsoFLOP valleys log L = log L*(C) + k(C)·u²·(1 + s·tanh u), "
            "u = log N − log N*(C), "
            "N*(C) = G·(C/6)^a, all budgets jointly (Hoffmann et al. 2022, Approach 2)"
        ),
        params_kind="total",
        published_fits=("hoffmann2022_approach2",),
        citation="Hoffmann et al. 2022, arXiv:2203.15556, Approach 2 (Table 2: a = 0.49)",
        family="isoflop",
        optimal=isoflop_optimal,
        optimal_exponent=isoflop_optimal_exponent,
    )
)
