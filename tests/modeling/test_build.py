import numpy as np
import pandas as pd
import pytest

from bayescale.data import validate_runs
from bayescale.exceptions import RunTableError
from bayescale.laws import get_law
from bayescale.modeling.build import build_model
from bayescale.modeling.spec import load_spec
from bayescale.testing import synthetic_runs


def _point(model, law, values, scales):
    """Unconstrained-free-variable point that reproduces given law parameter values."""
    point = {}
    for p, pf in law.prefactors.items():
        power = values[pf.exponent] if pf.exponent else 1.0
        point[f"log_{p}_ref"] = np.log(values[p]) - power * np.log(scales[pf.input])
    for p in law.params:
        if p not in law.prefactors:
            point[p] = values[p]
    point["sigma"] = 0.02
    return point


@pytest.mark.parametrize("name", ["chinchilla", "kaplan"])
def test_graph_mean_equals_numpy_law(name):
    """The PyMC graph (prefactor deterministics and the likelihood's mean) equals the numpy law."""
    import pytensor.tensor as pt
    from pytensor.graph.replace import graph_replace

    law = get_law(name)
    runs = synthetic_runs(name, n=25, seed=3)
    # the reference geometry (the anchored one is checked against it in test_anchored.py)
    model, info = build_model(load_spec(name).with_options(geometry="reference"), runs)
    values = dict(law.published)
    point = _point(model, law, values, info.scales)
    replace = {rv: pt.constant(np.asarray(point[rv.name], dtype=float)) for rv in model.free_RVs}
    log_mu = model["log_loss"].owner.inputs[-2]  # (rng, size, [nu,] mu, sigma)
    outputs = graph_replace([*(model[p] for p in law.prefactors), log_mu], replace, strict=False)
    got = [o.eval() for o in outputs]
    for p, v in zip(law.prefactors, got, strict=False):
        assert float(v) == pytest.approx(values[p], rel=1e-10)
    mean = law(**{k: runs[k].to_numpy() for k in law.inputs}, **values)
    np.testing.assert_allclose(got[-1], np.log(mean), rtol=1e-10)


def test_prefactor_prior_is_the_spec_prior_on_the_prefactor():
    """log A = log A_ref + alpha log N0 must have the spec's Normal(mu, sigma) distribution."""
    import pymc as pm

    runs = synthetic_runs("chinchilla", n=20, seed=1)
    spec = load_spec("chinchilla").with_options(geometry="reference")
    model, _ = build_model(spec, runs)
    prior = pm.sample_prior_predictive(draws=4000, model=model, random_seed=2, var_names=["A"])
    log_a = np.log(prior.prior["A"].values.ravel())
    assert log_a.mean() == pytest.approx(spec.priors["A"].kwargs["mu"], abs=0.15)
    assert log_a.std() == pytest.approx(spec.priors["A"].kwargs["sigma"], rel=0.08)


def test_missing_input_column_is_named():
    runs = validate_runs(
        pd.DataFrame({"params": [1e8, 2e8, 4e8], "tokens": [1e9] * 3, "loss": [3.0, 2.9, 2.8]})
    )
    with pytest.raises(RunTableError, match="'unique_tokens'"):
        build_model(
            load_spec("chinchilla").__class__.from_dict(
                {
                    **load_spec("chinchilla").to_dict(),
                    "law": "data_constrained",
                    "priors": {
                        **load_spec("chinchilla").to_dict()["priors"],
                        "R_star": {"dist": "LogNormal", "mu": 2.7, "sigma": 0.5},
                    },
                }
            ),
            runs,
        )


@pytest.mark.parametrize(
    "name", ["chinchilla", "kaplan", "kaplan_n", "kaplan_d", "kaplan_c", "data_constrained"]
)
def test_every_loss_law_spec_builds_and_has_finite_logp(name):
    spec = load_spec(name)
    runs = synthetic_runs(name, n=15, seed=4)
    model, _ = build_model(spec, runs)
    logp = model.compile_logp()(model.initial_point())
    assert np.isfinite(logp)
    for p in get_law(name).params:
        assert p in model.named_vars  # posterior names are the law's keywords
