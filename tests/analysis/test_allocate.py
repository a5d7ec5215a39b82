"""Compute-optimal allocations: closed form, numerical optimum, constraints, families, groups."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import xarray as xr

from bayescale.analysis._common import to_frame
from bayescale.analysis.allocate import KAPLAN_ALPHA_B, KAPLAN_B_STAR, allocate, loss_function
from bayescale.exceptions import BayescaleError
from bayescale.laws import (
    Law,
    chinchilla_loss,
    critical_batch,
    effective_data,
    get_law,
    kaplan_loss_nd,
)
from bayescale.modeling import _container
from bayescale.modeling.build import ModelInfo
from bayescale.modeling.fit import Fit
from bayescale.modeling.spec import ModelSpec, Prior
from bayescale.testing import fake_fit

BUDGETS = [1e18, 3e20, 5.76e23, 1e25, 1e27]


def test_numeric_equals_closed_form(fake_chinchilla_fit):
    closed = allocate(fake_chinchilla_fit, flops=BUDGETS, method="closed", kind="mean")
    numeric = allocate(fake_chinchilla_fit, flops=BUDGETS, method="numeric", kind="mean")
    assert closed.attrs["method"] == "closed" and numeric.attrs["method"] == "numeric"
    for name in ("params_opt", "tokens_opt", "tokens_per_param", "loss_opt"):
        rel = np.abs(numeric[name] / closed[name] - 1)
        assert float(rel.max()) < 1e-6, name


def test_closed_form_satisfies_budget_and_is_minimal(fake_chinchilla_fit):
    ds = allocate(fake_chinchilla_fit, flops=BUDGETS, kind="mean")
    assert ds["params_opt"].dims == ("chain", "draw", "flops")
    np.testing.assert_allclose(
        6 * ds["params_opt"] * ds["tokens_opt"],
        ds["flops"].broadcast_like(ds["params_opt"]),
        rtol=1e-12,
    )
    p = fake_chinchilla_fit.posterior
    for factor in (0.99, 1.01):
        n = ds["params_opt"] * factor
        other = chinchilla_loss(
            n, ds["flops"] / (6 * n), **{k: p[k] for k in ("E", "A", "B", "alpha", "beta")}
        )
        assert bool((other > ds["loss_opt"]).all())


def test_numeric_kaplan_matches_its_own_closed_form():
    # minimising (N_c/N)^p + D_c·6N/C over N (p = α_N/α_D) gives N^(p+1) = p·N_c^p·C / (6·D_c)
    fit = fake_fit("kaplan", draws=200)
    ds = allocate(fit, flops=BUDGETS)
    assert ds.attrs["method"] == "numeric"
    p = fit.posterior
    q = p["alpha_N"] / p["alpha_D"]
    flops = ds["flops"]
    expected = (q * p["N_c"] ** q * flops / (6 * p["D_c"])) ** (1 / (q + 1))
    rel = np.abs(ds["params_opt"] / expected - 1)
    assert float(rel.max()) < 1e-6
    loss = kaplan_loss_nd(
        expected, flops / (6 * expected), **{k: p[k] for k in ("N_c", "D_c", "alpha_N", "alpha_D")}
    )
    np.testing.assert_allclose(ds["loss_opt"], loss.transpose(*ds["loss_opt"].dims), rtol=1e-10)


def test_inference_demand_shrinks_the_model(fake_chinchilla_fit):
    base = allocate(fake_chinchilla_fit, flops=1e24, kind="mean")
    served = allocate(fake_chinchilla_fit, flops=1e24, inference_tokens=2e13, kind="mean")
    n, d = served["params_opt"], served["tokens_opt"]
    np.testing.assert_allclose(6 * n * d + 2 * n * 2e13, 1e24, rtol=1e-9)
    assert bool((n < base["params_opt"]).all())
    assert bool((served["tokens_per_param"] > base["tokens_per_param"]).all())
    assert bool((served["loss_opt"] > base["loss_opt"]).all())


def test_unique_token_cap(fake_chinchilla_fit):
    base = allocate(fake_chinchilla_fit, flops=1e24, kind="mean")
    loose = allocate(fake_chinchilla_fit, flops=1e24, unique_tokens=1e15, kind="mean")
    np.testing.assert_allclose(loose["params_opt"], base["params_opt"], rtol=1e-6)
    tight = allocate(fake_chinchilla_fit, flops=1e24, unique_tokens=3e11, kind="mean")
    assert float(tight["epochs_opt"].median()) > 2
    # repeated data is worth less: never a smaller model, never a lower loss
    assert bool((tight["params_opt"] >= base["params_opt"] * (1 - 1e-6)).all())
    assert bool((tight["loss_opt"] >= base["loss_opt"] - 1e-12).all())
    assert float((tight["params_opt"] / base["params_opt"]).median()) > 1.1


def test_loss_function_folds_effective_data():
    law = get_law("chinchilla")
    theta = {"E": 1.8, "A": 480.0, "B": 2000.0, "alpha": 0.35, "beta": 0.36}
    f = loss_function(law, theta, unique_tokens=1e10)
    plain = loss_function(law, theta)
    assert float(f(1e9, 5e9)) == float(plain(1e9, 5e9))  # below the cap: no repetition
    d_eff = effective_data(4e10, 1e10, R_star=15.39)
    assert float(f(1e9, 4e10)) == pytest.approx(float(plain(1e9, d_eff)), rel=1e-12)


def _specless_fake_fit(law_name: str, draws: int = 50) -> Fit:
    """A fake fit for a law without a bundled spec (priors are irrelevant here)."""
    law = get_law(law_name)
    template = fake_fit("chinchilla", draws=draws)
    rng = np.random.default_rng(1)
    post = xr.Dataset(
        {
            p: (("chain", "draw"), v * np.exp(0.05 * rng.standard_normal((2, draws))))
            for p, v in law.published.items()
        },
        coords={"chain": [0, 1], "draw": np.arange(draws)},
    )
    spec = ModelSpec(
        name=law_name,
        law=law_name,
        priors={p: Prior("LogNormal", {"mu": 0.0, "sigma": 1.0}) for p in law.params},
    )
    tree = _container.make_tree({"posterior": post, "sample_stats": template.sample_stats})
    return Fit(tree, spec, template.runs, ModelInfo(law=law_name, scales={}))


def test_data_constrained_law_allocates():
    fit = _specless_fake_fit("data_constrained", draws=100)
    ds = allocate(fit, flops=[1e21, 1e23], unique_tokens=5e10)
    assert bool((ds["tokens_opt"] > 5e10).any())
    assert bool(np.isfinite(ds["loss_opt"]).all())


def test_kaplan_ns_compute_efficient_n_b_s():
    fit = _specless_fake_fit("kaplan_ns")
    ds = allocate(fit, flops=[1e19, 1e21])
    for name in ("batch_opt", "steps_opt"):
        assert name in ds
    n, b, s = ds["params_opt"], ds["batch_opt"], ds["steps_opt"]
    np.testing.assert_allclose(6 * n * b * s, ds["flops"].broadcast_like(n), rtol=1e-6)
    crit = critical_batch(ds["loss_opt"], B_star=KAPLAN_B_STAR, alpha_B=KAPLAN_ALPHA_B)
    np.testing.assert_allclose(b, crit, rtol=1e-9)
    np.testing.assert_allclose(ds["tokens_opt"], b * s, rtol=1e-12)


def test_table_columns(fake_chinchilla_fit):
    table = to_frame(allocate(fake_chinchilla_fit, flops=[1e21, 1e23], ci_prob=0.8))
    names = ("params_opt", "tokens_opt", "tokens_per_param", "loss_opt")
    expected = ["flops"] + [f"{n}_{s}" for n in names for s in ("median", "lower", "upper")]
    assert table.columns.tolist() == expected
    assert table["flops"].tolist() == [1e21, 1e23]
    assert bool((table["params_opt_lower"] < table["params_opt_median"]).all())


@pytest.mark.parametrize(
    ("law", "kwargs", "message"),
    [
        ("kaplan_n", {}, "no parameters/tokens split"),
        ("chinchilla", {"flops": [1e20, -1.0]}, r"flops\[1\]"),
        ("chinchilla", {"inference_tokens": -1.0}, "non-negative"),
        ("chinchilla", {"method": "closed", "inference_tokens": 1e9}, "closed form"),
        ("kaplan", {"method": "closed"}, "closed form"),
        ("chinchilla", {"method": "magic"}, "method"),
    ],
)
def test_errors(law, kwargs, message):
    fit = fake_fit(law, draws=20) if law in ("chinchilla", "kaplan") else _specless_fake_fit(law)
    with pytest.raises(BayescaleError, match=message):
        allocate(fit, **{"flops": 1e21, **kwargs})


def _family_fit():
    post = xr.Dataset(
        {"n_coef": (("chain", "draw"), np.full((2, 10), 0.1))},
        coords={"chain": [0, 1], "draw": np.arange(10)},
    )
    law = Law(
        name="isoflop_test",
        loss=lambda flops, *, n_coef: flops,
        inputs=("flops",),
        params=("n_coef",),
        description="test",
        params_kind="total",
        family="isoflop_test",
    )
    return SimpleNamespace(law=law, posterior=post, info=ModelInfo(law=law.name, scales={}))


def test_family_allocate_contract(monkeypatch):
    import bayescale.modeling.build as build

    def family_allocate(posterior, flops):
        n = posterior["n_coef"] * np.sqrt(flops)
        return {"params_opt": n, "tokens_opt": flops / (6 * n)}

    monkeypatch.setattr(
        build, "family_module", lambda name: SimpleNamespace(allocate=family_allocate)
    )
    ds = allocate(_family_fit(), flops=[1e20, 1e22])
    assert ds.attrs["method"] == "family:isoflop_test"
    np.testing.assert_allclose(ds["tokens_per_param"], ds["tokens_opt"] / ds["params_opt"])
    assert "loss_opt" not in ds
    assert to_frame(ds).columns[0] == "flops"

    monkeypatch.setattr(build, "family_module", lambda name: SimpleNamespace())
    with pytest.raises(BayescaleError, match="provides no compute-optimal allocation"):
        allocate(_family_fit(), flops=1e20)


def test_pooled_allocation_has_group_column():
    from tests.analysis.test_predict import pooled_fit

    ds = allocate(pooled_fit(draws=100), flops=[1e21, 1e23])
    assert set(ds["params_opt"].dims) == {"chain", "draw", "flops", "family"}
    table = to_frame(ds)
    assert table.columns[:2].tolist() == ["flops", "group"]
    assert len(table) == 4


def test_minimizers_handle_invalid_regions():
    from bayescale.analysis._common import minimize_golden, minimize_smooth

    def f(x):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(x > 0, (x - 1.0) ** 2 + 0.5 / x, np.nan)

    # f'(x) = 2(x − 1) − 0.5/x² = 0 at x ≈ 1.17965
    x_star = 1.17965204
    lo, hi = np.full(3, -5.0), np.array([5.0, 8.0, 20.0])
    np.testing.assert_allclose(minimize_smooth(f, lo, hi), x_star, rtol=1e-6)
    np.testing.assert_allclose(minimize_golden(f, lo, hi), x_star, rtol=1e-6)


# ---------------------------------------------------------------------- the law's own error
def _with_law_error(fit: Fit, **scales: float) -> Fit:
    from dataclasses import replace

    from bayescale.modeling.spec import Discrepancy

    like = replace(fit.spec.likelihood, discrepancy=Discrepancy(**scales))
    return Fit(fit.tree, replace(fit.spec, likelihood=like), fit.runs, fit.info)


def _log_width(da: xr.DataArray) -> np.ndarray:
    q = np.log(da).quantile([0.05, 0.95], dim=("chain", "draw"))
    return (q.sel(quantile=0.95) - q.sel(quantile=0.05)).values


def test_law_error_widens_the_optimum_past_the_data(fake_chinchilla_fit):
    from bayescale.analysis.discrepancy import coordinates, draw_law_error

    fit = _with_law_error(fake_chinchilla_fit, params=0.03, tokens=0.03)
    far = [1e24, 1e26]  # 2 and 4 decades past the largest fitted compute (about 1e22)
    mean = allocate(fit, flops=far, kind="mean")
    pred = allocate(fit, flops=far, random_seed=1)  # the default: kind="predictive"
    assert pred.attrs["kind"] == "predictive" and pred.attrs["law_error"] == "params,tokens"
    assert pred.attrs["method"] == "numeric" and mean.attrs["method"] == "closed"
    for name in ("params_opt", "tokens_opt"):
        w_mean, w_pred = _log_width(mean[name]), _log_width(pred[name])
        assert (w_pred > 1.5 * w_mean).all(), name
        assert w_pred[1] > w_pred[0]  # wider further out
    np.testing.assert_allclose(
        6 * pred["params_opt"] * pred["tokens_opt"],
        pred["flops"].broadcast_like(pred["params_opt"]),
        rtol=1e-9,
    )
    # each draw's optimum is that of its own loss, the law's times exp(delta), with the
    # slopes drawn as allocate draws them (a stream spawned off the seed)
    error = draw_law_error(fit, random_seed=np.random.default_rng(1).spawn(1)[0])
    assert error is not None
    theta = {k: fit.posterior[k] for k in ("E", "A", "B", "alpha", "beta")}

    def loss(n: xr.DataArray) -> xr.DataArray:
        d = pred["flops"] / (6 * n)
        shift = error.log_shift(coordinates(fit.law, {"params": n, "tokens": d}))
        return chinchilla_loss(n, d, **theta) * np.exp(shift)

    n_opt = pred["params_opt"]
    np.testing.assert_allclose(loss(n_opt).transpose(*n_opt.dims), pred["loss_opt"], rtol=1e-9)
    for factor in (0.97, 1.03):
        assert bool((loss(n_opt * factor) > pred["loss_opt"] * (1 - 1e-9)).all())


def test_law_error_leaves_the_optimum_alone_inside_the_data(fake_chinchilla_fit):
    fit = _with_law_error(fake_chinchilla_fit, params=0.03, tokens=0.03)
    inside = 3e19  # optimum well inside the fitted N and D ranges
    mean = allocate(fit, flops=inside, kind="mean")
    pred = allocate(fit, flops=inside, random_seed=1)
    for name in ("params_opt", "loss_opt"):
        np.testing.assert_allclose(pred[name], mean[name], rtol=1e-5)


def test_compute_error_widens_the_loss_not_the_allocation(fake_chinchilla_fit):
    fit = _with_law_error(fake_chinchilla_fit, compute=0.05)
    mean = allocate(fit, flops=1e25, kind="mean")
    pred = allocate(fit, flops=1e25, random_seed=2)
    np.testing.assert_allclose(pred["params_opt"], mean["params_opt"], rtol=1e-5)
    assert (_log_width(pred["loss_opt"]) > 1.5 * _log_width(mean["loss_opt"])).all()


def test_kind_and_closed_form_errors(fake_chinchilla_fit):
    fit = _with_law_error(fake_chinchilla_fit, params=0.03)
    with pytest.raises(BayescaleError, match="kind must be"):
        allocate(fit, flops=1e24, kind="noise")  # type: ignore[arg-type]
    with pytest.raises(BayescaleError, match="kind='mean'"):
        allocate(fit, flops=1e24, method="closed")
    assert allocate(fit, flops=1e24, method="closed", kind="mean").attrs["law_error"] == ""
