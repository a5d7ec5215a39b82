"""The one module that knows the results container is an :class:`xarray.DataTree`.

Everything else asks here for the posterior as a Dataset, adds groups through here, and saves
and opens fits through here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import xarray as xr

from bayescale._atomic import atomic_path

__all__ = ["add_group", "get_group", "groups", "open_tree", "peek", "save_tree"]


def groups(tree: xr.DataTree) -> list[str]:
    """Names of the groups (child nodes) of a results tree."""
    return list(tree.children)


def get_group(tree: xr.DataTree, name: str) -> xr.Dataset:
    """Return a group as a Dataset (raises KeyError when absent)."""
    if name not in tree.children:
        raise KeyError(name)
    return tree[name].to_dataset()


def add_group(tree: xr.DataTree, name: str, data: xr.Dataset) -> None:
    """Add or replace a group."""
    tree[name] = xr.DataTree(dataset=data)


def make_tree(groups_: dict[str, xr.Dataset], attrs: dict[str, Any] | None = None) -> xr.DataTree:
    """Build a results tree from named Datasets."""
    tree = xr.DataTree.from_dict({f"/{k}": v for k, v in groups_.items()})
    tree.attrs.update(attrs or {})
    return tree


def save_tree(
    tree: xr.DataTree,
    path: str | Path,
    *,
    seal: Callable[[xr.DataTree], dict[str, str]] | None = None,
) -> Path:
    """Write a tree to netCDF atomically (temporary file + rename).

    ``seal`` receives the tree as read back from the written temporary file and returns root
    attributes to add before the rename (checksums of exactly what a reader will see).
    """
    with atomic_path(path) as tmp:
        tree.to_netcdf(tmp, engine="h5netcdf")
        if seal is not None:
            extra = seal(open_tree(tmp))
            import h5py

            with h5py.File(tmp, "r+") as f:
                for key, value in extra.items():
                    f.attrs[key] = value
    return Path(path)


def peek(
    path: str | Path, variables: tuple[str, ...] = ()
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Root attributes and a few named arrays (``"group/name"``) of a saved tree.

    Nothing else is read (a posterior may be gigabytes).

    Raises
    ------
    OSError
        When the file is not readable as HDF5 (netCDF-4).
    KeyError
        When a requested variable is absent.
    """
    import h5py
    import numpy as np

    with h5py.File(path, "r") as f:
        attrs = {str(k): v.decode() if isinstance(v, bytes) else v for k, v in f.attrs.items()}
        arrays = {name: np.asarray(f[name][()]) for name in variables}
    return attrs, arrays


def open_tree(path: str | Path) -> xr.DataTree:
    """Read a tree fully into memory (the file is closed afterwards)."""
    with xr.open_datatree(path, engine="h5netcdf") as tree:
        return tree.load()
