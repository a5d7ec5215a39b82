"""Back-tests: fit below a compute (or size) cut, score the predictive bands of the larger runs.

A scaling law is used to extrapolate, so its bands are judged where they are used: past the
fitted range. :func:`backtest` fits a spec on the runs at or below each of several cuts of one
column (``flops`` by default) and scores every held-out run with the same prediction path that
``bayescale predict`` uses (:func:`bayescale.analysis.predict.predict`).

The cuts are chosen so that the table's largest run lies about 3×, 10× and 30× (``factors``)
past the fitted range, where the table allows (at least :data:`MIN_FIT_RUNS` runs fitted). Each
scored row records its own extrapolation factor, the held-out run's value of the cut column over
the largest fitted value, and the bin it falls in (the nearest of ``factors`` on a log scale,
with 1× for runs just past the cut). A held-out run appears once per cut that holds it out.

Scores per row (see :func:`score_draws`): the 50 % and 90 % equal-tailed bands and whether the
observed loss lies inside, the probability integral transform (PIT, the predictive CDF at the
observed loss; central-interval coverage at any mass follows from it), the interval score of the
90 % band (Gneiting & Raftery 2007, eq. 43, relative to the loss: width plus 2/α times any miss),
the relative error of the predictive median and the relative width of the 90 % band. Where the
table has isoFLOP budgets (several runs per ``flops`` value), :func:`optimum_scores` checks the
compute-optimal size of each held-out budget against the 90 % interval of ``allocate``.

Fits are seeded and cached on disk (``cache_dir``) under a key of the spec, the fitted rows and
the sampler settings, so a rerun only scores.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> draws = np.log(2.0) + 0.01 * rng.standard_normal((3, 4000))
>>> rows = score_draws(draws, np.array([2.0, 2.05, 1.99]))
>>> rows["inside_90"].tolist()
[True, False, True]
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayescale.constants import SAMPLE_DIMS
from bayescale.exceptions import BayescaleError, ConvergenceWarning, RunTableError
from bayescale.intervals import eti

if TYPE_CHECKING:
    from bayescale.modeling.fit import Fit
    from bayescale.modeling.spec import Discrepancy, ModelSpec

__all__ = [
    "FACTORS",
    "MIN_FIT_RUNS",
    "PROBS",
    "backtest",
    "backtest_cuts",
    "calibration",
    "optimum_scores",
    "score_draws",
    "summarize_backtest",
]

#: Target extrapolation factors (largest held-out value over largest fitted value).
FACTORS: tuple[float, ...] = (3.0, 10.0, 30.0)
#: Central band masses scored per row.
PROBS: tuple[float, ...] = (0.5, 0.9)
#: Fewest runs a back-test fit may have.
MIN_FIT_RUNS = 8
#: Nominal masses of the calibration curve.
CALIBRATION_PROBS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


# ---------------------------------------------------------------------- cuts
def backtest_cuts(
    runs: pd.DataFrame,
    *,
    on: str = "flops",
    factors: Sequence[float] = FACTORS,
    min_fit: int = MIN_FIT_RUNS,
) -> list[float]:
    """Cuts of column ``on`` that put the table's largest run about each factor past the fit.

    For a factor f the cut is the largest value of ``on`` at or below ``max/f`` with at least
    ``min_fit`` runs at or below it; factors the table cannot reach are skipped and repeated
    cuts merged.

    Examples
    --------
    >>> import pandas as pd
    >>> runs = pd.DataFrame({"flops": [1, 2, 3, 10, 30, 100, 300, 1000] * 2})
    >>> backtest_cuts(runs, factors=(3, 10, 30), min_fit=4)
    [300.0, 100.0, 30.0]
    """
    values = _column(runs, on)
    top = float(values.max())
    distinct = np.unique(values)
    cuts: list[float] = []
    for f in factors:
        if not f > 1:
            raise BayescaleError(f"extrapolation factors must exceed 1, got {f}")
        candidates = distinct[distinct <= top / f * (1 + 1e-9)]
        ok = [float(c) for c in candidates[::-1] if int(np.sum(values <= c)) >= min_fit]
        if ok and ok[0] not in cuts and ok[0] < top:
            cuts.append(ok[0])
    return cuts


def _column(runs: pd.DataFrame, on: str) -> np.ndarray:
    if on not in runs.columns:
        raise RunTableError(
            f"cut column {on!r} not in the run table (found: {', '.join(map(str, runs.columns))})"
        )
    values = pd.to_numeric(runs[on], errors="coerce").to_numpy(dtype=float)
    bad = ~(np.isfinite(values) & (values > 0))
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise RunTableError(f"column {on!r}, row {runs.index[pos]}: needs a finite positive value")
    return values


def factor_bin(factor: np.ndarray, factors: Sequence[float] = FACTORS) -> np.ndarray:
    """The nearest of ``(1, *factors)`` on a log scale, for each extrapolation factor.

    Examples
    --------
    >>> factor_bin(np.array([1.2, 2.5, 8.0, 20.0, 60.0])).tolist()
    [1.0, 3.0, 10.0, 30.0, 30.0]
    """
    levels = np.log(np.array([1.0, *sorted(factors)]))
    idx = np.abs(np.log(np.asarray(factor, dtype=float))[:, None] - levels[None, :]).argmin(axis=1)
    return np.exp(levels)[idx].round(6)


# ---------------------------------------------------------------------- scores
def score_draws(
    log_draws: np.ndarray, loss: np.ndarray, *, probs: Sequence[float] = PROBS
) -> pd.DataFrame:
    """Per-row scores of predictive draws of log loss (rows: points, columns: draws).

    Returns
    -------
    pandas.DataFrame
        ``loss_median``, ``loss_lower_P`` / ``loss_upper_P`` and ``inside_P`` for each mass P
        (in percent), ``pit``, ``rel_error`` (median − loss)/loss, ``width_90`` (band width over
        the loss), ``interval_score_90`` (interval score over the loss).
    """
    draws = np.asarray(log_draws, dtype=float)
    y = np.log(np.asarray(loss, dtype=float))
    if draws.ndim != 2 or draws.shape[0] != y.size:
        raise BayescaleError(f"draws of shape {draws.shape} do not match {y.size} losses")
    out: dict[str, Any] = {"loss_median": np.exp(np.median(draws, axis=1))}
    for p in probs:
        lo, _, hi = eti(draws, p, axis=1)
        tag = round(p * 100)
        out[f"loss_lower_{tag}"], out[f"loss_upper_{tag}"] = np.exp(lo), np.exp(hi)
        out[f"inside_{tag}"] = (y >= lo) & (y <= hi)
    # mid-rank PIT, so ties (discrete draws) do not bias it
    below = np.mean(draws < y[:, None], axis=1)
    equal = np.mean(draws == y[:, None], axis=1)
    out["pit"] = below + 0.5 * equal
    loss_v = np.exp(y)
    out["rel_error"] = (out["loss_median"] - loss_v) / loss_v
    lo90, _, hi90 = np.exp(eti(draws, 0.9, axis=1))
    out["width_90"] = (hi90 - lo90) / loss_v
    alpha = 0.1
    penalty = (2 / alpha) * (np.maximum(lo90 - loss_v, 0) + np.maximum(loss_v - hi90, 0))
    out["interval_score_90"] = (hi90 - lo90 + penalty) / loss_v
    return pd.DataFrame(out)


def summarize_backtest(
    rows: pd.DataFrame, *, by: Sequence[str] = ("table", "model", "factor_bin")
) -> pd.DataFrame:
    """Scores per table, model and extrapolation bin (and pooled over tables, ``table="all"``).

    Columns: ``n``, ``coverage_50``, ``coverage_90``, ``interval_score_90`` (mean, relative),
    ``median_abs_rel_error``, ``mean_abs_rel_error``, ``mean_width_90`` (relative), ``bias``
    (mean relative error), ``tables`` (how many tables contribute).
    """
    keys = [k for k in by if k in rows.columns]
    if not len(rows):
        raise BayescaleError("no back-test rows to summarise")
    source = rows["table"] if "table" in rows.columns else pd.Series("", index=rows.index)
    frames = [rows.assign(_source=source)]
    if "table" in keys and rows["table"].nunique() > 1:
        frames.append(rows.assign(_source=source, table="all"))
    both = pd.concat(frames, ignore_index=True)

    def agg(g: pd.DataFrame) -> pd.Series:
        err = g["rel_error"].abs()
        return pd.Series(
            {
                "n": len(g),
                "coverage_50": g["inside_50"].mean(),
                "coverage_90": g["inside_90"].mean(),
                "interval_score_90": g["interval_score_90"].mean(),
                "median_abs_rel_error": err.median(),
                "mean_abs_rel_error": err.mean(),
                "mean_width_90": g["width_90"].mean(),
                "bias": g["rel_error"].mean(),
                "tables": g["_source"].nunique(),
            }
        )

    grouped = both.groupby(keys, sort=True)
    out = pd.DataFrame([agg(g) for _, g in grouped], index=grouped.size().index).reset_index()
    out["n"] = out["n"].astype(int)
    out["tables"] = out["tables"].astype(int)
    return out


def calibration(
    rows: pd.DataFrame,
    *,
    probs: Sequence[float] = CALIBRATION_PROBS,
    by: Sequence[str] = ("model", "factor_bin"),
) -> pd.DataFrame:
    """Nominal against empirical coverage of central bands, from each row's PIT.

    A central band of mass p holds the observed loss exactly when ``|pit − ½| ≤ p/2``.
    """
    keys = [k for k in by if k in rows.columns]
    out = []
    for key, g in rows.groupby(keys, sort=True) if keys else [((), rows)]:
        dist = np.abs(g["pit"].to_numpy() - 0.5)
        for p in probs:
            entry = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
            entry.update({"nominal": p, "empirical": float(np.mean(dist <= p / 2)), "n": len(g)})
            out.append(entry)
    return pd.DataFrame(out)


# ---------------------------------------------------------------------- fits and caching
def fit_key(spec: ModelSpec, runs: pd.DataFrame, settings: dict[str, Any]) -> str:
    """Cache key of one back-test fit: the spec, the fitted rows and the sampler settings.

    The spec's predictive discrepancy does not enter the fit, so it is left out of the key.
    """
    from dataclasses import replace

    from bayescale._version import __version__
    from bayescale.modeling.spec import Discrepancy

    spec = replace(spec, likelihood=replace(spec.likelihood, discrepancy=Discrepancy()))
    cols = [c for c in runs.columns if c not in ("outlier_reason",)]
    text = runs[cols].to_csv(index=False, float_format="%.17g")
    payload = json.dumps(
        {"spec": spec.to_json(), "settings": settings, "version": __version__}, sort_keys=True
    )
    return hashlib.sha256((payload + text).encode()).hexdigest()[:20]


def cached_fit(
    spec: ModelSpec,
    runs: pd.DataFrame,
    *,
    settings: dict[str, Any],
    cache_dir: str | Path | None,
) -> tuple[Fit, bool]:
    """A fit of ``spec`` on ``runs`` (already prepared), from ``cache_dir`` when there."""
    from bayescale.modeling.fit import load_fit
    from bayescale.modeling.model import ScalingModel

    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"fit-{spec.name}-{fit_key(spec, runs, settings)}.nc"
        if path.exists():
            return load_fit(path), True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # diagnostics go in the rows
        fit = ScalingModel(spec).fit(runs, **settings)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fit.save(path)
    return fit, False


# ---------------------------------------------------------------------- the harness
def backtest(
    runs: pd.DataFrame,
    *,
    spec: ModelSpec | str = "chinchilla",
    table: str | None = None,
    on: str = "flops",
    factors: Sequence[float] = FACTORS,
    cuts: Sequence[float] | None = None,
    kind: str = "predictive",
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    random_seed: int = 1,
    cache_dir: str | Path | None = None,
    min_fit: int = MIN_FIT_RUNS,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Fit below each cut of ``on`` and score the predictive bands of the held-out runs.

    Parameters
    ----------
    runs : pandas.DataFrame
        A run table (flagged outliers are dropped, as in a fit).
    spec : ModelSpec or str
        The model to back-test (a bundled spec name, a TOML path or a spec).
    table : str, optional
        Label of the table in the output (default: the table's ``dataset`` attribute).
    on : str
        Column of the cut (``flops``, ``params``, ...).
    factors : sequence of float
        Target extrapolation factors; the cuts follow from :func:`backtest_cuts`.
    cuts : sequence of float, optional
        Explicit cuts (runs with ``on`` ≤ cut are fitted), instead of ``factors``.
    kind : str
        The ``kind`` of :func:`~bayescale.analysis.predict.predict` scored.
    draws, tune, chains : int, optional
        Sampler settings of the fits (default: the spec's).
    random_seed : int
        Seed of the fits and of the predictive draws.
    cache_dir : path, optional
        Folder of cached fits; a rerun with the same spec, rows and settings loads them.
    min_fit : int
        Fewest runs a fit may have.
    progress : callable, optional
        Called with one line per fit (e.g. the CLI's progress printer).

    Returns
    -------
    pandas.DataFrame
        One row per (cut, held-out run): ``table``, ``model``, ``on``, ``cut``, ``n_fit``,
        ``factor``, ``factor_bin``, the run's identifying columns, ``loss`` and the scores of
        :func:`score_draws`, with the fit's ``r_hat_max`` and ``divergences``. ``attrs`` holds
        the settings.
    """
    from bayescale.analysis.predict import predict
    from bayescale.modeling.model import ScalingModel
    from bayescale.modeling.spec import load_spec

    spec_obj = load_spec(spec) if isinstance(spec, str) else spec
    model = ScalingModel(spec_obj)
    prepared = model.prepare(runs)
    values = _column(prepared, on)
    label = table or str(runs.attrs.get("dataset") or "table")
    chosen = (
        [float(c) for c in cuts]
        if cuts is not None
        else backtest_cuts(prepared, on=on, factors=factors, min_fit=min_fit)
    )
    if not chosen:
        raise BayescaleError(
            f"{label}: no cut of {on!r} leaves {min_fit} runs to fit and a run "
            f"{min(factors):g}× past them; the table spans {values.max() / values.min():.3g}×"
        )
    settings = {
        k: v
        for k, v in {
            "draws": draws,
            "tune": tune,
            "chains": chains,
            "random_seed": random_seed,
        }.items()
        if v is not None
    }
    group = spec_obj.pooling.group if spec_obj.pooling is not None else None
    keep = [c for c in ("run_id", "params", "tokens", "flops", group) if c and c in prepared]
    pieces = []
    for cut in chosen:
        below = values <= cut
        if below.sum() < 3 or below.all():
            raise BayescaleError(f"{label}: cut {on} = {cut:.3g} leaves nothing to fit or score")
        lower = prepared.loc[below].copy()
        lower.attrs = dict(prepared.attrs)
        held = prepared.loc[~below].copy()
        fit, hit = cached_fit(spec_obj, lower, settings=settings, cache_dir=cache_dir)
        diag = fit.diagnostics()
        if progress is not None:
            progress(
                f"{label}: cut {on} <= {cut:.3g}: {len(lower)} fitted, {len(held)} held out"
                + (" (cached fit)" if hit else "")
                + f"; R-hat {diag['r_hat_max']:.3f}, {diag['divergences']} divergences"
            )
        at = held[[c for c in keep if c in held.columns and c != "run_id"]]
        ds = predict(fit, at=at, kind=kind, random_seed=random_seed)  # type: ignore[arg-type]
        loss_draws = ds["loss"].stack(sample=SAMPLE_DIMS).transpose("point", "sample")
        scores = score_draws(np.log(loss_draws.to_numpy()), held["loss"].to_numpy(dtype=float))
        factor = values[~below] / float(values[below].max())
        piece = held[keep].reset_index(drop=True).assign(loss=held["loss"].to_numpy())
        piece.insert(0, "factor_bin", factor_bin(factor, factors))
        piece.insert(0, "factor", factor)
        piece.insert(0, "n_fit", len(lower))
        piece.insert(0, "cut", cut)
        piece.insert(0, "on", on)
        piece.insert(0, "model", f"{spec_obj.name}:{kind}")
        piece.insert(0, "table", label)
        piece = pd.concat([piece, scores], axis=1)
        piece["r_hat_max"] = diag["r_hat_max"]
        piece["divergences"] = diag["divergences"]
        pieces.append(piece)
    out = pd.concat(pieces, ignore_index=True)
    out.attrs = {"spec": spec_obj.name, "kind": kind, "on": on, "random_seed": random_seed}
    return out


