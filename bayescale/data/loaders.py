"""Transforms from upstream files to bayescale tables, one per registry ``loader`` name.

A loader takes the checksum-verified local paths of an entry's files (in registry order) and the
entry, and returns a DataFrame in the run-table schema (for ``kind = "runs"``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from bayescale.constants import FLOPS_PER_PARAM_TOKEN
from bayescale.data.registry import DatasetEntry
from bayescale.exceptions import DatasetError

__all__ = ["LOADERS", "get_loader", "register_loader"]

Loader = Callable[[list[Path], DatasetEntry], pd.DataFrame]
LOADERS: dict[str, Loader] = {}


def register_loader(name: str) -> Callable[[Loader], Loader]:
    """Register a loader under ``name`` (used by the registry's ``loader`` field)."""

    def deco(fn: Loader) -> Loader:
        LOADERS[name] = fn
        return fn

    return deco


def get_loader(name: str) -> Loader:
    """Return the loader registered as ``name``."""
    try:
        return LOADERS[name]
    except KeyError:
        raise DatasetError(f"no loader named {name!r} (known: {', '.join(LOADERS)})") from None


def _read_csv(path: Path, **kwargs: object) -> pd.DataFrame:
    try:
        return pd.read_csv(path, **kwargs)  # type: ignore[call-overload, no-any-return]
    except (ValueError, OSError) as exc:
        raise DatasetError(f"{path}: cannot be read as CSV ({exc})") from None


@register_loader("epoch_chinchilla")
def _epoch_chinchilla(paths: list[Path], entry: DatasetEntry) -> pd.DataFrame:
    """Epoch AI's digitisation: D = C/(6N); Epoch's 5 excluded highest-loss points flagged."""
    raw = _read_csv(paths[0])
    params = raw["Model Size"].astype(float)
    flops = raw["Training FLOP"].astype(float)
    out = pd.DataFrame(
        {
            "run_id": [f"chinchilla-{i:03d}" for i in range(len(raw))],
            "params": params,
            "tokens": flops / (FLOPS_PER_PARAM_TOKEN * params),
            "flops": flops,
            "loss": raw["loss"].astype(float),
        }
    )
    worst = np.argsort(-out["loss"].to_numpy(), kind="stable")[:5]
    out["outlier"] = False
    out.loc[out.index[worst], "outlier"] = True
    out["outlier_reason"] = ""
    out.loc[out.index[worst], "outlier_reason"] = (
        "one of the 5 highest-loss points Epoch AI exclude (C ~ 1e19, D/N < 0.5)"
    )
    return out
