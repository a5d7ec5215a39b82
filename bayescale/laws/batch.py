"""Critical batch size, training-curve and optimal batch-size / learning-rate laws.

Formulas (all pure arithmetic, valid for numpy, xarray and pytensor):

- Critical batch size (Kaplan et al. 2020, eq. 1.4): ``B_crit(L) = B* / L^(1/α_B)`` in tokens;
  Kaplan fit ``B* ≈ 2.1e8`` tokens and ``α_B ≈ 0.21`` on WebText2.
- Gradient noise scale (McCandlish et al. 2018): the squared norm of a gradient averaged over
  ``B`` tokens has expectation ``E|G_B|² = |G|² + tr(Σ)/B``, and ``B_noise = tr(Σ)/|G|²``
  approximates ``B_crit``.
- Step/data trade-off (McCandlish et al. 2018): ``(S/S_min − 1)(E/E_min − 1) = 1``, i.e.
  ``S = S_min·(1 + B_crit/B)`` and ``E = E_min·(1 + B/B_crit)`` with ``E_min = B_crit·S_min``.
- Loss against steps (Kaplan et al. 2020, eq. 1.6): ``L(N, S_min) = (N_c/N)^α_N + (S_c/S_min)^α_S``
  with ``S_min = S / (1 + B_crit(L)/B)``.
- Optimal hyper-parameters on a learning-rate × batch-size grid: ``B_opt = B_0·N^b_N·D^b_D``
  (tokens) and ``η_opt = η_0·N^e_N·D^e_D`` (Li et al. 2025, "Step Law": ``B_opt = 0.58·D^0.571``,
  ``η_opt = 1.79·N^−0.713·D^0.307``); the compute forms of DeepSeek-AI (2024),
  ``B_opt = 0.2920·C^0.3271`` and ``η_opt = 0.3118·C^−0.1250``.

The laws registered here use model families in :mod:`bayescale.modeling.families`
(``bcrit``, ``tradeoff``, ``curves`` and ``optimal_batch``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bayescale.laws.base import Law, register_law
from bayescale.laws.kaplan import critical_batch, kaplan_loss_ns, kaplan_ns_optimal

__all__ = [
    "deepseek_batch_size",
    "deepseek_learning_rate",
    "expected_g2",
    "kaplan_curve_loss",
    "noise_scale",
    "optimal_batch_size",
    "optimal_hyperparameters",
    "optimal_learning_rate",
    "steps_ratio",
    "tradeoff_steps",
    "tradeoff_tokens",
]


def _deepseek() -> Mapping[str, float]:
    """DeepSeek LLM's compute forms (published fit ``deepseek2024``, arXiv:2401.02954, eq. 1)."""
    from bayescale.data.published import published_fit

    return published_fit("deepseek2024").values


def noise_scale(train_loss: Any, *, B_star: Any, alpha_B: Any) -> Any:
    """Gradient noise scale ``B_noise = tr(Σ)/|G|² = B* / L^(1/α_B)`` (tokens).

    The same function as :func:`bayescale.laws.critical_batch`, named for the measured
    quantity: the ``bcrit`` model ties the noise scale at each step to that step's loss.

    Examples
    --------
    >>> round(float(noise_scale(3.0, B_star=2.1e8, alpha_B=0.21)) / 1e6, 3)
    1.123
    """
    return critical_batch(train_loss, B_star=B_star, alpha_B=alpha_B)


def expected_g2(batch_size: Any, grad_sq: Any, trace: Any) -> Any:
    """Expected squared norm of a gradient averaged over ``batch_size`` tokens.

    ``E|G_B|² = |G|² + tr(Σ)/B`` (McCandlish et al. 2018, App. A.1).

    Parameters
    ----------
    batch_size : array-like
        Batch size ``B`` in tokens.
    grad_sq : array-like
        Squared norm of the true gradient ``|G|²``.
    trace : array-like
        Trace of the per-token gradient covariance ``tr(Σ)``.

    Examples
    --------
    >>> float(expected_g2(1024.0, 1.0, 2048.0))
    3.0
    """
    return grad_sq + trace / batch_size


