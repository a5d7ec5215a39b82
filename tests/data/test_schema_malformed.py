"""Malformed run tables get the schema's named errors (RunTableError), never a crash."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bayescale.data.schema import validate_runs
from bayescale.exceptions import RunTableError

GOOD = {"params": [1e8, 2e8, 4e8], "tokens": [2e9, 4e9, 8e9], "loss": [3.1, 2.9, 2.7]}

#: Cell values a broken table may hold: good and bad numbers, wrong types, missing values.
cells = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=1.0, max_value=1e13),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.just(0),
    st.text(max_size=5),
    st.sampled_from(["1e9", "nan", "inf", "-3", "", "abc", " 2.5 "]),
    st.none(),
    st.booleans(),
    st.sampled_from([pd.NA, pd.NaT, np.nan]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)
column_names = st.sampled_from(
    [
        "params",
        "tokens",
        "loss",
        "flops",
        "run_id",
        "outlier",
        "batch_size",
        "step",
        "learning_rate",
        "family",
    ]
)


@st.composite
def malformed_tables(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(min_value=0, max_value=6))
    names = draw(st.lists(column_names, min_size=0, max_size=7))
    data: dict[str, list[object]] = {}
    for name in names:
        if name == "run_id":
            data[name] = draw(
                st.lists(st.sampled_from(["a", "b", "c", None, 1]), min_size=n, max_size=n)
            )
        else:
            data[name] = draw(st.lists(cells, min_size=n, max_size=n))
    frame = pd.DataFrame(data, index=pd.RangeIndex(n)) if data else pd.DataFrame(index=range(n))
    if draw(st.booleans()) and len(frame.columns) >= 1:  # sometimes a duplicated column name
        frame = pd.concat([frame, frame.iloc[:, :1]], axis=1)
    if draw(st.booleans()):  # sometimes a repeated or non-integer index
        frame.index = draw(st.sampled_from([[0] * n, [f"r{i}" for i in range(n)]]))
    return frame


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(malformed_tables(), st.sampled_from([None, "family", ["family", "run_id"]]))
def test_malformed_tables_raise_run_table_error_or_pass(frame, group):
    try:
        out = validate_runs(frame, group=group)
    except RunTableError as exc:
        assert str(exc)  # a message, never empty
        return
    # a table that passes is truly valid
    for col in ("params", "tokens", "loss"):
        values = out[col].to_numpy(dtype=float)
        assert np.isfinite(values).all() and (values > 0).all()
    assert (out["tokens"] >= 1).all()
    if "run_id" in out.columns:
        assert out["run_id"].is_unique
    assert len(out) == len(frame) > 0


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=1e6, max_value=1e12),
            st.floats(min_value=1e6, max_value=1e13),
            st.floats(min_value=1.5, max_value=10.0),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_valid_tables_pass_unchanged(rows):
    frame = pd.DataFrame(rows, columns=["params", "tokens", "loss"])
    out = validate_runs(frame)
    np.testing.assert_array_equal(out["loss"], frame["loss"])
    assert len(out) == len(frame)


def _table(**changes: object) -> pd.DataFrame:
    data = {k: list(v) for k, v in GOOD.items()}
    data.update(changes)  # type: ignore[arg-type]
    return pd.DataFrame(data)


@pytest.mark.parametrize(
    ("frame", "pattern"),
    [
        (_table(params=[1e8, "big", 4e8]), r"column 'params', row 1.*'big' is not a number"),
        (_table(loss=[3.1, math.nan, 2.7]), r"column 'loss', row 1.*missing \(NaN\)"),
        (_table(loss=[3.1, math.inf, 2.7]), r"column 'loss', row 1.*not a finite number"),
        (_table(params=[1e8, -2e8, 4e8]), r"column 'params', row 1.*-200000000.0"),
        (_table(tokens=[2e9, 0.5, 8e9]), r"column 'tokens', row 1.*below 1 token"),
        (_table(params=[True, False, True]), r"column 'params' must be numeric, not boolean"),
        (_table(run_id=["a", "b", "a"]), r"column 'run_id', row 2: duplicate run id 'a'"),
        (_table(run_id=["a", None, "c"]), r"column 'run_id', row 1: value is missing"),
        (_table(outlier=["yes", "no", "maybe"]), r"column 'outlier'.*not true/false"),
        (_table(batch_size=[1.0, -1.0, 2.0]), r"column 'batch_size', row 1"),
        (pd.DataFrame({"params": [], "tokens": [], "loss": []}), r"the run table is empty"),
        (pd.DataFrame({"params": [1e8], "loss": [3.0]}), r"missing required column 'tokens'"),
    ],
)
def test_named_errors(frame, pattern):
    with pytest.raises(RunTableError, match=pattern):
        validate_runs(frame, source="runs.parquet")


def test_error_names_the_csv_line(tmp_path):
    from bayescale.data.schema import read_runs

    path = tmp_path / "runs.csv"
    path.write_text("params,tokens,loss\n1e8,2e9,3.1\n2e8,4e9,-1\n")
    with pytest.raises(RunTableError, match=r"column 'loss', row 1, line 3 of .*runs\.csv"):
        read_runs(path)


def test_not_a_frame():
    with pytest.raises(RunTableError, match="must be a pandas DataFrame"):
        validate_runs([1, 2, 3])  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=80),
        st.lists(
            st.lists(
                st.sampled_from(["params", "tokens", "loss", "1e8", "-1", "nan", "", "x"]),
                max_size=4,
            ),
            max_size=5,
        ).map(lambda rows: "\n".join(",".join(r) for r in rows).encode()),
    ),
    st.sampled_from(["runs.csv", "runs.csv.gz", "runs.parquet"]),
)
def test_malformed_files_raise_run_table_error_or_pass(tmp_path_factory, content, name):
    from bayescale.data.schema import read_runs

    path = tmp_path_factory.mktemp("f") / name
    path.write_bytes(content)
    try:
        out = read_runs(path)
    except RunTableError as exc:
        assert str(path) in str(exc) or "run table" in str(exc)
        return
    assert len(out) > 0 and (out["loss"] > 0).all()
