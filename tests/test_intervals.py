"""The one interval implementation: arrays, named dims, the default mass."""

import numpy as np
import pytest
import xarray as xr

from bayescale.constants import DEFAULT_CI_PROB
from bayescale.exceptions import BayescaleError
from bayescale.intervals import check_ci, eti, eti_dims, interval_bounds


def test_eti_is_the_equal_tailed_quantiles():
    x = np.random.default_rng(0).normal(size=(4, 250, 3))
    got = eti(x, 0.8, axis=(0, 1))
    want = np.quantile(x, [0.1, 0.5, 0.9], axis=(0, 1))
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert got.shape == (3, 3)


def test_none_means_the_default_mass():
    x = np.arange(1001.0)
    np.testing.assert_array_equal(eti(x), eti(x, DEFAULT_CI_PROB))
    assert check_ci(None) == DEFAULT_CI_PROB
    assert interval_bounds() == interval_bounds(DEFAULT_CI_PROB)


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 1.5, float("nan")])
def test_a_mass_outside_the_unit_interval_is_refused(bad):
    with pytest.raises(BayescaleError, match="ci_prob must be between 0 and 1"):
        eti(np.arange(10.0), bad)


def test_nan_draws_propagate_unless_skipped():
    x = np.array([1.0, 2.0, np.nan, 4.0])
    assert np.isnan(eti(x)).all()
    np.testing.assert_allclose(eti(x, skipna=True), np.nanquantile(x, [0.05, 0.5, 0.95]))


def test_eti_dims_reduces_only_the_named_dims_and_keeps_coords():
    rng = np.random.default_rng(1)
    da = xr.DataArray(
        rng.normal(size=(2, 100, 4)),
        dims=("chain", "draw", "flops"),
        coords={"flops": [1e20, 1e21, 1e22, 1e23]},
    )
    q = eti_dims(da, 0.5)
    assert list(q.data_vars) == ["median", "lower", "upper"]
    assert q["median"].dims == ("flops",)
    np.testing.assert_array_equal(q["flops"].values, da["flops"].values)
    want = da.quantile([0.25, 0.5, 0.75], dim=["chain", "draw"])
    np.testing.assert_allclose(q["lower"], want.sel(quantile=0.25), rtol=1e-12)
    np.testing.assert_allclose(q["upper"], want.sel(quantile=0.75), rtol=1e-12)
    assert (q["lower"] < q["median"]).all() and (q["median"] < q["upper"]).all()


def test_eti_dims_without_sample_dims_is_the_value_itself():
    da = xr.DataArray([1.0, 2.0], dims="point")
    q = eti_dims(da)
    for part in ("lower", "median", "upper"):
        np.testing.assert_array_equal(q[part], da)