def steps_ratio(batch_size: Any, loss: Any, *, B_star: Any, alpha_B: Any) -> Any:
    """``S/S_min = 1 + B_crit(L)/B``: how many more steps than the minimum a batch needs.

    Examples
    --------
    >>> round(float(steps_ratio(2.1e8 / 3.0 ** (1 / 0.21), 3.0, B_star=2.1e8, alpha_B=0.21)), 6)
    2.0
    """
    return 1.0 + critical_batch(loss, B_star=B_star, alpha_B=alpha_B) / batch_size


def tradeoff_steps(batch_size: Any, s_min: Any, b_crit: Any) -> Any:
    """Steps to reach a loss at batch size ``B``: ``S = S_min·(1 + B_crit/B)``.

    Examples
    --------
    >>> float(tradeoff_steps(1e6, 1000.0, 1e6))
    2000.0
    """
    return s_min * (1.0 + b_crit / batch_size)


def tradeoff_tokens(batch_size: Any, s_min: Any, b_crit: Any) -> Any:
    """Tokens to reach a loss at batch size ``B``: ``E = E_min·(1 + B/B_crit)``.

    Here ``E_min = B_crit·S_min``.

    Together with :func:`tradeoff_steps` it satisfies ``(S/S_min − 1)(E/E_min − 1) = 1``.

    Examples
    --------
    >>> s, e = tradeoff_steps(4e5, 100.0, 1e5), tradeoff_tokens(4e5, 100.0, 1e5)
    >>> round(float((s / 100.0 - 1) * (e / 1e7 - 1)), 12)
    1.0
    """
    return b_crit * s_min * (1.0 + batch_size / b_crit)


def kaplan_curve_loss(
    params: Any,
    step: Any,
    batch_size: Any,
    loss: Any,
    *,
    N_c: Any,
    S_c: Any,
    alpha_N: Any,
    alpha_S: Any,
    B_star: Any,
    alpha_B: Any,
) -> Any:
    """Kaplan's learning-curve law L(N, S_min) at ``S_min = S / (1 + B_crit(L)/B)``.

    As in Kaplan et al. (2020, §5.1), ``B_crit`` is evaluated at the *observed* loss ``loss``
    of each point of the curve, so the law predicts the loss from (N, S, B, L_obs).

    Parameters
    ----------
    params : array-like
        Non-embedding parameters N.
    step : array-like
        Optimizer steps S taken so far.
    batch_size : array-like
        Batch size B in tokens.
    loss : array-like
        Observed loss at that step (enters only through ``B_crit``).
    N_c, S_c, alpha_N, alpha_S, B_star, alpha_B : array-like
        Parameters of L(N, S_min) and B_crit(L).

    Examples
    --------
    >>> b_crit = float(critical_batch(2.5, B_star=2.1e8, alpha_B=0.21))
    >>> a = kaplan_curve_loss(1e9, 2e5, 5e5, 2.5, N_c=6.5e13, S_c=2.1e3, alpha_N=0.077,
    ...                       alpha_S=0.76, B_star=2.1e8, alpha_B=0.21)
    >>> b = kaplan_loss_ns(1e9, 2e5 / (1 + b_crit / 5e5), N_c=6.5e13, S_c=2.1e3,
    ...                    alpha_N=0.077, alpha_S=0.76)
    >>> bool(abs(float(a) - float(b)) < 1e-12)
    True
    """
    s_min = step / steps_ratio(batch_size, loss, B_star=B_star, alpha_B=alpha_B)
    return kaplan_loss_ns(params, s_min, N_c=N_c, S_c=S_c, alpha_N=alpha_N, alpha_S=alpha_S)


def optimal_batch_size(params: Any, tokens: Any, *, B_0: Any, b_N: Any, b_D: Any) -> Any:
    """Loss-optimal batch size ``B_opt = B_0·N^b_N·D^b_D`` in tokens.

    Examples
    --------
    >>> round(float(optimal_batch_size(1e9, 1e11, B_0=0.58, b_N=0.0, b_D=0.571)) / 1e6, 3)
    1.108
    """
    return B_0 * params**b_N * tokens**b_D


def optimal_learning_rate(params: Any, tokens: Any, *, eta_0: Any, e_N: Any, e_D: Any) -> Any:
    """Loss-optimal peak learning rate ``η_opt = η_0·N^e_N·D^e_D``.

    Examples
    --------
    >>> round(float(optimal_learning_rate(1e9, 1e11, eta_0=1.79, e_N=-0.713, e_D=0.307)), 5)
    0.00163
    """
    return eta_0 * params**e_N * tokens**e_D


