import numpy as np
import pymc as pm
import pytest

from bayescale.exceptions import SpecError
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


def test_sampler_names():
    assert resolve_sampler("auto") in {"nutpie", "pymc"}
    with pytest.raises(SpecError, match="unknown sampler"):
        resolve_sampler("emcee")
