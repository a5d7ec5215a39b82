"""Three views of compute-optimal scaling on one run table (Hoffmann et al. 2022, Approaches 1-3).

- Approach 1, the *envelope* (:func:`envelope`): in each FLOP budget the lowest-loss run is taken
  as the optimum, and ``log N_opt`` and ``log D_opt`` are regressed on ``log C`` (ordinary least
  squares, t intervals). On a table of final runs this is the envelope of the budget slices.
- Approach 2, the *IsoFLOP valleys*: the Bayesian model ``ScalingModel("isoflop")``
  (:mod:`bayescale.modeling.families.isoflop`); its posterior holds ``a`` and ``b`` directly.
- Approach 3, the *parametric* law: ``ScalingModel("chinchilla")``; :func:`optimal_exponent`
  turns its posterior into the implied ``a = β/(α+β)``.

:func:`optimal_exponent` gives the posterior of ``a`` (``N_opt ∝ C^a``) for any of these fits and
for Kaplan's ``L(N, D)``, whose compute-optimal exponent under ``C = 6·N·D`` is
``a = α_D/(α_N + α_D)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from bayescale.data.schema import validate_runs
from bayescale.exceptions import BayescaleError, RunTableError
from bayescale.intervals import check_ci
from bayescale.laws import LAWS, call_with

if TYPE_CHECKING:
    from bayescale.modeling.fit import Fit

__all__ = ["envelope", "envelope_optima", "optimal_exponent"]


def envelope_optima(
    runs: pd.DataFrame, *, group: str | None = None, rtol: float | None = None
) -> pd.DataFrame:
    """The lowest-loss run of every FLOP budget (of every group).

    Parameters
    ----------
    runs : pandas.DataFrame
        Run table; ``flops`` is derived as 6·N·D when absent.
    group : str, optional
        Group column: optima per (group, budget).
    rtol : float, optional
        Budget tolerance (default :data:`bayescale.modeling.families.isoflop.BUDGET_RTOL`).

    Returns
    -------
    pandas.DataFrame
        One row per budget: (``group``,) ``flops`` (the budget), ``params_opt``,
        ``tokens_opt``, ``loss_opt``, ``n_runs`` and ``row`` (index label of the chosen run).

    Examples
    --------
    >>> import pandas as pd
    >>> runs = pd.DataFrame({"params": [1e8, 2e8, 4e8, 2e8, 4e8, 8e8],
    ...                      "flops": [1e19] * 3 + [4e19] * 3,
    ...                      "loss": [3.1, 3.0, 3.2, 2.9, 2.8, 2.85]})
    >>> runs["tokens"] = runs["flops"] / (6 * runs["params"])
    >>> envelope_optima(runs)[["flops", "params_opt"]].to_numpy().tolist()
    [[1e+19, 200000000.0], [4e+19, 400000000.0]]
    """
    from bayescale.modeling.families.isoflop import BUDGET_RTOL, assign_budgets

    runs = validate_runs(runs, group=group)
    keys = runs[group].astype(str) if group else pd.Series("", index=runs.index)
    rows = []
    for g in sorted(keys.unique()):
        sub = runs.loc[(keys == g).to_numpy()]
        codes, budgets = assign_budgets(sub["flops"], rtol=BUDGET_RTOL if rtol is None else rtol)
        for j, c in enumerate(budgets):
            members = sub.loc[codes == j]
            best = members["loss"].idxmin()
            row = {
                "flops": float(c),
                "params_opt": float(members.at[best, "params"]),
                "tokens_opt": float(members.at[best, "tokens"]),
                "loss_opt": float(members.at[best, "loss"]),
                "n_runs": len(members),
                "row": best,
            }
            rows.append({"group": g, **row} if group else row)
    return pd.DataFrame(rows)


def _ols(x: np.ndarray, y: np.ndarray, ci_prob: float) -> tuple[float, float, float, float]:
    """Slope, its interval and the intercept of y on x."""
    n = len(x)
    res = stats.linregress(x, y)
    if n > 2:
        t = stats.t.ppf(0.5 + ci_prob / 2, n - 2)
        half = t * res.stderr
    else:
        half = np.nan
    return float(res.slope), float(res.slope - half), float(res.slope + half), float(res.intercept)


def envelope(
    runs: pd.DataFrame,
    *,
    group: str | None = None,
    ci_prob: float | None = None,
    rtol: float | None = None,
) -> pd.DataFrame:
    """Approach 1: power laws ``N_opt ∝ C^a`` and ``D_opt ∝ C^b`` through the budgets' best runs.

    Parameters
    ----------
    runs : pandas.DataFrame
        Run table with several FLOP budgets.
    group : str, optional
        Group column: one fit per group.
    ci_prob : float, optional
        Mass of the t intervals of the slopes (they reflect scatter of the optima, not the
        coarseness of the size grid). Default :data:`~bayescale.constants.DEFAULT_CI_PROB`.
    rtol : float, optional
        Budget tolerance (see :func:`envelope_optima`).

    Returns
    -------
    pandas.DataFrame
        One row (per group): ``a``, ``a_lower``, ``a_upper``, ``b``, ``b_lower``, ``b_upper``,
        ``G`` (``N_opt = G·(C/6)^a``) and ``n_budgets``.

    Raises
    ------
    RunTableError
        When a group has fewer than two budgets.

    Examples
    --------
    >>> import pandas as pd
    >>> c = [1e19, 1e19, 1e19, 4e19, 4e19, 4e19, 16e19, 16e19, 16e19]
    >>> n = [1e8, 2e8, 4e8, 2e8, 4e8, 8e8, 4e8, 8e8, 16e8]
    >>> loss = [3.1, 3.0, 3.2, 2.9, 2.8, 2.85, 2.7, 2.6, 2.65]
    >>> runs = pd.DataFrame({"params": n, "flops": c, "loss": loss})
    >>> runs["tokens"] = runs["flops"] / (6 * runs["params"])
    >>> round(float(envelope(runs)["a"].iloc[0]), 3)
    0.5
    """
    ci_prob = check_ci(ci_prob)
    optima = envelope_optima(runs, group=group, rtol=rtol)
    keys = optima["group"] if group else pd.Series("", index=optima.index)
    out = []
    for g in sorted(keys.unique()):
        sub = optima.loc[(keys == g).to_numpy()]
        if len(sub) < 2:
            where = f" of group {group}={g!r}" if group else ""
            raise RunTableError(f"column 'flops'{where}: the envelope needs at least 2 budgets")
        lc = np.log(sub["flops"].to_numpy())
        a, a_lo, a_hi, icpt = _ols(lc, np.log(sub["params_opt"].to_numpy()), ci_prob)
        b, b_lo, b_hi, _ = _ols(lc, np.log(sub["tokens_opt"].to_numpy()), ci_prob)
        row = {
            "a": a,
            "a_lower": a_lo,
            "a_upper": a_hi,
            "b": b,
            "b_lower": b_lo,
            "b_upper": b_hi,
            "G": float(np.exp(icpt + a * np.log(6.0))),
            "n_budgets": len(sub),
        }
        out.append({"group": g, **row} if group else row)
    table = pd.DataFrame(out)
    table.attrs["ci_prob"] = ci_prob
    return table


def optimal_exponent(fit: Fit) -> xr.DataArray:
    """Posterior of the compute-optimal exponent ``a`` of ``N_opt ∝ C^a`` implied by a fit.

    The law's closed form (``Law.optimal_exponent``) on every posterior draw:

    - ``isoflop``: the posterior ``a``;
    - ``chinchilla`` (and ``data_constrained`` with unlimited data): ``β/(α+β)``;
    - ``kaplan`` (``L(N, D)``, eq. 1.5): ``α_D/(α_N + α_D)``, from minimising the law on
      ``C = 6·N·D`` (Kaplan's own 0.73 comes from ``L(N, S_min)`` and ``C_min``, not this form).

    Parameters
    ----------
    fit : Fit
        A fitted model.

    Returns
    -------
    xarray.DataArray
        Dims ``chain``, ``draw`` (and the group dim of a pooled fit), named ``a``.

    Raises
    ------
    BayescaleError
        For a law without a closed-form compute-optimal exponent.

    Examples
    --------
    >>> from bayescale.testing import fake_fit
    >>> a = optimal_exponent(fake_fit("chinchilla", draws=200))
    >>> 0.45 < float(a.median()) < 0.58
    True
    """
    law = fit.law
    if law.optimal_exponent is None:
        known = ", ".join(n for n, other in LAWS.items() if other.optimal_exponent is not None)
        raise BayescaleError(
            f"law {law.name!r} has no closed-form compute-optimal exponent (use {known})"
        )
    a: xr.DataArray = call_with(law.optimal_exponent, fit.posterior)
    return a.rename("a")
