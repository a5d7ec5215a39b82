"""Test helpers: fits with fake posteriors, for analysis and plots without MCMC.

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

from bayescale.data.synthetic import simulate_runs as synthetic_runs
from bayescale.laws import get_law
from bayescale.modeling import _container
from bayescale.modeling.build import ModelInfo, reference_scales
from bayescale.modeling.fit import Fit
from bayescale.modeling.spec import load_spec

__all__ = ["EPOCH_POSTERIOR", "fake_fit", "synthetic_runs"]

#: Centre and relative spread of a posterior like the Chinchilla fit of Epoch's table.
EPOCH_POSTERIOR: dict[str, tuple[float, float]] = {
    "E": (1.82, 0.015),
    "A": (482.0, 0.15),
    "B": (2085.0, 0.2),
    "alpha": (0.348, 0.025),
    "beta": (0.366, 0.03),
    "sigma": (0.0045, 0.06),
}


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
        posterior = (
            EPOCH_POSTERIOR
            if law == "chinchilla"
            else {**{k: (v, 0.05) for k, v in lw.published.items()}, "sigma": (0.01, 0.1)}
        )
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
