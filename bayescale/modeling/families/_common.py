"""Helpers shared by the model families: column checks that name the row, run labels."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bayescale.exceptions import RunTableError, SpecError

if TYPE_CHECKING:
    from bayescale.modeling.spec import ModelSpec

__all__ = [
    "lognormal_prior",
    "numeric_column",
    "read_table",
    "require_columns",
    "run_labels",
    "source_of",
]


def run_labels(runs: pd.DataFrame) -> list[str]:
    """Labels of the ``run`` dim: the ``run_id`` column, else the row positions."""
    if "run_id" in runs.columns:
        return [str(v) for v in runs["run_id"]]
    return [str(i) for i in range(len(runs))]


def source_of(runs: pd.DataFrame) -> str:
    """``"<source>: "`` for error messages, or ``""`` when the table has no recorded source."""
    src = runs.attrs.get("source")
    return f"{src}: " if src else ""


def require_columns(runs: pd.DataFrame, columns: Sequence[str], *, what: str) -> None:
    """Raise a :class:`RunTableError` naming the first missing column."""
    if not isinstance(runs, pd.DataFrame):
        raise RunTableError(f"{what} needs a pandas DataFrame, got {type(runs).__name__}")
    if len(runs) == 0:
        raise RunTableError(f"{source_of(runs)}{what}: the table is empty")
    for col in columns:
        if col not in runs.columns:
            found = ", ".join(str(c) for c in runs.columns) or "none"
            raise RunTableError(
                f"{source_of(runs)}{what} needs column {col!r}, which the table lacks "
                f"(found: {found})"
            )


def numeric_column(
    runs: pd.DataFrame,
    col: str,
    *,
    what: str,
    lower: float | None = 0.0,
    strict: bool = True,
) -> np.ndarray:
    """Column ``col`` as float64, checked finite and above ``lower``; errors name the row."""
    raw = runs[col]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(values)
    if lower is not None:
        with np.errstate(invalid="ignore"):
            ok &= values > lower if strict else values >= lower
    if not ok.all():
        pos = int(np.flatnonzero(~ok)[0])
        label = runs.index[pos]
        rel = ">" if strict else ">="
        need = "a finite number" + (f" {rel} {lower:g}" if lower is not None else "")
        raise RunTableError(
            f"{source_of(runs)}{what}: column {col!r}, row {label}: {raw.iloc[pos]!r} is not {need}"
        )
    return values


def lognormal_prior(spec: ModelSpec, name: str) -> tuple[float, float]:
    """``(mu, sigma)`` of the LogNormal prior of a prefactor (sampled at a reference scale)."""
    prior = spec.priors[name]
    if prior.dist != "LogNormal":
        raise SpecError(
            f"spec {spec.name!r}: {name!r} needs a LogNormal prior (it is sampled at the "
            f"data's reference scale), not {prior.dist}"
        )
    return float(prior.kwargs["mu"]), float(prior.kwargs["sigma"])


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV (optionally compressed) or parquet table as is; the family validates it.

    Raises
    ------
    RunTableError
        When the file is missing or cannot be parsed.
    """
    path = Path(path)
    if not path.is_file():
        raise RunTableError(f"{path}: no such file")
    try:
        if path.suffix.lower() == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, comment="#")
    except (ValueError, OSError, UnicodeDecodeError, ImportError) as exc:
        raise RunTableError(f"{path}: cannot be read as a table ({exc})") from None
    frame.attrs["source"] = str(path)
    return frame
