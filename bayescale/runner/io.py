"""Atomic, lock-protected result files and checkpoints (no torch at import time).

Results are three CSV files that grow by one run at a time: ``runs.csv`` (one row per run),
``runs.curves.csv`` (learning curves) and ``runs.noise.csv`` (raw gradient-noise statistics).
A run is committed by :func:`commit_run` under an exclusive ``fcntl`` lock on
``runs.csv.lock``: each file is rewritten to a temporary file, flushed, fsynced and moved into
place with :func:`os.replace`, so a reader never sees a partial file, a killed writer leaves
either the old or the new file, and concurrent writers (processes, array tasks on a shared
POSIX file system) lose no rows. Rows of a run already present are replaced, which makes a
repeated commit idempotent.

Examples
--------
>>> import tempfile, pathlib
>>> from bayescale.runner.io import commit_run, finished_ids, result_paths
>>> out = pathlib.Path(tempfile.mkdtemp()) / "runs.csv"
>>> commit_run(out, {"run_id": "a", "params": 1, "tokens": 2, "loss": 3.0}, [], [])
>>> sorted(finished_ids(out))
['a']
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from bayescale.data.schema import validate_runs
from bayescale.data.tables import CURVES, NOISE, validate_table

__all__ = [
    "CURVE_COLUMNS",
    "NOISE_COLUMNS",
    "atomic_write_bytes",
    "commit_run",
    "finished_ids",
    "locked",
    "read_rows",
    "result_paths",
]

#: Columns of the learning-curve file (:data:`bayescale.data.tables.CURVES`). ``run`` (not
#: ``run_id``) names the run, so the file validates as a run table; group by ``run``.
CURVE_COLUMNS: tuple[str, ...] = CURVES.columns
#: Columns of the gradient-noise file (:data:`bayescale.data.tables.NOISE`; batch sizes in
#: tokens).
NOISE_COLUMNS: tuple[str, ...] = NOISE.columns


def result_paths(out: str | Path) -> tuple[Path, Path, Path]:
    """The runs, curves and noise files for a ``--out`` path.

    Parameters
    ----------
    out : str or pathlib.Path
        The runs file, e.g. ``runs.csv``.

    Returns
    -------
    (runs, curves, noise) : tuple of pathlib.Path
        ``runs.csv``, ``runs.curves.csv`` and ``runs.noise.csv``.
    """
    out = Path(out)
    stem = out.name[: -len(".csv")] if out.name.endswith(".csv") else out.name
    return out, out.with_name(f"{stem}.curves.csv"), out.with_name(f"{stem}.noise.csv")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename, dir fsync).

    Parameters
    ----------
    path : str or pathlib.Path
        Destination.
    data : bytes
        Content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    with contextlib.suppress(OSError):
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


@contextlib.contextmanager
def locked(path: str | Path) -> Iterator[None]:
    """Hold an exclusive ``fcntl`` lock on ``<path>.lock`` for the ``with`` body."""
    lock = Path(f"{path}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def read_rows(path: str | Path) -> tuple[list[str], list[dict[str, str]]]:
    """Read a CSV written by this module into its header and rows (empty if absent)."""
    path = Path(path)
    if not path.is_file():
        return [], []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def finished_ids(out: str | Path) -> set[str]:
    """Run ids already committed to the runs file ``out``.

    Parameters
    ----------
    out : str or pathlib.Path
        The runs file.

    Returns
    -------
    set of str
    """
    _, rows = read_rows(out)
    return {r["run_id"] for r in rows if r.get("run_id")}


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "" if v != v else repr(v)
    return str(v)


def render_csv(header: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow([_fmt(r.get(c)) for c in header])
    return buf.getvalue().encode("utf-8")


def _merge(
    path: Path,
    key: str,
    run_id: str,
    new: Sequence[Mapping[str, Any]],
    columns: Sequence[str] | None,
) -> None:
    header, rows = read_rows(path)
    rows = [r for r in rows if r.get(key) != run_id]
    want = list(columns) if columns else []
    for r in new:
        for c in r:
            if c not in want:
                want.append(c)
    for c in header:
        if c not in want:
            want.append(c)
    if not columns:
        # keep the existing column order first, new columns appended
        want = header + [c for c in want if c not in header]
    atomic_write_bytes(path, render_csv(want, [*rows, *new]))


def commit_run(
    out: str | Path,
    row: Mapping[str, Any],
    curve: Sequence[Mapping[str, Any]],
    noise: Sequence[Mapping[str, Any]],
) -> None:
    """Commit one finished run to the three result files, atomically and under a lock.

    The curve and noise files are written first and the runs file last, so a run counts as
    finished (see :func:`finished_ids`) only once all its rows are on disk.

    Parameters
    ----------
    out : str or pathlib.Path
        The runs file.
    row : mapping
        The run's row; must contain ``run_id``.
    curve, noise : sequence of mapping
        Learning-curve rows (keyed by ``run``) and noise rows (keyed by ``run_id``).

    Raises
    ------
    RunTableError
        When a row does not fit its schema (nothing is written then).
    """
    runs, curves, noises = result_paths(out)
    run_id = str(row["run_id"])
    # every row is checked against the schema its readers use before anything is written
    validate_runs(pd.DataFrame([dict(row)]), source=f"run {run_id}", derive_flops=False)
    if curve:
        validate_table(pd.DataFrame(list(curve)), CURVES, source=f"run {run_id}")
    if noise:
        validate_table(pd.DataFrame(list(noise)), NOISE, source=f"run {run_id}")
    with locked(runs):
        if curve:
            _merge(curves, "run", run_id, curve, CURVE_COLUMNS)
        if noise:
            _merge(noises, "run_id", run_id, noise, NOISE_COLUMNS)
        _merge(runs, "run_id", run_id, [row], None)
