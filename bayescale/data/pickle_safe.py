"""Read downloaded pandas pickles without running arbitrary code.

Unpickling calls whatever importable callable the byte stream names, so ``pickle.load`` on
downloaded bytes can run any code. :func:`load_pickle` therefore (1) checks the file's SHA-256
against the pinned value *before* reading it, and (2) unpickles with
:class:`RestrictedUnpickler`, which resolves only the (module, name) pairs in an explicit
allow-list: the numpy array constructors and the pandas DataFrame / Series / Index / block
manager classes that a pickled DataFrame of numbers, strings and nested tables needs. Any other
global (``os.system``, ``builtins.eval``, ``subprocess.Popen``, ...) is refused with
:class:`UnsafePickleError` before it is imported.

Pickles written by numpy 1.x name ``numpy.core.*``; numpy 2 moved those to ``numpy._core.*``.
The allow-list holds the names as they appear in the stream and the loader maps them to the
current location (so no deprecated module is imported).
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import importlib
import io
import lzma
import pickle
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bayescale.exceptions import DatasetError

__all__ = ["PANDAS_ALLOWED", "RestrictedUnpickler", "UnsafePickleError", "load_pickle"]


class UnsafePickleError(DatasetError):
    """A pickle names a global outside the allow-list (the file is refused, nothing is run)."""


#: The globals a pickled pandas DataFrame of numbers, strings and nested frames needs.
PANDAS_ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {
        ("builtins", "slice"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy._core.numeric", "_frombuffer"),
        ("pandas._libs.internals", "_unpickle_block"),
        ("pandas.core.frame", "DataFrame"),
        ("pandas.core.series", "Series"),
        ("pandas.core.indexes.base", "_new_Index"),
        ("pandas.core.indexes.base", "Index"),
        ("pandas.core.indexes.range", "RangeIndex"),
        ("pandas.core.internals.managers", "BlockManager"),
        ("pandas.core.internals.managers", "SingleBlockManager"),
    }
)

#: Modules renamed since the pickles were written: stream name -> current module.
_RENAMED: dict[str, str] = {
    "numpy.core.multiarray": "numpy._core.multiarray",
    "numpy.core.numeric": "numpy._core.numeric",
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only allow-listed globals.

    Parameters
    ----------
    file : binary file object
        The (decompressed) pickle stream.
    allowed : iterable of (module, name) pairs, optional
        The globals the stream may name; defaults to :data:`PANDAS_ALLOWED`.
    source : str, optional
        File name used in error messages.

    Examples
    --------
    >>> import io, pickle
    >>> RestrictedUnpickler(io.BytesIO(pickle.dumps({"a": [1, 2.5]}))).load()
    {'a': [1, 2.5]}
    >>> import os
    >>> RestrictedUnpickler(io.BytesIO(pickle.dumps(os.getcwd))).load()
    Traceback (most recent call last):
    ...
    bayescale.data.pickle_safe.UnsafePickleError: pickle: refusing global 'posix.getcwd' ...
    """

    def __init__(
        self,
        file: io.BufferedIOBase | io.BytesIO,
        *,
        allowed: Iterable[tuple[str, str]] | None = None,
        source: str = "pickle",
    ) -> None:
        super().__init__(file)
        self.allowed = frozenset(allowed) if allowed is not None else PANDAS_ALLOWED
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        """Return the allow-listed global ``module.name``; refuse anything else."""
        if (module, name) not in self.allowed:
            raise UnsafePickleError(
                f"{self.source}: refusing global {module + '.' + name!r} (not in the allow-list "
                "of pandas/numpy classes); the file was not loaded"
            )
        return getattr(importlib.import_module(_RENAMED.get(module, module)), name)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _decompress(raw: bytes, path: Path) -> bytes:
    suffix = path.suffix.lower()
    try:
        if suffix == ".xz":
            return lzma.decompress(raw)
        if suffix == ".gz":
            return gzip.decompress(raw)
        if suffix == ".bz2":
            return bz2.decompress(raw)
    except (lzma.LZMAError, OSError, EOFError) as exc:
        raise DatasetError(f"{path}: cannot decompress ({exc})") from None
    return raw


def load_pickle(
    path: str | Path,
    *,
    sha256: str,
    allowed: Iterable[tuple[str, str]] | None = None,
) -> Any:
    """Verify a pickle's SHA-256, then unpickle it with :class:`RestrictedUnpickler`.

    Parameters
    ----------
    path : str or pathlib.Path
        A pickle file, optionally compressed (``.xz``, ``.gz``, ``.bz2``, by suffix).
    sha256 : str
        The pinned SHA-256 (hex) of the file as stored (compressed bytes). Required: a pickle
        is never read without one.
    allowed : iterable of (module, name) pairs, optional
        Globals the stream may name; defaults to :data:`PANDAS_ALLOWED`.

    Returns
    -------
    object
        The unpickled object.

    Raises
    ------
    DatasetError
        If the checksum does not match (naming the file and both checksums) or the file
        cannot be decompressed or parsed.
    UnsafePickleError
        If the stream names a global outside the allow-list.

    Examples
    --------
    >>> import pickle, tempfile, hashlib, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.pickle"
    >>> _ = p.write_bytes(pickle.dumps([1, 2, 3]))
    >>> load_pickle(p, sha256=hashlib.sha256(p.read_bytes()).hexdigest())
    [1, 2, 3]
    """
    path = Path(path)
    raw = path.read_bytes()
    digest = _sha256(raw)
    if digest != sha256.lower():
        raise DatasetError(
            f"{path}: checksum mismatch: expected sha256 {sha256}, got {digest}; not unpickled"
        )
    data = _decompress(raw, path)
    try:
        return RestrictedUnpickler(io.BytesIO(data), allowed=allowed, source=str(path)).load()
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot be unpickled ({type(exc).__name__}: {exc})") from None
