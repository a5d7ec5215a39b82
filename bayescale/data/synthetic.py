"""Synthetic run tables drawn from known laws (for tests, docs and recovery checks)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from bayescale.data.schema import validate_runs
from bayescale.laws import get_law

__all__ = ["EPOCH_ESTIMATES", "simulate_runs"]

#: Besiroglu et al. (2024) point estimates of the Chinchilla parameters (Table 1).
EPOCH_ESTIMATES: dict[str, float] = {
    "E": 1.82,
    "A": 482.0,
    "B": 2085.0,
    "alpha": 0.348,
    "beta": 0.366,
}


def simulate_runs(
    law: str = "chinchilla",
    *,
    values: Mapping[str, float] | None = None,
    n: int = 60,
    noise: float = 0.01,
    seed: int = 0,
) -> pd.DataFrame:
    """Runs drawn from a law with log-normal noise on the loss, on a log-uniform (N, D) grid.

    Parameters
    ----------
    law : str, default "chinchilla"
        A registered loss law.
    values : mapping, optional
        True parameter values (default: Epoch's Chinchilla estimates, else the published ones).
    n : int
        Number of runs.
    noise : float
        Standard deviation of the log-normal noise on the loss.
    seed : int
        Random seed.

    Returns
    -------
    pandas.DataFrame
        A validated run table (with ``flops``, ``steps`` and ``unique_tokens`` columns too).

    Examples
    --------
    >>> from bayescale.data.synthetic import simulate_runs
    >>> len(simulate_runs(n=12, seed=1))
    12
    """
    rng = np.random.default_rng(seed)
    lw = get_law(law)
    if values is None:
        values = dict(EPOCH_ESTIMATES) if law == "chinchilla" else lw.published
    vals = dict(values)
    cols: dict[str, np.ndarray] = {
        "params": 10 ** rng.uniform(7.5, 10.0, n),
        "tokens": 10 ** rng.uniform(9.0, 11.5, n),
    }
    cols["flops"] = 6 * cols["params"] * cols["tokens"]
    cols["steps"] = cols["tokens"] / 1e6
    cols["unique_tokens"] = cols["tokens"]
    mean = lw(**{k: cols[k] for k in lw.inputs}, **{p: vals[p] for p in lw.params})
    loss = mean * np.exp(noise * rng.standard_normal(n))
    return validate_runs(pd.DataFrame({**cols, "loss": loss}))
