"""Compare fitted scaling laws: PSIS-LOO, and extrapolation to held-out larger runs.

Two questions, two methods:

- ``method="loo"``: how well does each model predict a left-out run of the same table?
  PSIS-LOO through ArviZ on the stored ``log_likelihood`` group (variable ``log_loss``, the
  likelihood of log loss, so laws fitted to the same losses are comparable even when their
  parameter counts differ). Pareto-k diagnostics above 0.7 are reported per model and warned
  about (:class:`ParetoKWarning`).
- ``method="extrapolation"``: the comparison that matters for scaling laws. Each model is refit
  on the runs at or below a threshold (``on="flops"``, ``"params"`` or
  ``"params_nonembedding"``), and the held-out larger runs are scored by the coverage of the
  50 % and 90 % posterior predictive intervals, the log predictive density (mean over held-out
  runs, on log loss), the CRPS (on log loss; lower is better) and the median absolute relative
  error of the predictive median.

:func:`kaplan_vs_chinchilla` fits both forms to one table and reports both comparisons and the
implied compute-optimal exponent side by side.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy import special

from bayescale.constants import SAMPLE_DIMS
from bayescale.exceptions import BayescaleError, ConvergenceWarning, RunTableError
from bayescale.intervals import check_ci, eti
from bayescale.modeling import build

if TYPE_CHECKING:
    from bayescale.modeling.fit import Fit

__all__ = [
    "PARETO_K_BAD",
    "ParetoKWarning",
    "compare",
    "extrapolation_scores",
    "kaplan_vs_chinchilla",
    "loo_table",
    "split_runs",
]

#: Pareto-k above which a PSIS-LOO term is unreliable (Vehtari et al. 2024, arXiv:1507.02646).
PARETO_K_BAD = 0.7
#: Predictive-interval masses whose coverage extrapolation reports.
COVERAGE_PROBS: tuple[float, ...] = (0.5, 0.9)

Method = Literal["loo", "extrapolation"]
On = Literal["flops", "params", "params_nonembedding", "tokens"]


class ParetoKWarning(UserWarning):
    """Some PSIS-LOO Pareto-k values exceed :data:`PARETO_K_BAD`: those terms are unreliable."""


def _named(fits: Sequence[Fit] | Mapping[str, Fit], names: Sequence[str] | None) -> dict[str, Fit]:
    if isinstance(fits, Mapping):
        out = {str(k): v for k, v in fits.items()}
    else:
        fits = list(fits)
        if names is not None:
            if len(names) != len(fits):
                raise BayescaleError(f"{len(names)} names given for {len(fits)} fits")
            labels = [str(n) for n in names]
        else:
            labels = [f.spec.name for f in fits]
        seen: dict[str, int] = {}
        unique = []
        for label in labels:
            seen[label] = seen.get(label, 0) + 1
            unique.append(label if seen[label] == 1 else f"{label}#{seen[label]}")
        if len(set(unique)) != len(unique):
            raise BayescaleError("model names must be unique")
        out = dict(zip(unique, fits, strict=True))
    if len(out) < 1:
        raise BayescaleError("compare needs at least one fit")
    return out


# --------------------------------------------------------------------------------- LOO
def loo_table(
    fits: Sequence[Fit] | Mapping[str, Fit], *, names: Sequence[str] | None = None
) -> pd.DataFrame:
    """PSIS-LOO of each fit and their ArviZ comparison.

    Parameters
    ----------
    fits : sequence of Fit or mapping of name to Fit
        Fits of the same losses (same runs, same order; their parameter conventions may
        differ).
    names : sequence of str, optional
        Model names (default: the specs' names, numbered when repeated).

    Returns
    -------
    pandas.DataFrame
        Indexed by model, best first: ``rank``, ``elpd_loo``, ``se``, ``p_loo``,
        ``elpd_diff`` (ArviZ 1.x convention: this model's elpd minus the best one's, <= 0),
        ``dse``, ``weight`` (stacking), ``n_runs``, ``pareto_k_max`` and ``pareto_k_bad``
        (how many runs have k > 0.7).

    Warns
    -----
    ParetoKWarning
        When any fit has Pareto-k values above 0.7.
    """
    import arviz_stats as azs

    named = _named(fits, names)
    ref_name, ref = next(iter(named.items()))
    ref_y = np.log(ref.runs["loss"].to_numpy(dtype=float))
    loos: dict[str, Any] = {}
    rows: dict[str, dict[str, Any]] = {}
    for name, fit in named.items():
        y = np.log(fit.runs["loss"].to_numpy(dtype=float))
        if len(y) != len(ref_y) or not np.allclose(y, ref_y, rtol=1e-12, atol=0.0):
            raise BayescaleError(
                f"LOO compares fits of the same losses: {name!r} was fitted to {len(y)} runs, "
                f"{ref_name!r} to {len(ref_y)} (or in another order); use "
                "method='extrapolation' or refit on one table"
            )
        fit.ensure_log_likelihood()  # large fits do not store it
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pareto-k problems are reported below
            loo = azs.loo(fit.tree, pointwise=True, var_name="log_loss")
        k = np.asarray(loo.pareto_k).ravel()
        loos[name] = loo
        rows[name] = {
            "elpd_loo": float(loo.elpd),
            "se": float(loo.se),
            "p_loo": float(loo.p),
            "n_runs": int(loo.n_data_points),
            "pareto_k_max": float(np.nanmax(k)),
            "pareto_k_bad": int(np.sum(k > PARETO_K_BAD)),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    if len(named) > 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cmp = azs.compare(loos)
        table["weight"] = cmp["weight"].reindex(table.index).astype(float)
        # differences to the best model from the pointwise values (ArviZ rounds its table)
        best = str(table["elpd_loo"].idxmax())
        best_i = np.asarray(loos[best].elpd_i).ravel()
        for name in table.index:
            diff_i = np.asarray(loos[name].elpd_i).ravel() - best_i
            table.loc[name, "elpd_diff"] = float(diff_i.sum())
            table.loc[name, "dse"] = float(np.sqrt(len(diff_i) * np.var(diff_i)))
        table["rank"] = table["elpd_loo"].rank(ascending=False, method="first") - 1
    else:
        table["rank"], table["elpd_diff"], table["dse"], table["weight"] = 0.0, 0.0, 0.0, 1.0
    table["rank"] = table["rank"].astype(int)
    cols = ["rank", "elpd_loo", "se", "p_loo", "elpd_diff", "dse", "weight", "n_runs"]
    table = table[[*cols, "pareto_k_max", "pareto_k_bad"]].sort_values("rank")
    table.index.name = "model"
    bad = table.loc[table["pareto_k_bad"] > 0, "pareto_k_bad"]
    if len(bad):
        detail = ", ".join(f"{m}: {n} run(s)" for m, n in bad.items())
        warnings.warn(
            f"PSIS-LOO Pareto k > {PARETO_K_BAD} ({detail}): those LOO terms are unreliable; "
            "prefer method='extrapolation' or exact refits for them",
            ParetoKWarning,
            stacklevel=2,
        )
    return table


# ------------------------------------------------------------------------- extrapolation
def split_runs(
    runs: pd.DataFrame, *, threshold: float, on: str = "flops"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a run table at ``threshold`` of column ``on``: (runs ≤ threshold, runs above).

    Raises
    ------
    RunTableError
        When the column is missing or has missing values, or either side has too few runs
        (the fitted side needs 3, the held-out side 1).

    Examples
    --------
    >>> import pandas as pd
    >>> runs = pd.DataFrame({"params": [1e7, 1e8, 1e9, 1e10], "flops": [1, 2, 3, 4]})
    >>> [len(x) for x in split_runs(runs, threshold=3.5e8, on="params")]  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bayescale.exceptions.RunTableError: split on 'params' at 3.5e+08: 2 runs at or below ...
    >>> [len(x) for x in split_runs(runs, threshold=2e9, on="params")]
    [3, 1]
    """
    if on not in runs.columns:
        raise RunTableError(
            f"split column {on!r} not in the run table (found: {', '.join(map(str, runs.columns))})"
        )
    values = pd.to_numeric(runs[on], errors="coerce").to_numpy(dtype=float)
    if np.isnan(values).any():
        pos = int(np.flatnonzero(np.isnan(values))[0])
        raise RunTableError(f"column {on!r}, row {runs.index[pos]}: value is missing")
    below = values <= threshold
    n_fit, n_held = int(below.sum()), int((~below).sum())
    if n_fit < 3:
        raise RunTableError(
            f"split on {on!r} at {threshold:.3g}: {n_fit} runs at or below the threshold; "
            "the fit needs at least 3"
        )
    if n_held < 1:
        raise RunTableError(f"split on {on!r} at {threshold:.3g}: no run above the threshold")
    fit_part, held = runs.loc[below].copy(), runs.loc[~below].copy()
    fit_part.attrs = dict(runs.attrs)
    held.attrs = dict(runs.attrs)
    return fit_part, held


def _crps_samples(samples: np.ndarray, y: np.ndarray) -> np.ndarray:
    """CRPS of sample-based forecasts (rows: points, columns: samples), E|X−y| − ½E|X−X'|."""
    m = samples.shape[1]
    xs = np.sort(samples, axis=1)
    term1 = np.mean(np.abs(xs - y[:, None]), axis=1)
    weights = 2.0 * np.arange(1, m + 1) - m - 1.0
    term2 = np.sum(xs * weights, axis=1) / (m * m)
    return term1 - term2


def _predictive(
    fit: Fit, held: pd.DataFrame, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Mean log loss (points × draws) and noise scale (draws) of a fit at held-out runs."""
    import xarray as xr

    from bayescale.analysis._common import law_draws

    law = fit.law
    missing = [c for c in law.inputs if c not in held.columns]
    if missing:
        raise RunTableError(f"held-out runs lack column(s) {', '.join(missing)}")
    group = fit.info.group
    keys = held[group].astype(str) if group else pd.Series("", index=held.index)
    parts: dict[str, np.ndarray] = {}
    sig: np.ndarray | None = None
    for g in keys.unique():
        if group and g not in fit.info.groups:
            raise BayescaleError(
                f"held-out runs of {group}={g!r} have no group in the fitted runs "
                f"({', '.join(fit.info.groups)})"
            )
        theta = law_draws(fit, group=g if group else None, random_seed=rng, extra=("sigma",))
        mask = (keys == g).to_numpy()
        inputs = [
            xr.DataArray(held.loc[mask, c].to_numpy(dtype=float), dims="point") for c in law.inputs
        ]
        mean = law.loss(*inputs, **{p: theta[p] for p in law.params})
        mean = mean.stack(sample=SAMPLE_DIMS).transpose("point", "sample")
        parts[g] = np.log(mean.to_numpy())
        sig = theta["sigma"].stack(sample=SAMPLE_DIMS).to_numpy()
    mu = np.empty((len(held), next(iter(parts.values())).shape[1]))
    for g, values in parts.items():
        mu[(keys == g).to_numpy()] = values
    assert sig is not None
    return mu, sig


def extrapolation_scores(
    fit: Fit,
    *,
    threshold: float,
    on: str = "flops",
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    random_seed: int | None = None,
    refit: Fit | None = None,
) -> dict[str, Any]:
    """Refit ``fit``'s spec on its runs at or below ``threshold`` and score the larger runs.

    Parameters
    ----------
    fit : Fit
        A fitted model; its spec and run table are reused (the run table as fitted).
    threshold : float
        Runs with ``on`` ≤ threshold are fitted, the others are held out.
    on : {"flops", "params", "params_nonembedding", "tokens"}
        Column to split on.
    draws, tune, chains, random_seed : int, optional
        Sampler settings of the refit (default: the spec's).
    refit : Fit, optional
        An already computed fit of the lower runs (skips the refit).

    Returns
    -------
    dict
        ``n_fit``, ``n_held_out``, ``coverage_50``, ``coverage_90`` (fraction of held-out runs
        inside the predictive intervals), ``lpd`` (mean log predictive density of log loss),
        ``crps`` (mean, on log loss), ``mare`` (median |median prediction − loss| / loss),
        ``r_hat_max`` and ``divergences`` of the refit, and ``refit`` (the Fit).
    """
    from bayescale.modeling.model import ScalingModel

    if not build.family_module(fit.law.family).predicts_loss:
        raise BayescaleError(
            f"extrapolation needs a loss law; {fit.law.name!r} (model family "
            f"{fit.law.family!r}) cannot predict runs at unseen budgets (use method='loo')"
        )
    lower, held = split_runs(fit.runs, threshold=threshold, on=on)
    if refit is None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            refit = ScalingModel(fit.spec).fit(
                lower, draws=draws, tune=tune, chains=chains, random_seed=random_seed
            )
        for w in caught:
            if issubclass(w.category, ConvergenceWarning):
                warnings.warn(
                    f"refit of {fit.spec.name!r} below {on} = {threshold:.3g}: {w.message}",
                    ConvergenceWarning,
                    stacklevel=2,
                )
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    rng = np.random.default_rng(random_seed)
    mu, sigma = _predictive(refit, held, rng)
    y = np.log(held["loss"].to_numpy(dtype=float))
    like = refit.spec.likelihood
    logp = like.logpdf(y[:, None], mu=mu, sigma=sigma[None, :])
    eps = like.sample_noise(rng, mu.shape)
    samples = mu + sigma[None, :] * eps
    lpd = special.logsumexp(logp, axis=1) - np.log(logp.shape[1])
    out: dict[str, Any] = {"n_fit": len(lower), "n_held_out": len(held)}
    for prob in COVERAGE_PROBS:
        lo, _, hi = eti(samples, prob, axis=1)
        out[f"coverage_{round(prob * 100)}"] = float(np.mean((y >= lo) & (y <= hi)))
    median = np.exp(np.median(samples, axis=1))
    loss = np.exp(y)
    out["lpd"] = float(np.mean(lpd))
    out["crps"] = float(np.mean(_crps_samples(samples, y)))
    out["mare"] = float(np.median(np.abs(median - loss) / loss))
    diag = refit.diagnostics()
    out["r_hat_max"] = float(diag["r_hat_max"])
    out["divergences"] = int(diag["divergences"])
    out["refit"] = refit
    return out


def compare(
    fits: Sequence[Fit] | Mapping[str, Fit],
    *,
    method: Method = "loo",
    threshold: float | None = None,
    on: str = "flops",
    names: Sequence[str] | None = None,
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    random_seed: int | None = None,
) -> pd.DataFrame:
    """Compare fitted models by PSIS-LOO or by extrapolation to held-out larger runs.

    Parameters
    ----------
    fits : sequence of Fit or mapping of name to Fit
        The models.
    method : {"loo", "extrapolation"}
        See the module docstring.
    threshold : float, optional
        Extrapolation only (required there): runs with ``on`` ≤ threshold are refitted, the
        rest scored.
    on : str, default "flops"
        Extrapolation split column (``flops``, ``params``, ``params_nonembedding``, ...).
    names : sequence of str, optional
        Model names (default: the specs' names).
    draws, tune, chains, random_seed : int, optional
        Sampler settings of the extrapolation refits.

    Returns
    -------
    pandas.DataFrame
        One row per model, best first. LOO: see :func:`loo_table`. Extrapolation:
        ``rank`` (by ``lpd``), ``n_fit``, ``n_held_out``, ``coverage_50``, ``coverage_90``,
        ``lpd``, ``crps``, ``mare``, ``r_hat_max``, ``divergences``.

    Examples
    --------
    >>> import bayescale as bs  # doctest: +SKIP
    >>> runs = bs.load_dataset("epoch_chinchilla")  # doctest: +SKIP
    >>> fits = [bs.ScalingModel(n).fit(runs) for n in ["chinchilla", "kaplan"]]  # doctest: +SKIP
    >>> bs.compare(fits, method="extrapolation", threshold=1e21)  # doctest: +SKIP
    """
    if method == "loo":
        return loo_table(fits, names=names)
    if method != "extrapolation":
        raise BayescaleError(f"method must be 'loo' or 'extrapolation', not {method!r}")
    if threshold is None:
        raise BayescaleError("method='extrapolation' needs threshold= (and on=, default 'flops')")
    named = _named(fits, names)
    rows = {}
    for name, fit in named.items():
        scores = extrapolation_scores(
            fit,
            threshold=threshold,
            on=on,
            draws=draws,
            tune=tune,
            chains=chains,
            random_seed=random_seed,
        )
        scores.pop("refit")
        rows[name] = scores
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.insert(0, "rank", table["lpd"].rank(ascending=False, method="min").astype(int) - 1)
    table = table.sort_values("rank")
    table.index.name = "model"
    table.attrs.update({"method": "extrapolation", "threshold": threshold, "on": on})
    return table


def kaplan_vs_chinchilla(
    runs: pd.DataFrame,
    *,
    threshold: float,
    on: str = "params_nonembedding",
    nonembedding: str = "params_nonembedding",
    keep_best: Sequence[str] | None = None,
    ci_prob: float | None = None,
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    random_seed: int | None = None,
) -> pd.DataFrame:
    """Fit Kaplan's L(N, D) and Chinchilla to one table; report LOO, extrapolation and ``a``.

    Chinchilla is fitted with ``params`` (total); Kaplan with the non-embedding count in
    column ``nonembedding`` (its own convention) when the table has it, else with ``params``.
    Both are fitted to the same losses, so their LOO values are comparable.

    Parameters
    ----------
    runs : pandas.DataFrame
        Run table.
    threshold, on
        Extrapolation split (see :func:`compare`); by default the non-embedding size.
    nonembedding : str, default "params_nonembedding"
        Column holding the non-embedding parameter count.
    keep_best : sequence of str, optional
        Keep only the lowest-loss run among rows sharing these columns (e.g.
        ``("params", "tokens")`` to keep the best learning rate of each (N, D)).
    ci_prob : float, optional
        Mass of the interval of the implied exponent ``a``. Default
        :data:`~bayescale.constants.DEFAULT_CI_PROB`.
    draws, tune, chains, random_seed : int, optional
        Sampler settings of every fit.

    Returns
    -------
    pandas.DataFrame
        Rows ``kaplan`` and ``chinchilla``: LOO columns (``elpd_loo``, ``se``, ``elpd_diff``,
        ``dse``, ``weight``, ``pareto_k_bad``), extrapolation columns (``coverage_50``,
        ``coverage_90``, ``lpd``, ``crps``, ``mare``, ``n_fit``, ``n_held_out``) and the implied
        ``a_median``, ``a_lower``, ``a_upper`` of the full-table fit.
    """
    from bayescale.analysis.isoflop import optimal_exponent
    from bayescale.data.schema import validate_runs
    from bayescale.modeling.model import ScalingModel

    ci_prob = check_ci(ci_prob)
    table = validate_runs(runs)
    if keep_best:
        missing = [c for c in keep_best if c not in table.columns]
        if missing:
            raise RunTableError(f"keep_best: column(s) {', '.join(missing)} not in the run table")
        attrs = dict(table.attrs)
        best = table.groupby(list(keep_best), sort=False)["loss"].idxmin()
        table = table.loc[sorted(best.to_numpy())].copy()
        table.attrs = attrs
    kaplan_runs = table.copy()
    kaplan_runs.attrs = dict(table.attrs)
    if nonembedding in table.columns:
        kaplan_runs["params"] = table[nonembedding]
        kaplan_runs.attrs["params_kind"] = "non_embedding"
    sampler: dict[str, Any] = {
        "draws": draws,
        "tune": tune,
        "chains": chains,
        "random_seed": random_seed,
    }
    fits: dict[str, Fit] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        fits["kaplan"] = ScalingModel("kaplan").fit(kaplan_runs, **sampler)
        fits["chinchilla"] = ScalingModel("chinchilla").fit(table, **sampler)
    for w in caught:
        warnings.warn(str(w.message), w.category, stacklevel=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ParetoKWarning)
        loo = loo_table(fits)
    for w in caught:
        warnings.warn(str(w.message), w.category, stacklevel=2)
    extra = {
        name: extrapolation_scores(fit, threshold=threshold, on=on, **sampler)
        for name, fit in fits.items()
    }
    rows = {}
    for name, fit in fits.items():
        a_lower, a_median, a_upper = eti(optimal_exponent(fit), ci_prob, skipna=True)
        ex = {k: v for k, v in extra[name].items() if k != "refit"}
        rows[name] = {
            **{c: loo.loc[name, c] for c in ("elpd_loo", "se", "elpd_diff", "dse", "weight")},
            "pareto_k_bad": int(loo.at[name, "pareto_k_bad"]),  # type: ignore[arg-type]
            **{f"extrap_{k}" if k in ("r_hat_max", "divergences") else k: v for k, v in ex.items()},
            "a_median": float(a_median),
            "a_lower": float(a_lower),
            "a_upper": float(a_upper),
            "r_hat_max": float(fit.diagnostics()["r_hat_max"]),
        }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "model"
    out.attrs.update({"threshold": threshold, "on": on, "ci_prob": ci_prob, "n_runs": len(table)})
    return out
