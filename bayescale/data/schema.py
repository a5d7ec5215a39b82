"""The run-table schema: one row per trained network ("run").

A run table is a :class:`pandas.DataFrame` with the required columns ``params``, ``tokens`` and
``loss``, optional columns listed in :data:`OPTIONAL_NUMERIC` and any number of group columns
(strings such as ``family`` or ``dataset``). Conventions are data, not prose: the frame's
``attrs`` carry ``params_kind`` (``"total"`` or ``"non_embedding"``), ``loss_unit``
(``"nats_per_token"`` or ``"bits_per_byte"``), ``source`` and, for registered tables, the
dataset name and its SHA-256.

Validation names the column and the row of the first problem in each column, and never drops
a row silently.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from bayescale.constants import FLOPS_PER_PARAM_TOKEN, SCHEMA_VERSION
from bayescale.exceptions import ConventionError, RunTableError

__all__ = [
    "LOSS_UNITS",
    "OPTIONAL_NUMERIC",
    "PARAMS_KINDS",
    "REQUIRED",
    "concat_runs",
    "read_runs",
    "validate_runs",
]

REQUIRED: tuple[str, ...] = ("params", "tokens", "loss")
#: Optional numeric columns and the lower bound each must respect (strict unless noted).
OPTIONAL_NUMERIC: dict[str, tuple[float, bool]] = {
    # name: (bound, strict)  -> value > bound if strict else value >= bound
    "flops": (0.0, True),
    "batch_size": (0.0, True),
    "steps": (0.0, True),
    "learning_rate": (0.0, True),
    "params_nonembedding": (0.0, True),
    "unique_tokens": (0.0, True),
    "step": (0.0, False),
}
PARAMS_KINDS: tuple[str, ...] = ("total", "non_embedding")
LOSS_UNITS: tuple[str, ...] = ("nats_per_token", "bits_per_byte")
ParamsKind = Literal["total", "non_embedding"]
LossUnit = Literal["nats_per_token", "bits_per_byte"]


def _where(df: pd.DataFrame, pos: int, source: str | None) -> str:
    label = df.index[pos]
    text = f"row {label}"
    if "run_id" in df.columns:
        text += f" (run_id={df['run_id'].iloc[pos]!r})"
    if source is not None and source.endswith((".csv", ".CSV")):
        text += f", line {pos + 2} of {source}"
    return text


def _prefix(source: str | None) -> str:
    return f"{source}: " if source else ""


def _numeric(df: pd.DataFrame, col: str, source: str | None) -> pd.Series:
    raw = df[col]
    if pd.api.types.is_bool_dtype(raw):
        raise RunTableError(f"{_prefix(source)}column {col!r} must be numeric, not boolean")
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & raw.notna()
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        raise RunTableError(
            f"{_prefix(source)}column {col!r}, {_where(df, pos, source)}: "
            f"{raw.iloc[pos]!r} is not a number"
        )
    return values.astype("float64")


def _check_bound(
    df: pd.DataFrame,
    col: str,
    values: pd.Series,
    *,
    bound: float,
    strict: bool,
    allow_missing: bool,
    source: str | None,
) -> None:
    arr = values.to_numpy()
    missing = np.isnan(arr)
    if not allow_missing and missing.any():
        pos = int(np.flatnonzero(missing)[0])
        raise RunTableError(
            f"{_prefix(source)}column {col!r}, {_where(df, pos, source)}: value is missing (NaN)"
        )
    present = ~missing
    with np.errstate(invalid="ignore"):
        bad = present & (~np.isfinite(arr) | ((arr <= bound) if strict else (arr < bound)))
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        relation = ">" if strict else ">="
        raise RunTableError(
            f"{_prefix(source)}column {col!r}, {_where(df, pos, source)}: {float(arr[pos])!r} "
            f"is not a finite number {relation} {bound:g}"
        )


def validate_runs(
    runs: pd.DataFrame,
    *,
    params_kind: ParamsKind | None = None,
    loss_unit: LossUnit | None = None,
    source: str | None = None,
    group: str | Sequence[str] | None = None,
    derive_flops: bool = True,
) -> pd.DataFrame:
    """Check a run table against the schema and return a clean, typed copy.

    Parameters
    ----------
    runs : pandas.DataFrame
        One row per trained network with at least ``params``, ``tokens`` and ``loss``.
    params_kind : {"total", "non_embedding"}, optional
        Which parameter count ``params`` holds. Defaults to ``runs.attrs["params_kind"]``,
        else ``"total"``.
    loss_unit : {"nats_per_token", "bits_per_byte"}, optional
        Unit of ``loss``. Defaults to ``runs.attrs["loss_unit"]``, else ``"nats_per_token"``.
    source : str, optional
        Where the table came from (file name or dataset name); used in error messages.
    group : str or sequence of str, optional
        Group columns that must be present and free of missing values.
    derive_flops : bool, default True
        Add ``flops = 6·params·tokens`` when the column is absent, and record that in
        ``attrs["flops_derived"]``.

    Returns
    -------
    pandas.DataFrame
        A copy with float64 numeric columns, string group columns, a boolean ``outlier``
        column and the conventions in ``attrs``.

    Raises
    ------
    RunTableError
        Naming the column and the row of the first problem found.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayescale.data import validate_runs
    >>> runs = validate_runs(pd.DataFrame({"params": [1e8], "tokens": [2e9], "loss": [3.1]}))
    >>> float(runs["flops"].iloc[0]), runs.attrs["params_kind"]
    (1.2e+18, 'total')
    """
    if not isinstance(runs, pd.DataFrame):
        raise RunTableError(f"{_prefix(source)}a run table must be a pandas DataFrame")
    source = source if source is not None else runs.attrs.get("source")
    if len(runs) == 0:
        raise RunTableError(f"{_prefix(source)}the run table is empty")
    columns = [str(c) for c in runs.columns]
    if len(set(columns)) != len(columns):
        dup = next(c for c in columns if columns.count(c) > 1)
        raise RunTableError(f"{_prefix(source)}column {dup!r} appears more than once")
    for col in REQUIRED:
        if col not in runs.columns:
            raise RunTableError(
                f"{_prefix(source)}missing required column {col!r} "
                f"(found: {', '.join(columns) or 'none'})"
            )
    out = runs.copy()
    out.columns = columns
    out.attrs = dict(runs.attrs)
    for col in REQUIRED:
        out[col] = _numeric(out, col, source)
        _check_bound(out, col, out[col], bound=0.0, strict=True, allow_missing=False, source=source)
    # "tokens below 1" is meaningless even if positive
    if (out["tokens"] < 1).any():
        pos = int(np.flatnonzero((out["tokens"] < 1).to_numpy())[0])
        raise RunTableError(
            f"{_prefix(source)}column 'tokens', {_where(out, pos, source)}: "
            f"{out['tokens'].iloc[pos]!r} is below 1 token"
        )
    for col, (bound, strict) in OPTIONAL_NUMERIC.items():
        if col in out.columns:
            out[col] = _numeric(out, col, source)
            _check_bound(
                out, col, out[col], bound=bound, strict=strict, allow_missing=True, source=source
            )
    if "run_id" in out.columns:
        ids = out["run_id"].astype("string")
        if ids.isna().any():
            pos = int(np.flatnonzero(ids.isna().to_numpy())[0])
            raise RunTableError(
                f"{_prefix(source)}column 'run_id', row {out.index[pos]}: value is missing"
            )
        dup_ids = ids.duplicated(keep="first")
        if dup_ids.any():
            pos = int(np.flatnonzero(dup_ids.to_numpy())[0])
            raise RunTableError(
                f"{_prefix(source)}column 'run_id', row {out.index[pos]}: duplicate run id "
                f"{ids.iloc[pos]!r}"
            )
        out["run_id"] = ids.astype(object)
    if "outlier" in out.columns:
        flag = out["outlier"]
        if not pd.api.types.is_bool_dtype(flag):
            mapped = flag.map(
                lambda v: {"true": True, "false": False, "1": True, "0": False}.get(
                    str(v).strip().lower()
                )
            )
            if mapped.isna().any():
                pos = int(np.flatnonzero(mapped.isna().to_numpy())[0])
                raise RunTableError(
                    f"{_prefix(source)}column 'outlier', {_where(out, pos, source)}: "
                    f"{flag.iloc[pos]!r} is not true/false"
                )
            flag = mapped
        out["outlier"] = flag.astype(bool)
    else:
        out["outlier"] = False
    groups = [group] if isinstance(group, str) else list(group or [])
    for g in groups:
        if g not in out.columns:
            raise RunTableError(
                f"{_prefix(source)}group column {g!r} not found (found: {', '.join(columns)})"
            )
        if out[g].isna().any():
            pos = int(np.flatnonzero(out[g].isna().to_numpy())[0])
            raise RunTableError(
                f"{_prefix(source)}group column {g!r}, {_where(out, pos, source)}: value is missing"
            )
        out[g] = out[g].astype(str)

    kind = params_kind or out.attrs.get("params_kind") or "total"
    if kind not in PARAMS_KINDS:
        raise ConventionError(
            f"{_prefix(source)}params_kind {kind!r} is not one of {', '.join(PARAMS_KINDS)}"
        )
    unit = loss_unit or out.attrs.get("loss_unit") or "nats_per_token"
    if unit not in LOSS_UNITS:
        raise ConventionError(
            f"{_prefix(source)}loss_unit {unit!r} is not one of {', '.join(LOSS_UNITS)}"
        )
    out.attrs["params_kind"] = kind
    out.attrs["loss_unit"] = unit
    out.attrs["schema_version"] = SCHEMA_VERSION
    if source is not None:
        out.attrs["source"] = source
    if "flops" not in out.columns and derive_flops:
        out["flops"] = FLOPS_PER_PARAM_TOKEN * out["params"] * out["tokens"]
        out.attrs["flops_derived"] = True
    elif "flops" in out.columns:
        missing = out["flops"].isna()
        if missing.any() and derive_flops:
            out.loc[missing, "flops"] = (
                FLOPS_PER_PARAM_TOKEN * out.loc[missing, "params"] * out.loc[missing, "tokens"]
            )
        out.attrs.setdefault("flops_derived", bool(missing.all()))
    return out


def read_runs(
    path: str | Path,
    *,
    params_kind: ParamsKind | None = None,
    loss_unit: LossUnit | None = None,
    group: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    r"""Read a run table from CSV or parquet and validate it.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.csv`` (optionally compressed) or ``.parquet`` file.
    params_kind, loss_unit, group
        As in :func:`validate_runs`. A CSV may instead declare conventions in comment lines
        at its top, e.g. ``# params_kind: non_embedding``.

    Returns
    -------
    pandas.DataFrame
        The validated run table.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from bayescale.data import read_runs
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "runs.csv"
    >>> _ = p.write_text("params,tokens,loss\n1e8,2e9,3.1\n4e8,8e9,2.7\n")
    >>> len(read_runs(p))
    2
    """
    path = Path(path)
    if not path.exists():
        raise RunTableError(f"{path}: no such file")
    if path.is_dir():
        raise RunTableError(f"{path}: is a directory, not a run table")
    header: dict[str, str] = {}
    try:
        if path.suffix.lower() == ".parquet":
            df = pd.read_parquet(path)
            header = {str(k): str(v) for k, v in df.attrs.items()}
        else:
            header = _csv_header(path)
            df = pd.read_csv(path, comment="#") if header else pd.read_csv(path)
    except (ValueError, OSError, UnicodeDecodeError, ImportError) as exc:
        raise RunTableError(f"{path}: cannot be read as a run table ({exc})") from None
    df.attrs.update(header)
    kind = params_kind or header.get("params_kind")
    unit = loss_unit or header.get("loss_unit")
    return validate_runs(
        df,
        params_kind=kind,  # type: ignore[arg-type]
        loss_unit=unit,  # type: ignore[arg-type]
        source=str(path),
        group=group,
    )


def _csv_header(path: Path) -> dict[str, str]:
    """Read ``# key: value`` comment lines at the top of a CSV."""
    header: dict[str, str] = {}
    opener: Any = open
    if path.suffix in {".gz", ".xz", ".bz2"}:
        return header
    with opener(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            key, sep, value = line[1:].partition(":")
            if sep:
                header[key.strip()] = value.strip()
    return header


def concat_runs(
    tables: Iterable[pd.DataFrame], *, convert: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Stack run tables, refusing to mix counting or unit conventions.

    Parameters
    ----------
    tables : iterable of pandas.DataFrame
        Validated run tables.
    convert : mapping, optional
        Explicit conversions the caller has already made, e.g.
        ``{"params_kind": "total"}`` to declare that all tables now count total parameters.

    Returns
    -------
    pandas.DataFrame
        The stacked, re-validated table.

    Raises
    ------
    ConventionError
        When ``params_kind`` or ``loss_unit`` differ between tables.
    """
    frames = list(tables)
    if not frames:
        raise RunTableError("concat_runs needs at least one table")
    convert = dict(convert or {})
    attrs: dict[Hashable, Any] = {}
    for key in ("params_kind", "loss_unit"):
        values = {f.attrs[key] if key in f.attrs else validate_runs(f).attrs[key] for f in frames}
        if len(values) > 1 and key not in convert:
            srcs = ", ".join(
                f"{f.attrs.get('source', f'table {i}')}={f.attrs.get(key)}"
                for i, f in enumerate(frames)
            )
            raise ConventionError(
                f"refusing to mix {key} conventions ({srcs}); convert the tables and pass "
                f"convert={{'{key}': ...}} to declare it"
            )
        attrs[key] = convert.get(key, values.pop())
    out = pd.concat(frames, ignore_index=True)
    out.attrs = {"source": "+".join(str(f.attrs.get("source", "?")) for f in frames), **attrs}
    return validate_runs(out)