def optimal_hyperparameters(
    params: Any,
    tokens: Any,
    *,
    B_0: Any,
    b_N: Any,
    b_D: Any,
    eta_0: Any,
    e_N: Any,
    e_D: Any,
) -> dict[str, Any]:
    """Optimal batch size (tokens) and peak learning rate at (N, D).

    Returns
    -------
    dict
        ``batch_size_opt`` and ``learning_rate_opt``.

    Examples
    --------
    >>> out = optimal_hyperparameters(1e9, 1e11, B_0=0.58, b_N=0.0, b_D=0.571,
    ...                               eta_0=1.79, e_N=-0.713, e_D=0.307)
    >>> sorted(out)
    ['batch_size_opt', 'learning_rate_opt']
    """
    return {
        "batch_size_opt": optimal_batch_size(params, tokens, B_0=B_0, b_N=b_N, b_D=b_D),
        "learning_rate_opt": optimal_learning_rate(params, tokens, eta_0=eta_0, e_N=e_N, e_D=e_D),
    }


def deepseek_batch_size(flops: Any) -> Any:
    """DeepSeek LLM's optimal batch size in tokens, ``0.2920·C^0.3271`` (C in FLOP).

    Examples
    --------
    >>> round(float(deepseek_batch_size(1e21)) / 1e6, 2)
    2.16
    """
    v = _deepseek()
    return v["B_coef"] * flops ** v["B_exp"]


def deepseek_learning_rate(flops: Any) -> Any:
    """DeepSeek LLM's optimal peak learning rate, ``0.3118·C^−0.1250`` (C in FLOP).

    Examples
    --------
    >>> round(float(deepseek_learning_rate(1e21)), 5)
    0.00074
    """
    v = _deepseek()
    return v["lr_coef"] * flops ** v["lr_exp"]


KAPLAN_BCRIT = "Kaplan et al. 2020, arXiv:2001.08361, eq. 1.4 (B* = 2.1e8 tokens, alpha_B = 0.21)"

register_law(
    Law(
        name="bcrit",
        loss=noise_scale,
        description=(
            "gradient noise scale B_noise = B*/L^(1/alpha_B) from raw squared gradient norms "
            "at two batch sizes (McCandlish et al. 2018; Kaplan et al. 2020)"
        ),
        params_kind="non_embedding",
        published_fits=("kaplan2020_bcrit",),
        citation=KAPLAN_BCRIT,
        family="bcrit",
        noise="",
    )
)

register_law(
    Law(
        name="bcrit_tradeoff",
        loss=steps_ratio,
        description=(
            "B_crit(L) = B*/L^(1/alpha_B) from steps to reach target losses at several batch "
            "sizes, S = S_min (1 + B_crit/B) (McCandlish et al. 2018)"
        ),
        params_kind="non_embedding",
        published_fits=("kaplan2020_bcrit",),
        citation=KAPLAN_BCRIT,
        family="tradeoff",
        noise="sigma",
    )
)

register_law(
    Law(
        name="kaplan_ns_curves",
        loss=kaplan_curve_loss,
        description=(
            "L(N, S_min) = (N_c/N)^alpha_N + (S_c/S_min)^alpha_S on learning curves, "
            "S_min = S/(1 + B_crit(L)/B) (Kaplan et al. 2020)"
        ),
        params_kind="non_embedding",
        published_fits=("kaplan2020_ns", "kaplan2020_bcrit"),
        citation="Kaplan et al. 2020, arXiv:2001.08361, eqs. 1.4 and 1.6",
        family="curves",
        noise="sigma",
        optimal=kaplan_ns_optimal,
    )
)

register_law(
    Law(
        name="optimal_batch",
        loss=optimal_hyperparameters,
        description=(
            "loss-optimal batch size B_opt = B_0 N^b_N D^b_D and learning rate "
            "eta_opt = eta_0 N^e_N D^e_D, located inside a model of the loss surface on a "
            "learning-rate x batch-size grid"
        ),
        params_kind="non_embedding",
        published_fits=("steplaw2025_optimal_batch",),
        citation="Li et al. 2025, arXiv:2503.04715 (Step Law, medians of 1,000 bootstrap fits)",
        family="optimal_batch",
        noise="sigma",
    )
)
