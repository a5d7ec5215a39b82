"""The restricted unpickler: checksum first, only allow-listed pandas/numpy globals."""

from __future__ import annotations

import hashlib
import lzma
import os
import pickle
from pathlib import Path

import pandas as pd
import pytest

from bayescale.data.pickle_safe import (
    PANDAS_ALLOWED,
    RestrictedUnpickler,
    UnsafePickleError,
    load_pickle,
)
from bayescale.data.registry import get_entry
from bayescale.exceptions import DatasetError
from tests.conftest import needs_mirror


class _MakeDir:
    """Unpickling this would create a directory (a harmless stand-in for arbitrary code)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (str(self.path),))


class _Eval:
    def __reduce__(self):
        return (eval, ("1 + 1",))


def _write(tmp_path: Path, obj: object, name: str = "x.pickle.xz") -> tuple[Path, str]:
    path = tmp_path / name
    raw = pickle.dumps(obj, protocol=5)
    data = lzma.compress(raw) if name.endswith(".xz") else raw
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def test_forbidden_global_is_refused_and_nothing_runs(tmp_path):
    target = tmp_path / "pwned"
    path, sha = _write(tmp_path, _MakeDir(target))
    with pytest.raises(UnsafePickleError, match=r"refusing global '(posix|os|nt)\.mkdir'"):
        load_pickle(path, sha256=sha)
    assert not target.exists()


def test_forbidden_global_nested_deep_is_refused(tmp_path):
    path, sha = _write(tmp_path, {"values": [1.0, 2.0], "payload": [{"x": (_Eval(),)}]})
    with pytest.raises(UnsafePickleError, match=r"builtins\.eval"):
        load_pickle(path, sha256=sha)


def test_checksum_is_checked_before_unpickling(tmp_path):
    target = tmp_path / "pwned"
    path, _ = _write(tmp_path, _MakeDir(target))
    wrong = "0" * 64
    with pytest.raises(DatasetError, match="checksum mismatch") as info:
        load_pickle(path, sha256=wrong)
    assert not isinstance(info.value, UnsafePickleError)  # refused before any unpickling
    assert str(path) in str(info.value) and wrong in str(info.value)
    assert not target.exists()


def test_plain_data_round_trips(tmp_path):
    obj = {"a": [1, 2.5, "x"], "b": (None, True), "c": {"nested": b"bytes"}}
    path, sha = _write(tmp_path, obj, "plain.pickle")
    assert load_pickle(path, sha256=sha) == obj


def test_corrupt_compression_is_a_dataset_error(tmp_path):
    path = tmp_path / "bad.pickle.xz"
    path.write_bytes(b"not xz at all")
    with pytest.raises(DatasetError, match="cannot decompress"):
        load_pickle(path, sha256=hashlib.sha256(b"not xz at all").hexdigest())


def test_truncated_pickle_is_a_dataset_error(tmp_path):
    data = lzma.compress(pickle.dumps([1, 2, 3])[:-3])
    path = tmp_path / "t.pickle.xz"
    path.write_bytes(data)
    with pytest.raises(DatasetError, match="cannot be unpickled"):
        load_pickle(path, sha256=hashlib.sha256(data).hexdigest())


def test_custom_allow_list_is_honoured():
    import io

    data = pickle.dumps(slice(1, 5))
    assert RestrictedUnpickler(io.BytesIO(data)).load() == slice(1, 5)
    with pytest.raises(UnsafePickleError):
        RestrictedUnpickler(io.BytesIO(data), allowed=set()).load()


def test_allow_list_holds_only_pandas_numpy_and_slice():
    modules = {m.split(".")[0] for m, _ in PANDAS_ALLOWED}
    assert modules == {"pandas", "numpy", "builtins"}
    assert {n for m, n in PANDAS_ALLOWED if m == "builtins"} == {"slice"}


@needs_mirror
def test_upstream_porian_pickles_load_with_the_allow_list():
    mirror = Path(os.environ["BAYESCALE_DATA"])
    f = get_entry("porian2024").files[2]  # the smallest of the four
    summary = load_pickle(mirror / f.path, sha256=f.sha256)
    assert isinstance(summary, pd.DataFrame)
    assert {"dataset", "hparams", "warmup", "decay", "param_count", "val", "data"} <= set(
        summary.columns
    )
