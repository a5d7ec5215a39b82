"""The dataset registry: pinned URLs and SHA-256 checksums, fetched into a cache with pooch.

Entries live in ``datasets/registry.toml``. A file is looked up in the cache directory
(:func:`get_data_home`: ``$BAYESCALE_DATA`` or pooch's per-user cache); when absent it is
downloaded from its pinned URL (unless ``BAYESCALE_OFFLINE=1``), and its SHA-256 is checked on
every load, not only after download. Bundled files (``bundled = true``) ship inside the package.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

from bayescale._paths import resource_dir
from bayescale.exceptions import DatasetError

__all__ = [
    "DatasetEntry",
    "DatasetFile",
    "dataset_path",
    "get_data_home",
    "get_entry",
    "list_datasets",
    "load_dataset",
    "registry",
]


@dataclass(frozen=True)
class DatasetFile:
    """One file of a dataset: where it lives, where it comes from, its checksum."""

    path: str
    sha256: str
    url: str = ""
    bundled: bool = False


@dataclass(frozen=True)
class DatasetEntry:
    """A registry entry: provenance, conventions, the loader and the files."""

    name: str
    kind: str
    loader: str
    description: str
    citation: str
    source: str
    locator: str
    extraction: str
    license: str
    files: tuple[DatasetFile, ...]
    params_kind: str = ""
    loss_unit: str = ""
    rows: int | None = None
    units: Mapping[str, str] = field(default_factory=dict)
    columns: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)


_REQUIRED = (
    "name",
    "kind",
    "loader",
    "description",
    "citation",
    "source",
    "locator",
    "extraction",
    "license",
    "files",
)


@cache
def registry() -> dict[str, DatasetEntry]:
    """All registry entries by name (read once from ``datasets/registry.toml``)."""
    path = resource_dir("datasets") / "registry.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    out: dict[str, DatasetEntry] = {}
    for raw in data.get("dataset", []):
        missing = [k for k in _REQUIRED if k not in raw]
        if missing:
            raise DatasetError(f"{path}: entry {raw.get('name', '?')!r} lacks {missing}")
        files = tuple(DatasetFile(**f) for f in raw["files"])
        known = {f for f in DatasetEntry.__dataclass_fields__ if f not in {"files", "extra"}}
        kwargs = {k: v for k, v in raw.items() if k in known}
        extra = {k: v for k, v in raw.items() if k not in known and k != "files"}
        out[raw["name"]] = DatasetEntry(files=files, extra=extra, **kwargs)
    return out


def get_entry(name: str) -> DatasetEntry:
    """Return a registry entry, suggesting the closest name when unknown."""
    entries = registry()
    if name not in entries:
        close = difflib.get_close_matches(name, entries, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise DatasetError(f"unknown dataset {name!r}{hint} (known: {', '.join(sorted(entries))})")
    return entries[name]


def get_data_home() -> Path:
    """The cache directory: ``$BAYESCALE_DATA`` if set, else pooch's per-user cache."""
    env = os.environ.get("BAYESCALE_DATA")
    if env:
        return Path(env).expanduser()
    import pooch

    return Path(pooch.os_cache("bayescale"))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _locate(f: DatasetFile) -> Path:
    if f.bundled:
        return resource_dir("datasets") / f.path
    return get_data_home() / f.path


def is_cached(name: str) -> bool:
    """Whether every file of dataset ``name`` is present locally (checksums not verified)."""
    return all(_locate(f).exists() for f in get_entry(name).files)


def _fetch(f: DatasetFile, dataset: str) -> Path:
    path = _locate(f)
    if not path.exists():
        if f.bundled:
            raise DatasetError(f"dataset {dataset!r}: bundled file {path} is missing")
        offline = os.environ.get("BAYESCALE_OFFLINE", "").lower() in {"1", "true", "yes"}
        if offline or not f.url:
            raise DatasetError(
                f"dataset {dataset!r}: {path} is not in the cache and downloads are off "
                f"(BAYESCALE_OFFLINE). Place the file there by hand (from {f.url}, "
                f"sha256 {f.sha256}) or point BAYESCALE_DATA at a mirror."
            )
        import pooch

        try:
            pooch.retrieve(
                f.url,
                known_hash=f"sha256:{f.sha256}",
                fname=path.name,
                path=path.parent,
                progressbar=False,
            )
        except Exception as exc:
            raise DatasetError(
                f"dataset {dataset!r}: could not download {f.url} to {path} "
                f"({type(exc).__name__}: {exc}). Offline? Set BAYESCALE_DATA to a mirror."
            ) from None
    digest = _sha256(path)
    if digest != f.sha256:
        raise DatasetError(
            f"dataset {dataset!r}: checksum mismatch for {path}: expected sha256 {f.sha256}, "
            f"got {digest}. The file is corrupt or not the pinned version; delete it to "
            "download again."
        )
    return path


def dataset_path(name: str) -> list[Path]:
    """Local, checksum-verified paths of a dataset's files (fetching them if needed).

    Examples
    --------
    >>> import bayescale as bs
    >>> [p.name for p in bs.dataset_path("epoch_chinchilla")]  # doctest: +SKIP
    ['svg_extracted_data.csv']
    """
    entry = get_entry(name)
    return [_fetch(f, name) for f in entry.files]


def load_dataset(name: str) -> pd.DataFrame:
    """Load a registered table: verified, transformed and (for run tables) validated.

    The returned frame's ``attrs`` carry the provenance: ``dataset``, ``sha256`` (of the
    first file), ``params_kind``, ``loss_unit``, ``citation`` and ``source``.

    Parameters
    ----------
    name : str
        A registry name, see :func:`list_datasets`.

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> import bayescale as bs
    >>> runs = bs.load_dataset("epoch_chinchilla")  # doctest: +SKIP
    >>> len(runs), int(runs["outlier"].sum())  # doctest: +SKIP
    (245, 5)
    """
    from bayescale.data.loaders import get_loader
    from bayescale.data.schema import validate_runs

    entry = get_entry(name)
    paths = dataset_path(name)
    frame = get_loader(entry.loader)(paths, entry)
    sha = entry.files[0].sha256 if len(entry.files) == 1 else _combined_sha(entry)
    attrs = {
        "dataset": name,
        "sha256": sha,
        "citation": entry.citation,
        "source": name,
        "license": entry.license,
    }
    if entry.kind == "runs":
        frame.attrs.update(attrs)
        frame = validate_runs(
            frame,
            params_kind=entry.params_kind or None,  # type: ignore[arg-type]
            loss_unit=entry.loss_unit or None,  # type: ignore[arg-type]
            source=name,
        )
    frame.attrs.update(attrs)
    if entry.params_kind:
        frame.attrs["params_kind"] = entry.params_kind
    if entry.loss_unit:
        frame.attrs["loss_unit"] = entry.loss_unit
    return frame


def _combined_sha(entry: DatasetEntry) -> str:
    h = hashlib.sha256()
    for f in entry.files:
        h.update(f.sha256.encode())
    return h.hexdigest()


def list_datasets() -> pd.DataFrame:
    """Catalogue of registered datasets: name, kind, rows, params_kind, licence, cached.

    Examples
    --------
    >>> import bayescale as bs
    >>> "epoch_chinchilla" in set(bs.list_datasets()["name"])
    True
    """
    rows = []
    for name, e in sorted(registry().items()):
        rows.append(
            {
                "name": name,
                "kind": e.kind,
                "rows": e.rows,
                "params_kind": e.params_kind or "-",
                "license": e.license,
                "cached": is_cached(name),
                "description": e.description,
            }
        )
    return pd.DataFrame(rows)
