"""Run tables as users have them: their column names, separators, spreadsheets and units.

Each case is one a new user met (issue 18); each message must say what to do.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.cli import main
from bayescale.data.schema import SCHEMA_PAGE, map_columns, parse_columns
from bayescale.exceptions import ConventionWarning, RunTableError, SpecError, UnitsWarning

ROWS = [(1e8, 2e9, 3.1), (4e8, 8e9, 2.7), (1.6e9, 3.2e10, 2.4)]


def _write(tmp_path, text, name="runs.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _csv(header, rows=ROWS, sep=","):
    return sep.join(header) + "\n" + "".join(sep.join(f"{v:g}" for v in r) + "\n" for r in rows)


@pytest.mark.parametrize(
    ("header", "aliases"),
    [
        (["N", "D", "loss"], {"N": "params", "D": "tokens"}),
        (
            ["model_size", "n_tokens", "val_loss"],
            {"model_size": "params", "n_tokens": "tokens", "val_loss": "loss"},
        ),
        (
            ["Parameters", "Training Tokens", "Eval-Loss"],
            {"Parameters": "params", "Training Tokens": "tokens", "Eval-Loss": "loss"},
        ),
    ],
)
def test_common_aliases_are_read_with_a_note(tmp_path, header, aliases):
    runs = bs.read_runs(_write(tmp_path, _csv(header)))
    np.testing.assert_allclose(runs["params"], [r[0] for r in ROWS])
    np.testing.assert_allclose(runs["tokens"], [r[1] for r in ROWS])
    notes = runs.attrs["notes"]
    assert len(notes) == len(aliases)
    for theirs, ours in aliases.items():
        assert any(f"read column {theirs!r} as {ours!r}" in n for n in notes), notes
        assert any(f"--columns {theirs}={ours}" in n for n in notes)


def test_an_explicit_mapping_reads_any_names(tmp_path):
    path = _write(tmp_path, _csv(["size_m", "toks", "nll"]))
    runs = bs.read_runs(path, columns={"size_m": "params", "toks": "tokens", "nll": "loss"})
    assert {"params", "tokens", "loss"} <= set(runs.columns)
    assert "notes" not in runs.attrs  # nothing guessed


def test_parse_columns_and_its_errors():
    assert parse_columns("N=params,D=tokens,L=loss") == {"N": "params", "D": "tokens", "L": "loss"}
    with pytest.raises(RunTableError, match="not YOUR_NAME=SCHEMA_NAME"):
        parse_columns("N:params")
    with pytest.raises(RunTableError, match="mapped twice"):
        parse_columns("N=params,N=tokens")


def test_mapping_errors_name_the_column(tmp_path):
    path = _write(tmp_path, _csv(["N", "D", "loss"]))
    with pytest.raises(RunTableError, match="names 'size', which the table lacks"):
        bs.read_runs(path, columns={"size": "params"})
    with pytest.raises(RunTableError, match="maps two columns onto 'params'"):
        bs.read_runs(path, columns={"N": "params", "D": "params"})
    with pytest.raises(RunTableError, match="already has a column 'loss'"):
        bs.read_runs(path, columns={"D": "loss"})


def test_two_candidate_aliases_ask_which(tmp_path):
    path = _write(
        tmp_path, _csv(["params", "tokens", "val_loss", "train_loss"], [(*r, r[2]) for r in ROWS])
    )
    with pytest.raises(RunTableError, match=r"could each be 'loss': say which with --columns"):
        bs.read_runs(path)


def test_every_missing_column_is_named_at_once_with_the_schema_page(tmp_path):
    path = _write(tmp_path, _csv(["width", "depth", "score"]))
    with pytest.raises(RunTableError) as err:
        bs.read_runs(path)
    msg = str(err.value)
    assert "missing required columns 'params'" in msg and "'tokens'" in msg and "'loss'" in msg
    assert "found: width, depth, score" in msg
    assert "--columns YOUR_NAME=params,YOUR_NAME=tokens,YOUR_NAME=loss" in msg
    assert SCHEMA_PAGE in msg and "\n" not in msg


def test_tokens_are_derived_from_steps_and_batch_size(tmp_path):
    rows = [(1e8, 1000, 2e6, 3.1), (4e8, 4000, 2e6, 2.7), (1.6e9, 16000, 2e6, 2.4)]
    runs = bs.read_runs(_write(tmp_path, _csv(["params", "steps", "batch_size", "loss"], rows)))
    np.testing.assert_allclose(runs["tokens"], [2e9, 8e9, 3.2e10])
    assert any("derived 'tokens' as steps × batch_size" in n for n in runs.attrs["notes"])


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_the_separator_is_sniffed(tmp_path, sep):
    runs = bs.read_runs(_write(tmp_path, _csv(["params", "tokens", "loss"], sep=sep)))
    assert len(runs) == 3 and runs["loss"].iloc[0] == 3.1


@pytest.mark.parametrize("name", ["runs.xlsx", "runs.ods", "runs.csv"])
def test_a_spreadsheet_is_refused_with_save_as_csv(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)  # a zip, as .xlsx files are
    with pytest.raises(RunTableError, match=r"is a spreadsheet, not a CSV: save it as CSV"):
        bs.read_runs(path)


def test_repeated_column_names_are_refused(tmp_path):
    path = _write(tmp_path, _csv(["params", "tokens", "loss", "loss"], [(*r, r[2]) for r in ROWS]))
    with pytest.raises(RunTableError, match=r"'loss' appears more than once in the header"):
        bs.read_runs(path)
    frame = pd.DataFrame([[1e8, 2e9, 3.1, 3.0]], columns=["params", "tokens", "loss", "loss"])
    with pytest.raises(RunTableError, match="give each column its own name"):
        bs.validate_runs(frame)


def test_counts_in_millions_warn(tmp_path):
    # params in millions and tokens in billions: 100, 400, 1600 and 2, 8, 32
    rows = [(r[0] / 1e6, r[1] / 1e9, r[2]) for r in ROWS]
    path = _write(tmp_path, _csv(["params", "tokens", "loss"], rows))
    with pytest.warns(UnitsWarning) as record:
        bs.read_runs(path)
    messages = [str(w.message) for w in record]
    assert any("largest 'params' is 1600" in m and "millions or billions" in m for m in messages)
    assert any("largest 'tokens' is 32" in m and "give raw counts" in m for m in messages)


def test_raw_counts_do_not_warn(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bs.read_runs(_write(tmp_path, _csv(["params", "tokens", "loss"])))


def test_map_columns_leaves_a_schema_table_alone():
    frame = pd.DataFrame({"params": [1e8], "tokens": [2e9], "loss": [3.0], "N": [5.0]})
    out = map_columns(frame)
    assert list(out.columns) == ["params", "tokens", "loss", "N"] and "notes" not in out.attrs


def test_a_kaplan_law_on_total_counts_warns():
    runs = bs.validate_runs(
        pd.DataFrame(
            {"params": [1e8, 4e8, 1.6e9], "tokens": [2e9, 8e9, 3.2e10], "loss": [3.1, 2.7, 2.4]}
        )
    )
    with pytest.warns(ConventionWarning, match="defined on non-embedding parameters"):
        bs.ScalingModel("kaplan").prepare(runs)
    runs.attrs["params_kind"] = "non_embedding"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bs.ScalingModel("kaplan").prepare(runs)
        bs.ScalingModel("chinchilla").prepare(runs.assign())


def test_law_and_spec_that_disagree_are_refused(capsys):
    with pytest.raises(SpecError, match="law 'kaplan' conflicts with spec 'chinchilla'"):
        bs.ScalingModel("chinchilla", law="kaplan")
    code = main(
        ["fit", "--data", "x.csv", "--law", "kaplan", "--spec", "chinchilla", "--out", "f.nc"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "conflicts with spec 'chinchilla'" in err and "give one of them" in err


def test_cli_fit_reads_a_users_table_and_states_units(tmp_path, capsys):
    """`fit --columns` on a semicolon file in bits per byte; `summary` prints the units."""
    runs = bs.load_dataset("runner_cpu")
    table = pd.DataFrame(
        {"Parameters": runs["params"], "toks": runs["tokens"], "bpb": runs["loss"] / np.log(2)}
    )
    path = tmp_path / "mine.csv"
    table.to_csv(path, sep=";", index=False)
    fit = tmp_path / "fit.nc"
    code = main(
        [
            "fit",
            "--data",
            str(path),
            "--columns",
            "toks=tokens,bpb=loss",
            "--loss-unit",
            "bits_per_byte",
            "--draws",
            "100",
            "--tune",
            "100",
            "--chains",
            "1",
            "--seed",
            "1",
            "--sampler",
            "pymc",
            "--out",
            str(fit),
        ]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    assert "note: read column 'Parameters' as 'params'" in err
    assert "units: loss in bits per byte; params count total parameters" in err
    assert main(["summary", str(fit)]) == 0
    out = capsys.readouterr().out
    assert "units: loss in bits per byte; params count total parameters" in out.splitlines()[1]
