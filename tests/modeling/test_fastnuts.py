"""The fast sampler path (issue 20): nutpie's compiled core driven without nutpie's Python layer.

The cheap tests check, for a model of every law family, that the kernels handed to the sampler
are the model's own log density, gradient, trace variables and pointwise log-likelihood (the
posterior is then the one PyMC's NUTS samples), that a nutpie of another version is never
driven this way, and that one real fit agrees with PyMC's own NUTS. The slow test compares
full default-size fits with PyMC's NUTS.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from bayescale.exceptions import ConvergenceWarning
from bayescale.modeling import _fastnuts, sampling
from bayescale.modeling.model import ScalingModel

pm = pytest.importorskip("pymc")
pytest.importorskip("nutpie")


def _non_embedding(runs: pd.DataFrame) -> pd.DataFrame:
    runs.attrs["params_kind"] = "non_embedding"
    return runs


def _tables() -> dict[str, pd.DataFrame]:
    from bayescale.modeling.families.bcrit import simulate_noise_runs
    from bayescale.modeling.families.optimal_batch import simulate_grid
    from bayescale.testing import simulate_runs
    from tests.modeling.test_curves import curve_rows, tradeoff_rows
    from tests.modeling.test_isoflop import isoflop_runs

    return {
        "chinchilla": simulate_runs("chinchilla", n=30, seed=1),
        "kaplan": _non_embedding(simulate_runs("kaplan", n=30, seed=2)),
        "bcrit": simulate_noise_runs(B_star=3.0e4, alpha_B=0.25, n_runs=3, n_steps=30, seed=3),
        "bcrit_tradeoff": tradeoff_rows(),
        "kaplan_ns_curves": curve_rows(),
        "optimal_batch": simulate_grid(grid=6, seed=4),
        "isoflop": isoflop_runs(5, sizes=6),
    }


TABLES = _tables()


def _model_and_start(law: str):
    sm = ScalingModel(law)
    runs = sm.prepare(TABLES[law])
    from bayescale.modeling.build import build_model
    from bayescale.modeling.fit import _family_initial_values

    model, _ = build_model(sm.spec, runs)
    return model, _family_initial_values(sm.spec, runs, model)


def test_every_law_family_is_covered():
    from bayescale.laws import get_law
    from bayescale.modeling.families import FAMILIES

    assert {get_law(law).family for law in TABLES} == set(FAMILIES)


@pytest.mark.parametrize("law", list(TABLES))
def test_kernels_are_the_models_own_density_trace_and_log_likelihood(law):
    model, initvals = _model_and_start(law)
    fm = _fastnuts.compile_fast(model, sampling.initial_point_function(model, initvals))
    values = [model.rvs_to_values[v] for v in model.free_RVs]
    fast_compile = {"mode": "FAST_COMPILE"}
    logp_ref = model.compile_logp(**fast_compile)
    dlogp_ref = model.compile_dlogp(**fast_compile)
    trace_ref = model.compile_fn(
        model.unobserved_value_vars, inputs=values, on_unused_input="ignore", **fast_compile
    )
    pointwise_ref = model.compile_fn(
        model.logp(vars=model.observed_RVs, sum=False),
        inputs=values,
        on_unused_input="ignore",
        **fast_compile,
    )
    shapes = [np.shape(model.initial_point()[v.name]) for v in values]
    shared = {**fm.shared, **sampling._shared_values(model)}
    rng = np.random.default_rng(0)
    for seed in range(3):
        x = fm.initial_point(seed) + rng.normal(0, 0.05, fm.n_dim)
        point, i = {}, 0
        for v, shape in zip(values, shapes, strict=True):
            size = int(np.prod(shape))
            point[v.name] = x[i : i + size].reshape(shape)
            i += size
        value, grad = fm.logp_fn(x, *[shared[n] for n in fm.logp_names])
        np.testing.assert_allclose(value, logp_ref(point), rtol=1e-10)
        np.testing.assert_allclose(grad, dlogp_ref(point), rtol=1e-8, atol=1e-10)
        outs = dict(
            zip(fm.out_names, fm.expand_fn(x, *[shared[n] for n in fm.expand_names]), strict=True)
        )
        # constrained values and deterministics, as PyMC computes them from the same point
        ref = dict(
            zip([v.name for v in model.unobserved_value_vars], trace_ref(point), strict=True)
        )
        for name in fm.out_names:
            if name in ref:
                np.testing.assert_allclose(outs[name], ref[name], rtol=1e-10)
        for key, arr in zip(fm.loglik, pointwise_ref(point), strict=True):
            np.testing.assert_allclose(outs[key], arr, rtol=1e-10)
    transformed = {
        model.rvs_to_values[rv].name
        for rv in model.free_RVs
        if model.rvs_to_transforms.get(rv) is not None
    }
    assert [n for n in fm.out_names if n not in fm.loglik] == [
        v.name for v in model.unobserved_value_vars if v.name not in transformed
    ]
    assert set(fm.loglik.values()) == {rv.name for rv in model.observed_RVs}


def test_another_nutpie_version_is_never_driven_through_its_private_core(monkeypatch):
    monkeypatch.setattr(_fastnuts, "_LIB", [])
    monkeypatch.setattr(_fastnuts, "_installed_nutpie_version", lambda: "0.17.0")
    assert _fastnuts.load_lib() is None
    monkeypatch.setattr(_fastnuts, "_LIB", [])
    monkeypatch.setattr(_fastnuts, "_installed_nutpie_version", lambda: None)
    assert _fastnuts.load_lib() is None


def test_fallback_to_nutpie_sample_gives_the_same_fit_layout(monkeypatch):
    runs = TABLES["chinchilla"]
    kw = {"draws": 200, "tune": 200, "chains": 2, "random_seed": 3}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fast = ScalingModel("chinchilla").fit(runs, **kw)
        assert fast.tree["sample_stats"].attrs["inference_library"] == "nutpie"
        monkeypatch.setattr(_fastnuts, "_LIB", [None])  # as for an unsupported nutpie
        slow = ScalingModel("chinchilla").fit(runs, **kw)
    for group in ("posterior", "sample_stats", "log_likelihood", "observed_data"):
        a, b = fast.tree[group].to_dataset(), slow.tree[group].to_dataset()
        assert set(a.data_vars) == set(b.data_vars), group
        for name in a.data_vars:
            assert a[name].dims == b[name].dims, (group, name)
            assert a[name].dtype.kind == b[name].dtype.kind or group == "sample_stats"
    # the log-likelihood emitted with the draws is PyMC's pointwise log density
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model = ScalingModel("chinchilla").build(runs)
        ref = pm.compute_log_likelihood(
            fast.tree.copy(), model=model, progressbar=False, extend_inferencedata=False
        )
    np.testing.assert_allclose(
        fast.tree["log_likelihood"]["log_loss"].values,
        ref["log_loss"].values,
        rtol=1e-10,
    )


def _agree(a, b, names, *, z: float = 4.0) -> None:
    """Medians within ``z`` Monte Carlo standard errors of their difference."""
    for name in names:
        xa, xb = a.posterior[name].values.ravel(), b.posterior[name].values.ravel()
        ta, tb = a.summary().loc[name], b.summary().loc[name]
        # MCSE of a median ~ sd * sqrt(pi / 2) / sqrt(ESS)
        se = np.sqrt(np.pi / 2) * np.hypot(
            np.std(xa) / np.sqrt(ta["ess_bulk"]), np.std(xb) / np.sqrt(tb["ess_bulk"])
        )
        assert abs(np.median(xa) - np.median(xb)) < z * se, (name, np.median(xa), np.median(xb), se)


def test_fast_path_samples_the_posterior_pymc_nuts_samples():
    runs = TABLES["chinchilla"]
    kw = {"draws": 400, "tune": 400, "chains": 2, "random_seed": 5}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fast = ScalingModel("chinchilla").fit(runs, **kw)
        ref = ScalingModel("chinchilla").fit(runs, sampler="pymc", **kw)
    _agree(fast, ref, ["E", "A", "B", "alpha", "beta", "sigma"])


def test_a_fast_fit_imports_neither_nutpies_python_layer_nor_arviz(tmp_path):
    code = (
        "import sys, warnings\n"
        "import bayescale as bs\n"
        "from bayescale.testing import simulate_runs\n"
        "warnings.simplefilter('ignore')\n"
        "bs.ScalingModel('chinchilla').fit(simulate_runs(n=20), draws=50, tune=50, chains=1)\n"
        "print(sorted(m for m in ('nutpie', 'nutpie.sample', 'arviz', 'arviz_stats',"
        " 'scipy.stats', 'matplotlib') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.slow
@pytest.mark.parametrize("law", ["chinchilla", "kaplan", "bcrit", "optimal_batch", "isoflop"])
def test_default_fits_agree_with_pymc_nuts(law):
    """At the spec's default settings: same medians within MC error, R-hat <= 1.01, ESS >= 1000."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fast = ScalingModel(law).fit(TABLES[law], random_seed=11)
        ref = ScalingModel(law).fit(TABLES[law], sampler="pymc", random_seed=12)
    d = fast.diagnostics()
    assert d["r_hat_max"] <= 1.01 and d["ess_bulk_min"] >= 1000, d
    names = [n for n in fast.param_names() if fast.posterior[n].ndim == 2]
    _agree(fast, ref, names)
