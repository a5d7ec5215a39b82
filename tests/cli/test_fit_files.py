"""Saved fits carry checksums of every group; temporary files never outlive a write; plain
progress lines; ``summary`` repeats the diagnostics warning; ``compare`` checks its inputs
before loading any posterior (issue 17, items 3, 4 and 6).
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import warnings

import h5py
import numpy as np
import pytest

from bayescale._atomic import atomic_path, remove_stale_temporaries
from bayescale._progress import Progress
from bayescale.cli import main
from bayescale.exceptions import ConvergenceWarning, FitFileError
from bayescale.modeling import _container
from bayescale.modeling.fit import load_fit
from bayescale.testing import fake_fit, synthetic_runs


@pytest.fixture
def fit_file(tmp_path):
    return fake_fit("chinchilla", draws=60).save(tmp_path / "fit.nc")


def run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


# ----------------------------------------------------------------------------- checksums
def test_a_saved_fit_loads_and_resaves(fit_file, tmp_path):
    fit = load_fit(fit_file)
    again = load_fit(fit.save(tmp_path / "again.nc"))
    np.testing.assert_array_equal(again.posterior["E"], fit.posterior["E"])


@pytest.mark.parametrize(
    ("variable", "group"),
    [("posterior/alpha", "'posterior' group"), ("sample_stats/diverging", "'sample_stats' group")],
)
def test_an_edited_value_is_refused_naming_the_group(fit_file, variable, group):
    with h5py.File(fit_file, "r+") as f:
        values = f[variable][()]
        values.flat[7] = values.flat[7] * 1.0001 if values.dtype.kind == "f" else 1
        f[variable][...] = values
    with pytest.raises(FitFileError, match=f"the {group} failed its checksum"):
        load_fit(fit_file)


def test_an_edited_attribute_is_refused(fit_file):
    with h5py.File(fit_file, "r+") as f:
        f.attrs["info"] = f.attrs["info"].replace('"scales": {"', '"scales": {"x": 1.0, "')
    with pytest.raises(FitFileError, match="root attributes failed its checksum"):
        load_fit(fit_file)


def test_a_removed_or_added_group_is_refused(fit_file, tmp_path):
    fit = load_fit(fit_file)
    _container.add_group(fit.tree, "log_likelihood", fit.posterior[["E"]].rename(E="log_loss"))
    path = fit.save(tmp_path / "with_ll.nc")
    with h5py.File(path, "r+") as f:
        del f["log_likelihood"]
    with pytest.raises(FitFileError, match="'log_likelihood' group is missing"):
        load_fit(path)


@pytest.mark.parametrize("keep", [0.3, 0.7, 0.95])
def test_a_truncated_fit_is_refused(fit_file, keep):
    data = fit_file.read_bytes()
    fit_file.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(FitFileError, match=r"cannot be read as a fit file|failed its checksum"):
        load_fit(fit_file)


def test_a_fit_without_checksums_is_refused(fit_file):
    with h5py.File(fit_file, "r+") as f:
        del f.attrs["checksums_sha256"]
    with pytest.raises(FitFileError, match="carries no checksums"):
        load_fit(fit_file)


# ----------------------------------------------------------------------------- temporaries
def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    from bayescale._atomic import _host

    target = tmp_path / "fit.nc"
    dead = tmp_path / f".fit.nc.{_host()}.{_dead_pid()}.abc123.tmp"
    alive = tmp_path / f".fit.nc.{_host()}.1.def456.tmp"  # pid 1 always runs
    other_host = tmp_path / f".fit.nc.elsewhere.{_dead_pid()}.ghi789.tmp"
    other_file = tmp_path / f".notes.txt.{_host()}.{_dead_pid()}.jkl012.tmp"
    for p in (dead, alive, other_host, other_file):
        p.write_bytes(b"")
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert not dead.exists()
    assert alive.exists() and other_host.exists() and other_file.exists()
    assert remove_stale_temporaries(target) == []


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt, SystemExit])
def test_an_interrupted_write_leaves_no_temporary_and_the_old_file(tmp_path, error):
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(error), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise error()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]
    assert target.read_text() == "old"


def test_sigterm_during_a_command_exits_143_and_cleans_up(tmp_path, monkeypatch, capsys):
    import bayescale.cli.summary as summary

    def hangs_up(args):
        with atomic_path(tmp_path / "out.txt") as tmp:
            tmp.write_text("partial")
            os.kill(os.getpid(), signal.SIGTERM)
            raise AssertionError("SIGTERM did not interrupt")  # pragma: no cover
        return 0  # pragma: no cover

    monkeypatch.setattr(summary, "run", hangs_up)
    before = signal.getsignal(signal.SIGTERM)
    code, _, err = run(["summary", "x.nc"], capsys)
    assert code == 143 and "terminated" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) == before


# ----------------------------------------------------------------------------- progress
def test_progress_lines_every_few_seconds():
    times = iter([0.0, 1.0, 2.0, 6.0, 7.0, 12.0])
    out = io.StringIO()
    p = Progress("fit", 1000, unit="draws", every=5.0, stream=out, clock=times.__next__)
    p.update(0)  # t=1: compiling, nothing to say yet
    p.update(100, divergences=0)  # t=2: first work; too soon for a line
    p.update(300, divergences=2)  # t=6: a line; 200 draws in 4 s -> 700 left in 14 s
    p.update(400, divergences=2)  # t=7: too soon
    p.update(1000, divergences=3)  # t=12: done
    lines = out.getvalue().splitlines()
    assert lines == [
        "bayescale: fit: 300/1000 draws (30%), 2 divergences, 6 s elapsed, about 14 s left",
        "bayescale: fit: 1000/1000 draws (100%), 3 divergences, 12 s elapsed",
    ]


def test_progress_every_only_without_a_terminal(monkeypatch):
    from bayescale.cli._common import progress_every

    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert progress_every() == 5.0 and progress_every(quiet=True) is None
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert progress_every() is None


# ----------------------------------------------------------------------------- summary
def test_summary_repeats_the_convergence_warning(tmp_path, capsys):
    fit = fake_fit("chinchilla", draws=60)
    stats = fit.sample_stats.copy()
    stats["diverging"][0, :3] = True
    _container.add_group(fit.tree, "sample_stats", stats)
    path = fit.save(tmp_path / "bad.nc")
    for extra in ([], ["--json"]):
        code, _, err = run(["summary", path, *extra], capsys)
        assert code == 0
        assert "WARNING: this fit failed its diagnostics" in err
        assert "3 divergent transition(s)" in err


def test_summary_says_one_chain_has_no_rhat(tmp_path, capsys):
    path = fake_fit("chinchilla", chains=1, draws=500).save(tmp_path / "one.nc")
    code, out, err = run(["summary", path], capsys)
    assert code == 0 and "R-hat not computable (one chain)" in out
    assert "R-hat cannot be computed from one chain" in err


# ----------------------------------------------------------------------------- compare
@pytest.fixture
def no_posterior_loads(monkeypatch):
    import bayescale.modeling.fit as fit_module

    def refuse(path):
        raise AssertionError(f"loaded the posterior of {path}")

    monkeypatch.setattr(fit_module, "load_fit", refuse)


def test_compare_refuses_one_fit(fit_file, capsys):
    code, _, err = run(["compare", fit_file], capsys)
    assert code == 2 and "needs two or more fits, got 1" in err


def test_compare_refuses_the_same_fit_twice(fit_file, tmp_path, capsys, no_posterior_loads):
    copy = tmp_path / "copy.nc"
    copy.write_bytes(fit_file.read_bytes())
    for pair in ([fit_file, fit_file], [fit_file, copy]):
        code, _, err = run(["compare", *pair], capsys)
        assert code == 2 and "are the same fit" in err, err


def test_compare_checks_the_tables_before_loading(tmp_path, capsys, no_posterior_loads):
    a = fake_fit("chinchilla", draws=60, runs=synthetic_runs("chinchilla", n=30, seed=1))
    b = fake_fit("chinchilla", draws=60, seed=1, runs=synthetic_runs("chinchilla", n=40, seed=2))
    pa, pb = a.save(tmp_path / "a.nc"), b.save(tmp_path / "b.nc")
    code, _, err = run(["compare", pa, pb], capsys)
    assert code == 2 and "fits of the same losses" in err and "40 runs" in err


# ----------------------------------------------------------------------------- big tables
def test_log_likelihood_is_computed_on_demand_when_not_stored(tmp_path):
    from bayescale.modeling.model import ScalingModel

    runs = synthetic_runs("chinchilla", n=30, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 60 draws: a shape test only
        fit = ScalingModel("chinchilla").fit(
            runs, draws=60, tune=60, chains=2, random_seed=3, log_likelihood=True
        )
    stored = fit.tree["log_likelihood"].to_dataset()["log_loss"]
    del fit.tree["log_likelihood"]
    lean = load_fit(fit.save(tmp_path / "lean.nc"))
    assert "log_likelihood" not in lean.tree.children
    got = lean.ensure_log_likelihood()["log_loss"]
    np.testing.assert_allclose(got.values, stored.transpose(*got.dims).values, rtol=1e-9)


def test_a_table_over_max_rows_is_refused_before_sampling(tmp_path, capsys, monkeypatch):
    import bayescale.modeling.sampling as sampling

    monkeypatch.setattr(sampling, "run_nuts", lambda *a, **k: pytest.fail("sampled"))
    data = tmp_path / "runs.csv"
    synthetic_runs("chinchilla", n=50, seed=1).to_csv(data, index=False)
    code, _, err = run(
        ["fit", "--data", data, "--max-rows", 20, "--out", tmp_path / "o.nc", "--quiet"], capsys
    )
    assert code == 2 and "50 runs, more than --max-rows 20" in err
    assert "aggregate repeated configurations" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.csv"]