# ---------------------------------------------------------------------- compute-optimal size
def budget_optima(runs: pd.DataFrame, *, min_runs: int = 4) -> pd.DataFrame:
    """The observed compute-optimal size of each isoFLOP budget (``flops`` with several runs).

    The vertex of a parabola in log N through the budget's runs when it is convex and inside
    the budget's range of N, else the size of the lowest-loss run.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> n = np.geomspace(1e8, 1e10, 7)
    >>> runs = pd.DataFrame({"flops": 1e20, "params": n, "loss": 2 * np.exp(np.log(n / 1e9) ** 2)})
    >>> float(budget_optima(runs)["params_opt"].iloc[0])  # doctest: +ELLIPSIS
    10000000...
    """
    out = []
    for budget, g in runs.groupby("flops", sort=True):
        if len(g) < min_runs:
            continue
        x = np.log(g["params"].to_numpy(dtype=float))
        y = np.log(g["loss"].to_numpy(dtype=float))
        c2, c1, _ = np.polyfit(x, y, 2)
        vertex = -c1 / (2 * c2) if c2 > 0 else np.nan
        if np.isfinite(vertex) and x.min() <= vertex <= x.max():
            n_opt = float(np.exp(vertex))
        else:
            n_opt = float(np.exp(x[np.argmin(y)]))
        out.append({"flops": float(str(budget)), "params_opt": n_opt, "runs": len(g)})
    return pd.DataFrame(out, columns=["flops", "params_opt", "runs"])


