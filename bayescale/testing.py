"""Test helpers: fits with fake posteriors and run tables drawn from a law, without MCMC.

Examples
--------
>>> from bayescale.testing import fake_fit
>>> fit = fake_fit("chinchilla", draws=50)
>>> sorted(fit.posterior.data_vars)
['A', 'B', 'E', 'alpha', 'beta', 'sigma']
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from bayescale.data.published import published_fit
from bayescale.data.schema import validate_runs
from bayescale.laws import get_law
from bayescale.modeling import _container
from bayescale.modeling.build import ModelInfo, reference_scales
from bayescale.modeling.fit import Fit
from bayescale.modeling.spec import load_spec

__all__ = [
    "EPOCH_ESTIMATES",
    "EPOCH_POSTERIOR",
    "FAKE_POSTERIORS",
    "TRUE_VALUES",
    "fake_fit",
    "simulate_runs",
    "synthetic_runs",
]

#: Besiroglu et al. 2024's estimates of the Chinchilla parameters (Table 1), read from the
#: published fit ``besiroglu2024``: the true values of simulated Chinchilla tables.
EPOCH_ESTIMATES: dict[str, float] = dict(published_fit("besiroglu2024").values)
#: Centre and relative spread of a posterior like the Chinchilla fit of Epoch's table (the
#: spreads and the noise scale ``sigma`` are this helper's choice, not published values).
EPOCH_POSTERIOR: dict[str, tuple[float, float]] = {
    **{
        k: (EPOCH_ESTIMATES[k], rel)
        for k, rel in {"E": 0.015, "A": 0.15, "B": 0.2, "alpha": 0.025, "beta": 0.03}.items()
    },
    "sigma": (0.0045, 0.06),
}
#: Default true values of simulated tables by law, where they differ from the law's published ones.
TRUE_VALUES: dict[str, Mapping[str, float]] = {"chinchilla": EPOCH_ESTIMATES}
#: Default fake posteriors by law, where they differ from the published values ±5 %.
FAKE_POSTERIORS: dict[str, Mapping[str, tuple[float, float]]] = {"chinchilla": EPOCH_POSTERIOR}


def fake_fit(
    law: str = "chinchilla",
    *,
    posterior: Mapping[str, tuple[float, float]] | None = None,
    runs: pd.DataFrame | None = None,
    chains: int = 2,
    draws: int = 500,
    seed: int = 0,
) -> Fit:
    """A :class:`~bayescale.modeling.fit.Fit` whose posterior is drawn around given values.

    Each parameter gets log-normal draws ``value·exp(rel_sd·z)`` (so it stays positive).

    Parameters
    ----------
    law : str
        A registered law; its bundled spec (same name) is used.
    posterior : mapping of name to (value, relative sd), optional
        Defaults to :data:`EPOCH_POSTERIOR` for Chinchilla, else the published values ±5 %.
    runs : pandas.DataFrame, optional
        The run table to attach (default: :func:`synthetic_runs`).
    chains, draws, seed : int
        Shape of the fake posterior and its seed.
    """
    rng = np.random.default_rng(seed)
    lw = get_law(law)
    if posterior is None:
        published = {**{k: (v, 0.05) for k, v in lw.published.items()}, "sigma": (0.01, 0.1)}
        posterior = FAKE_POSTERIORS.get(law, published)
    data = {
        name: (("chain", "draw"), v * np.exp(s * rng.standard_normal((chains, draws))))
        for name, (v, s) in posterior.items()
    }
    post = xr.Dataset(data, coords={"chain": np.arange(chains), "draw": np.arange(draws)})
    stats = xr.Dataset(
        {"diverging": (("chain", "draw"), np.zeros((chains, draws), dtype=bool))},
        coords=post.coords,
    )
    runs = runs if runs is not None else synthetic_runs(law)
    info = ModelInfo(
        law=law,
        scales=reference_scales(lw, runs),
        run_ids=tuple(str(i) for i in range(len(runs))),
    )
    tree = _container.make_tree({"posterior": post, "sample_stats": stats})
    fit = Fit(tree, load_spec(law), runs, info)
    fit._set_attrs(extra={"sampler": "fake", "random_seed": str(seed)})
    return fit


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
        True parameter values (default: Besiroglu et al.'s estimates, the published fit
        ``besiroglu2024``, for Chinchilla; else the law's published values).
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
    >>> from bayescale.testing import simulate_runs
    >>> len(simulate_runs(n=12, seed=1))
    12
    """
    rng = np.random.default_rng(seed)
    lw = get_law(law)
    if values is None:
        values = TRUE_VALUES.get(law, lw.published)
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


#: The name the tests use for :func:`simulate_runs`.
synthetic_runs = simulate_runs
