"""Critical batch size B_crit(L) = B*/L^(1/α_B) from raw gradient-noise statistics.

The runner records, at measured optimizer steps, the squared gradient norm averaged over
micro-batches of ``b_small`` tokens (``g2_small``, the mean of the micro-batch ``|g_i|²``) and
of the full batch of ``b_big`` tokens (``g2_big = |mean_i g_i|²``). Their expectations are
``|G|² + tr(Σ)/B`` at the respective batch size (McCandlish et al. 2018, App. A.1). This model
uses both raw statistics rather than the noisy per-step ratio:

- per step ``t`` of training run ``r``: the noise scale follows the law at that step's loss,
  ``B_noise,t = tr(Σ_t)/|G_t|² = B*/L_t^(1/α_B)``;
- ``|G_t|² ~ InverseGamma(ν, (ν + 1)·m_t)`` around a per-run trend in the loss,
  ``log m_t = a_r + c_r·log(L_t/L_ref)`` (``g2_level``, ``g2_slope``), with per-step scatter set
  by ``nu``; the inverse-gamma is conjugate to the Gamma observation model below, so each
  step's ``|G_t|²`` is integrated out exactly and the sampler sees only a few dozen parameters;
- the estimator's noise: ``g2_big`` and ``g2_small − g2_big`` are independent (for Gaussian
  micro-batch gradients the micro-batch spread is independent of their mean), with
  ``E[g2_big] = |G|² + tr(Σ)/B_big`` and ``E[g2_small − g2_big] = tr(Σ)·(1/B_small − 1/B_big)``.
  Both are modelled as Gamma with the shapes of the estimator for Gaussian micro-batch noise
  of effective dimension ``d``: ``(k − 1)·d/2`` for the spread of ``k = b_big/b_small``
  micro-batches (exact for isotropic noise) and ``d(1 + r)²/(4r + 2r²)`` for the non-central
  ``g2_big`` with ``r = B_noise/b_big``, so a step is weighted by how noisy its statistics are.
  The two effective dimensions (``dim_big``, ``dim_diff``) are free, absorbing anisotropy and
  excess scatter.

Geometry: ``B*`` is sampled as the noise scale at the data's reference loss
``L_ref`` (geometric mean of the losses), ``log B_ref = log B* − log(L_ref)/α_B``, which removes
the ridge between B* and α_B. The spec's LogNormal prior on B* is kept exactly (unit-Jacobian
shear). Squared norms are divided by their geometric mean before modelling.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayescale.data.tables import NOISE
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

__all__ = ["BCRIT", "NOISE_COLUMNS", "build", "prepare", "simulate_noise_runs"]


#: The statistics of a gradient-noise row (the runner's ``runs.noise.csv``), besides the loss:
#: the positive columns of the schema :data:`bayescale.data.tables.NOISE`.
NOISE_COLUMNS: tuple[str, ...] = NOISE.positive
_WHAT = "the bcrit model (gradient-noise statistics)"
#: Largest Gamma shape of ``g2_big`` (when the gradient noise is negligible at ``b_big``).
KAPPA_MAX: float = 1.0e4


def _loss_column(runs: pd.DataFrame) -> str:
    for col in ("train_loss", "loss"):
        if col in runs.columns:
            return col
    require_columns(runs, ("train_loss",), what=_WHAT)
    return "train_loss"  # pragma: no cover  (require_columns raised)


def prepare(runs: pd.DataFrame, spec: ModelSpec) -> pd.DataFrame:
    """Validate a gradient-noise table and return the clean copy the model is built on.

    Parameters
    ----------
    runs : pandas.DataFrame
        One row per measured step with ``b_small``, ``b_big`` (tokens), ``g2_small``,
        ``g2_big`` and the step's loss (``train_loss``, else ``loss``); optionally ``run_id``
        (or ``run``), ``step`` and ``tokens``.
    spec : ModelSpec
        The spec (unused beyond its law; kept for the family interface).

    Returns
    -------
    pandas.DataFrame
        Columns ``run_id``, ``step``, ``train_loss``, ``b_small``, ``b_big``, ``g2_small``,
        ``g2_big`` (plus ``tokens`` when given), float64 except ``run_id``.

    Raises
    ------
    RunTableError
        Naming the column and the row of the first problem.

    Examples
    --------
    >>> from bayescale.modeling.spec import load_spec
    >>> table = simulate_noise_runs(n_runs=2, n_steps=5, seed=0)
    >>> prepare(table, load_spec("bcrit")).columns.tolist()[:3]
    ['run_id', 'step', 'train_loss']
    """
    require_columns(runs, NOISE_COLUMNS, what=_WHAT)
    loss_col = _loss_column(runs)
    out: dict[str, Any] = {}
    if "run_id" in runs.columns:
        ids = runs["run_id"]
    elif "run" in runs.columns:
        ids = runs["run"]
    else:
        ids = pd.Series(["0"] * len(runs), index=runs.index)
    if ids.isna().any():
        pos = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise RunTableError(
            f"{source_of(runs)}{_WHAT}: column 'run_id', row {runs.index[pos]}: value is missing"
        )
    out["run_id"] = np.array([str(v) for v in ids], dtype=object)
    if "step" in runs.columns:
        out["step"] = numeric_column(runs, "step", what=_WHAT, lower=0.0, strict=False)
    else:
        out["step"] = np.arange(len(runs), dtype=float)
    out["train_loss"] = numeric_column(runs, loss_col, what=_WHAT)
    for col in NOISE_COLUMNS:
        out[col] = numeric_column(runs, col, what=_WHAT)
    bad = out["b_big"] <= out["b_small"]
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise RunTableError(
            f"{source_of(runs)}{_WHAT}: column 'b_big', row {runs.index[pos]}: "
            f"{out['b_big'][pos]:g} must exceed b_small = {out['b_small'][pos]:g}"
        )
    bad = out["g2_small"] <= out["g2_big"]
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise RunTableError(
            f"{source_of(runs)}{_WHAT}: column 'g2_small', row {runs.index[pos]}: "
            f"{out['g2_small'][pos]:g} must exceed g2_big = {out['g2_big'][pos]:g} (the mean "
            "of micro-batch squared norms is never below the squared norm of their mean; "
            "were the two measured on different batches?)"
        )
    if "tokens" in runs.columns:
        out["tokens"] = numeric_column(runs, "tokens", what=_WHAT, lower=0.0, strict=False)
    frame = pd.DataFrame(out)
    key = frame["run_id"].astype(str) + "/" + frame["step"].map(lambda s: f"{s:g}")
    dup = key.duplicated()
    if dup.any():
        pos = int(np.flatnonzero(dup.to_numpy())[0])
        raise RunTableError(
            f"{source_of(runs)}{_WHAT}: row {runs.index[pos]}: step {frame['step'].iloc[pos]:g} "
            f"of run {frame['run_id'].iloc[pos]!r} appears twice"
        )
    if len(frame) < 3:
        raise RunTableError(f"{source_of(runs)}{_WHAT}: need at least 3 rows, got {len(frame)}")
    frame.attrs = {k: v for k, v in runs.attrs.items() if isinstance(v, str | int | float)}
    frame.attrs["loss_column"] = loss_col
    return frame


def _row_ids(runs: pd.DataFrame) -> list[str]:
    return [f"{r}/{s:g}" for r, s in zip(runs["run_id"], runs["step"], strict=True)]


def _pair_logp(
    value: Any, log_m: Any, log_u_big: Any, log_u_diff: Any, k_big: Any, k_diff: Any, nu: Any
) -> Any:
    """Log density of (g2_big, g2_small − g2_big) with the step's |G|² integrated out.

    ``g2_big ~ Gamma(k_big, rate k_big/(G²·u_big))`` and ``diff ~ Gamma(k_diff, rate
    k_diff/(G²·u_diff))`` given ``G²``, and ``G² ~ InverseGamma(nu, (nu + 1)·m)`` (mode ``m``):
    the integral over ``G²`` is closed-form because the likelihood is an inverse-gamma kernel.
    """
    import pytensor.tensor as pt
    from pytensor.tensor.special import gammaln

    x1 = value[..., 0]
    x2 = value[..., 1]
    rate = k_big * x1 * pt.exp(-log_u_big) + k_diff * x2 * pt.exp(-log_u_diff)
    log_beta = pt.log(nu + 1.0) + log_m
    total = k_big + k_diff + nu
    return (
        k_big * pt.log(k_big)
        - gammaln(k_big)
        + (k_big - 1.0) * pt.log(x1)
        - k_big * log_u_big
        + k_diff * pt.log(k_diff)
        - gammaln(k_diff)
        + (k_diff - 1.0) * pt.log(x2)
        - k_diff * log_u_diff
        + nu * log_beta
        - gammaln(nu)
        + gammaln(total)
        - total * pt.log(rate + pt.exp(log_beta))
    )


def build(spec: ModelSpec, runs: pd.DataFrame) -> tuple[Any, ModelInfo]:
    """Build the PyMC model of :mod:`bayescale.modeling.families.bcrit` on a prepared table.

    Returns
    -------
    (pymc.Model, ModelInfo)
        One observed variable ``g2`` on dims ``(run, statistic)`` (``statistic`` is
        ``g2_big`` and ``g2_diff = g2_small − g2_big``; one log-likelihood term per row);
        posterior ``B_star``, ``alpha_B`` (the law's names), ``log_B_ref``, ``dim_big``,
        ``dim_diff`` (and the per-row shapes ``kappa_big``, ``kappa_diff``), ``nu`` and the
        per-run trend ``g2_level``, ``g2_slope`` on dim ``run_id``.
    """
    import pymc as pm
    import pytensor.tensor as pt

    law = get_law(spec.law)
    loss = runs["train_loss"].to_numpy(dtype=float)
    b_small = runs["b_small"].to_numpy(dtype=float)
    b_big = runs["b_big"].to_numpy(dtype=float)
    g2_small = runs["g2_small"].to_numpy(dtype=float)
    g2_big = runs["g2_big"].to_numpy(dtype=float)
    g2_scale = float(np.exp(np.mean(np.log(g2_big))))
    log_l_ref = float(np.mean(np.log(loss)))
    codes, uniques = pd.factorize(runs["run_id"].astype(str), sort=True)
    row_ids = _row_ids(runs)
    coords = {
        "run": row_ids,
        "run_id": [str(u) for u in uniques],
        "statistic": ["g2_big", "g2_diff"],
    }
    mu_b, sigma_b = lognormal_prior(spec, "B_star")
    observed = np.stack([g2_big, g2_small - g2_big], axis=1) / g2_scale

    with pm.Model(coords=coords) as model:
        log_loss = pm.Data("log_loss_rel", np.log(loss) - log_l_ref, dims="run")
        log_bs = pm.Data("log_b_small", np.log(b_small), dims="run")
        log_bb = pm.Data("log_b_big", np.log(b_big), dims="run")
        run_idx = pm.Data("run_idx", codes, dims="run")
        log_lref = pm.Data("log_scale_loss", log_l_ref)

        alpha_b = spec.priors["alpha_B"].create("alpha_B")
        log_b_ref = pm.Normal("log_B_ref", mu_b - log_lref / alpha_b, sigma_b)
        pm.Deterministic("B_star", pt.exp(log_b_ref + log_lref / alpha_b))
        # the law: log B_noise at each step's loss (relative to the reference loss)
        log_bn = pt.log(law.loss(pt.exp(log_loss), B_star=pt.exp(log_b_ref), alpha_B=alpha_b))

        nuisance = spec.nuisance
        level = nuisance["g2_level"].create("g2_level", dims="run_id")
        slope = nuisance["g2_slope"].create("g2_slope", dims="run_id")
        nu = nuisance["nu"].create("nu")
        # effective dimensions of the gradient noise (tr(Σ)²/tr(Σ²) for Gaussian noise), one
        # per statistic so that excess scatter of either is absorbed
        dim_big = nuisance["dim_big"].create("dim_big")
        dim_diff = nuisance["dim_diff"].create("dim_diff")
        log_m = level[run_idx] + slope[run_idx] * log_loss
        # E[g2_big] = G2 (1 + Bn/B_big); E[g2_small - g2_big] = G2 Bn (1/B_small - 1/B_big)
        ratio = pt.exp(log_bn - log_bb)  # r = B_noise / B_big
        log_u_big = pt.log1p(ratio)
        log_u_diff = log_bn - log_bs + pt.log1p(-pt.exp(log_bs - log_bb))
        # Gamma shapes (mean²/variance) of the estimator: the spread of k micro-batches is a
        # chi-square with (k - 1)·d/2 shape; |mean gradient|² is non-central, shape
        # d (1 + r)² / (4 r + 2 r²), capped at KAPPA_MAX when the noise is negligible
        micro = pt.exp(log_bb - log_bs)
        kappa_diff = pm.Deterministic("kappa_diff", (micro - 1.0) * dim_diff / 2.0, dims="run")
        kappa_big = pm.Deterministic(
            "kappa_big",
            1.0 / ((4.0 * ratio + 2.0 * ratio**2) / (dim_big * (1.0 + ratio) ** 2) + 1 / KAPPA_MAX),
            dims="run",
        )
        pm.CustomDist(
            "g2",
            log_m,
            log_u_big,
            log_u_diff,
            kappa_big,
            kappa_diff,
            nu,
            logp=_pair_logp,
            signature="(),(),(),(),(),()->(2)",
            observed=pm.Data("g2_observed", observed, dims=("run", "statistic")),
            dims=("run", "statistic"),
        )

    info = ModelInfo(
        law=law.name,
        scales={"train_loss": float(np.exp(log_l_ref)), "g2": g2_scale},
        run_ids=tuple(row_ids),
    )
    return model, info


def simulate_noise_runs(
    *,
    B_star: float = 3.0e4,
    alpha_B: float = 0.25,
    n_runs: int = 4,
    n_steps: int = 40,
    b_small: float = 1024.0,
    b_big: float = 2048.0,
    dim: int = 40,
    loss_start: float = 5.0,
    loss_end: tuple[float, float] = (2.0, 3.0),
    g2_jitter: float = 0.3,
    seed: int = 0,
) -> pd.DataFrame:
    """Simulate the runner's gradient-noise table from known ``B*`` and ``α_B``.

    Each run's loss decays from ``loss_start`` to a value in ``loss_end``; at each step the true
    gradient ``G`` (``|G|²`` a smooth trend in the loss times log-normal jitter) and an
    isotropic per-token covariance with ``tr(Σ) = |G|²·B*/L^(1/α_B)`` give micro-batch
    gradients ``g_i ~ Normal(G, Σ/b_small)`` in ``dim`` dimensions; the table records
    ``g2_small = mean_i |g_i|²`` and ``g2_big = |mean_i g_i|²`` exactly as the runner does.

    Returns
    -------
    pandas.DataFrame
        ``run_id, step, tokens, train_loss, b_small, b_big, g2_small, g2_big``.

    Examples
    --------
    >>> table = simulate_noise_runs(n_runs=2, n_steps=3, seed=1)
    >>> len(table), bool((table["g2_small"] > table["g2_big"]).all())
    (6, True)
    """
    rng = np.random.default_rng(seed)
    k = round(b_big / b_small)
    if k < 2 or not np.isclose(k * b_small, b_big):
        raise ValueError("b_big must be an integer multiple (>= 2) of b_small")
    rows = []
    for r in range(n_runs):
        end = rng.uniform(*loss_end)
        steps = np.arange(n_steps)
        loss = end + (loss_start - end) * np.exp(-steps / max(n_steps / 5.0, 1.0))
        level = rng.normal(0.0, 1.0)
        for t, L in zip(steps, loss, strict=True):
            g2 = np.exp(level + 2.0 * np.log(L / 3.0) + g2_jitter * rng.standard_normal())
            trace = g2 * B_star / L ** (1.0 / alpha_B)
            direction = rng.standard_normal(dim)
            G = np.sqrt(g2) * direction / np.linalg.norm(direction)
            micro = G + np.sqrt(trace / (dim * b_small)) * rng.standard_normal((k, dim))
            rows.append(
                {
                    "run_id": f"sim{r}",
                    "step": float(t),
                    "tokens": float(t * b_big),
                    "train_loss": float(L),
                    "b_small": b_small,
                    "b_big": b_big,
                    "g2_small": float(np.mean(np.sum(micro**2, axis=1))),
                    "g2_big": float(np.sum(micro.mean(axis=0) ** 2)),
                }
            )
    return pd.DataFrame(rows)


#: The ``bcrit`` model family.
BCRIT = register_family(
    Family(
        name="bcrit",
        description="critical batch size from raw gradient-noise statistics at two batch sizes",
        prepare=prepare,
        build=build,
        reads_raw_table=True,
        nuisance=dict.fromkeys(("g2_level", "g2_slope", "nu", "dim_big", "dim_diff"), ()),
    )
)
