"""B_crit from the step/data trade-off: runs at several batch sizes reaching target losses.

For each target loss ``L`` (one group of rows), the steps a run at batch size ``B`` needs follow
McCandlish et al. (2018), ``(S/S_min − 1)(E/E_min − 1) = 1`` with ``E = B·S``, i.e.

``log S = log S_min(L) + log(1 + B_crit(L)/B) + ε``,  ``B_crit(L) = B*/L^(1/α_B)``,

with one free ``S_min`` per target (``log_steps_min`` on dim ``target``) and Student-t (or
Normal) noise on log steps from the spec's likelihood. ``B*`` is sampled at the data's reference
loss, as in :mod:`bayescale.modeling.families.bcrit`. :func:`steps_to_target` turns learning
curves (the runner's ``runs.curves.csv``) into such rows.
"""

from __future__ import annotations

from collections.abc import Sequence
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

__all__ = ["TRADEOFF", "build", "prepare", "steps_to_target"]

_WHAT = "the bcrit_tradeoff model (steps to target losses)"


def _target_label(loss: float) -> str:
    return f"L{loss:.6g}"


def prepare(runs: pd.DataFrame, spec: ModelSpec) -> pd.DataFrame:
    """Validate rows ``(batch_size, steps, loss)``: steps taken to reach the target ``loss``.

    Returns
    -------
    pandas.DataFrame
        ``row_id, target, loss, batch_size, steps``; each target needs two or more batch
        sizes and the table two or more targets (to identify α_B).

    Examples
    --------
    >>> import pandas as pd
    >>> from bayescale.modeling.spec import load_spec
    >>> rows = pd.DataFrame({"batch_size": [1e3, 4e3, 1e3, 4e3], "steps": [900, 400, 2e3, 800],
    ...                      "loss": [3.0, 3.0, 2.8, 2.8]})
    >>> prepare(rows, load_spec("bcrit_tradeoff"))["target"].tolist()
    ['L3', 'L3', 'L2.8', 'L2.8']
    """
    require_columns(runs, ("batch_size", "steps", "loss"), what=_WHAT)
    out = {col: numeric_column(runs, col, what=_WHAT) for col in ("batch_size", "steps", "loss")}
    frame = pd.DataFrame(
        {
            "row_id": np.array(
                [str(v) for v in (runs["run_id"] if "run_id" in runs.columns else runs.index)],
                dtype=object,
            ),
            "target": np.array([_target_label(v) for v in out["loss"]], dtype=object),
            **out,
        }
    )
    frame["row_id"] = frame["row_id"] + "@" + frame["target"]
    if frame["row_id"].duplicated().any():
        frame["row_id"] = [f"{i}:{r}" for i, r in enumerate(frame["row_id"])]
    sizes = frame.groupby("target")["batch_size"].nunique()
    few = sizes[sizes < 2]
    if len(few):
        raise RunTableError(
            f"{source_of(runs)}{_WHAT}: target loss {few.index[0][1:]} has runs at only one "
            "batch size; each target needs two or more"
        )
    if len(sizes) < 2:
        raise RunTableError(f"{source_of(runs)}{_WHAT}: needs two or more target losses")
    frame.attrs = {k: v for k, v in runs.attrs.items() if isinstance(v, str | int | float)}
    return frame