def optimum_scores(
    fit: Fit,
    held: pd.DataFrame,
    *,
    ci_prob: float = 0.9,
    random_seed: int = 1,
    kind: str = "predictive",
    discrepancy: Discrepancy | None = None,
) -> pd.DataFrame:
    """Whether each held-out budget's observed optimal size lies in ``allocate``'s interval.

    ``kind`` and ``discrepancy`` are passed to :func:`~bayescale.analysis.allocate.allocate`
    (default: its predictive interval, with the spec's discrepancy).
    """
    from bayescale.analysis._common import to_frame
    from bayescale.analysis.allocate import allocate

    optima = budget_optima(held)
    if optima.empty:
        return optima.assign(params_opt_median=[], params_opt_lower=[], params_opt_upper=[])
    ds = allocate(
        fit,
        flops=optima["flops"].to_numpy(),
        ci_prob=ci_prob,
        random_seed=random_seed,
        kind=kind,  # type: ignore[arg-type]
        discrepancy=discrepancy,
    )
    table = to_frame(ds)
    if "group" in table.columns:
        raise BayescaleError("optimum scores need an ungrouped fit")
    res = optima.assign(
        observed=optima["params_opt"],
        params_opt_median=table["params_opt_median"].to_numpy(),
        params_opt_lower=table["params_opt_lower"].to_numpy(),
        params_opt_upper=table["params_opt_upper"].to_numpy(),
    ).drop(columns="params_opt")
    res["inside"] = (res["observed"] >= res["params_opt_lower"]) & (
        res["observed"] <= res["params_opt_upper"]
    )
    return res
