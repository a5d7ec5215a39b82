"""Kaplan's L(N, S_min) on learning curves, with S_min = S / (1 + B_crit(L)/B).

Rows are points of learning curves (the runner's ``runs.curves.csv``: ``run``, ``step``,
``loss``, ``batch_size``, ``params`` / ``params_nonembedding``). The mean loss is
:func:`bayescale.laws.batch.kaplan_curve_loss`,

``L = (N_c/N)^α_N + (S_c/S_min)^α_S``,  ``S_min = S / (1 + B_crit(L_obs)/B)``,
``B_crit(L) = B*/L^(1/α_B)``,

with ``B_crit`` evaluated at each point's observed loss as in Kaplan et al. (2020, §5.1), and
Student-t (or Normal) noise on log loss from the spec. ``N_c`` and ``S_c`` are sampled at the
data's reference scales (geometric-mean N and S) and ``B*`` at the reference loss, each keeping
the spec's LogNormal prior exactly. The first :data:`SKIP_FRACTION` of each curve's steps
(warm-up, where no power law holds) is left out, and recorded.

The compute-efficient frontier of a fit (α_C^min and the N, B, S allocation per budget) is in
:mod:`bayescale.analysis.frontier`; :func:`allocate` exposes it to
:func:`bayescale.analysis.allocate.allocate`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayescale.exceptions import RunTableError
from bayescale.laws import call_with, get_law, kaplan_ns_optimal
from bayescale.modeling.families._common import (
    lognormal_prior,
    numeric_column,
    require_columns,
    source_of,
)
from bayescale.modeling.families.base import Family, ModelInfo, register_family

if TYPE_CHECKING:
    from bayescale.modeling.spec import ModelSpec

__all__ = ["CURVES", "SKIP_FRACTION", "allocate", "build", "prepare"]

#: Fraction of each curve's last step below which points are left out (warm-up).
SKIP_FRACTION: float = 0.1
_WHAT = "the kaplan_ns_curves model (learning curves)"


def prepare(
    runs: pd.DataFrame, spec: ModelSpec, *, skip_fraction: float = SKIP_FRACTION
) -> pd.DataFrame:
    """Validate learning-curve rows and drop each curve's warm-up.

    Parameters
    ----------
    runs : pandas.DataFrame
        Rows with ``step`` (> 0 kept), ``loss``, ``batch_size`` (tokens) and the parameter
        count (``params_nonembedding`` when present, Kaplan's N, else ``params``); a run column
        ``run_id`` or ``run`` (else one curve).
    spec : ModelSpec
        The spec (kept for the family interface).
    skip_fraction : float, default :data:`SKIP_FRACTION`
        Points with ``step <= skip_fraction × (the curve's last step)`` are left out.

    Returns
    -------
    pandas.DataFrame
        ``row_id, run_id, params, step, batch_size, loss``.
    """
    params_col = "params_nonembedding" if "params_nonembedding" in runs.columns else "params"
    require_columns(runs, (params_col, "step", "loss", "batch_size"), what=_WHAT)
    run_col = "run_id" if "run_id" in runs.columns else ("run" if "run" in runs.columns else None)
    frame = pd.DataFrame(
        {
            "run_id": np.array(
                [str(v) for v in runs[run_col]] if run_col else ["0"] * len(runs), dtype=object
            ),
            "params": numeric_column(runs, params_col, what=_WHAT),
            "step": numeric_column(runs, "step", what=_WHAT, lower=0.0, strict=False),
            "batch_size": numeric_column(runs, "batch_size", what=_WHAT),
            "loss": numeric_column(runs, "loss", what=_WHAT),
        }
    )
    last = frame.groupby("run_id")["step"].transform("max")
    keep = (frame["step"] > skip_fraction * last) & (frame["step"] > 0)
    n_skip = int((~keep).sum())
    frame = frame.loc[keep].reset_index(drop=True)
    frame.insert(
        0,
        "row_id",
        np.array(
            [f"{r}/{s:g}" for r, s in zip(frame["run_id"], frame["step"], strict=True)],
            dtype=object,
        ),
    )
    if frame["row_id"].duplicated().any():
        pos = int(np.flatnonzero(frame["row_id"].duplicated().to_numpy())[0])
        raise RunTableError(
            f"{source_of(runs)}{_WHAT}: step {frame['step'].iloc[pos]:g} of run "
            f"{frame['run_id'].iloc[pos]!r} appears twice"
        )
    if len(frame) < 5:
        raise RunTableError(
            f"{source_of(runs)}{_WHAT}: needs at least 5 curve points after the warm-up, "
            f"got {len(frame)}"
        )
    frame.attrs = {k: v for k, v in runs.attrs.items() if isinstance(v, str | int | float)}
    frame.attrs.update({"skip_fraction": float(skip_fraction), "warmup_points_skipped": n_skip})
    frame.attrs["params_column"] = params_col
    return frame


def build(spec: ModelSpec, runs: pd.DataFrame) -> tuple[Any, ModelInfo]:
    """Build L(N, S_min) on curve points (see the module docstring).

    Returns
    -------
    (pymc.Model, ModelInfo)
        Observed ``log_loss`` on dim ``run``; posterior ``N_c, S_c, alpha_N, alpha_S, B_star,
        alpha_B`` and ``sigma``.
    """
    import pymc as pm
    import pytensor.tensor as pt

    law = get_law(spec.law)
    params = runs["params"].to_numpy(dtype=float)
    step = runs["step"].to_numpy(dtype=float)
    loss = runs["loss"].to_numpy(dtype=float)
    log_n0 = float(np.mean(np.log(params)))
    log_s0 = float(np.mean(np.log(step)))
    log_l0 = float(np.mean(np.log(loss)))
    mu_n, sd_n = lognormal_prior(spec, "N_c")
    mu_s, sd_s = lognormal_prior(spec, "S_c")
    mu_b, sd_b = lognormal_prior(spec, "B_star")
    with pm.Model(coords={"run": [str(r) for r in runs["row_id"]]}) as model:
        n_rel = pm.Data("params_rel", params / np.exp(log_n0), dims="run")
        s_rel = pm.Data("step_rel", step / np.exp(log_s0), dims="run")
        bs = pm.Data("batch_size", runs["batch_size"].to_numpy(dtype=float), dims="run")
        l_obs = pm.Data("loss_observed", loss, dims="run")
        # every data-dependent number is pm.Data: compiled models are reused on new tables
        ln0 = pm.Data("log_scale_params", log_n0)
        ls0 = pm.Data("log_scale_step", log_s0)
        ll0 = pm.Data("log_scale_loss", log_l0)
        alpha_n = spec.priors["alpha_N"].create("alpha_N")
        alpha_s = spec.priors["alpha_S"].create("alpha_S")
        alpha_b = spec.priors["alpha_B"].create("alpha_B")
        # prefactors at reference scales: N_c/N0, S_c/S0, B_crit(L0) (unit-Jacobian shears)
        log_nc = pm.Normal("log_N_c_ref", mu_n - ln0, sd_n)
        log_sc = pm.Normal("log_S_c_ref", mu_s - ls0, sd_s)
        log_bref = pm.Normal("log_B_ref", mu_b - ll0 / alpha_b, sd_b)
        pm.Deterministic("N_c", pt.exp(log_nc + ln0))
        pm.Deterministic("S_c", pt.exp(log_sc + ls0))
        pm.Deterministic("B_star", pt.exp(log_bref + ll0 / alpha_b))
        # the law on scaled inputs: N_c/N = (N_c/N0)/(N/N0); S_min/S0 from S/S0; B* rescaled
        mean = law.loss(
            n_rel,
            s_rel,
            bs,
            l_obs,
            N_c=pt.exp(log_nc),
            S_c=pt.exp(log_sc),
            alpha_N=alpha_n,
            alpha_S=alpha_s,
            B_star=pt.exp(log_bref + ll0 / alpha_b),
            alpha_B=alpha_b,
        )
        sigma = spec.likelihood.sigma.create("sigma")
        observed = pm.Data("log_loss_observed", np.log(loss), dims="run")
        spec.likelihood.observe("log_loss", mu=pt.log(mean), sigma=sigma, observed=observed)
    info = ModelInfo(
        law=law.name,
        scales={"params": float(np.exp(log_n0)), "step": float(np.exp(log_s0))},
        run_ids=tuple(str(r) for r in runs["row_id"]),
    )
    return model, info


def allocate(posterior: Any, flops: Any) -> dict[str, Any]:
    """Compute-efficient allocation per budget: the law's closed form on every draw.

    See :func:`bayescale.laws.kaplan_ns_optimal` (and :mod:`bayescale.analysis.frontier`).
    """
    return dict(call_with(kaplan_ns_optimal, posterior, flops))


#: The ``curves`` model family.
CURVES = register_family(
    Family(
        name="curves",
        description="Kaplan's L(N, S_min) with B_crit(L) fitted to learning curves",
        prepare=prepare,
        build=build,
        allocate=allocate,
        reads_raw_table=True,
    )
)
