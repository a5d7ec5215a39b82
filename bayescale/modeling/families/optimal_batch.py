"""Optimal batch size and learning rate, located inside a model of the loss surface.

On a learning-rate × batch-size grid at several (N, D) cells (e.g. Step Law's ``steplaw2025``),
the loss of run ``i`` in cell ``c`` is modelled around the cell's optimum
``(η_c, B_c)`` rather than read off the grid:

``log L_i = log L*_c + q_c(x_i, y_i)``,  ``x = log(lr/η_c)``,  ``y = log(B/B_c)``,

``q_c = a_c x² + b_c y² + 2ρ·sqrt(a_c b_c)·x y + s_lr·ā x³ + s_bs·b̄ y³``

— a positive-definite quadratic valley (curvatures ``a_c``, ``b_c`` partially pooled across
cells, a shared correlation ``ρ``, non-centred; ``ā``, ``b̄`` their pooled values) with shared
cubic terms for the asymmetry of the valley (loss rises faster above the optimal learning rate
than below it), scaled by the curvature (``skew_lr``, ``skew_bs`` ~ Normal(0, 0.3)). The cubic
terms have zero gradient at the origin, so ``(η_c, B_c)`` stays the cell's optimum. The optima
follow

``log B_c = log B_0 + b_N log N + b_D log D + τ_B z_B,c``
``log η_c = log η_0 + e_N log N + e_D log D + τ_η z_η,c``

with per-cell deviations ``z ~ Normal(0, 1)`` (scales ``tau_B``, ``tau_eta`` ~ HalfNormal(0.1)),
so the exponents' intervals reflect how well the cells agree with a power law, not only the
number of runs.
Prefactors are sampled at the cells' reference scale (geometric-mean N and D) with the spec's
LogNormal prior on ``B_0`` and ``eta_0`` kept exactly. Observation noise: Student-t (or Normal)
on log loss with the spec's likelihood.

Every chain starts at the naive grid-minimum estimate of the laws (:func:`grid_minimum_regression`
on the prepared runs): the exponents and reference-scale prefactors are sampled as
``start + offset`` with a potential that restores the spec's prior on the parameter exactly, so
the posterior is unchanged while chains no longer settle in the poor local modes of the surface
(a flat valley, or optima drifting off a cell's grid) that chains started at the prior means found.

Only runs near each cell's optimum are modelled: runs flagged ``outlier`` (Step Law: final loss
> 5, diverged) are dropped and, in each cell, runs whose loss exceeds the cell's lowest loss by
more than :data:`WINDOW` (relative) are left out, because far from the optimum no low-order
surface describes the loss (divergence, instability). The window is recorded in the fit.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayescale.exceptions import RunTableError
from bayescale.laws import get_law
from bayescale.modeling.families._common import (
    lognormal_prior,
    numeric_column,
    require_columns,
    source_of,
)
from bayescale.modeling.families.base import Family, ModelInfo, register_family

if TYPE_CHECKING:
    from bayescale.modeling.spec import ModelSpec

__all__ = [
    "MIN_CELLS",
    "OPTIMAL_BATCH",
    "OPTIONS",
    "WINDOW",
    "build",
    "cell_label",
    "grid_minimum_regression",
    "prepare",
    "simulate_grid",
]

log = logging.getLogger("bayescale")

#: Relative loss window around each cell's lowest loss that the surface model describes.
WINDOW: float = 0.05
#: Fewest (N, D) cells that identify an N and a D exponent.
MIN_CELLS: int = 3
#: Fewest runs per cell (a 2-D quadratic with its optimum needs at least 6).
MIN_RUNS_PER_CELL: int = 6
_WHAT = "the optimal_batch model"
_COLUMNS = ("params", "tokens", "learning_rate", "batch_size")


def _loss_column(runs: pd.DataFrame) -> str:
    for col in ("smooth_loss", "smooth loss", "loss"):
        if col in runs.columns:
            return col
    require_columns(runs, ("loss",), what=_WHAT)
    return "loss"  # pragma: no cover


def cell_label(params: float, tokens: float) -> str:
    """Label of an (N, D) cell, e.g. ``"N2.15e+08-D1e+11"``."""
    return f"N{params:.3g}-D{tokens:.3g}"


#: Spec ``[options]`` of this family: ``window`` (default :data:`WINDOW`).
OPTIONS: dict[str, type] = {"window": float}


def prepare(runs: pd.DataFrame, spec: ModelSpec, *, window: float | None = None) -> pd.DataFrame:
    """Validate a learning-rate × batch-size grid and keep the runs near each cell's optimum.

    Parameters
    ----------
    runs : pandas.DataFrame
        One row per run with ``params`` (N), ``tokens`` (D), ``learning_rate``, ``batch_size``
        (tokens) and the final loss (``smooth_loss`` when present, as Step Law optimise, else
        ``loss``); rows with a true ``outlier`` flag are dropped.
    spec : ModelSpec
        The spec (its ``window`` option is the default window).
    window : float, optional
        Keep runs with loss ≤ (1 + window) × the cell's lowest loss; default: the spec's
        ``window`` option, else :data:`WINDOW`.

    Returns
    -------
    pandas.DataFrame
        ``run_id, cell, params, tokens, learning_rate, batch_size, loss`` (float64 numbers),
        with ``attrs["window"]``, ``attrs["loss_column"]`` and ``attrs["runs_outside_window"]``.

    Raises
    ------
    RunTableError
        Naming the column and row of a bad value, or when too few cells or runs remain.
    """
    require_columns(runs, _COLUMNS, what=_WHAT)
    loss_col = _loss_column(runs)
    if window is None:
        window = float(spec.option("window", WINDOW))
    if not window > 0:
        raise RunTableError(f"{_WHAT}: window must be positive, got {window!r}")
    keep = np.ones(len(runs), dtype=bool)
    if "outlier" in runs.columns:
        keep &= ~runs["outlier"].astype(bool).to_numpy()
    table = runs.loc[keep]
    out: dict[str, Any] = {}
    for col in _COLUMNS:
        out[col] = numeric_column(table, col, what=_WHAT)
    out["loss"] = numeric_column(table, loss_col, what=_WHAT)
    if "run_id" in table.columns:
        out["run_id"] = np.array([str(v) for v in table["run_id"]], dtype=object)
    else:
        out["run_id"] = np.array([str(i) for i in table.index], dtype=object)
    frame = pd.DataFrame(out)
    frame.insert(
        1,
        "cell",
        np.array(
            [cell_label(n, d) for n, d in zip(frame["params"], frame["tokens"], strict=True)],
            dtype=object,
        ),
    )
    best = frame.groupby("cell")["loss"].transform("min").to_numpy()
    inside = frame["loss"].to_numpy() <= best * (1.0 + window)
    n_out = int((~inside).sum())
    frame = frame.loc[inside].reset_index(drop=True)
    counts = frame.groupby("cell").size()
    small = counts[counts < MIN_RUNS_PER_CELL]
    if len(small):
        log.info("optimal_batch: dropping %d cell(s) with < %d runs", len(small), MIN_RUNS_PER_CELL)
        frame = frame.loc[~frame["cell"].isin(small.index)].reset_index(drop=True)
    n_cells = frame["cell"].nunique()
    if n_cells < MIN_CELLS:
        raise RunTableError(
            f"{source_of(runs)}{_WHAT}: needs at least {MIN_CELLS} (params, tokens) cells with "
            f"{MIN_RUNS_PER_CELL}+ runs within {window:g} of their best loss, found {n_cells}"
        )
    for col in ("params", "tokens"):
        if frame.groupby("cell")[col].nunique().max() > 1:  # pragma: no cover (labels use 3 sig.)
            raise RunTableError(f"{_WHAT}: cells are not unique in column {col!r}")
    if frame["run_id"].duplicated().any():
        pos = int(np.flatnonzero(frame["run_id"].duplicated().to_numpy())[0])
        raise RunTableError(
            f"{source_of(runs)}{_WHAT}: column 'run_id': duplicate run id "
            f"{frame['run_id'].iloc[pos]!r}"
        )
    frame.attrs = {k: v for k, v in runs.attrs.items() if isinstance(v, str | int | float)}
    frame.attrs.update(
        {"window": float(window), "loss_column": loss_col, "runs_outside_window": n_out}
    )
    return frame


def build(spec: ModelSpec, runs: pd.DataFrame) -> tuple[Any, ModelInfo]:
    """Build the loss-surface model on a prepared grid (see the module docstring).

    Returns
    -------
    (pymc.Model, ModelInfo)
        Observed ``log_loss`` on dim ``run``; posterior ``B_0, b_N, b_D, eta_0, e_N, e_D``,
        ``sigma``, the per-cell optima ``batch_size_opt``, ``learning_rate_opt`` and
        ``loss_opt`` on dim ``cell``, and the surface's nuisance parameters.
    """
    import pymc as pm
    import pytensor.tensor as pt

    law = get_law(spec.law)
    codes, cells = pd.factorize(runs["cell"].astype(str), sort=True)
    first = runs.groupby("cell", sort=True).first()
    log_n = np.log(first["params"].to_numpy(dtype=float))
    log_d = np.log(first["tokens"].to_numpy(dtype=float))
    n0, d0 = float(log_n.mean()), float(log_d.mean())
    cell_min = runs.groupby("cell", sort=True)["loss"].min().to_numpy(dtype=float)
    coords = {
        "run": [str(r) for r in runs["run_id"]],
        "cell": [str(c) for c in cells],
        "curvature": ["lr", "batch_size"],
    }
    mu_b, sigma_b = lognormal_prior(spec, "B_0")
    mu_e, sigma_e = lognormal_prior(spec, "eta_0")

    with pm.Model(coords=coords) as model:
        x_lr = pm.Data(
            "log_learning_rate", np.log(runs["learning_rate"].to_numpy(float)), dims="run"
        )
        y_bs = pm.Data("log_batch_size", np.log(runs["batch_size"].to_numpy(float)), dims="run")
        idx = pm.Data("cell_idx", codes, dims="run")
        dn = pm.Data("log_params_rel", log_n - n0, dims="cell")
        dd = pm.Data("log_tokens_rel", log_d - d0, dims="cell")
        ln0 = pm.Data("log_scale_params", n0)
        ld0 = pm.Data("log_scale_tokens", d0)

        # The sampler starts every chain near the naive grid-minimum estimate: each parameter is
        # start + offset with the offset sampled, and a potential restores the spec's prior on
        # the parameter exactly (a unit-Jacobian shift). Chains started at the prior means can
        # otherwise settle in poor local modes of the surface (optima off the grid).
        start = _starting_values(runs, n0, d0)
        b_n = _shifted(spec, "b_N", start)
        b_d = _shifted(spec, "b_D", start)
        e_n = _shifted(spec, "e_N", start)
        e_d = _shifted(spec, "e_D", start)
        log_b_ref = _shifted_normal(
            "log_B_ref", start, mu_b + b_n * ln0 + b_d * ld0, sigma_b, scale=1.0
        )
        log_e_ref = _shifted_normal(
            "log_eta_ref", start, mu_e + e_n * ln0 + e_d * ld0, sigma_e, scale=1.0
        )
        pm.Deterministic("B_0", pt.exp(log_b_ref - b_n * ln0 - b_d * ld0))
        pm.Deterministic("eta_0", pt.exp(log_e_ref - e_n * ln0 - e_d * ld0))

        # per-cell deviations from the power laws: ~10% a priori (a larger spread would mean the
        # law itself fails); this also keeps a cell's optimum from drifting off its grid
        nuisance = spec.nuisance
        tau_b = nuisance["tau_B"].create("tau_B")
        tau_e = nuisance["tau_eta"].create("tau_eta")
        z_b = pm.Normal("z_B", 0.0, 1.0, dims="cell")
        z_e = pm.Normal("z_eta", 0.0, 1.0, dims="cell")
        # the law at each cell (N, D relative to the reference scales), then each cell's deviation
        trend = law.loss(
            pt.exp(dn),
            pt.exp(dd),
            B_0=pt.exp(log_b_ref),
            b_N=b_n,
            b_D=b_d,
            eta_0=pt.exp(log_e_ref),
            e_N=e_n,
            e_D=e_d,
        )
        log_b_opt = pt.log(trend["batch_size_opt"]) + tau_b * z_b
        log_e_opt = pt.log(trend["learning_rate_opt"]) + tau_e * z_e
        pm.Deterministic("batch_size_opt", pt.exp(log_b_opt), dims="cell")
        pm.Deterministic("learning_rate_opt", pt.exp(log_e_opt), dims="cell")

        # every data-dependent number is pm.Data: compiled models are reused on new tables
        best = pm.Data("log_loss_best", np.log(cell_min), dims="cell")
        log_l_opt = nuisance["log_loss_opt"].create("log_loss_opt", mu=best, dims="cell")
        pm.Deterministic("loss_opt", pt.exp(log_l_opt), dims="cell")

        # the valley: log-curvatures pooled across cells (non-centred), a shared correlation
        curv_lr = nuisance["log_curv_lr"].create("log_curv_lr")
        curv_bs = nuisance["log_curv_bs"].create("log_curv_bs")
        # |rho| < 0.9: each cell has a genuine optimum (rho -> ±1 is a flat, degenerate valley
        # along which the optimum slides; chains that wander there fit far worse and get stuck)
        rho = nuisance["corr"].create("corr")
        tau_c = nuisance["tau_curv"].create("tau_curv", dims="curvature")
        z_c = pm.Normal("z_curv", 0.0, 1.0, dims=("cell", "curvature"))
        a = pt.exp(curv_lr + tau_c[0] * z_c[:, 0])
        b = pt.exp(curv_bs + tau_c[1] * z_c[:, 1])
        # asymmetry relative to the pooled curvature: the cubic term changes q by a fraction
        # skew·x at x e-folds from the optimum (a weak prior keeps the optimum inside the data)
        skew_lr = nuisance["skew_lr"].create("skew_lr")
        skew_bs = nuisance["skew_bs"].create("skew_bs")
        h = skew_lr * pt.exp(curv_lr)
        k = skew_bs * pt.exp(curv_bs)

        x = x_lr - log_e_opt[idx]
        y = y_bs - log_b_opt[idx]
        q = (
            a[idx] * x**2
            + b[idx] * y**2
            + 2.0 * rho * pt.sqrt(a[idx] * b[idx]) * x * y
            + h * x**3
            + k * y**3
        )
        mu = log_l_opt[idx] + q
        sigma = spec.likelihood.sigma.create("sigma")
        observed = pm.Data("log_loss_observed", np.log(runs["loss"].to_numpy(float)), dims="run")
        spec.likelihood.observe("log_loss", mu=mu, sigma=sigma, observed=observed)

    info = ModelInfo(
        law=law.name,
        scales={"params": float(np.exp(n0)), "tokens": float(np.exp(d0))},
        run_ids=tuple(str(r) for r in runs["run_id"]),
    )
    return model, info


def _starting_values(runs: pd.DataFrame, n0: float, d0: float) -> dict[str, float]:
    """Starting values from the grid-minimum regression (centred on n0, d0), clipped."""
    best = runs.loc[runs.groupby("cell")["loss"].idxmin()]
    design = np.column_stack(
        [np.ones(len(best)), np.log(best["params"]) - n0, np.log(best["tokens"]) - d0]
    )
    fit_b = np.linalg.lstsq(design, np.log(best["batch_size"]), rcond=None)[0]
    fit_e = np.linalg.lstsq(design, np.log(best["learning_rate"]), rcond=None)[0]
    # few distinct N (or D) make the slopes unstable: keep them in a plausible range
    return {
        "log_B_ref": float(fit_b[0]),
        "b_N": float(np.clip(fit_b[1], -1.0, 1.0)),
        "b_D": float(np.clip(fit_b[2], -1.0, 1.5)),
        "log_eta_ref": float(fit_e[0]),
        "e_N": float(np.clip(fit_e[1], -1.5, 1.0)),
        "e_D": float(np.clip(fit_e[2], -1.0, 1.0)),
    }


def _shifted_normal(
    name: str, start: dict[str, float], mu: Any, sigma: float, *, scale: float
) -> Any:
    """``name = start + offset`` with a Normal(mu, sigma) prior on ``name`` (via a potential)."""
    import pymc as pm

    origin = pm.Data(f"{name}_start", start[name])
    offset = pm.Normal(f"{name}_offset", 0.0, scale)
    value = pm.Deterministic(name, origin + offset)
    pm.Potential(
        f"{name}_prior",
        pm.logp(pm.Normal.dist(mu, sigma), value) - pm.logp(pm.Normal.dist(0.0, scale), offset),
    )
    return value


def _shifted(spec: ModelSpec, name: str, start: dict[str, float]) -> Any:
    """An exponent started at ``start[name]`` with the spec's prior (Normal priors only)."""
    prior = spec.priors[name]
    if prior.dist != "Normal":
        return prior.create(name)  # bounded or heavy-tailed priors: start at the prior's centre
    return _shifted_normal(
        name, start, prior.kwargs["mu"], prior.kwargs["sigma"], scale=prior.kwargs["sigma"]
    )


