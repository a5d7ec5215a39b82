import numpy as np
import pymc as pm
import pytest

from bayescale.exceptions import SpecError
from bayescale.modeling import sampling
from bayescale.modeling.sampling import (
    LOW_RANK_MAX_DIM,
    _adaptation,
    _constants_digest,
    resolve_sampler,
)


def _model(offset: float, n: int = 5):
    with pm.Model() as model:
        x = pm.Data("x", np.arange(n, dtype=float))
        mu = pm.Normal("mu", 0.0, 1.0)
        pm.Normal("y", mu + offset * x, 1.0, observed=np.zeros(n))
    return model


def test_models_differing_only_in_a_constant_get_different_cache_keys():
    assert _constants_digest(_model(1.0)) == _constants_digest(_model(1.0))
    assert _constants_digest(_model(1.0)) != _constants_digest(_model(2.0))


def test_adaptation_auto_switches_on_dimension():
    assert _adaptation("auto", 6) == "low_rank"
    assert _adaptation("auto", LOW_RANK_MAX_DIM + 1) == "diag"
    assert _adaptation("diag", 3) == "diag"
    with pytest.raises(SpecError, match="unknown adaptation"):
        _adaptation("dense", 3)


@pytest.mark.parametrize("nutpie", [True, False])
def test_auto_is_the_fastest_installed_sampler(monkeypatch, nutpie):
    real = sampling.importlib.util.find_spec

    def find_spec(name, *args):
        if name == "nutpie":
            return real("pytest") if nutpie else None  # any spec stands for "installed"
        return real(name, *args)

    monkeypatch.setattr(sampling.importlib.util, "find_spec", find_spec)
    expect = ["nutpie", "pymc"] if nutpie else ["pymc"]
    assert sampling.available_samplers() == expect
    assert resolve_sampler("auto") == expect[0]
    assert resolve_sampler("pymc") == "pymc"
    if nutpie:
        assert resolve_sampler("nutpie") == "nutpie"
    else:
        with pytest.raises(SpecError, match="not installed"):
            resolve_sampler("nutpie")


def test_sampler_names():
    with pytest.raises(SpecError, match="unknown sampler"):
        resolve_sampler("emcee")


def _positive_model():
    with pm.Model() as model:
        pm.HalfNormal("s", 1.0)
        pm.Normal("mu", 0.0, 10.0, shape=3)
    return model


def test_data_based_starts_are_jittered_around_the_given_values():
    from bayescale.modeling.sampling import INIT_JITTER, initial_point_function

    start = {"s": np.asarray(0.5), "mu": np.array([3.0, -2.0, 7.0])}
    fn = initial_point_function(_positive_model(), start)
    p1, p2 = fn(1), fn(2)
    assert set(p1) == {"s_log__", "mu"}
    for p in (p1, p2):
        assert np.all(np.abs(p["mu"] - start["mu"]) <= INIT_JITTER)
        assert abs(p["s_log__"] - np.log(0.5)) <= INIT_JITTER
    assert not np.allclose(p1["mu"], p2["mu"])
    np.testing.assert_array_equal(fn(1)["mu"], p1["mu"])  # seeded


def test_default_starts_keep_pymc_jitter():
    from bayescale.modeling.sampling import initial_point_function

    p = initial_point_function(_positive_model())(3)
    assert np.all(np.abs(p["mu"]) <= 1.0) and np.any(np.abs(p["mu"]) > 0.1)


def test_starting_values_are_part_of_the_compile_cache_key():
    from bayescale.modeling.sampling import _initvals_digest

    assert _initvals_digest(None) == _initvals_digest({})
    assert _initvals_digest({"mu": np.zeros(3)}) != _initvals_digest({"mu": np.ones(3)})
