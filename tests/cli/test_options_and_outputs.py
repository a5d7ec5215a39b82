"""Options are validated at parse time and output paths before any work (issue 17, items 1-2)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bayescale.cli import main
from bayescale.cli._common import check_output, is_fit_file
from bayescale.exceptions import BayescaleError
from bayescale.testing import fake_fit


@pytest.fixture(scope="module")
def fit_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("fit") / "fit.nc"
    fake_fit("chinchilla", draws=40).save(path)
    return path


def run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("bayescale: error:"), err
    assert "Traceback" not in err
    return lines[0]


BAD_OPTIONS = [
    (
        ["fit", "--data", "x.csv", "--draws", "0", "--out", "o.nc"],
        "--draws: must be an integer >= 1",
    ),
    (["fit", "--data", "x.csv", "--draws=-5", "--out", "o.nc"], "--draws: must be an integer >= 1"),
    (["fit", "--data", "x.csv", "--tune", "0", "--out", "o.nc"], "--tune: must be an integer >= 1"),
    (["fit", "--data", "x.csv", "--chains", "0", "--out", "o.nc"], "--chains: must be an integer"),
    (
        ["fit", "--data", "x.csv", "--seed", "-1", "--out", "o.nc"],
        "--seed: must be an integer from 0",
    ),
    (["fit", "--data", "x.csv", "--seed", "1e3", "--out", "o.nc"], "--seed: expected an integer"),
    (["fit", "--data", "x.csv", "--draws", "ten", "--out", "o.nc"], "--draws: expected an integer"),
    (
        ["predict", "FIT", "--params", "-70e9", "--tokens", "1e12", "--out", "p.csv"],
        "--params: must be positive",
    ),
    (
        ["predict", "FIT", "--params", "7e10", "--tokens", "-1.4E+12", "--out", "p.csv"],
        "--tokens: must be positive",
    ),
    (
        ["predict", "FIT", "--params", "nan", "--tokens", "1e12", "--out", "p.csv"],
        "--params: expected a finite",
    ),
    (
        ["predict", "FIT", "--params", "1e9", "--tokens", "1e12", "--ci", "1", "--out", "p.csv"],
        "--ci: must be between 0 and 1",
    ),
    (["allocate", "FIT", "--flops", "-1e23", "--out", "a.csv"], "--flops: must be positive"),
    (["allocate", "FIT", "--flops", "0", "--out", "a.csv"], "--flops: must be positive"),
    (
        ["allocate", "FIT", "--flops", "1e23", "--inference-tokens", "-1", "--out", "a.csv"],
        "--inference-tokens: must be >= 0",
    ),
    (
        ["decide", "FIT", "--flops", "1e23", "--risk-quantile", "0"],
        "--risk-quantile: must be between",
    ),
    (["decide", "FIT", "--target-loss", "-2"], "--target-loss: must be positive"),
    (["report", "FIT", "--ci", "0", "--out", "r.html"], "--ci: must be between 0 and 1"),
    (["summary", "FIT", "--ci", "-0.5"], "--ci: must be between 0 and 1"),
    (["compare", "FIT", "FIT", "--draws", "0"], "--draws: must be an integer >= 1"),
    (
        ["compare", "FIT", "FIT", "--method", "extrapolation", "--threshold", "-1e20"],
        "--threshold: must be positive",
    ),
    (["demo", "--chains", "-2"], "--chains: must be an integer >= 1"),
]


@pytest.mark.parametrize(("args", "needle"), BAD_OPTIONS)
def test_bad_numbers_are_one_line_at_parse_time(
    fit_file, tmp_path, monkeypatch, capsys, args, needle
):
    monkeypatch.chdir(tmp_path)
    args = [str(fit_file) if a == "FIT" else a for a in args]
    code, _, err = run(args, capsys)
    assert code == 2
    assert needle in one_line(err)
    assert sorted(os.listdir(tmp_path)) == []  # nothing written


def test_existing_unrelated_file_is_not_overwritten(fit_file, tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    code, _, err = run(
        ["predict", fit_file, "--params", 1e9, "--tokens", 1e11, "--out", notes], capsys
    )
    assert code == 2 and "exists; use --force" in one_line(err)
    assert notes.read_text() == "my notes\n"
    code, _, err = run(
        ["predict", fit_file, "--params", 1e9, "--tokens", 1e11, "--out", notes, "--force"], capsys
    )
    assert code == 0, err
    assert "loss_median" in notes.read_text() and "overwriting" in err


@pytest.mark.parametrize(
    "args",
    [
        ["report", "FIT", "--out", "FIT"],
        ["report", "FIT", "--out", "FIT", "--force"],
        ["predict", "FIT", "--params", "1e9", "--tokens", "1e11", "--out", "FIT", "--force"],
        ["allocate", "FIT", "--flops", "1e21", "--out", "FIT", "--force"],
        ["decide", "FIT", "--flops", "1e21", "--out", "FIT", "--force"],
    ],
)
def test_output_never_replaces_an_input(fit_file, capsys, args):
    before = fit_file.read_bytes()
    code, _, err = run([str(fit_file) if a == "FIT" else a for a in args], capsys)
    assert code == 2 and "is an input of this command" in one_line(err)
    assert fit_file.read_bytes() == before


def test_fit_output_same_as_data_is_refused(tmp_path, capsys):
    data = tmp_path / "runs.csv"
    data.write_text("params,tokens,loss\n1e6,1e8,4.0\n")
    code, _, err = run(["fit", "--data", data, "--out", data, "--force"], capsys)
    assert code == 2 and "is an input" in one_line(err)
    assert data.read_text() == "params,tokens,loss\n1e6,1e8,4.0\n"


def test_folder_output_is_refused(fit_file, tmp_path, capsys):
    code, _, err = run(["report", fit_file, "--out", tmp_path], capsys)
    assert code == 2 and "is a folder" in one_line(err)
    code, _, err = run(["fit", "--data", "x", "--out", tmp_path], capsys)
    assert code == 2 and "is a folder" in one_line(err)


def _unwritable_folder(tmp_path: Path) -> Path:
    if os.geteuid() == 0:  # root writes through permission bits; sysfs refuses new files
        if not Path("/sys").is_dir():
            pytest.skip("running as root without /sys: no unwritable folder to test")
        return Path("/sys")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


def test_unwritable_folder_is_refused_before_work(tmp_path, capsys):
    folder = _unwritable_folder(tmp_path)
    code, _, err = run(["fit", "--data", "no-such-dataset", "--out", folder / "fit.nc"], capsys)
    assert code == 2 and "cannot write in" in one_line(err)  # not the unknown dataset


def test_parent_that_is_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    code, _, err = run(["fit", "--data", "x", "--out", tmp_path / "file" / "fit.nc"], capsys)
    assert code == 2 and "is not a folder" in one_line(err)


def test_a_fit_may_be_replaced_by_a_fit_and_it_is_stated(fit_file, tmp_path):
    assert is_fit_file(fit_file)
    assert "replacing the existing fit" in (check_output(str(fit_file), kind="fit") or "")
    other = tmp_path / "other.nc"
    other.write_bytes(b"\x89HDF\r\n\x1a\n not a fit")
    assert not is_fit_file(other)
    with pytest.raises(BayescaleError, match="exists; use --force"):
        check_output(str(other), kind="fit")


def test_demo_folder_checks_its_files(tmp_path, capsys):
    (tmp_path / "report.html").write_text("<p>mine</p>")
    code, _, err = run(["demo", "--out", tmp_path], capsys)
    assert code == 2 and "report.html: exists; use --force" in one_line(err)
    (tmp_path / "notes").write_text("x")
    code, _, err = run(["demo", "--out", tmp_path / "notes"], capsys)
    assert code == 2 and "is not a folder" in one_line(err)