def grid_minimum_regression(
    runs: pd.DataFrame, *, loss_column: str | None = None
) -> dict[str, float]:
    """The naive estimate: each cell's best grid point, then least squares on log N, log D.

    This is the baseline the model improves on (the grid minimum is quantised to the grid's
    √2 spacing and biased by noise); it returns ``b_N, b_D, e_N, e_D`` with ``B ~ N, D`` and
    ``lr ~ N, D`` regressions, plus ``b_D_only`` from ``log B ~ log D`` (Step Law's form).

    Examples
    --------
    >>> import pandas as pd
    >>> rows = [(n, d, lr, b, 3.0 + (lr - 1e-3 * (d / n) ** 0.3) ** 2 + (b - d**0.5) ** 2)
    ...         for n in (1e8, 2e8, 4e8) for d in (1e9, 4e9) for lr in (1e-3, 2e-3)
    ...         for b in (3e4, 6e4)]
    >>> out = grid_minimum_regression(pd.DataFrame(rows, columns=["params", "tokens",
    ...                               "learning_rate", "batch_size", "loss"]))
    >>> sorted(out)
    ['b_D', 'b_D_only', 'b_N', 'e_D', 'e_N']
    """
    col = loss_column or _loss_column(runs)
    table = runs
    if "outlier" in table.columns:
        table = table.loc[~table["outlier"].astype(bool)]
    best = table.loc[table.groupby(["params", "tokens"])[col].idxmin()]
    design = np.column_stack(
        [np.ones(len(best)), np.log(best["params"].astype(float)), np.log(best["tokens"])]
    )
    coef_b = np.linalg.lstsq(design, np.log(best["batch_size"].astype(float)), rcond=None)[0]
    coef_e = np.linalg.lstsq(design, np.log(best["learning_rate"].astype(float)), rcond=None)[0]
    coef_d = np.linalg.lstsq(design[:, [0, 2]], np.log(best["batch_size"]), rcond=None)[0]
    return {
        "b_N": float(coef_b[1]),
        "b_D": float(coef_b[2]),
        "e_N": float(coef_e[1]),
        "e_D": float(coef_e[2]),
        "b_D_only": float(coef_d[1]),
    }


