import json
import warnings

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.exceptions import ConvergenceWarning, FitFileError, RunTableError
from bayescale.modeling.fit import load_fit
from bayescale.testing import fake_fit


def test_epoch_fit_recovers_epoch_estimates(epoch_fit):
    """Even the small shared fit lands near Epoch's point estimates (tolerant check)."""
    table = epoch_fit.summary()
    assert 1.76 < table.loc["E", "median"] < 1.88
    assert 0.31 < table.loc["alpha", "median"] < 0.38
    assert 0.32 < table.loc["beta", "median"] < 0.42
    assert len(epoch_fit.runs) == 240  # the 5 flagged outliers are excluded, not lost
    assert epoch_fit.runs.attrs["outliers_excluded"] == 5
    assert set(epoch_fit.tree.children) >= {
        "posterior",
        "sample_stats",
        "log_likelihood",
        "observed_data",
    }
    ll = epoch_fit.tree["log_likelihood"]["log_loss"]
    assert ll.sizes["run"] == 240


def test_summary_columns_and_interval_mass(fake_chinchilla_fit):
    t90 = fake_chinchilla_fit.summary()
    t50 = fake_chinchilla_fit.summary(ci_prob=0.5)
    assert list(t90.columns) == [
        "median",
        "lower",
        "upper",
        "mean",
        "sd",
        "r_hat",
        "ess_bulk",
        "ess_tail",
    ]
    assert list(t90.index) == ["E", "A", "B", "alpha", "beta", "sigma"]
    assert (t90["lower"] < t50["lower"]).all() and (t90["upper"] > t50["upper"]).all()
    assert (t90["lower"] < t90["median"]).all() and (t90["median"] < t90["upper"]).all()


def test_convergence_warning_is_loud_on_bad_chains():
    fit = fake_fit("chinchilla", draws=100)
    from bayescale.modeling import _container

    post = fit.posterior.copy(deep=True)
    post["alpha"].values[1] += 0.2  # second chain elsewhere: R-hat far above 1.01
    _container.add_group(fit.tree, "posterior", post)
    with pytest.warns(ConvergenceWarning, match="R-hat"):
        problems = fit.check_convergence()
    assert any("R-hat" in p for p in problems)


def test_save_load_round_trip_keeps_provenance(tmp_path, epoch_fit):
    path = epoch_fit.save(tmp_path / "fit.nc")
    again = load_fit(path)
    assert again.spec == epoch_fit.spec
    assert again.tree.attrs["dataset"] == "epoch_chinchilla"
    assert again.tree.attrs["dataset_sha256"].startswith("193478df")
    assert again.tree.attrs["bayescale_version"] == bs.__version__
    pd.testing.assert_frame_equal(
        again.runs.reset_index(drop=True),
        epoch_fit.runs.reset_index(drop=True),
        check_dtype=False,
    )
    np.testing.assert_array_equal(
        again.posterior["alpha"].values, epoch_fit.posterior["alpha"].values
    )
    pd.testing.assert_frame_equal(again.summary(), epoch_fit.summary())
    assert not list(tmp_path.glob(".*tmp"))  # atomic write left nothing behind


def test_load_refuses_corrupt_and_tampered_files(tmp_path):
    fit = fake_fit("chinchilla", draws=20)
    good = fit.save(tmp_path / "good.nc")
    blob = bytearray(good.read_bytes())
    broken = tmp_path / "broken.nc"
    broken.write_bytes(bytes(blob[: len(blob) // 2]))
    with pytest.raises(FitFileError, match=r"broken\.nc"):
        load_fit(broken)
    (tmp_path / "text.nc").write_text("hello")
    with pytest.raises(FitFileError, match="cannot be read"):
        load_fit(tmp_path / "text.nc")
    with pytest.raises(FitFileError, match="no such fit file"):
        load_fit(tmp_path / "missing.nc")
    # tamper with the stored spec: the id no longer matches
    import xarray as xr

    tree = xr.open_datatree(good, engine="h5netcdf").load()
    spec = json.loads(tree.attrs["spec"])
    spec["priors"]["alpha"]["mu"] = 0.5
    tree.attrs["spec"] = json.dumps(spec, sort_keys=True)
    tree.to_netcdf(tmp_path / "tampered.nc", engine="h5netcdf")
    with pytest.raises(FitFileError, match="does not match its id"):
        load_fit(tmp_path / "tampered.nc")


def test_fit_rejects_bad_tables_before_sampling():
    model = bs.ScalingModel("chinchilla")
    with pytest.raises(RunTableError, match="'loss'"):
        model.fit(pd.DataFrame({"params": [1e8], "tokens": [1e9], "loss": [np.nan]}))
    with pytest.raises(RunTableError, match="at least 3 runs"):
        model.fit(pd.DataFrame({"params": [1e8, 2e8], "tokens": [1e9] * 2, "loss": [3.0, 2.9]}))


def test_tiny_real_fit_on_synthetic_runs_and_warm_cache():
    runs = bs.testing.synthetic_runs(n=40, seed=5) if hasattr(bs, "testing") else None
    from bayescale.testing import synthetic_runs

    runs = synthetic_runs(n=40, seed=5)
    model = bs.ScalingModel("chinchilla")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = model.fit(runs, draws=200, tune=200, chains=2, random_seed=3)
        b = model.fit(runs, draws=200, tune=200, chains=2, random_seed=3)
    # same seed, same compiled model: identical draws
    np.testing.assert_array_equal(a.posterior["alpha"].values, b.posterior["alpha"].values)
    assert a.summary().loc["alpha", "lower"] < 0.348 < a.summary().loc["alpha", "upper"]
