"""The IsoFLOP model family: Chinchilla's Approach 2 as one Bayesian model over all budgets.

Rows are grouped into *budgets* by their ``flops`` column (:func:`assign_budgets`). In each
budget the log loss is a valley in log N whose bottom lies on ``log N*(C) = log G + a·log(C/6)``
(see :mod:`bayescale.laws.isoflop`), so ``a`` and ``b = 1 − a`` get posteriors directly instead of
a two-stage fit of parabola minima.

Model (per budget ``c``, run ``i``; ``x = log N − log N0``, ``N0`` the geometric mean of ``params``,
``C0`` the geometric mean of the budgets)::

    n_ref            ~ Normal(mu_G + a·log(C0/6) − log N0, sigma_G)   # log N*(C0) − log N0
    x*_c             = n_ref + a·(log C_c − log C0)
    log L_i          ~ StudentT(nu, log loss_opt_c + k_c·u_i²·(1 + skew·tanh(u_i)), sigma),
    u_i              = x_i − x*_c

``G = exp(n_ref + log N0 − a·log(C0/6))`` keeps the spec's LogNormal prior on ``G`` exactly (the
change of variables is a unit-Jacobian shear). Each budget has its own ``curvature`` k_c and
``loss_opt`` L*_c, drawn independently from their priors.

Partial pooling (``spec.pooling``, e.g. over Porian et al.'s ``config`` column): ``a`` varies on
the log scale (``log a_g ~ Normal(log a_pop, τ_a)``), ``G`` at the reference scale
(``n_ref_g ~ Normal(n_ref_pop, τ_G)``) and ``skew`` additively (truncated to the prior's bounds);
budgets are then (group, budget) cells. Unlike the generic builder this family uses the
*centred* form: every group has whole IsoFLOP valleys that pin its ``a`` and ``G`` tightly, and
non-centred draws then create a funnel between ``τ`` and the ``z``'s (tree depth 9, R-hat ≈ 2
after 200 tuning steps on porian2024's 15 configurations). Without a parameter list
(``--group config`` on the command line), ``a``, ``G`` and ``skew`` (when the valley has it)
are pooled. A spec may
set the option ``curvature_trend``: the budgets' log curvatures then scatter (``curvature_tau``)
around a line in log budget per group (``curvature_ref``, ``curvature_slope``), so budgets with
few runs near their minimum borrow from their neighbours.

Which runs each valley gets is up to the spec's options: ``window`` leaves out runs far up the
walls (in log loss), ``neighbours`` keeps only the sizes nearest the lowest run, so that the
parabola, a second-order expansion about the vertex, is fitted where it holds; ``skew = false``
drops the ``skew`` term (the plain parabola of Approach 2). The bundled ``isoflop`` specs use
``neighbours = 2`` and no skew (docs/isoflop-and-comparison.md gives the measurements).

Chains start from the data (:func:`initial_values`, used by :class:`bayescale.Fit` through the
family hook ``initial_values(spec, runs)``), not from jittered prior support points.

Posterior variables: ``a``, ``b``, ``G``, ``skew`` (unless ``skew = false``; dim = the group
column when pooled, with
``<p>_pop`` and ``<p>_tau``), ``curvature`` and ``loss_opt`` (dim ``budget``, labelled
``"<flops>"`` or ``"<group>@<flops>"``; :func:`budget_coords` gives the FLOP values), ``sigma``;
observed ``log_loss`` (dim ``run``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from bayescale.constants import FLOPS_PER_PARAM_TOKEN
from bayescale.data.schema import validate_runs
from bayescale.exceptions import RunTableError, SpecError
from bayescale.laws import get_law
from bayescale.modeling.families._common import lognormal_prior, run_labels
from bayescale.modeling.families.base import Family, ModelInfo, register_family

if TYPE_CHECKING:
    from bayescale.modeling.spec import ModelSpec

__all__ = [
    "BUDGET_RTOL",
    "DEFAULT_POOLED",
    "ISOFLOP",
    "MIN_SIZES",
    "OPTIONS",
    "WINDOW",
    "allocate",
    "assign_budgets",
    "budget_coords",
    "build",
    "initial_values",
    "prepare",
]

log = logging.getLogger("bayescale")

#: Rows whose ``flops`` lie within this relative distance of the smallest value of a budget
#: belong to that budget (IsoFLOP designs space budgets by factors of 1.5 or more; digitised or
#: 6·N·D-derived budgets scatter by a few per cent).
BUDGET_RTOL: float = 0.05
#: Fewest distinct model sizes a budget needs (a valley has three free quantities).
MIN_SIZES: int = 3
#: Rows whose log loss exceeds their budget's lowest by more than this are left out of the fit
#: (the far walls of a valley follow power laws, not a parabola); at least the ``MIN_SIZES``
#: lowest-loss rows of a budget are always kept.
WINDOW: float = 0.2
#: Parameters pooled when the spec names a group but no parameters.
DEFAULT_POOLED: tuple[str, ...] = ("a", "G", "skew")
#: Spec ``[options]`` of this family: ``window`` (log-loss window, default :data:`WINDOW`),
#: ``neighbours`` (keep only the lowest-loss size of each budget and this many sizes on each
#: side of it; default: no such limit), ``skew`` (default True: the valley has the ``skew``
#: term; False: a plain parabola, the spec's ``skew`` prior unused) and ``curvature_trend``
#: (budgets' log curvatures scatter around a line in log budget per group, default False:
#: independent curvatures).
OPTIONS: dict[str, type] = {
    "window": float,
    "neighbours": int,
    "skew": bool,
    "curvature_trend": bool,
}
#: Name of the column :func:`prepare` adds: the budget (FLOP) each row was assigned to.
BUDGET_COLUMN = "flops_budget"


def assign_budgets(flops: Any, *, rtol: float = BUDGET_RTOL) -> tuple[np.ndarray, np.ndarray]:
    """Group FLOP values into budgets: exact or near-equal values share a budget.

    Values are sorted; a new budget starts whenever a value exceeds the smallest value of the
    current budget by more than ``rtol`` (relative). A budget's value is the geometric mean of
    its members.

    Parameters
    ----------
    flops : array-like
        Positive FLOP values.
    rtol : float, default :data:`BUDGET_RTOL`
        Relative tolerance.

    Returns
    -------
    (codes, budgets)
        ``codes[i]`` indexes ``budgets`` (increasing) for row ``i``.

    Examples
    --------
    >>> codes, budgets = assign_budgets([1e18, 1.01e18, 3e18, 1e18])
    >>> codes.tolist(), [f"{b:.3g}" for b in budgets]
    ([0, 0, 1, 0], ['1e+18', '3e+18'])
    """
    values = np.asarray(flops, dtype=float)
    order = np.argsort(values, kind="stable")
    codes = np.empty(len(values), dtype=int)
    start = -np.inf
    k = -1
    for i in order:
        if values[i] > start * (1.0 + rtol):
            k += 1
            start = values[i]
        codes[i] = k
    logs = np.log(values)
    budgets = np.array(
        [
            values[codes == j][0]
            if np.ptp(values[codes == j]) == 0
            else np.exp(logs[codes == j].mean())
            for j in range(k + 1)
        ]
    )
    return codes, budgets


def _rows(frame: pd.DataFrame, limit: int = 4) -> str:
    labels = [str(v) for v in frame.index[:limit]]
    more = f", ... ({len(frame)} rows)" if len(frame) > limit else ""
    return ", ".join(labels) + more


def prepare(
    runs: pd.DataFrame,
    spec: ModelSpec,
    *,
    rtol: float = BUDGET_RTOL,
    window: float | Literal["spec"] | None = "spec",
    neighbours: int | Literal["spec"] | None = "spec",
    exclude_outliers: bool = True,
) -> pd.DataFrame:
    """Validate a run table for an IsoFLOP fit and assign each row to a budget.

    Parameters
    ----------
    runs : pandas.DataFrame
        Run table with ``params``, ``tokens``, ``loss`` and ``flops`` (derived as 6·N·D when
        absent), plus the group column when ``spec`` pools.
    spec : ModelSpec
        An ``isoflop`` spec.
    rtol : float, default :data:`BUDGET_RTOL`
        Tolerance for grouping ``flops`` into budgets (:func:`assign_budgets`).
    window : float, None or "spec", default "spec"
        Keep rows whose log loss is within ``window`` of their budget's lowest (at least the
        :data:`MIN_SIZES` lowest rows); None keeps every row; ``"spec"`` takes the spec's
        ``window`` option (default :data:`WINDOW`).
    neighbours : int, None or "spec", default "spec"
        Keep, of the rows the window keeps, those at the lowest-loss size of each budget and at
        the ``neighbours`` nearest sizes on each side of it (more on one side where the other
        runs out, for at least :data:`MIN_SIZES` sizes); None applies no such limit;
        ``"spec"`` takes the spec's ``neighbours`` option (default None).
    exclude_outliers : bool, default True
        Drop rows flagged in the ``outlier`` column.

    Returns
    -------
    pandas.DataFrame
        The validated rows that are fitted, with the column ``flops_budget``; ``attrs`` record
        ``isoflop_window``, ``isoflop_neighbours`` and ``isoflop_window_excluded`` (rows left
        out by the window and the neighbours limit).

    Raises
    ------
    RunTableError
        When a budget has fewer than :data:`MIN_SIZES` distinct sizes (naming the budget, the
        group and the rows), or a group has fewer than two budgets.
    """
    if window == "spec":
        window = float(spec.option("window", WINDOW))
    if neighbours == "spec":
        neighbours = spec.option("neighbours", None)
    if neighbours is not None and int(neighbours) < 1:
        raise SpecError(f"isoflop: 'neighbours' must be >= 1, got {neighbours}")
    group = spec.pooling.group if spec.pooling is not None else None
    runs = validate_runs(runs, group=group)
    attrs = dict(runs.attrs)
    if exclude_outliers and runs["outlier"].any():
        n = int(runs["outlier"].sum())
        log.info("excluding %d run(s) flagged as outliers", n)
        runs = runs.loc[~runs["outlier"]].copy()
        attrs["outliers_excluded"] = n
    flops = runs["flops"].to_numpy(dtype=float)
    if np.isnan(flops).any():
        pos = int(np.flatnonzero(np.isnan(flops))[0])
        raise RunTableError(f"column 'flops', row {runs.index[pos]}: value is missing")
    keys = runs[group].astype(str) if group else pd.Series("", index=runs.index)
    budget_values = np.empty(len(runs))
    keep = np.ones(len(runs), dtype=bool)
    for g in sorted(keys.unique()):
        mask = (keys == g).to_numpy()
        where = f" of group {group}={g!r}" if group else ""
        codes, budgets = assign_budgets(flops[mask], rtol=rtol)
        if len(budgets) < 2:
            raise RunTableError(
                f"column 'flops'{where}: an IsoFLOP fit needs at least 2 budgets, found "
                f"{len(budgets)} ({', '.join(f'{b:.3g}' for b in budgets)})"
            )
        budget_values[mask] = budgets[codes]
        sub = runs.loc[mask]
        logl = np.log(sub["loss"].to_numpy(dtype=float))
        sub_keep = np.ones(len(sub), dtype=bool)
        for j, c in enumerate(budgets):
            in_b = codes == j
            sizes = np.unique(sub["params"].to_numpy()[in_b])
            if len(sizes) < MIN_SIZES:
                raise RunTableError(
                    f"column 'flops'{where}: budget {c:.4g} has {len(sizes)} distinct model "
                    f"size(s) (rows {_rows(sub.loc[in_b])}); an IsoFLOP fit needs at least "
                    f"{MIN_SIZES} per budget"
                )
            idx = np.flatnonzero(in_b)
            ok = np.ones(len(idx), dtype=bool)
            if window is not None:
                excess = logl[idx] - logl[idx].min()
                ok = excess <= window
                if ok.sum() < MIN_SIZES:
                    ok[np.argsort(excess, kind="stable")[:MIN_SIZES]] = True
            if neighbours is not None:
                ok &= _nearest_sizes(sub["params"].to_numpy()[idx], logl[idx], int(neighbours))
            sub_keep[idx[~ok]] = False
        keep[np.flatnonzero(mask)] = sub_keep
    out = runs.copy()
    out[BUDGET_COLUMN] = budget_values
    n_out = int((~keep).sum())
    if n_out:
        log.info(
            "isoflop: leaving out %d run(s) outside their budget's valley floor (window %s, "
            "neighbours %s)",
            n_out,
            window,
            neighbours,
        )
    out = out.loc[keep].copy()
    attrs["isoflop_window"] = "none" if window is None else float(window)
    attrs["isoflop_neighbours"] = "none" if neighbours is None else int(neighbours)
    attrs["isoflop_window_excluded"] = n_out
    out.attrs = attrs
    return out


def _nearest_sizes(params: np.ndarray, logl: np.ndarray, neighbours: int) -> np.ndarray:
    """Mask of the runs at the lowest-loss size and the ``neighbours`` sizes on each side of it.

    Where one side has fewer sizes, the other side gives more, so that at least
    :data:`MIN_SIZES` sizes are kept when the budget has them.
    """
    sizes = np.unique(params)
    best = int(np.searchsorted(sizes, params[np.argmin(logl)]))
    lo, hi = best - neighbours, best + neighbours
    want = max(2 * neighbours + 1, MIN_SIZES)
    lo, hi = max(lo, 0), min(hi, len(sizes) - 1)
    while hi - lo + 1 < min(want, len(sizes)):
        if lo > 0 and (hi == len(sizes) - 1 or best - lo <= hi - best):
            lo -= 1
        else:
            hi += 1
    return (params >= sizes[lo]) & (params <= sizes[hi])


def _cells(runs: pd.DataFrame, group: str | None) -> tuple[np.ndarray, pd.DataFrame]:
    """Index of each row's (group, budget) cell, and the cells' table."""
    gcol = runs[group].astype(str) if group else pd.Series("", index=runs.index)
    key = pd.DataFrame({"group": gcol.to_numpy(), "flops": runs[BUDGET_COLUMN].to_numpy()})
    cells = key.drop_duplicates().sort_values(["group", "flops"]).reset_index(drop=True)
    lookup = {
        (g, f): i for i, (g, f) in enumerate(zip(cells["group"], cells["flops"], strict=True))
    }
    codes = np.array([lookup[(g, f)] for g, f in zip(key["group"], key["flops"], strict=True)])
    labels = [
        (f"{g}@{f:.4g}" if group else f"{f:.4g}")
        for g, f in zip(cells["group"], cells["flops"], strict=True)
    ]
    cells["label"] = labels
    return codes, cells


def _pooled(spec: ModelSpec) -> tuple[str, ...]:
    """The parameters that vary by group (none without pooling; no ``skew`` without skew)."""
    pooling = spec.pooling
    if pooling is None:
        return ()
    skewed = bool(spec.option("skew", True))
    if "skew" in pooling.params and not skewed:
        raise SpecError(f"spec {spec.name!r}: 'skew' is pooled but the option skew is false")
    pooled = tuple(pooling.params) or DEFAULT_POOLED
    bad = [p for p in pooled if p not in DEFAULT_POOLED]
    if bad:
        raise RunTableError(
            f"isoflop: only {', '.join(DEFAULT_POOLED)} can vary by group, not {', '.join(bad)}"
        )
    return tuple(p for p in pooled if skewed or p != "skew")


@dataclass(frozen=True)
class _Design:
    """The arrays :func:`build` and :func:`initial_values` share: cells, groups, centring."""

    run_ids: list[str]
    cell_idx: np.ndarray
    cells: pd.DataFrame
    groups: tuple[str, ...]
    cell_group: np.ndarray  # group index of each cell (zeros without a group)
    log_n: np.ndarray
    log_n0: float
    log_cells: np.ndarray
    log_c0: float

    @classmethod
    def of(cls, runs: pd.DataFrame, group: str | None) -> _Design:
        run_ids = run_labels(runs)
        cell_idx, cells = _cells(runs, group)
        log_n = np.log(runs["params"].to_numpy(dtype=float))
        log_cells = np.log(cells["flops"].to_numpy(dtype=float))
        groups: tuple[str, ...] = ()
        cell_group = np.zeros(len(cells), dtype=int)
        if group is not None:
            _, uniques = pd.factorize(runs[group].astype(str), sort=True)
            groups = tuple(str(u) for u in uniques)
            cell_group = np.searchsorted(np.array(groups), cells["group"].to_numpy())
        return cls(
            run_ids=run_ids,
            cell_idx=cell_idx,
            cells=cells,
            groups=groups,
            cell_group=cell_group,
            log_n=log_n,
            log_n0=float(log_n.mean()),
            log_cells=log_cells,
            log_c0=float(log_cells.mean()),
        )


def initial_values(spec: ModelSpec, runs: pd.DataFrame) -> dict[str, np.ndarray]:
    """Starting values for the sampler read off the data (the classic two-stage Approach 2).

    Each (group, budget) valley gets a least-squares parabola in log N (its vertex, curvature and
    bottom loss; the lowest run and the prior's median curvature where the parabola opens
    downwards); each group's vertices then get a straight line in log C, whose slope starts ``a``
    and whose value at the reference budget starts ``G``. Population values are the groups'
    means, spreads their standard deviations, and ``skew`` starts at 0. Starting the chains
    here, instead of at prior support points jittered by ±1, keeps a chain from settling in the
    far valley wall of a configuration (a second, much worse mode with ``skew`` at its bound).

    Parameters
    ----------
    spec : ModelSpec
        The ``isoflop`` spec (pooling decides which names are returned).
    runs : pandas.DataFrame
        The prepared run table (:func:`prepare`).

    Returns
    -------
    dict of str to numpy.ndarray
        Constrained values by the model's free-variable names.
    """
    if BUDGET_COLUMN not in runs.columns:
        runs = prepare(runs, spec)
    pooling = spec.pooling
    group = pooling.group if pooling is not None else None
    pooled = _pooled(spec)
    d = _Design.of(runs, group)
    x = d.log_n - d.log_n0
    logl = np.log(runs["loss"].to_numpy(dtype=float))
    k_prior = float(np.exp(spec.priors["curvature"].kwargs.get("mu", np.log(0.05))))
    n_cells = len(d.cells)
    vertex, curv, l_opt = np.empty(n_cells), np.empty(n_cells), np.empty(n_cells)
    resid: list[list[float]] = [[] for _ in range(max(len(d.groups), 1))]
    for c in range(n_cells):
        xs, ys = x[d.cell_idx == c], logl[d.cell_idx == c]
        coef, *_ = np.linalg.lstsq(np.vander(xs, 3), ys, rcond=None)
        c2, c1, c0 = coef
        lo, hi = xs.min() - 1.0, xs.max() + 1.0
        if c2 > 1e-6 and lo <= -c1 / (2 * c2) <= hi:
            vertex[c], curv[c] = -c1 / (2 * c2), c2
            l_opt[c] = np.exp(c0 - c1**2 / (4 * c2))
        else:
            vertex[c], curv[c], l_opt[c] = xs[np.argmin(ys)], k_prior, np.exp(ys.min())
        resid[d.cell_group[c]].extend(ys - np.vander(xs, 3) @ coef)
    n_groups = max(len(d.groups), 1)
    lc = d.log_cells - d.log_c0
    a_g, n_ref_g = np.empty(n_groups), np.empty(n_groups)
    for g in range(n_groups):
        sel = d.cell_group == g
        slope, intercept = np.polyfit(lc[sel], vertex[sel], 1)
        a_g[g], n_ref_g[g] = float(np.clip(slope, 0.05, 0.95)), intercept
    sigma_g = np.array([np.clip(np.sqrt(np.mean(np.square(r))), 1e-3, 0.05) for r in resid])
    out: dict[str, np.ndarray] = {
        "curvature": curv,
        "curvature_log": np.log(curv),
        "loss_opt": l_opt,
        "sigma": sigma_g if group is not None else np.asarray(sigma_g[0]),
    }

    def spread(v: np.ndarray) -> np.ndarray:
        return np.asarray(max(float(np.std(v)), 0.05))

    if "a" in pooled:
        out["a_pop"] = np.asarray(float(np.exp(np.log(a_g).mean())))
        out["a_log"] = np.log(a_g)
        out["a_tau"] = spread(np.log(a_g))
    else:
        out["a"] = np.asarray(a_g.mean())
    if "G" in pooled:
        out["log_G_ref_pop"] = np.asarray(n_ref_g.mean())
        out["log_G_ref"] = n_ref_g
        out["G_tau"] = spread(n_ref_g)
    else:
        out["log_G_ref"] = np.asarray(n_ref_g.mean())
    if spec.option("curvature_trend", False):
        trend = np.array(
            [
                np.polyfit(lc[d.cell_group == g], np.log(curv[d.cell_group == g]), 1)
                for g in range(n_groups)
            ]
        )
        fitted = trend[d.cell_group, 1] + trend[d.cell_group, 0] * lc
        out["curvature_slope"] = trend[:, 0] if group is not None else np.asarray(trend[0, 0])
        out["curvature_ref"] = trend[:, 1] if group is not None else np.asarray(trend[0, 1])
        out["curvature_tau"] = spread(np.log(curv) - fitted)
        out["curvature_z"] = (np.log(curv) - fitted) / out["curvature_tau"]
    if "skew" in pooled:
        out["skew_pop"] = np.asarray(0.0)
        out["skew"] = np.zeros(n_groups)
        out["skew_tau"] = np.asarray(0.1)
    elif spec.option("skew", True):
        out["skew"] = np.asarray(0.0)
    return out


def _per_run(value: Any, cell: Any) -> Any:
    """A per-budget tensor indexed to the runs; a scalar as it is."""
    return value[cell] if getattr(value, "ndim", 0) else value


def build(spec: ModelSpec, runs: pd.DataFrame) -> tuple[Any, ModelInfo]:
    """Build the PyMC IsoFLOP model of ``spec`` on a table returned by :func:`prepare`.

    Parameters
    ----------
    spec : ModelSpec
        An ``isoflop`` spec (priors on ``a``, ``G``, ``curvature``, ``loss_opt``, ``skew``).
    runs : pandas.DataFrame
        The prepared run table (column ``flops_budget``); a table without it is prepared here.

    Returns
    -------
    (pymc.Model, ModelInfo)
        The model and what is needed to read its posterior.
    """
    import pymc as pm
    import pytensor.tensor as pt

    if BUDGET_COLUMN not in runs.columns:
        runs = prepare(runs, spec)
    law = get_law(spec.law)
    pooling = spec.pooling
    group = pooling.group if pooling is not None else None
    pooled = _pooled(spec)
    if group is not None and group not in runs.columns:
        raise RunTableError(f"group column {group!r} not found in the run table")
    d = _Design.of(runs, group)
    run_ids, cell_idx, cells, groups, cell_group = (
        d.run_ids,
        d.cell_idx,
        d.cells,
        d.groups,
        d.cell_group,
    )
    log_n, log_n0, log_cells, log_c0 = d.log_n, d.log_n0, d.log_cells, d.log_c0
    log_c6 = log_c0 - np.log(FLOPS_PER_PARAM_TOKEN)
    coords: dict[str, Any] = {"run": run_ids, "budget": list(cells["label"])}
    if group is not None:
        coords[group] = list(groups)
    priors = spec.priors

    with pm.Model(coords=coords) as model:
        x = pm.Data("log_params_centred", log_n - log_n0, dims="run")
        cell = pm.Data("budget_idx", cell_idx, dims="run")
        lc = pm.Data("log_flops_centred", log_cells - log_c0, dims="budget")

        # exponent a
        if "a" in pooled:
            a_pop = priors["a"].create("a_pop")
            tau = pm.HalfNormal("a_tau", sigma=pooling.tau)  # type: ignore[union-attr]
            log_a = pm.Normal("a_log", pt.log(a_pop), tau, dims=group)
            a = pm.Deterministic("a", pt.exp(log_a), dims=group)
            pm.Deterministic("b_pop", 1.0 - a_pop)
            a_cell = a[cell_group]
        else:
            a_pop = a = priors["a"].create("a")
            a_cell = a
        pm.Deterministic("b", 1.0 - a, dims=group if "a" in pooled else None)

        # vertex at the reference budget (G's LogNormal prior, sheared exactly)
        g_mu, g_sigma = priors["G"].kwargs["mu"], priors["G"].kwargs["sigma"]
        if priors["G"].dist != "LogNormal":
            raise RunTableError("isoflop: the prior of G must be LogNormal")
        if "G" in pooled:
            n_ref_pop = pm.Normal("log_G_ref_pop", g_mu + a_pop * log_c6 - log_n0, g_sigma)
            tau_g = pm.HalfNormal("G_tau", sigma=pooling.tau)  # type: ignore[union-attr]
            n_ref = pm.Normal("log_G_ref", n_ref_pop, tau_g, dims=group)
            pm.Deterministic("G_pop", pt.exp(n_ref_pop + log_n0 - a_pop * log_c6))
            n_ref_cell = n_ref[cell_group]
        else:
            n_ref = pm.Normal("log_G_ref", g_mu + a_pop * log_c6 - log_n0, g_sigma)
            n_ref_cell = n_ref
        a_dims = group if ("a" in pooled or "G" in pooled) else None
        pm.Deterministic("G", pt.exp(n_ref + log_n0 - a * log_c6), dims=a_dims)

        # skew
        if not spec.option("skew", True):
            skew_run = 0.0
        elif "skew" in pooled:
            s_pop = priors["skew"].create("skew_pop")
            tau_s = pm.HalfNormal("skew_tau", sigma=pooling.tau)  # type: ignore[union-attr]
            lo, hi = priors["skew"].kwargs.get("lower"), priors["skew"].kwargs.get("upper")
            bounds = {"lower": lo, "upper": hi} if lo is not None and hi is not None else {}
            skew = pm.TruncatedNormal("skew", s_pop, tau_s, dims=group, **bounds)
            skew_run = skew[cell_group][cell]
        else:
            skew_run = priors["skew"].create("skew")

        if spec.option("curvature_trend", False):
            # log k_c ~ Normal(k_ref_g + k_slope_g·(log C_c − log C0), τ_k): valleys widen
            # smoothly with the budget, and a budget with few runs borrows from its neighbours
            k_mu, k_sd = lognormal_prior(spec, "curvature")
            gdim = group if group is not None else None
            k_ref = pm.Normal("curvature_ref", k_mu, k_sd, dims=gdim)
            k_slope = spec.nuisance["curvature_slope"].create("curvature_slope", dims=gdim)
            k_tau = spec.nuisance["curvature_tau"].create("curvature_tau")
            k_trend = (
                (k_ref[cell_group] + k_slope[cell_group] * lc) if gdim else k_ref + k_slope * lc
            )
            z_k = pm.Normal("curvature_z", 0.0, 1.0, dims="budget")
            log_k = pm.Deterministic("curvature_log", k_trend + k_tau * z_k, dims="budget")
            k = pm.Deterministic("curvature", pt.exp(log_k), dims="budget")
        else:
            k = priors["curvature"].create("curvature", dims="budget")
        l_opt = priors["loss_opt"].create("loss_opt", dims="budget")
        # the law on each run, in log form, on inputs relative to the reference scales
        # (N/N0, and C/C0 at the budget's compute; G then is N*(C0)/N0): PyTensor folds the
        # log(exp(.)) of the relative inputs, so the graph is the parabola in log N
        mu = law.log_of(
            pt.exp(x),
            FLOPS_PER_PARAM_TOKEN * pt.exp(lc)[cell],
            a=_per_run(a_cell, cell),
            G=pt.exp(_per_run(n_ref_cell, cell)),
            curvature=k[cell],
            loss_opt=l_opt[cell],
            skew=skew_run,
        )
        if group is not None:  # configurations differ in noise (train vs validation loss, ...)
            noise = spec.likelihood.sigma.create("sigma", dims=group)[cell_group][cell]
        else:
            noise = spec.likelihood.sigma.create("sigma")
        observed = pm.Data(
            "log_loss_observed", np.log(runs["loss"].to_numpy(dtype=float)), dims="run"
        )
        spec.likelihood.observe("log_loss", mu=mu, sigma=noise, observed=observed)

    scales = {"params": float(np.exp(log_n0)), "flops": float(np.exp(log_c0))}
    info = ModelInfo(
        law=spec.law,
        scales=scales,
        group=group,
        groups=groups,
        pooled=pooled,
        run_ids=tuple(run_ids),
    )
    return model, info


def budget_coords(runs: pd.DataFrame, group: str | None) -> dict[str, Any]:
    """Non-dimension coordinates of the ``budget`` dim: ``budget_flops`` (and ``budget_group``)."""
    _, cells = _cells(runs, group)
    out: dict[str, Any] = {"budget_flops": ("budget", cells["flops"].to_numpy(dtype=float))}
    if group is not None:
        out["budget_group"] = ("budget", cells["group"].to_numpy(dtype=object))
    return out


def allocate(posterior: xr.Dataset, flops: Any) -> dict[str, xr.DataArray]:
    """Compute-optimal parameters and tokens at new budgets from an IsoFLOP posterior.

    Parameters
    ----------
    posterior : xarray.Dataset
        Posterior with ``a`` and ``G`` (dims ``chain``, ``draw`` and, when pooled, the group).
    flops : array-like
        Budgets (FLOP).

    Returns
    -------
    dict of str to xarray.DataArray
        ``params_opt`` (``G·(C/6)^a``) and ``tokens_opt`` (``C/(6·N_opt)``), with the
        posterior's dims plus ``flops``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> post = xr.Dataset({"a": (("chain", "draw"), np.full((1, 2), 0.5)),
    ...                    "G": (("chain", "draw"), np.full((1, 2), 0.1))})
    >>> out = allocate(post, [6e20])
    >>> float(out["params_opt"].isel(chain=0, draw=0, flops=0))
    1000000000.0
    >>> out["tokens_opt"].dims
    ('chain', 'draw', 'flops')
    """
    from bayescale.laws.isoflop import isoflop_optimal

    c = np.atleast_1d(np.asarray(flops, dtype=float))
    budget = xr.DataArray(c, dims="flops", coords={"flops": c})
    opt = isoflop_optimal(budget, a=posterior["a"], G=posterior["G"])
    return {
        key: opt[key].transpose("chain", "draw", ..., "flops").rename(key)
        for key in ("params_opt", "tokens_opt")
    }


#: The ``isoflop`` model family.
ISOFLOP = register_family(
    Family(
        name="isoflop",
        description="IsoFLOP valleys of all budgets jointly (Hoffmann et al.'s Approach 2)",
        prepare=prepare,
        build=build,
        options=OPTIONS,
        # the per-group slope of log curvature in log budget and the budgets' spread around
        # that trend, with the curvature_trend option
        nuisance={"curvature_slope": (), "curvature_tau": ()},
        initial_values=initial_values,
        allocate=allocate,
        drops_outliers=True,
    )
)
