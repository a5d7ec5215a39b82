"""Run NUTS on a built model: nutpie when installed (the default), else PyMC's own NUTS.

The default sampler was chosen by ``benchmarks/fit_speed.py``: nutpie with its low-rank mass
matrix adaptation handles the remaining correlation between E, the prefactors and the exponents
(ESS ≈ 4,000 of 4,000 draws on Epoch's Chinchilla table in about half a second of sampling).
Compiled nutpie models are cached in-process by model structure, so a second fit of the same
spec on a table of the same shape skips compilation (data are swapped in with ``with_data``).
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from collections import OrderedDict
from typing import Any

import numpy as np

__all__ = ["available_samplers", "resolve_sampler", "run_nuts"]

_COMPILED: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_CACHE_SIZE = 8


def available_samplers() -> list[str]:
    """Samplers usable here, fastest first."""
    out = []
    if importlib.util.find_spec("nutpie") is not None:
        out.append("nutpie")
    out.append("pymc")
    return out


def resolve_sampler(name: str) -> str:
    """Map ``"auto"`` to the fastest installed sampler and check explicit names."""
    from bayescale.exceptions import SpecError

    if name == "auto":
        return available_samplers()[0]
    if name not in {"nutpie", "pymc"}:
        raise SpecError(f"unknown sampler {name!r} (use 'auto', 'nutpie' or 'pymc')")
    if name == "nutpie" and "nutpie" not in available_samplers():
        raise SpecError('sampler "nutpie" is not installed: pip install "bayescale[fast]"')
    return name


def _shared_values(model: Any) -> dict[str, np.ndarray]:
    return {v.name: v.get_value() for v in model.data_vars}


def run_nuts(
    model: Any,
    *,
    cache_key: tuple[Any, ...],
    draws: int,
    tune: int,
    chains: int,
    target_accept: float,
    sampler: str,
    random_seed: int | None,
    progressbar: bool,
    cores: int | None = None,
) -> Any:
    """Sample ``model`` and return the results tree (posterior + sample_stats)."""
    sampler = resolve_sampler(sampler)
    cores = cores or min(chains, os.cpu_count() or 1)
    if sampler == "nutpie":
        import nutpie

        key = (*cache_key, tuple(sorted((k, v.shape) for k, v in _shared_values(model).items())))
        compiled = _COMPILED.get(key)
        if compiled is None:
            compiled = nutpie.compile_pymc_model(model)
            _COMPILED[key] = compiled
            while len(_COMPILED) > _CACHE_SIZE:
                _COMPILED.popitem(last=False)
        else:
            _COMPILED.move_to_end(key)
        compiled = compiled.with_data(**_shared_values(model))
        seed = int(np.random.default_rng(random_seed).integers(2**31))
        return nutpie.sample(
            compiled,
            draws=draws,
            tune=tune,
            chains=chains,
            cores=cores,
            seed=seed,
            target_accept=target_accept,
            adaptation="low_rank",
            progress_bar=progressbar,
            save_warmup=False,
        )
    import pymc as pm

    with warnings.catch_warnings():
        # PyMC's own NUTS forks worker processes; see notes in pyproject's filterwarnings.
        warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
        return pm.sample(
            model=model,
            draws=draws,
            tune=tune,
            chains=chains,
            cores=cores,
            nuts_sampler="pymc",
            random_seed=random_seed,
            progressbar=progressbar,
            nuts={"target_accept": target_accept},
            compute_convergence_checks=False,
        )
