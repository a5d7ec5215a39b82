import json

import pandas as pd
import pytest

from bayescale.cli import main
from bayescale.testing import fake_fit, synthetic_runs


def run_cli(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_summary_json_shape(tmp_path, capsys):
    path = fake_fit("chinchilla", draws=100).save(tmp_path / "f.nc")
    code, out, err = run_cli(["summary", str(path), "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert set(data) == {"E", "A", "B", "alpha", "beta", "sigma"}
    for v in data.values():
        assert set(v) == {"median", "lower", "upper", "r_hat", "ess_bulk"}
        assert v["lower"] < v["median"] < v["upper"]


def test_summary_table(tmp_path, capsys):
    path = fake_fit("chinchilla", draws=100).save(tmp_path / "f.nc")
    code, out, _ = run_cli(["summary", str(path)], capsys)
    assert code == 0 and "alpha" in out and "R-hat" in out


def test_fit_from_csv_end_to_end(tmp_path, capsys):
    csv = tmp_path / "runs.csv"
    synthetic_runs(n=30, seed=2).to_csv(csv, index=False)
    out = tmp_path / "fit.nc"
    code, _, err = run_cli(
        [
            "fit",
            "--data",
            str(csv),
            "--law",
            "chinchilla",
            "--seed",
            "1",
            "--draws",
            "150",
            "--tune",
            "150",
            "--chains",
            "2",
            "--out",
            str(out),
        ],
        capsys,
    )
    assert code == 0, err
    assert out.exists() and "saved" in err


def _bad(tmp_path, name, frame):
    p = tmp_path / name
    frame.to_csv(p, index=False)
    return str(p)


@pytest.mark.parametrize(
    ("case", "frame", "needle"),
    [
        (
            "zero_params",
            pd.DataFrame({"params": [1e8, 0.0, 3e8], "tokens": [1e9] * 3, "loss": [3.0, 2.9, 2.8]}),
            "column 'params', row 1",
        ),
        (
            "neg_params",
            pd.DataFrame(
                {"params": [1e8, -2e8, 3e8], "tokens": [1e9] * 3, "loss": [3.0, 2.9, 2.8]}
            ),
            "column 'params', row 1",
        ),
        (
            "nan_loss",
            pd.DataFrame(
                {"params": [1e8, 2e8, 3e8], "tokens": [1e9] * 3, "loss": [3.0, None, 2.8]}
            ),
            "column 'loss', row 1",
        ),
        (
            "no_tokens",
            pd.DataFrame({"params": [1e8, 2e8, 3e8], "loss": [3.0, 2.9, 2.8]}),
            "missing required column 'tokens'",
        ),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(tmp_path, capsys, case, frame, needle):
    path = _bad(tmp_path, f"{case}.csv", frame)
    code, _, err = run_cli(
        ["fit", "--data", path, "--out", str(tmp_path / "x.nc"), "--quiet"], capsys
    )
    assert code == 2
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1 and needle in lines[0], err
    assert "Traceback" not in err
    assert not (tmp_path / "x.nc").exists()


def test_unknown_dataset_missing_file_and_corrupt_fit(tmp_path, capsys):
    code, _, err = run_cli(["fit", "--data", "epoch_chinchila", "--out", "x.nc", "--quiet"], capsys)
    assert code == 2 and "did you mean 'epoch_chinchilla'" in err
    code, _, err = run_cli(
        ["fit", "--data", str(tmp_path / "nope.csv"), "--out", "x.nc", "--quiet"], capsys
    )
    assert code == 2 and "nope.csv: no such file" in err
    bad = tmp_path / "corrupt.nc"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 64)
    code, _, err = run_cli(["summary", str(bad)], capsys)
    assert code == 2 and "corrupt.nc" in err and len(err.strip().splitlines()) == 1


def test_summary_says_when_diagnostics_fail_and_strict_exits_nonzero(tmp_path, capsys):
    good = fake_fit("chinchilla", draws=600).save(tmp_path / "good.nc")
    code, out, err = run_cli(["summary", str(good), "--strict"], capsys)
    assert code == 0 and "WARNING" not in err and "FAILED" not in out
    # 2 chains x 60 iid draws: bulk ESS about 120, below the 400 required
    bad = fake_fit("chinchilla", draws=60).save(tmp_path / "bad.nc")
    code, out, err = run_cli(["summary", str(bad)], capsys)
    assert code == 0 and "DIAGNOSTICS FAILED" in out
    assert "failed its diagnostics: " in err and "ESS as low as" in err and "Sample longer" in err
    assert run_cli(["summary", str(bad), "--strict"], capsys)[0] == 3
    assert run_cli(["summary", str(bad), "--json", "--strict"], capsys)[0] == 3
