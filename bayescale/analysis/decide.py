"""Budget decisions: compare candidate allocations of a FLOP budget under the posterior.

For a budget C, each candidate is one (N, D) choice made *before* knowing which posterior draw
is true. Under draw s its loss is L_s(N, D); the draw's own optimum L*_s (see
:mod:`bayescale.analysis.allocate`) defines the regret L_s(N, D) − L*_s ≥ 0. A candidate is
scored by its expected loss (with an interval), its probability of being the best of the
candidates, and its expected regret (with an interval).

Candidates (names accepted by ``candidates=``):

``posterior_optimal``
    The Bayes decision: the N on the budget constraint that minimises the posterior expected
    loss (the constraint includes serving cost and the data cap when given).
``risk_averse``
    The N minimising the ``risk_quantile`` quantile of the loss (default 0.9): a choice that
    guards against the pessimistic draws.
``kaplan``
    Kaplan et al. 2020's compute-efficient rule N = 1.3e9·C^0.73 with C in PF-days
    (1 PF-day = 8.64e19 FLOP), the budget read as C_min (their Fig. 14, N ∝ C_min^0.73;
    Kaplan's N counts non-embedding parameters: applied here as is).
``chinchilla_20``
    About 20 tokens per parameter (Hoffmann et al. 2022): D = 20·N, so N = sqrt(C / 120).
``hoffmann_a3``
    The closed-form optimum of Hoffmann et al.'s printed Approach-3 fit (E = 1.69, A = 406.4,
    B = 410.7, α = 0.34, β = 0.28): N ≈ 32.2e9 at 5.76e23 FLOP.
user candidates
    ``(N, D)`` pairs evaluated as given (their compute may differ from C; a candidate that
    spends more than C can have negative regret), or ``(N, None)`` / ``"N"`` meaning D fills
    the budget. Strings ``"N:D"`` and ``"N"`` are accepted (e.g. ``"70e9:1.4e12"``).

With ``inference_tokens`` T the budget pays for serving too (Sardana et al. 2023,
arXiv:2401.00448): C = 6·N·D + 2·N·T. The published rules are inference-naive: each is applied
to the compute left for training, N = rule(C − 2·N·T) (solved for N), and trains on
D = (C − 2·N·T)/(6·N); ``posterior_optimal`` and ``risk_averse`` are inference-aware. With
``unique_tokens`` U every candidate's loss sees the effective data of Muennighoff et al. 2023.

By default (``kind="predictive"``) every draw's loss includes the law's own error past the
fitted range, the spec's discrepancy (:mod:`bayescale.analysis.discrepancy`, the same term as
``allocate`` and ``predict(kind="predictive")``): the candidates, the draws' own optima and so
the regrets are all judged under it. ``kind="mean"`` judges them under the law alone.
:func:`inference_optimal` answers the other inference question: the cheapest model (training
plus serving) that reaches a target loss.

Examples
--------
>>> from bayescale.testing import fake_fit
>>> table = decide(fake_fit("chinchilla", draws=200), flops=5.76e23)
>>> table["candidate"].tolist()
['posterior_optimal', 'risk_averse', 'kaplan', 'chinchilla_20', 'hoffmann_a3']
>>> table.sort_values("regret_mean")["candidate"].iloc[0]  # least expected loss, least regret
'posterior_optimal'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from bayescale.analysis._common import (
    GROUP_COLUMN,
    law_draws,
    minimize_golden,
    minimize_smooth,
    positive_scalar,
    positive_values,
)
from bayescale.analysis.allocate import (
    Kind,
    _bracket,
    _nonnegative,
    law_error,
    loss_function,
    optimum,
)
from bayescale.analysis.discrepancy import LawError
from bayescale.constants import (
    FLOPS_PER_PARAM_TOKEN,
    INFERENCE_FLOPS_PER_PARAM_TOKEN,
    SAMPLE_DIMS,
)
from bayescale.data.published import published_fit
from bayescale.exceptions import BayescaleError
from bayescale.intervals import check_ci, eti
from bayescale.laws import call_with, chinchilla_optimal
from bayescale.modeling import build

if TYPE_CHECKING:
    from bayescale.laws import Law
    from bayescale.modeling.fit import Fit
    from bayescale.modeling.spec import Discrepancy

__all__ = [
    "BUILTIN_CANDIDATES",
    "HOFFMANN_A3",
    "KAPLAN_RULE",
    "decide",
    "inference_optimal",
    "parse_candidate",
    "tokens_for_loss",
]

#: Built-in candidates, in table order.
BUILTIN_CANDIDATES: tuple[str, ...] = (
    "posterior_optimal",
    "risk_averse",
    "kaplan",
    "chinchilla_20",
    "hoffmann_a3",
)
#: Kaplan et al. 2020 (arXiv:2001.08361, eq. 6.1): N_opt = n_coef·C_min^a, C in FLOP (the
#: published fit ``kaplan2020_allocation`` of ``datasets/published_fits.toml``).
KAPLAN_RULE: dict[str, float] = dict(published_fit("kaplan2020_allocation").values)
#: Relative tolerance before a candidate's FLOP count is over its budget.
OVER_BUDGET_RTOL = 1e-6
#: Tokens per parameter of the Chinchilla rule of thumb (Hoffmann et al. 2022).
CHINCHILLA_TOKENS_PER_PARAM = 20.0
#: Hoffmann et al. 2022 (arXiv:2203.15556) eq. 10, the printed (rounded) Approach-3 fit (the
#: published fit ``hoffmann2022_approach3``).
HOFFMANN_A3: dict[str, float] = dict(published_fit("hoffmann2022_approach3").values)

Candidate = str | tuple[float, float | None]


def parse_candidate(text: str) -> tuple[float, float | None]:
    """Parse ``"N"`` or ``"N:D"`` (e.g. ``"70e9:1.4e12"``) into ``(N, D or None)``.

    Examples
    --------
    >>> parse_candidate("70e9:1.4e12")
    (70000000000.0, 1400000000000.0)
    >>> parse_candidate("7e10")
    (70000000000.0, None)
    """
    parts = text.split(":")
    if len(parts) > 2:
        raise BayescaleError(f"candidate {text!r}: expected N or N:D")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        known = ", ".join(BUILTIN_CANDIDATES)
        raise BayescaleError(
            f"candidate {text!r} is neither a built-in ({known}) nor N or N:D"
        ) from None
    for v in values:
        if not (np.isfinite(v) and v > 0):
            raise BayescaleError(f"candidate {text!r}: needs finite positive numbers")
    return values[0], (values[1] if len(values) == 2 else None)


def decide(
    fit: Fit,
    *,
    flops: Any,
    candidates: Sequence[Candidate] | None = None,
    inference_tokens: float = 0.0,
    unique_tokens: float | None = None,
    risk_quantile: float = 0.9,
    ci_prob: float | None = None,
    group: str | None = None,
    random_seed: int | np.random.Generator | None = None,
    kind: Kind = "predictive",
    discrepancy: Discrepancy | None = None,
) -> pd.DataFrame:
    """Compare candidate allocations of each budget by expected loss, P(best) and regret.

    Parameters
    ----------
    fit : Fit
        A fitted model of an (N, D) loss law.
    flops : float or 1-d array-like
        Budgets C in FLOP.
    candidates : sequence, optional
        Built-in names (see the module docstring), ``(N, D)`` / ``(N, None)`` tuples, or
        ``"N:D"`` / ``"N"`` strings. Default: every built-in.
    inference_tokens : float, default 0
        Tokens to be served; the budget pays 2·N FLOP per served token.
    unique_tokens : float, optional
        Cap on unique training tokens (repetition counted as effective data).
    risk_quantile : float, default 0.9
        Loss quantile minimised by ``risk_averse`` and reported as ``loss_q``.
    ci_prob : float, optional
        Mass of the equal-tailed intervals. Default
        :data:`~bayescale.constants.DEFAULT_CI_PROB`.
    group : str, optional
        Pooled fits: a group or ``NEW_GROUP``; None decides for every group in turn.
    random_seed : int or numpy.random.Generator, optional
        Seeds new-group draws and the law's error.
    kind : {"predictive", "mean"}
        ``"predictive"`` (default): losses include the law's own error past the fitted range
        (the spec's discrepancy); ``"mean"``: the law alone.
    discrepancy : Discrepancy, optional
        Replaces the spec's discrepancy term for ``kind="predictive"``.

    Returns
    -------
    pandas.DataFrame
        One row per budget and candidate: ``flops``, ``candidate``, ``params``, ``tokens``,
        ``tokens_per_param``, ``flops_used``, ``budget_used`` (flops_used / flops),
        ``over_budget``, ``loss_mean``, ``loss_median``, ``loss_lower``, ``loss_upper``,
        ``loss_q``, ``p_best``, ``regret_mean``, ``regret_median``, ``regret_lower``,
        ``regret_upper`` (and ``group`` for pooled fits). Per budget, candidates within it
        come first; a candidate spending more than the budget (an explicit ``N:D``) is listed
        after them with ``over_budget`` True and ``p_best`` NaN: it is not an allocation of that
        budget, so it is never ranked best (its regret may be negative).

    Examples
    --------
    >>> from bayescale.testing import fake_fit
    >>> t = decide(fake_fit("chinchilla", draws=200), flops=1e23,
    ...            candidates=["posterior_optimal", "kaplan", (2e10, None)])
    >>> t["candidate"].tolist()
    ['posterior_optimal', 'kaplan', 'N=2e+10']
    >>> round(float(t["p_best"].sum()), 6)
    1.0
    """
    ci = check_ci(ci_prob)
    if not 0.0 < risk_quantile < 1.0:
        raise BayescaleError(f"risk_quantile must be between 0 and 1, got {risk_quantile}")
    budgets = positive_values("flops", flops)
    inference = _nonnegative("inference_tokens", inference_tokens)
    unique = None if unique_tokens is None else positive_scalar("unique_tokens", unique_tokens)
    resolved = _resolve_candidates(candidates)
    law = fit.law
    if not build.family_module(law.family).predicts_loss or law.inputs[:2] != ("params", "tokens"):
        raise BayescaleError(
            f"decisions need an (N, D) loss law; {law.name!r} has inputs {', '.join(law.inputs)}"
        )
    rng = np.random.default_rng(random_seed)
    error = law_error(fit, kind, discrepancy, rng)
    gdim = fit.info.group
    if gdim is not None and group is None:
        frames = []
        for g in fit.info.groups:
            frame = decide(
                fit,
                flops=budgets,
                candidates=candidates,
                inference_tokens=inference,
                unique_tokens=unique,
                risk_quantile=risk_quantile,
                ci_prob=ci,
                group=g,
                random_seed=rng,
                kind=kind,
                discrepancy=discrepancy,
            )
            frame[GROUP_COLUMN] = g
            frames.append(frame)
        out = pd.concat(frames, ignore_index=True)
        out.attrs = frames[0].attrs
        return out
    theta = law_draws(fit, group=group, random_seed=rng)
    out = _decide_one(
        fit, theta, budgets, resolved, inference, unique, risk_quantile, ci, error=error
    )
    out.attrs["kind"] = kind
    return out


def _resolve_candidates(candidates: Sequence[Candidate] | None) -> list[Candidate]:
    if candidates is None:
        return list(BUILTIN_CANDIDATES)
    if isinstance(candidates, str) or not len(candidates):
        raise BayescaleError("candidates must be a non-empty sequence")
    out: list[Candidate] = []
    for c in candidates:
        if isinstance(c, str):
            out.append(c if c in BUILTIN_CANDIDATES else parse_candidate(c))
        else:
            try:
                n, d = c
            except (TypeError, ValueError):
                raise BayescaleError(f"candidate {c!r}: expected a name or (N, D)") from None
            n_val = positive_scalar("candidate N", n)
            d_val = None if d is None else positive_scalar("candidate D", d)
            out.append((n_val, d_val))
    labels = [_label(c) for c in out]
    repeated = sorted({x for x in labels if labels.count(x) > 1})
    if repeated:
        raise BayescaleError(f"candidate(s) listed twice: {', '.join(repeated)}")
    return out


def _label(c: Candidate) -> str:
    if isinstance(c, str):
        return c
    n, d = c
    return f"N={n:.4g}" if d is None else f"N={n:.4g},D={d:.4g}"


def _rule_for_training(name: str, c_train: np.ndarray) -> np.ndarray:
    """N that a published rule picks for a training budget ``c_train`` (FLOP)."""
    if name == "kaplan":
        return KAPLAN_RULE["n_coef"] * c_train ** KAPLAN_RULE["a"]
    if name == "chinchilla_20":
        return np.sqrt(c_train / (FLOPS_PER_PARAM_TOKEN * CHINCHILLA_TOKENS_PER_PARAM))
    return np.asarray(chinchilla_optimal(c_train, **HOFFMANN_A3)["params_opt"])


_RULES = ("kaplan", "chinchilla_20", "hoffmann_a3")


def _rule_params(name: str, budgets: np.ndarray, inference: float) -> np.ndarray:
    """N of a rule when the budget also pays for serving: N = rule(C − 2·N·T).

    The rule is applied to the compute left for training; N − rule(C − 2·N·T) increases in N,
    so the root is found by bisection on log N over (0, C / (2·T)).
    """
    if inference == 0:
        return _rule_for_training(name, budgets)
    cap = budgets / (INFERENCE_FLOPS_PER_PARAM_TOKEN * inference)
    lo = np.log(cap) - 60.0
    hi = np.log(cap)
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        n = np.exp(mid)
        left = budgets - INFERENCE_FLOPS_PER_PARAM_TOKEN * n * inference
        too_big = n > _rule_for_training(name, np.maximum(left, 0.0))
        hi = np.where(too_big, mid, hi)
        lo = np.where(too_big, lo, mid)
    return np.exp(0.5 * (lo + hi))


def _flops_used(n: np.ndarray, d: np.ndarray, inference: float) -> np.ndarray:
    """Training plus serving FLOP of (N, D) per budget (D below 0 counts as 0)."""
    return FLOPS_PER_PARAM_TOKEN * n * np.maximum(d, 0.0) + (
        INFERENCE_FLOPS_PER_PARAM_TOKEN * n * inference
    )


def _decide_one(
    fit: Fit,
    theta: xr.Dataset,
    budgets: np.ndarray,
    candidates: list[Candidate],
    inference: float,
    unique: float | None,
    q: float,
    ci: float,
    *,
    error: LawError | None = None,
) -> pd.DataFrame:
    law = fit.law
    flat = theta.stack(sample=SAMPLE_DIMS).transpose("sample", ...)
    extra = [d for d in flat.dims if d != "sample"]
    if extra:
        raise BayescaleError(f"decide one group at a time (parameters have dims {extra})")
    arrays = {p: flat[p].values[:, None] for p in law.params}  # (S, 1)
    shift = None
    if error is not None:  # the same draws' slopes, in the same (stacked) order
        slopes = error.slopes.stack(sample=SAMPLE_DIMS).transpose("sample")
        shift = error.on_nd({k: slopes[k].values[:, None] for k in error.directions})
    loss = loss_function(law, arrays, unique_tokens=unique, shift=shift)
    c_row = budgets[None, :]  # (1, F)

    def tokens_for(n: np.ndarray) -> np.ndarray:
        return (c_row - INFERENCE_FLOPS_PER_PARAM_TOKEN * n * inference) / (
            FLOPS_PER_PARAM_TOKEN * n
        )

    def losses(n: np.ndarray, d: np.ndarray) -> np.ndarray:
        """(S, F) losses of one (N, D) per budget; infeasible (D ≤ 0) is +inf."""
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            ok = d > 0
            return np.where(ok, loss(n, np.where(ok, d, 1.0)), np.inf)

    def on_budget(x: np.ndarray) -> np.ndarray:
        n = np.exp(x)[None, :]
        return losses(n, tokens_for(n))

    lo, hi = _bracket(budgets, inference)
    choice: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for c in candidates:
        label = _label(c)
        if c == "posterior_optimal":
            search = minimize_smooth if error is None else minimize_golden  # kinks: see allocate
            x = search(lambda x: on_budget(x).mean(axis=0), lo, hi, grid=24)
            n = np.exp(x)
        elif c == "risk_averse":
            x = minimize_golden(lambda x: np.quantile(on_budget(x), q, axis=0), lo, hi)
            n = np.exp(x)
        elif c in _RULES:
            n = _rule_params(c, budgets, inference)
        elif isinstance(c, tuple):
            n = np.full(budgets.shape, c[0])
        else:  # pragma: no cover - _resolve_candidates only lets the above through
            raise BayescaleError(f"unknown candidate {c!r}")
        if isinstance(c, tuple) and c[1] is not None:
            d = np.full(budgets.shape, c[1])
        else:
            d = tokens_for(n[None, :])[0]
        choice[label] = (n, d)

    flops_da = xr.DataArray(budgets, dims="flops")
    best = optimum(
        law, theta, flops_da, inference_tokens=inference, unique_tokens=unique, error=error
    )
    oracle = best["loss_opt"].stack(sample=SAMPLE_DIMS).transpose("sample", "flops").values
    labels = list(choice)
    table = np.stack([losses(n[None, :], d[None, :]) for n, d in choice.values()], axis=-1)
    # a candidate spending more than the budget (an explicit N:D) is not an allocation of it:
    # it is ranked apart (p_best NaN) and never counted as the best of a budget
    used = np.stack([_flops_used(n, d, inference) for n, d in choice.values()], axis=-1)  # (F, K)
    over = used > budgets[:, None] * (1.0 + OVER_BUDGET_RTOL)
    ranked = np.where(over[None, :, :], np.inf, table)
    winner = np.argmin(ranked, axis=-1)  # (S, F); ties go to the first candidate listed
    none_ranked = over.all(axis=-1)  # (F,)
    rows = []
    for k, label in enumerate(labels):
        n, d = choice[label]
        lk = table[:, :, k]
        regret = lk - oracle
        feasible = d > 0
        with np.errstate(invalid="ignore"):
            loss_lower, loss_median, loss_upper = eti(lk, ci, axis=0)
            regret_lower, regret_median, regret_upper = eti(regret, ci, axis=0)
            stats = {
                "loss_mean": lk.mean(axis=0),
                "loss_median": loss_median,
                "loss_lower": loss_lower,
                "loss_upper": loss_upper,
                "loss_q": np.quantile(lk, q, axis=0),
                "p_best": np.where(over[:, k] | none_ranked, np.nan, (winner == k).mean(axis=0)),
                "regret_mean": regret.mean(axis=0),
                "regret_median": regret_median,
                "regret_lower": regret_lower,
                "regret_upper": regret_upper,
            }
        for j, c in enumerate(budgets):
            row: dict[str, Any] = {
                "flops": float(c),
                "candidate": label,
                "params": float(n[j]),
                "tokens": float(d[j]) if feasible[j] else np.nan,
                "tokens_per_param": float(d[j] / n[j]) if feasible[j] else np.nan,
                "flops_used": float(used[j, k]),
                "budget_used": float(used[j, k] / c),
                "over_budget": bool(over[j, k]),
            }
            for key, values in stats.items():
                v = float(values[j])
                row[key] = v if np.isfinite(v) else np.nan
            rows.append(row)
    # per budget: candidates within it first (in the order given), over-budget ones after
    frame = (
        pd.DataFrame(rows)
        .sort_values(["flops", "over_budget"], kind="stable")
        .reset_index(drop=True)
    )
    frame.attrs = {
        "ci_prob": ci,
        "risk_quantile": q,
        "inference_tokens": inference,
        "unique_tokens": np.nan if unique is None else unique,
        "draws": int(flat.sizes["sample"]),
    }
    return frame


# ---------------------------------------------------------------------- inference-aware
def tokens_for_loss(
    law: Law,
    theta: dict[str, np.ndarray],
    target: np.ndarray,
    params: np.ndarray,
    *,
    closed: bool | None = None,
) -> np.ndarray:
    """Training tokens D at which L(N, D) equals ``target`` (NaN where it is out of reach).

    A law with a closed-form inverse (``Law.tokens_for_loss``; Chinchilla's is
    B/D^β = target − E − A/N^α) uses it; any other (N, D) law is solved by bisection on log D
    over [0, log 1e30] (the loss decreases with D).
    ``closed=False`` forces the bisection (used to test one against the other).

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.laws import get_law
    >>> th = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
    >>> d = tokens_for_loss(get_law("chinchilla"), th, np.array(2.0), np.array(7e10))
    >>> round(float(d) / 1e12, 3)
    0.434
    """
    use_closed = law.tokens_for_loss is not None if closed is None else closed
    if use_closed:
        if law.tokens_for_loss is None:
            raise BayescaleError(f"law {law.name!r} has no closed-form inverse in D")
        return np.asarray(call_with(law.tokens_for_loss, theta, target, params))
    loss = loss_function(law, theta)
    shape = np.broadcast_shapes(np.shape(target), np.shape(params))
    lo = np.zeros(shape)
    hi = np.full(shape, np.log(1e30))
    with np.errstate(over="ignore", invalid="ignore"):
        reachable = loss(params, np.exp(hi)) < target
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            above = loss(params, np.exp(mid)) > target
            lo = np.where(above, mid, lo)
            hi = np.where(above, hi, mid)
    return np.where(reachable, np.exp(0.5 * (lo + hi)), np.nan)


def inference_optimal(
    fit: Fit,
    *,
    target_loss: Any,
    inference_tokens: float,
    group: str | None = None,
    random_seed: int | np.random.Generator | None = None,
    ci_prob: float | None = None,
) -> xr.Dataset:
    """The cheapest model that reaches a target loss, counting serving cost (Sardana et al.).

    Per draw: minimise 6·N·D + 2·N·T over N, with D the training tokens at which
    L(N, D) = target. The training-only optimum (T ignored when choosing) is reported beside
    it, with its total cost once serving is paid, so the saving is explicit.

    Parameters
    ----------
    fit : Fit
        A fitted model of an (N, D) loss law.
    target_loss : float or 1-d array-like
        Target losses (dim ``target_loss``).
    inference_tokens : float
        Tokens the model will serve, T.
    group, random_seed, ci_prob
        As in :func:`decide`.

    Returns
    -------
    xarray.Dataset
        ``params_opt``, ``tokens_opt``, ``tokens_per_param``, ``total_flops`` (inference-aware)
        and ``params_train_opt``, ``tokens_train_opt``, ``total_flops_train_opt`` (the
        training-compute-optimal model for the same loss), and ``saving`` (1 − ratio of the
        total costs); dims ``chain``, ``draw``, ``target_loss`` (and the group dim). Draws
        whose law never reaches the target are NaN.

    Examples
    --------
    >>> from bayescale.testing import fake_fit
    >>> ds = inference_optimal(fake_fit("chinchilla", draws=100), target_loss=2.0,
    ...                        inference_tokens=1e13)
    >>> bool((ds["params_opt"] <= ds["params_train_opt"] * 1.000001).all())
    True
    """
    ci = check_ci(ci_prob)
    targets = positive_values("target_loss", target_loss)
    inference = _nonnegative("inference_tokens", inference_tokens)
    law = fit.law
    if not build.family_module(law.family).predicts_loss or law.inputs != ("params", "tokens"):
        raise BayescaleError(f"inference_optimal needs an (N, D) loss law, not {law.name!r}")
    theta = law_draws(fit, group=group, random_seed=random_seed)
    target_da = xr.DataArray(targets, dims="target_loss", coords={"target_loss": targets})
    named = {p: theta[p] for p in law.params}
    template = xr.broadcast(*named.values(), target_da)[-1]
    dims = template.dims
    arrays = {
        k: np.asarray(v.broadcast_like(template).transpose(*dims).values, dtype=float)
        for k, v in named.items()
    }
    target = np.asarray(template.transpose(*dims).values, dtype=float)

    def tokens_reaching(n: np.ndarray) -> np.ndarray:
        return tokens_for_loss(law, arrays, target, n)

    def solve(serve: float) -> tuple[np.ndarray, np.ndarray]:
        def cost(x: np.ndarray) -> np.ndarray:
            n = np.exp(x)
            d = tokens_reaching(n)
            return np.log(
                FLOPS_PER_PARAM_TOKEN * n * d + INFERENCE_FLOPS_PER_PARAM_TOKEN * n * serve
            )

        lo = np.full(target.shape, np.log(1e3))
        hi = np.full(target.shape, np.log(1e16))
        x = minimize_smooth(cost, lo, hi, grid=24)
        n = np.exp(x)
        return n, tokens_reaching(n)

    n_inf, d_inf = solve(inference)
    n_tr, d_tr = solve(0.0)

    def total(n: np.ndarray, d: np.ndarray) -> np.ndarray:
        return FLOPS_PER_PARAM_TOKEN * n * d + INFERENCE_FLOPS_PER_PARAM_TOKEN * n * inference

    t_inf, t_tr = total(n_inf, d_inf), total(n_tr, d_tr)
    values = {
        "params_opt": n_inf,
        "tokens_opt": d_inf,
        "tokens_per_param": d_inf / n_inf,
        "total_flops": t_inf,
        "params_train_opt": n_tr,
        "tokens_train_opt": d_tr,
        "total_flops_train_opt": t_tr,
        "saving": 1.0 - t_inf / t_tr,
    }
    ds = xr.Dataset(
        {k: xr.DataArray(v, dims=dims, coords=template.coords) for k, v in values.items()}
    )
    ds = ds.transpose(*SAMPLE_DIMS, "target_loss", ...)
    ds.attrs = {
        "ci_prob": ci,
        "inference_tokens": inference,
        "group_dim": fit.info.group if (fit.info.group and group is None) else "",
    }
    return ds