def build(spec: ModelSpec, runs: pd.DataFrame) -> tuple[Any, ModelInfo]:
    """Build the trade-off model (see the module docstring).

    Returns
    -------
    (pymc.Model, ModelInfo)
        Observed ``log_steps`` on dim ``run``; posterior ``B_star``, ``alpha_B``, ``sigma``,
        ``log_steps_min`` on dim ``target``.
    """
    import pymc as pm
    import pytensor.tensor as pt

    law = get_law(spec.law)
    codes, targets = pd.factorize(runs["target"].astype(str), sort=False)
    target_loss = runs.groupby("target", sort=False)["loss"].first().loc[list(targets)].to_numpy()
    log_l_ref = float(np.mean(np.log(target_loss)))
    start = runs.groupby("target", sort=False)["steps"].min().loc[list(targets)].to_numpy()
    mu_b, sigma_b = lognormal_prior(spec, "B_star")
    coords = {"run": [str(r) for r in runs["row_id"]], "target": [str(t) for t in targets]}
    with pm.Model(coords=coords) as model:
        log_bs = pm.Data("log_batch_size", np.log(runs["batch_size"].to_numpy(float)), dims="run")
        log_loss = pm.Data("log_target_loss_rel", np.log(target_loss) - log_l_ref, dims="target")
        idx = pm.Data("target_idx", codes, dims="run")
        log_lref = pm.Data("log_scale_loss", log_l_ref)
        alpha_b = spec.priors["alpha_B"].create("alpha_B")
        log_b_ref = pm.Normal("log_B_ref", mu_b - log_lref / alpha_b, sigma_b)
        pm.Deterministic("B_star", pt.exp(log_b_ref + log_lref / alpha_b))
        log_bcrit = log_b_ref - log_loss / alpha_b
        pm.Deterministic("B_crit", pt.exp(log_bcrit), dims="target")
        # every data-dependent number is pm.Data: compiled models are reused on new tables
        fewest = pm.Data("log_steps_fewest", np.log(start), dims="target")
        log_smin = spec.nuisance["log_steps_min"].create("log_steps_min", mu=fewest, dims="target")
        # the law S/S_min = 1 + B_crit(L)/B, on losses relative to the reference loss
        ratio = law.loss(
            pt.exp(log_bs), pt.exp(log_loss)[idx], B_star=pt.exp(log_b_ref), alpha_B=alpha_b
        )
        mu = log_smin[idx] + pt.log(ratio)
        sigma = spec.likelihood.sigma.create("sigma")
        observed = pm.Data("log_steps_observed", np.log(runs["steps"].to_numpy(float)), dims="run")
        spec.likelihood.observe("log_steps", mu=mu, sigma=sigma, observed=observed)
    info = ModelInfo(
        law=law.name,
        scales={"loss": float(np.exp(log_l_ref))},
        run_ids=tuple(str(r) for r in runs["row_id"]),
    )
    return model, info


def steps_to_target(
    curves: pd.DataFrame,
    targets: Sequence[float],
    *,
    run_column: str | None = None,
) -> pd.DataFrame:
    """Steps each learning curve needs to first reach each target loss (log-linear interpolation).

    Parameters
    ----------
    curves : pandas.DataFrame
        Learning-curve rows with ``step``, ``loss``, ``batch_size`` and a run column
        (``run_id`` or ``run``, or ``run_column``).
    targets : sequence of float
        Target losses; a curve that never reaches a target contributes no row for it.

    Returns
    -------
    pandas.DataFrame
        ``run_id, batch_size, loss (the target), steps``.

    Examples
    --------
    >>> import pandas as pd
    >>> c = pd.DataFrame({"run": ["a"] * 3, "step": [10, 20, 40], "loss": [4.0, 3.0, 2.5],
    ...                   "batch_size": [1024] * 3})
    >>> steps_to_target(c, [3.5, 2.0])["steps"].round(2).tolist()
    [14.14]
    """
    col = run_column or ("run_id" if "run_id" in curves.columns else "run")
    require_columns(curves, (col, "step", "loss", "batch_size"), what="steps_to_target")
    rows = []
    for run, curve in curves.groupby(col, sort=False):
        curve = curve.sort_values("step")
        step = curve["step"].to_numpy(dtype=float)
        loss = curve["loss"].to_numpy(dtype=float)
        ok = (step > 0) & np.isfinite(loss)
        step, loss = step[ok], loss[ok]
        best = np.minimum.accumulate(loss)  # first time the running best reaches the target
        for target in targets:
            hit = np.flatnonzero(best <= target)
            if not len(hit):
                continue
            i = int(hit[0])
            if i == 0:
                s = step[0]
            else:
                l0, l1 = best[i - 1], best[i]
                frac = (l0 - target) / (l0 - l1) if l0 > l1 else 1.0
                s = float(np.exp(np.log(step[i - 1]) + frac * np.log(step[i] / step[i - 1])))
            rows.append(
                {
                    "run_id": str(run),
                    "batch_size": float(curve["batch_size"].iloc[0]),
                    "loss": float(target),
                    "steps": float(s),
                }
            )
    return pd.DataFrame(rows, columns=["run_id", "batch_size", "loss", "steps"])


#: The ``tradeoff`` model family.
TRADEOFF = register_family(
    Family(
        name="tradeoff",
        description="B_crit from the steps runs at several batch sizes take to reach target losses",
        prepare=prepare,
        build=build,
        reads_raw_table=True,
        nuisance={"log_steps_min": ("mu",)},
    )
)
