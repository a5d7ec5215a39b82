"""The run-table schema: one row per trained network ("run").

A run table is a :class:`pandas.DataFrame` with the required columns ``params``, ``tokens`` and
``loss``, optional columns listed in :data:`OPTIONAL_NUMERIC` and any number of group columns
(strings such as ``family`` or ``dataset``). Conventions are data, not prose: the frame's
``attrs`` carry ``params_kind`` (``"total"`` or ``"non_embedding"``), ``loss_unit``
(``"nats_per_token"`` or ``"bits_per_byte"``), ``source`` and, for registered tables, the
dataset name and its SHA-256.

Validation names the column and the row of the first problem in each column, and never drops
a row silently.

Tables as users have them are read too (:func:`map_columns`): an explicit mapping of their
column names (``columns={"N": "params"}``, ``--columns N=params`` on the command line), common
aliases (``N``, ``model_size``, ``n_tokens``, ``val_loss``...) recognised with a note in
``attrs["notes"]``, ``tokens`` derived from ``steps × batch_size`` (stated in a note), and
every missing required column named at once.
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from bayescale.constants import FLOPS_PER_PARAM_TOKEN, SCHEMA_VERSION
from bayescale.exceptions import ConventionError, RunTableError, UnitsWarning

__all__ = [
    "ALIASES",
    "LOSS_UNITS",
    "OPTIONAL_NUMERIC",
    "PARAMS_KINDS",
    "REQUIRED",
    "concat_runs",
    "map_columns",
    "parse_columns",
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

#: Where the schema is documented (named by every message about a table's columns).
SCHEMA_PAGE = "docs/reference/run-table-schema.md"
#: Column names users' tables commonly carry, by schema column (compared case-insensitively,
#: with ``-``, spaces and ``.`` read as ``_``). Recognised only where the schema name is absent.
ALIASES: dict[str, tuple[str, ...]] = {
    "params": (
        "n",
        "n_params",
        "num_params",
        "nparams",
        "parameters",
        "n_parameters",
        "num_parameters",
        "model_size",
        "model_params",
        "param_count",
        "size",
    ),
    "tokens": (
        "d",
        "n_tokens",
        "num_tokens",
        "ntokens",
        "train_tokens",
        "training_tokens",
        "tokens_seen",
        "data",
        "data_size",
        "dataset_size",
    ),
    "loss": (
        "l",
        "val_loss",
        "valid_loss",
        "validation_loss",
        "eval_loss",
        "test_loss",
        "final_loss",
        "train_loss",
    ),
    "flops": ("c", "compute", "flop", "train_flops", "training_flops"),
    "batch_size": ("bs", "batch", "batch_tokens", "tokens_per_step"),
    "steps": ("n_steps", "num_steps", "train_steps", "iterations", "iters"),
    "learning_rate": ("lr", "peak_lr", "max_lr"),
}
#: Numbers below these make a table look like it counts in millions or billions.
_SMALL_PARAMS = 1e4
_SMALL_TOKENS = 1e4
#: The first bytes of spreadsheet files (zip-based .xlsx/.ods; OLE2 .xls).
_SPREADSHEET_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")
_SPREADSHEET_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".ods", ".numbers"}


def _norm(name: str) -> str:
    return str(name).strip().lower().replace("-", "_").replace(" ", "_").replace(".", "_")


def parse_columns(text: str) -> dict[str, str]:
    """Parse ``--columns``: ``"N=params,D=tokens,L=loss"`` into ``{"N": "params", ...}``.

    Raises
    ------
    RunTableError
        On an item without ``=``, an empty name, or a name mapped twice.

    Examples
    --------
    >>> parse_columns("N=params, D=tokens,L=loss")
    {'N': 'params', 'D': 'tokens', 'L': 'loss'}
    """
    out: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        theirs, sep, ours = item.partition("=")
        theirs, ours = theirs.strip(), ours.strip()
        if not sep or not theirs or not ours:
            raise RunTableError(
                f"--columns: {item.strip()!r} is not YOUR_NAME=SCHEMA_NAME "
                "(e.g. --columns N=params,D=tokens,L=loss)"
            )
        if theirs in out:
            raise RunTableError(f"--columns: column {theirs!r} is mapped twice")
        out[theirs] = ours
    if not out:
        raise RunTableError("--columns is empty (e.g. --columns N=params,D=tokens,L=loss)")
    return out


def map_columns(
    runs: pd.DataFrame,
    columns: Mapping[str, str] | None = None,
    *,
    source: str | None = None,
) -> pd.DataFrame:
    """Rename a user's columns to the schema's, recognise aliases and derive ``tokens``.

    Parameters
    ----------
    runs : pandas.DataFrame
        A table as the user has it.
    columns : mapping, optional
        ``{their_name: schema_name}``, applied first. Every named column must exist, and no two
        columns may end up with the same name.
    source : str, optional
        Where the table came from, for messages.

    Returns
    -------
    pandas.DataFrame
        A copy with schema names; what was done is listed in ``attrs["notes"]``.

    Raises
    ------
    RunTableError
        On a mapped column that does not exist, a mapping that collides with an existing column,
        or missing required columns (all of them named, with what to do).

    Examples
    --------
    >>> import pandas as pd
    >>> t = map_columns(pd.DataFrame({"model_size": [1e8], "steps": [100], "batch_size": [2e6],
    ...                               "val_loss": [3.0]}))
    >>> list(t.columns), float(t["tokens"].iloc[0])
    (['params', 'steps', 'batch_size', 'loss', 'tokens'], 200000000.0)
    >>> t.attrs["notes"][0]
    "read column 'model_size' as 'params' (a common alias; map it with --columns model_size=params)"
    """
    pre = _prefix(source)
    names = [str(c) for c in runs.columns]
    if len(set(names)) != len(names):
        dup = next(c for c in names if names.count(c) > 1)
        raise RunTableError(
            f"{pre}column {dup!r} appears more than once: give each column its own name"
        )
    notes: list[str] = list(runs.attrs.get("notes", []))
    rename: dict[str, str] = {}
    for theirs, ours in (columns or {}).items():
        if theirs not in names:
            raise RunTableError(
                f"{pre}--columns names {theirs!r}, which the table lacks "
                f"(found: {', '.join(names) or 'none'})"
            )
        if ours in names and ours != theirs:
            raise RunTableError(
                f"{pre}--columns {theirs}={ours}: the table already has a column {ours!r}; "
                f"drop or rename one of them"
            )
        rename[theirs] = ours
    targets = list(rename.values())
    if len(set(targets)) != len(targets):
        dup = next(t for t in targets if targets.count(t) > 1)
        raise RunTableError(f"{pre}--columns maps two columns onto {dup!r}")
    present = {rename.get(n, n) for n in names}
    for ours, aliases in ALIASES.items():
        if ours in present:
            continue
        found = [n for n in names if n not in rename and _norm(n) in aliases]
        if len(found) > 1:
            raise RunTableError(
                f"{pre}columns {', '.join(map(repr, found))} could each be {ours!r}: say which "
                f"with --columns {found[0]}={ours} (Python: columns={{{found[0]!r}: {ours!r}}})"
            )
        if found:
            rename[found[0]] = ours
            present.add(ours)
            notes.append(
                f"read column {found[0]!r} as {ours!r} (a common alias; map it with "
                f"--columns {found[0]}={ours})"
            )
    out = runs.rename(columns=rename) if rename else runs.copy()
    out.attrs = dict(runs.attrs)
    if "tokens" not in out.columns and {"steps", "batch_size"} <= set(out.columns):
        steps = pd.to_numeric(out["steps"], errors="coerce")
        batch = pd.to_numeric(out["batch_size"], errors="coerce")
        out["tokens"] = steps * batch
        notes.append(
            "derived 'tokens' as steps × batch_size (batch_size counted in tokens per step; "
            "if yours counts sequences, give a tokens column instead)"
        )
    missing = [c for c in REQUIRED if c not in out.columns]
    if missing:
        hints = {
            "params": "the parameter count N",
            "tokens": "training tokens D, or steps and batch_size",
            "loss": "the final loss",
        }
        want = "; ".join(f"{c!r} ({hints[c]})" for c in missing)
        example = ",".join(f"YOUR_NAME={c}" for c in missing)
        raise RunTableError(
            f"{pre}missing required column{'s' if len(missing) > 1 else ''} {want} "
            f"(found: {', '.join(names) or 'none'}); map yours with --columns {example} "
            f"(Python: read_runs(..., columns={{...}})); the schema: {SCHEMA_PAGE}"
        )
    if notes:
        out.attrs["notes"] = notes
    return out


def _warn_magnitudes(out: pd.DataFrame, source: str | None) -> None:
    """Warn when params or tokens look like they count in millions or billions."""
    for col, small, example in (
        ("params", _SMALL_PARAMS, "70e9, not 70"),
        ("tokens", _SMALL_TOKENS, "1.4e12, not 1400"),
    ):
        top = float(out[col].max())
        if top < small:
            warnings.warn(
                f"{_prefix(source)}the largest {col!r} is {top:g}: this looks like a count in "
                f"millions or billions; give raw counts ({example}) or the fit and every "
                "allocation will be in the wrong units",
                UnitsWarning,
                stacklevel=3,
            )


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
    columns: Mapping[str, str] | None = None,
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
    columns : mapping, optional
        ``{their_name: schema_name}`` for a table with its own column names; aliases and
        ``tokens = steps × batch_size`` are handled as in :func:`map_columns`.

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
    out = map_columns(runs, columns, source=source)
    names = [str(c) for c in out.columns]
    out.columns = names
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
                f"{_prefix(source)}group column {g!r} not found (found: {', '.join(names)})"
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
    columns: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    r"""Read a run table from CSV or parquet and validate it.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.csv`` (optionally compressed; comma, semicolon, tab or ``|`` separated, sniffed)
        or ``.parquet`` file. Spreadsheets (``.xlsx``, ``.ods``...) are refused with a request
        to save them as CSV.
    params_kind, loss_unit, group
        As in :func:`validate_runs`. A CSV may instead declare conventions in comment lines
        at its top, e.g. ``# params_kind: non_embedding``.
    columns : mapping, optional
        ``{their_name: schema_name}`` for a file with its own column names, e.g.
        ``{"N": "params", "D": "tokens", "L": "loss"}``; see :func:`map_columns`.

    Returns
    -------
    pandas.DataFrame
        The validated run table; ``attrs["notes"]`` lists aliases read and columns derived.

    Raises
    ------
    RunTableError
        On a file that cannot be read, repeated column names, or a schema problem.

    Warns
    -----
    UnitsWarning
        When ``params`` or ``tokens`` look like counts in millions or billions.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from bayescale.data import read_runs
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "runs.csv"
    >>> _ = p.write_text("params;tokens;loss\n1e8;2e9;3.1\n4e8;8e9;2.7\n")
    >>> len(read_runs(p))
    2
    """
    path = Path(path)
    if not path.exists():
        raise RunTableError(f"{path}: no such file")
    if path.is_dir():
        raise RunTableError(f"{path}: is a directory, not a run table")
    _refuse_spreadsheet(path)
    header: dict[str, str] = {}
    try:
        if path.suffix.lower() == ".parquet":
            df = pd.read_parquet(path)
            header = {str(k): str(v) for k, v in df.attrs.items()}
        else:
            header = _csv_header(path)
            sep = _sniff_delimiter(path)
            _refuse_repeated_names(path, sep)
            df = pd.read_csv(path, comment="#" if header else None, sep=sep)
    except (ValueError, OSError, UnicodeDecodeError, ImportError) as exc:
        raise RunTableError(f"{path}: cannot be read as a run table ({exc})") from None
    df.attrs.update(header)
    kind = params_kind or header.get("params_kind")
    unit = loss_unit or header.get("loss_unit")
    out = validate_runs(
        df,
        params_kind=kind,  # type: ignore[arg-type]
        loss_unit=unit,  # type: ignore[arg-type]
        source=str(path),
        group=group,
        columns=columns,
    )
    _warn_magnitudes(out, str(path))
    return out


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


def _refuse_spreadsheet(path: Path) -> None:
    """A spreadsheet, by its name or its first bytes: ask for CSV instead of a decode error."""
    with open(path, "rb") as fh:
        magic = fh.read(4)
    compressed = path.suffix.lower() in {".gz", ".xz", ".bz2", ".zip", ".parquet"}
    if path.suffix.lower() in _SPREADSHEET_SUFFIXES or (
        not compressed and magic in _SPREADSHEET_MAGIC
    ):
        raise RunTableError(
            f"{path}: is a spreadsheet, not a CSV: save it as CSV (File > Save As > "
            "CSV UTF-8) and pass the .csv file"
        )


def _data_lines(path: Path, n: int = 20) -> list[str]:
    if path.suffix.lower() in {".gz", ".xz", ".bz2", ".zip"}:
        return []
    lines: list[str] = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("#") or not line.strip():
                continue
            lines.append(line)
            if len(lines) >= n:
                break
    return lines


def _sniff_delimiter(path: Path) -> str:
    """The CSV's separator among ``, ; tab |`` (comma when it cannot tell)."""
    lines = _data_lines(path)
    if not lines:
        return ","
    try:
        return csv.Sniffer().sniff("".join(lines), delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _refuse_repeated_names(path: Path, sep: str) -> None:
    """Pandas renames a repeated header ``loss, loss`` to ``loss, loss.1``: refuse it instead."""
    lines = _data_lines(path, 1)
    if not lines:
        return
    names = [n.strip() for n in next(csv.reader([lines[0]], delimiter=sep))]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise RunTableError(
            f"{path}: column{'s' if len(repeated) > 1 else ''} "
            f"{', '.join(map(repr, repeated))} appear{'' if len(repeated) > 1 else 's'} more "
            "than once in the header: give each column its own name"
        )


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