def simulate_grid(
    values: dict[str, float] | None = None,
    *,
    params: tuple[float, ...] = (2e8, 5e8, 1e9),
    tokens_per_param: tuple[float, ...] = (20.0, 100.0),
    grid: int = 7,
    spacing: float = float(np.log(2.0) / 2),
    curvature: tuple[float, float, float] = (8e-3, 6e-3, -0.35),
    noise: float = 0.002,
    seed: int = 0,
) -> pd.DataFrame:
    """A learning-rate × batch-size grid from known optimum laws (for tests and checks).

    Each cell's optimum follows ``values`` (default: Step Law's medians with ``b_N = 0``);
    the loss is ``L*·exp(q)`` with the quadratic valley of the model (curvatures ``a``, ``b``
    and correlation ``ρ``), log-normal noise of sd ``noise``, on a ``grid × grid`` lattice
    √2 apart (by default) and offset at random around the optimum.

    Examples
    --------
    >>> g = simulate_grid(grid=3)
    >>> len(g), g["learning_rate"].nunique() > 3
    (54, True)
    """
    v = {**get_law("optimal_batch").published, **(values or {})}
    rng = np.random.default_rng(seed)
    a, b, rho = curvature
    rows = []
    offsets = spacing * (np.arange(grid) - (grid - 1) / 2)
    for n in params:
        for ratio in tokens_per_param:
            d = n * ratio
            b_opt = v["B_0"] * n ** v["b_N"] * d ** v["b_D"]
            e_opt = v["eta_0"] * n ** v["e_N"] * d ** v["e_D"]
            shift = rng.uniform(-spacing / 2, spacing / 2, 2)
            l_star = 2.0 + 40.0 * n**-0.2
            for x in offsets + shift[0]:
                for y in offsets + shift[1]:
                    q = a * x**2 + b * y**2 + 2 * rho * np.sqrt(a * b) * x * y
                    loss = l_star * np.exp(q + noise * rng.standard_normal())
                    rows.append(
                        {
                            "run_id": f"N{n:.3g}-D{d:.3g}-x{x:+.3f}-y{y:+.3f}",
                            "params": n,
                            "tokens": d,
                            "learning_rate": e_opt * np.exp(x),
                            "batch_size": b_opt * np.exp(y),
                            "loss": loss,
                        }
                    )
    return pd.DataFrame(rows)


#: The ``optimal_batch`` model family.
OPTIMAL_BATCH = register_family(
    Family(
        name="optimal_batch",
        description="optimal batch size and learning rate inside a model of the loss surface",
        prepare=prepare,
        build=build,
        options=OPTIONS,
        nuisance={
            **dict.fromkeys(("tau_B", "tau_eta", "log_curv_lr", "log_curv_bs", "corr"), ()),
            **dict.fromkeys(("tau_curv", "skew_lr", "skew_bs"), ()),
            "log_loss_opt": ("mu",),
        },
    )
)
