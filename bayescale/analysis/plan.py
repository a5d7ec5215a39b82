"""Plan the next runs: which small runs buy the most certainty about the big decision, per FLOP.

A fit of a ladder of small runs is made to decide one big run at ``target_flops``. The
decision quantity is the posterior of the compute-optimal allocation there (by default the
interval of N_opt, :func:`bayescale.analysis.allocate.optimum`); its width is the log10 of
upper / lower bound of the equal-tailed interval (``ci_prob``, default 90 %), in decades.
:func:`plan` values each candidate run (N, D) by the width it is expected to leave, by
**preposterior simulation**, and picks a batch under ``budget_flops`` greedily by expected
reduction per FLOP.

Preposterior simulation by importance reweighting (``method="reweight"``). Take S posterior
draws θ_s. For replicate k pick a draw r_k as the truth and simulate every candidate's
outcome from the fit's own predictive noise model: ``log y = log L(x; θ_r) + δ_r(x) +
σ_r·ε``, ε from the spec's likelihood (Student-t or Normal), and δ the spec's
:class:`~bayescale.modeling.spec.Discrepancy` (the law's own error beyond the fitted range,
drawn by :func:`~bayescale.analysis.discrepancy.draw_law_error`, the implementation that
predictive bands, ``allocate`` and ``decide`` use; 0 inside the range). The posterior
after the runs is the current one times their likelihood, so the draws are reweighted by
``Π_runs p(log y | θ_s)`` (the truth draw itself left out) and the weighted interval of the
decision quantity is read off; its expected width is the mean over replicates. Replicates
share their outcomes across candidates (common random numbers), so differences between
candidates are not buried in simulation noise.

Reweighting fails when the runs are so informative that few draws carry the weight: the
Kish effective sample size (ESS) of each replicate is kept, and where its median falls
below ``min_ess`` (``method="auto"``) the estimate comes from a **linearised (Fisher)
update** instead (``method="linear"``): the posterior of the law's parameters (log scale for
positive ones) as a Gaussian with the draws' covariance Σ, each run's log loss and the
decision quantity linearised by regression on the draws (Jacobians J and g), the precision
after the runs ``Σ⁻¹ + Σ J Jᵀ·κ·E[σ⁻²]`` (κ the Fisher information of the noise form per
unit scale, 1 for Normal, (ν+1)/(ν+3) for Student-t, computed from the form itself), and the
width scaled by ``sqrt(gᵀ Σ_after g / gᵀ Σ g)``. Each row states which method gave it.

Not modelled: a new run extends the fitted range, which would shrink the discrepancy of
predictions beyond it. The interval valued here is the posterior of the law's optimum,
``allocate(fit, flops=target, kind="mean")``, not ``allocate``'s default
``kind="predictive"``, which adds the law's error beyond the fitted range (the discrepancy
only widens the simulated outcomes).

Examples
--------
>>> from bayescale.testing import fake_fit
>>> fit = fake_fit("chinchilla", draws=200)
>>> top = float(fit.runs["flops"].max())
>>> result = plan(fit, target_flops=100 * top, budget_flops=3 * top, replicates=16,
...               random_seed=0)
>>> list(result.candidates.columns[:4])
['params', 'tokens', 'flops', 'width_now']
>>> bool(result.batch["flops"].sum() <= 3 * top)
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from bayescale.analysis._common import positive_scalar
from bayescale.analysis.allocate import ALLOCATION_VARS, optimum
from bayescale.analysis.discrepancy import coordinates, draw_law_error
from bayescale.analysis.extrapolation import check_models
from bayescale.constants import FLOPS_PER_PARAM_TOKEN, SAMPLE_DIMS
from bayescale.exceptions import BayescaleError
from bayescale.intervals import check_ci

if TYPE_CHECKING:
    from bayescale.modeling.fit import Fit

__all__ = [
    "METHODS",
    "PlanResult",
    "candidate_grid",
    "equal_cost_ladder",
    "plan",
    "preposterior_width",
    "sweep_toml",
]

Method = Literal["auto", "reweight", "linear"]
#: Preposterior methods of :func:`plan`.
METHODS: tuple[str, ...] = ("auto", "reweight", "linear")
#: Below this median ESS (Kish) of the reweighted draws, ``method="auto"`` linearises.
MIN_ESS = 100.0
#: Draws the preposterior simulation uses at most (thinned evenly from the posterior).
MAX_DRAWS = 1000
#: Simulated outcome sets per evaluation.
REPLICATES = 64


@dataclass(frozen=True)
class PlanResult:
    """What :func:`plan` recommends.

    Attributes
    ----------
    candidates : pandas.DataFrame
        One row per candidate run, ranked by ``reduction_per_flop`` (best first): ``params``,
        ``tokens``, ``flops`` (the run's cost, 6·N·D), ``width_now`` and ``width_after``
        (expected width of the decision interval, decades: log10 upper / lower), ``reduction``
        (decades), ``reduction_pct``, ``reduction_per_flop`` (decades per FLOP),
        ``reduction_se`` (Monte Carlo standard error of ``reduction``; NaN where linearised:
        a reduction within about two of it is not told apart from none), ``ess``
        (median effective sample size of the reweighted draws), ``method``, ``rank``.
    batch : pandas.DataFrame
        The recommended runs in the order the greedy search picked them, with the batch's
        ``cumulative_flops`` and the expected ``width_after`` once each is added.
    attrs : dict
        ``objective``, ``target_flops``, ``budget_flops``, ``ci_prob``, ``width_now``,
        ``width_after`` (of the whole batch), ``batch_flops``, ``draws``, ``replicates``,
        ``method``, ``noise`` (the stated noise model).
    """

    candidates: pd.DataFrame
    batch: pd.DataFrame
    attrs: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        """One paragraph: the decision interval now and after the batch, cost and method."""
        a = self.attrs
        shrink = 10 ** (a["width_now"] - a["width_after"])
        return (
            f"{a['objective']} at {a['target_flops']:.3g} FLOP: {a['ci_prob']:.0%} interval "
            f"spans {10 ** a['width_now']:.3g}x now; after the {len(self.batch)} planned run(s) "
            f"({a['batch_flops']:.3g} of {a['budget_flops']:.3g} FLOP) expected "
            f"{10 ** a['width_after']:.3g}x ({shrink:.3g}x narrower); preposterior: "
            f"{a['method']}, {a['draws']} draws x {a['replicates']} replicates; noise model: "
            f"{a['noise']}"
        )


def plan(
    fit: Fit,
    *,
    target_flops: float,
    budget_flops: float,
    candidates: pd.DataFrame | None = None,
    objective: str = "params_opt",
    ci_prob: float | None = None,
    method: Method = "auto",
    replicates: int = REPLICATES,
    max_draws: int = MAX_DRAWS,
    min_ess: float = MIN_ESS,
    max_runs: int | None = None,
    random_seed: int | np.random.Generator | None = None,
) -> PlanResult:
    """Value candidate runs by how much they would shrink the decision interval, per FLOP.

    Parameters
    ----------
    fit : Fit
        A fit of an (N, D) loss law without pooling (e.g. Chinchilla's).
    target_flops : float
        The budget of the big run being decided.
    budget_flops : float
        FLOPs available for the next small runs (each run costs 6·N·D).
    candidates : pandas.DataFrame, optional
        Columns ``params`` and ``tokens`` (or one of them and ``flops``); default
        :func:`candidate_grid` (an isoFLOP grid from the top of the fitted range up to the
        budget).
    objective : str, default "params_opt"
        The decision quantity at ``target_flops``: ``params_opt`` (N_opt), ``tokens_opt``,
        ``tokens_per_param`` or ``loss_opt``.
    ci_prob : float, optional
        Interval mass (default :data:`~bayescale.constants.DEFAULT_CI_PROB`, 0.9).
    method : {"auto", "reweight", "linear"}
        Preposterior estimate (see the module docstring); ``"auto"`` reweights and linearises
        where the median ESS falls below ``min_ess``.
    replicates : int
        Simulated outcome sets per evaluation.
    max_draws : int
        Posterior draws used at most (thinned evenly).
    min_ess : float
        ESS threshold of ``method="auto"``.
    max_runs : int, optional
        At most this many runs in the batch.
    random_seed : int or numpy.random.Generator, optional
        Seeds the simulated outcomes.

    Returns
    -------
    PlanResult

    Examples
    --------
    >>> import pandas as pd
    >>> from bayescale.testing import fake_fit
    >>> fit = fake_fit("chinchilla", draws=200)
    >>> top = float(fit.runs["flops"].max())
    >>> runs = pd.DataFrame({"params": [3e9, 1e10], "tokens": [6e10, 2e11]})
    >>> r = plan(fit, target_flops=1e24, budget_flops=1e22, candidates=runs, replicates=8,
    ...          random_seed=1)
    >>> r.candidates[["params", "rank"]].shape
    (2, 2)
    """
    ci = check_ci(ci_prob)
    target = positive_scalar("target_flops", target_flops)
    budget = positive_scalar("budget_flops", budget_flops)
    if objective not in ALLOCATION_VARS:
        raise BayescaleError(
            f"objective must be one of {', '.join(ALLOCATION_VARS)}, not {objective!r}"
        )
    if method not in METHODS:
        raise BayescaleError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    for name, value in (("replicates", replicates), ("max_draws", max_draws)):
        if not (isinstance(value, int | np.integer) and value >= 2):
            raise BayescaleError(f"{name} must be an integer of at least 2, got {value!r}")
    if max_runs is not None and not (isinstance(max_runs, int | np.integer) and max_runs >= 1):
        raise BayescaleError(f"max_runs must be a positive integer, got {max_runs!r}")
    if not (np.isfinite(min_ess) and min_ess >= 0):
        raise BayescaleError(f"min_ess must be a non-negative number, got {min_ess!r}")
    _check_fit(fit)
    table = (
        candidate_grid(fit, budget_flops=budget)
        if candidates is None
        else _candidate_table(candidates)
    )
    affordable = table["flops"].to_numpy() <= budget * (1 + 1e-9)
    if not affordable.any():
        cheapest = float(table["flops"].min())
        raise BayescaleError(
            f"no candidate fits the budget of {budget:.4g} FLOP (the cheapest costs {cheapest:.4g})"
        )
    rng = np.random.default_rng(random_seed)
    sim = _Simulation.build(
        fit,
        table,
        target=target,
        objective=objective,
        ci=ci,
        replicates=int(replicates),
        max_draws=int(max_draws),
        rng=rng,
    )
    now = sim.width(np.zeros((sim.replicates, sim.draws)))[0]
    cost = table["flops"].to_numpy(dtype=float)

    def evaluate(base: np.ndarray, chosen: list[int], j: int) -> tuple[float, float, str]:
        width, ess = sim.width(base + sim.loglik[:, j, :])
        if method == "linear" or (method == "auto" and ess < min_ess):
            return sim.linear_width(now, [*chosen, j]), ess, "linear"
        return width, ess, "reweight"

    base = np.zeros((sim.replicates, sim.draws))
    singles = [evaluate(base, [], j) for j in range(len(table))]
    rows = table.copy()
    rows["width_now"] = now
    rows["width_after"] = [s[0] for s in singles]
    rows["reduction"] = now - rows["width_after"]
    rows["reduction_pct"] = 100 * rows["reduction"] / now if now > 0 else 0.0
    rows["reduction_per_flop"] = rows["reduction"] / rows["flops"]
    rows["reduction_se"] = [
        _reduction_se(sim, j) if singles[j][2] == "reweight" else np.nan for j in range(len(table))
    ]
    rows["ess"] = [s[1] for s in singles]
    rows["method"] = [s[2] for s in singles]
    rows["affordable"] = affordable
    order = np.lexsort((-rows["reduction_per_flop"].to_numpy(), ~affordable))
    rows = rows.iloc[order].reset_index(drop=True)
    rows["rank"] = np.arange(1, len(rows) + 1)

    chosen: list[int] = []
    picked: list[dict[str, Any]] = []
    current, spent = now, 0.0
    methods_used = {s[2] for s in singles}
    limit = len(table) if max_runs is None else int(max_runs)
    evals = {j: singles[j] for j in range(len(table))}
    while len(chosen) < limit:
        best, best_score = -1, 0.0
        for j in range(len(table)):
            if j in chosen or spent + cost[j] > budget * (1 + 1e-9):
                continue
            if j not in evals:
                evals[j] = evaluate(base, chosen, j)
            gain = current - evals[j][0]
            if gain / cost[j] > best_score:
                best, best_score = j, gain / cost[j]
        if best < 0:
            break
        width, ess, how = evals[best]
        chosen.append(best)
        base = base + sim.loglik[:, best, :]
        spent += cost[best]
        current = width
        methods_used.add(how)
        picked.append(
            {
                "params": table["params"].iloc[best],
                "tokens": table["tokens"].iloc[best],
                "flops": cost[best],
                "cumulative_flops": spent,
                "width_after": width,
                "ess": ess,
                "method": how,
            }
        )
        evals = {}
    batch = pd.DataFrame(
        picked,
        columns=["params", "tokens", "flops", "cumulative_flops", "width_after", "ess", "method"],
    )
    attrs = {
        "objective": objective,
        "target_flops": target,
        "budget_flops": budget,
        "ci_prob": ci,
        "width_now": now,
        "width_after": current,
        "batch_flops": spent,
        "draws": sim.draws,
        "replicates": sim.replicates,
        "method": "+".join(sorted(methods_used)) if method == "auto" else method,
        "noise": sim.noise,
    }
    rows.attrs = {**attrs}  # type: ignore[dict-item]
    batch.attrs = {**attrs}  # type: ignore[dict-item]
    return PlanResult(rows, batch, attrs)


def preposterior_width(
    fit: Fit,
    runs: pd.DataFrame,
    *,
    target_flops: float,
    objective: str = "params_opt",
    ci_prob: float | None = None,
    method: Method = "reweight",
    replicates: int = REPLICATES,
    max_draws: int = MAX_DRAWS,
    random_seed: int | np.random.Generator | None = None,
) -> dict[str, float]:
    """Expected width (decades) of the decision interval once ``runs`` are trained together.

    Returns ``{"width_now", "width_after", "ess"}``; ``method`` is ``"reweight"`` or
    ``"linear"`` (no automatic switch: the ESS is reported beside the width).

    Examples
    --------
    >>> import pandas as pd
    >>> from bayescale.testing import fake_fit
    >>> fit = fake_fit("chinchilla", draws=200)
    >>> out = preposterior_width(fit, pd.DataFrame({"params": [1e10], "tokens": [2e11]}),
    ...                          target_flops=1e24, replicates=8, random_seed=0)
    >>> bool(out["width_after"] <= out["width_now"] + 0.05)
    True
    """
    if method not in ("reweight", "linear"):
        raise BayescaleError(f"method must be 'reweight' or 'linear', not {method!r}")
    _check_fit(fit)
    table = _candidate_table(runs)
    sim = _Simulation.build(
        fit,
        table,
        target=positive_scalar("target_flops", target_flops),
        objective=objective,
        ci=check_ci(ci_prob),
        replicates=int(replicates),
        max_draws=int(max_draws),
        rng=np.random.default_rng(random_seed),
    )
    zero = np.zeros((sim.replicates, sim.draws))
    now = sim.width(zero)[0]
    width, ess = sim.width(sim.loglik.sum(axis=1))
    if method == "linear":
        width = sim.linear_width(now, list(range(len(table))))
    return {"width_now": now, "width_after": width, "ess": ess}


# ---------------------------------------------------------------------- candidates
def candidate_grid(
    fit: Fit,
    *,
    budget_flops: float,
    kind: Literal["isoflop", "ladder"] = "isoflop",
    levels: int = 6,
    sizes: int = 5,
    tokens_per_param: float | None = None,
    low_flops: float | None = None,
) -> pd.DataFrame:
    """Candidate runs: an isoFLOP grid, or a size ladder at fixed tokens per parameter.

    Compute levels are log-spaced from ``low_flops`` (default: a tenth of the largest fitted
    run) up to ``budget_flops`` (no single run may cost more). ``kind="isoflop"`` puts
    ``sizes`` runs on each level, with tokens per parameter log-spaced over the fitted runs'
    range; ``kind="ladder"`` puts one run per level at ``tokens_per_param`` (default: the
    fitted runs' median D/N).

    Examples
    --------
    >>> from bayescale.testing import fake_fit
    >>> fit = fake_fit("chinchilla", draws=10)
    >>> len(candidate_grid(fit, budget_flops=1e21, levels=4, sizes=3))
    12
    """
    budget = positive_scalar("budget_flops", budget_flops)
    for name, value in (("levels", levels), ("sizes", sizes)):
        if not (isinstance(value, int | np.integer) and value >= 1):
            raise BayescaleError(f"{name} must be a positive integer, got {value!r}")
    runs = _used_runs(fit)
    c = FLOPS_PER_PARAM_TOKEN * runs["params"].to_numpy(float) * runs["tokens"].to_numpy(float)
    ratio = runs["tokens"].to_numpy(float) / runs["params"].to_numpy(float)
    lo = positive_scalar("low_flops", low_flops) if low_flops is not None else c.max() / 10
    lo = min(lo, budget)
    flops = np.geomspace(lo, budget, levels) if levels > 1 else np.array([budget])
    if kind == "isoflop":
        r_lo, r_hi = float(ratio.min()), float(ratio.max())
        ratios = (
            np.geomspace(r_lo, r_hi, sizes)
            if sizes > 1 and r_hi > r_lo
            else np.array([float(np.median(ratio))])
        )
    elif kind == "ladder":
        r = (
            float(np.median(ratio))
            if tokens_per_param is None
            else positive_scalar("tokens_per_param", tokens_per_param)
        )
        ratios = np.array([r])
    else:
        raise BayescaleError(f"kind must be 'isoflop' or 'ladder', not {kind!r}")
    cc, rr = np.meshgrid(flops, ratios, indexing="ij")
    n = np.sqrt(cc / (FLOPS_PER_PARAM_TOKEN * rr))
    return _candidate_table(pd.DataFrame({"params": n.ravel(), "tokens": (n * rr).ravel()}))


def equal_cost_ladder(
    fit: Fit, *, budget_flops: float, runs: int = 4, tokens_per_param: float | None = None
) -> pd.DataFrame:
    """A naive plan for comparison: ``runs`` sizes log-spaced like the fitted ladder, same cost.

    Sizes are log-spaced over the fitted runs' parameter range at ``tokens_per_param``
    (default: their median D/N), then scaled by one common factor so that the runs cost
    ``budget_flops`` in all.

    Examples
    --------
    >>> from bayescale.testing import fake_fit
    >>> t = equal_cost_ladder(fake_fit("chinchilla", draws=10), budget_flops=1e21)
    >>> round(float(t["flops"].sum()) / 1e21, 6)
    1.0
    """
    budget = positive_scalar("budget_flops", budget_flops)
    used = _used_runs(fit)
    n_fit = used["params"].to_numpy(float)
    ratio = used["tokens"].to_numpy(float) / n_fit
    r = (
        float(np.median(ratio))
        if tokens_per_param is None
        else positive_scalar("tokens_per_param", tokens_per_param)
    )
    n = np.geomspace(n_fit.min(), n_fit.max(), runs)
    scale = math.sqrt(budget / float(np.sum(FLOPS_PER_PARAM_TOKEN * r * n**2)))
    n = n * scale
    table = pd.DataFrame({"params": n, "tokens": r * n})
    table["flops"] = FLOPS_PER_PARAM_TOKEN * table["params"] * table["tokens"]
    return table


def sweep_toml(
    batch: pd.DataFrame,
    *,
    name: str = "plan",
    defaults: Mapping[str, Any] | None = None,
    seeds: Sequence[int] = (0,),
    comment: str = "",
) -> str:
    """The batch as a runner sweep file (``kind = "list"``): one ``[[list]]`` table per run.

    Each run gives ``params`` (total parameters; the runner picks the depth whose count is
    nearest) and ``tokens``; ``defaults`` (any run setting, e.g. a template sweep's
    ``[defaults]``) apply to every run.

    Examples
    --------
    >>> import pandas as pd
    >>> text = sweep_toml(pd.DataFrame({"params": [2e5], "tokens": [1e6]}),
    ...                   defaults={"corpus": "stdlib", "seq_len": 64})
    >>> print(text.splitlines()[2])
    kind = "list"
    >>> "params = 200000" in text
    True
    """
    lines = [f"# {line}" for line in comment.splitlines()] if comment else []
    lines += ["[sweep]", f"name = {_toml_value(name)}", 'kind = "list"']
    lines.append(f"seeds = [{', '.join(str(int(s)) for s in seeds)}]")
    if defaults:
        lines += ["", "[defaults]"]
        for key, value in defaults.items():
            if key in ("params", "tokens", "steps", "n_layer", "seed"):
                continue
            lines.append(f"{key} = {_toml_value(value)}")
    for _, row in batch.iterrows():
        lines += [
            "",
            "[[list]]",
            f"params = {round(float(row['params']))}",
            f"tokens = {round(float(row['tokens']))}",
        ]
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if not np.isfinite(value):
            raise BayescaleError(f"a sweep setting must be finite, got {value!r}")
        return repr(float(value))
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


# ---------------------------------------------------------------------- internals
def _check_fit(fit: Fit) -> None:
    law = fit.law
    if law.inputs[:2] != ("params", "tokens") or len(law.inputs) != 2:
        raise BayescaleError(
            f"plan needs a fit of an (N, D) loss law; {law.name!r} has inputs "
            f"{', '.join(law.inputs)}"
        )
    if fit.info.group:
        raise BayescaleError(
            f"plan works on a fit without pooling; this one pools by {fit.info.group!r}: "
            "refit the group you want to plan for on its own rows"
        )
    if "sigma" not in fit.posterior:
        raise BayescaleError("plan needs the fit's noise scale 'sigma', which its posterior lacks")


def _used_runs(fit: Fit) -> pd.DataFrame:
    runs = fit.runs
    if "outlier" in runs.columns:
        runs = runs.loc[~runs["outlier"].astype(bool)]
    return runs


def _candidate_table(candidates: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(candidates, pd.DataFrame):
        raise BayescaleError(
            f"candidates must be a pandas DataFrame, got {type(candidates).__name__}"
        )
    table = candidates.reset_index(drop=True)
    have = {c for c in ("params", "tokens", "flops") if c in table.columns}
    if len(table) == 0:
        raise BayescaleError("no candidates given (the table is empty)")
    cols: dict[str, np.ndarray] = {}
    for c in have:
        try:
            values = pd.to_numeric(table[c]).to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise BayescaleError(f"candidates column {c!r} must be numeric") from None
        bad = ~(np.isfinite(values) & (values > 0))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise BayescaleError(
                f"candidates column {c!r}, row {row}: needs a finite positive value"
            )
        cols[c] = values
    if {"params", "tokens"} <= have:
        n, d = cols["params"], cols["tokens"]
    elif {"params", "flops"} <= have:
        n = cols["params"]
        d = cols["flops"] / (FLOPS_PER_PARAM_TOKEN * n)
    elif {"tokens", "flops"} <= have:
        d = cols["tokens"]
        n = cols["flops"] / (FLOPS_PER_PARAM_TOKEN * d)
    else:
        raise BayescaleError(
            "candidates need columns params and tokens (or one of them and flops); got "
            + ", ".join(map(str, table.columns))
        )
    out = pd.DataFrame({"params": n, "tokens": d})
    out["flops"] = FLOPS_PER_PARAM_TOKEN * n * d
    check_models(out)
    return out


def _flat(da: xr.DataArray, index: np.ndarray) -> np.ndarray:
    values = np.asarray(da.transpose(*SAMPLE_DIMS, ...).values, dtype=float)
    return values.reshape(-1, *values.shape[2:])[index]


def _noise_information(fit: Fit, rng: np.random.Generator) -> float:
    """Fisher information of the noise form per unit scale, E[(d/dε log p(ε))²] (MC)."""
    like = fit.spec.likelihood
    eps = like.sample_noise(rng, (20000,))
    h = 1e-4
    score = (like.logpdf(eps + h, mu=0.0, sigma=1.0) - like.logpdf(eps - h, mu=0.0, sigma=1.0)) / (
        2 * h
    )
    return float(np.mean(score**2))


@dataclass
class _Simulation:
    """Everything the greedy search evaluates: per-replicate log-likelihoods and the target."""

    q: np.ndarray  # (S,) log10 of the decision quantity per draw
    loglik: np.ndarray  # (R, J, S) log p(simulated outcome of run j in replicate k | draw s)
    truth: np.ndarray  # (R,) index of each replicate's true draw
    mu: np.ndarray  # (J, S) log mean loss of each candidate per draw
    phi: np.ndarray  # (S, P) the law's parameters, log scale where positive
    inv_sigma2: float
    kappa: float
    ci: float
    noise: str

    @property
    def replicates(self) -> int:
        return int(self.loglik.shape[0])

    @property
    def draws(self) -> int:
        return int(self.q.shape[0])

    @classmethod
    def build(
        cls,
        fit: Fit,
        table: pd.DataFrame,
        *,
        target: float,
        objective: str,
        ci: float,
        replicates: int,
        max_draws: int,
        rng: np.random.Generator,
    ) -> _Simulation:
        law = fit.law
        post = fit.posterior
        total = int(post.sizes["chain"] * post.sizes["draw"])
        index = np.unique(np.linspace(0, total - 1, min(total, max_draws)).round().astype(int))
        theta = {p: _flat(post[p], index) for p in law.params}
        sigma = _flat(post["sigma"], index)
        s = index.size
        flat_theta = xr.Dataset({p: ("sample", v) for p, v in theta.items()})
        best = optimum(law, flat_theta, xr.DataArray([target], dims="flops"))[objective]
        q = np.log10(np.asarray(best.transpose("sample", "flops").values, dtype=float)[:, 0])
        if not np.all(np.isfinite(q)):
            raise BayescaleError(
                f"{objective} at {target:.4g} FLOP is not finite for every draw; plan cannot "
                "rank runs by its interval"
            )
        n = table["params"].to_numpy(dtype=float)
        d = table["tokens"].to_numpy(dtype=float)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            mu = np.log(
                np.asarray(
                    law.loss(n[:, None], d[:, None], **{p: v[None, :] for p, v in theta.items()}),
                    dtype=float,
                )
            )
        if not np.all(np.isfinite(mu)):
            raise BayescaleError("the law's loss is not finite at some candidate for some draw")
        truth = rng.integers(0, s, size=replicates)
        like = fit.spec.likelihood
        eps = like.sample_noise(rng, (replicates, len(table)))
        term = like.discrepancy
        shift = np.zeros((replicates, len(table)))
        error = draw_law_error(fit, term, random_seed=rng.spawn(1)[0])
        if error is not None:
            flat = {
                k: xr.DataArray(_flat(error.slopes[k], index)[truth], dims="replicate")
                for k in error.directions
            }
            inputs = {
                "params": xr.DataArray(n, dims="candidate"),
                "tokens": xr.DataArray(d, dims="candidate"),
            }
            moved = error.log_shift(coordinates(law, inputs), flat)
            shift = np.asarray(moved.transpose("replicate", "candidate").values)
        y = mu[:, truth].T + shift + sigma[truth][:, None] * eps  # (R, J)
        loglik = like.logpdf(y[:, :, None], mu=mu[None, :, :], sigma=sigma[None, None, :])
        loglik = np.asarray(loglik, dtype=float)
        loglik[np.arange(replicates), :, truth] = -np.inf  # the truth draw itself is left out
        phi = np.column_stack([np.log(v) if np.all(v > 0) else v for v in theta.values()])
        noise = f"{like.dist} on log loss"
        if like.dist == "StudentT":
            noise += f" (nu={like.nu:g})"
        noise += ", scale: the posterior sigma"
        if error is not None:
            scales = ", ".join(
                f"{k} {v:g}" for k, v in term.to_dict().items() if k != "citation" and v
            )
            noise += f"; law discrepancy beyond the fitted range per decade ({scales})"
        return cls(
            q=q,
            loglik=loglik,
            truth=truth,
            mu=mu,
            phi=phi,
            inv_sigma2=float(np.mean(1.0 / sigma**2)),
            kappa=_noise_information(fit, np.random.default_rng(0)),
            ci=ci,
            noise=noise,
        )

    def width(self, total: np.ndarray) -> tuple[float, float]:
        """Mean width (decades) of the weighted interval and median ESS over replicates."""
        widths, ess = self.widths(total)
        return float(np.mean(widths)), ess

    def widths(self, total: np.ndarray) -> tuple[np.ndarray, float]:
        """Each replicate's width (decades) of the weighted interval; median ESS."""
        total = np.array(total, dtype=float, copy=True)
        total[np.arange(self.replicates), self.truth] = -np.inf
        top = np.max(total, axis=1, keepdims=True)
        w = np.exp(total - top)
        w /= w.sum(axis=1, keepdims=True)
        ess = 1.0 / np.sum(w**2, axis=1)
        order = np.argsort(self.q)
        qs = self.q[order]
        ws = w[:, order]
        cdf = np.cumsum(ws, axis=1) - 0.5 * ws  # mid-point rule
        lo = _interp_rows((1 - self.ci) / 2, cdf, qs)
        hi = _interp_rows((1 + self.ci) / 2, cdf, qs)
        return hi - lo, float(np.median(ess))

    def linear_width(self, now: float, runs: list[int]) -> float:
        """Width after ``runs`` by a linearised Gaussian (Fisher) update of the parameters."""
        phi = self.phi - self.phi.mean(axis=0)
        s = phi.shape[0]
        cov = phi.T @ phi / (s - 1)
        prec = np.linalg.pinv(cov)
        qc = self.q - self.q.mean()
        g = prec @ (phi.T @ qc / (s - 1))
        info = np.zeros_like(cov)
        for j in runs:
            mc = self.mu[j] - self.mu[j].mean()
            jac = prec @ (phi.T @ mc / (s - 1))
            info += np.outer(jac, jac) * self.kappa * self.inv_sigma2
        var_now = float(g @ cov @ g)
        if var_now <= 0:
            return now
        var_after = float(g @ np.linalg.pinv(prec + info) @ g)
        return now * math.sqrt(max(var_after, 0.0) / var_now)


def _reduction_se(sim: _Simulation, j: int) -> float:
    """Monte Carlo standard error of run ``j``'s expected reduction (replicates share outcomes)."""
    zero = np.zeros((sim.replicates, sim.draws))
    diff = sim.widths(zero)[0] - sim.widths(sim.loglik[:, j, :])[0]
    return float(np.std(diff, ddof=1) / math.sqrt(sim.replicates))


def _interp_rows(p: float, cdf: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per row of ``cdf`` (increasing), the value where it crosses ``p`` (linear)."""
    k = np.sum(cdf < p, axis=1)
    k_hi = np.clip(k, 0, cdf.shape[1] - 1)
    k_lo = np.clip(k - 1, 0, cdf.shape[1] - 1)
    rows = np.arange(cdf.shape[0])
    c_lo, c_hi = cdf[rows, k_lo], cdf[rows, k_hi]
    span = np.where(c_hi > c_lo, c_hi - c_lo, 1.0)
    t = np.clip((p - c_lo) / span, 0.0, 1.0)
    return values[k_lo] + t * (values[k_hi] - values[k_lo])
