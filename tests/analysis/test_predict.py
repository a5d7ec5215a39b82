"""Loss bands: law evaluated over posterior draws by name, intervals, noise, pooling, chunking."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from bayescale.analysis._common import NEW_GROUP, law_draws, to_frame
from bayescale.analysis.allocate import allocate
from bayescale.analysis.predict import bands, predict
from bayescale.exceptions import BayescaleError
from bayescale.laws import chinchilla_loss, get_law
from bayescale.modeling import _container
from bayescale.modeling.build import ModelInfo, reference_scales
from bayescale.modeling.fit import Fit
from bayescale.modeling.spec import load_spec
from bayescale.testing import synthetic_runs


def pooled_fit(draws: int = 400, seed: int = 3) -> Fit:
    """A fake Chinchilla fit pooled over ``family`` (groups a, b) for E, alpha and A."""
    rng = np.random.default_rng(seed)
    shape = (2, draws)
    groups = ["a", "b"]
    runs = synthetic_runs("chinchilla", n=40)
    runs["family"] = np.where(np.arange(len(runs)) % 2, "a", "b")
    scales = reference_scales(get_law("chinchilla"), runs)

    def ln(v: float, s: float, extra: tuple[int, ...] = ()) -> np.ndarray:
        return v * np.exp(s * rng.standard_normal(shape + extra))

    sd, gd = ("chain", "draw"), ("chain", "draw", "family")
    post = xr.Dataset(
        {
            "E_pop": (sd, ln(1.8, 0.01)),
            "E_tau": (sd, ln(0.05, 0.1)),
            "E": (gd, ln(1.8, 0.01, (2,)) * np.array([1.0, 1.1])),
            "alpha_pop": (sd, ln(0.34, 0.02)),
            "alpha_tau": (sd, ln(0.1, 0.1)),
            "alpha": (gd, ln(0.34, 0.02, (2,)) * np.array([1.0, 0.9])),
            "A_pop": (sd, ln(480.0, 0.1)),
            "A_tau": (sd, ln(0.2, 0.1)),
            "A": (gd, ln(480.0, 0.1, (2,))),
            "B": (sd, ln(2000.0, 0.1)),
            "beta": (sd, ln(0.36, 0.02)),
            "sigma": (sd, ln(0.005, 0.05)),
        },
        coords={"chain": [0, 1], "draw": np.arange(draws), "family": groups},
    )
    stats_ = xr.Dataset(
        {"diverging": (sd, np.zeros(shape, dtype=bool))}, coords=post[["chain", "draw"]].coords
    )
    spec = load_spec("chinchilla").with_pooling("family", ("E", "alpha", "A"))
    info = ModelInfo(
        law="chinchilla",
        scales=scales,
        group="family",
        groups=tuple(groups),
        pooled=("E", "alpha", "A"),
        run_ids=tuple(str(i) for i in range(len(runs))),
    )
    tree = _container.make_tree({"posterior": post, "sample_stats": stats_})
    fit = Fit(tree, spec, runs, info)
    fit._set_attrs(extra={"sampler": "fake", "random_seed": str(seed)})
    return fit


def _flat(da: xr.DataArray) -> np.ndarray:
    return da.stack(sample=("chain", "draw")).transpose("sample", ...).values


def test_mean_band_is_the_law_over_draws(fake_chinchilla_fit):
    fit = fake_chinchilla_fit
    n, d = np.array([1e9, 7e10]), np.array([2e10, 1.4e12])
    ds = predict(fit, params=n, tokens=d)
    assert ds["loss"].dims == ("chain", "draw", "point")
    p = fit.posterior
    by_hand = chinchilla_loss(
        n[None, :],
        d[None, :],
        **{k: _flat(p[k])[:, None] for k in ("E", "A", "B", "alpha", "beta")},
    )
    np.testing.assert_allclose(_flat(ds["loss"]), by_hand, rtol=1e-12)
    table = to_frame(ds, ci_prob=0.8)
    np.testing.assert_allclose(table["loss_median"], np.median(by_hand, axis=0), rtol=1e-12)
    np.testing.assert_allclose(table["loss_lower"], np.quantile(by_hand, 0.1, axis=0), rtol=1e-12)
    np.testing.assert_allclose(table["loss_upper"], np.quantile(by_hand, 0.9, axis=0), rtol=1e-12)
    np.testing.assert_allclose(table["params"], n)
    assert table.attrs["ci_prob"] == 0.8


def test_wider_interval_for_larger_ci(fake_chinchilla_fit):
    t50 = bands(fake_chinchilla_fit, params=7e10, tokens=1.4e12, ci_prob=0.5)
    t95 = bands(fake_chinchilla_fit, params=7e10, tokens=1.4e12, ci_prob=0.95)
    assert (t95.loss_upper - t95.loss_lower).iloc[0] > (t50.loss_upper - t50.loss_lower).iloc[0]


def test_points_from_flops_and_grid(fake_chinchilla_fit):
    fit = fake_chinchilla_fit
    ds = predict(fit, params=[1e9, 1e10], flops=6e20)
    np.testing.assert_allclose(ds["tokens"].values, 6e20 / (6 * np.array([1e9, 1e10])))
    ds = predict(fit, tokens=1e11, flops=[6e20, 6e21])
    np.testing.assert_allclose(ds["params"].values, [1e9, 1e10])
    g = bands(fit, params=[1e8, 1e9, 1e10], tokens=[1e9, 1e10], grid=True)
    assert len(g) == 6
    assert g["params"].tolist() == [1e8, 1e8, 1e9, 1e9, 1e10, 1e10]
    assert g["tokens"].tolist() == [1e9, 1e10] * 3


def test_at_table_keeps_extra_columns(fake_chinchilla_fit):
    at = pd.DataFrame({"name": ["x", "y"], "params": [1e9, 7e10], "tokens": [2e10, 1.4e12]})
    table = bands(fake_chinchilla_fit, at=at)
    assert table["name"].tolist() == ["x", "y"]
    assert {"loss_median", "loss_lower", "loss_upper"} <= set(table.columns)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"params": [1e9, 1e10], "tokens": [1e9, 1e10, 1e11]}, "grid=True"),
        ({"params": [1e9, -1.0], "tokens": 1e10}, r"params\[1\]"),
        ({"params": 1e9, "tokens": 1e10, "flops": 6e19}, "two of"),
        ({"params": 1e9}, "'tokens'"),
        ({}, "no points"),
        ({"params": 1e9, "tokens": 1e10, "kind": "noisy"}, "kind"),
        ({"params": 1e9, "tokens": 1e10, "ci_prob": 1.5}, "ci_prob"),
        ({"params": 1e9, "tokens": 1e10, "group": "a"}, "pools nothing"),
    ],
)
def test_bad_points_are_clear_errors(fake_chinchilla_fit, kwargs, message):
    with pytest.raises(BayescaleError, match=message):
        predict(fake_chinchilla_fit, **kwargs)


def test_at_run_table_keeps_observed_loss(fake_chinchilla_fit):
    runs = fake_chinchilla_fit.runs.head(5)
    table = bands(fake_chinchilla_fit, at=runs)
    np.testing.assert_allclose(table["loss_observed"], runs["loss"])
    assert "loss" not in table.columns
    with pytest.raises(BayescaleError, match="loss_median"):
        bands(fake_chinchilla_fit, at=runs.assign(loss_median=1.0))


def test_at_table_errors_name_column_and_row(fake_chinchilla_fit):
    with pytest.raises(BayescaleError, match=r"'tokens'.*columns: params"):
        predict(fake_chinchilla_fit, at=pd.DataFrame({"params": [1e9]}))
    bad = pd.DataFrame({"params": [1e9, 1e9], "tokens": [1e10, np.nan]})
    with pytest.raises(BayescaleError, match="column 'tokens', row 1"):
        predict(fake_chinchilla_fit, at=bad)


def test_noise_adds_student_t_noise(fake_chinchilla_fit):
    fit = fake_chinchilla_fit
    mean = predict(fit, params=7e10, tokens=1.4e12)
    pred = predict(fit, params=7e10, tokens=1.4e12, kind="noise", random_seed=5)
    again = predict(fit, params=7e10, tokens=1.4e12, kind="noise", random_seed=5)
    xr.testing.assert_equal(pred, again)
    z = (np.log(pred["loss"] / mean["loss"]) / fit.posterior["sigma"]).values.ravel()
    # standardised noise follows the likelihood's Student-t(nu=4)
    assert fit.spec.likelihood.nu == 4.0
    assert stats.kstest(z, stats.t(df=4).cdf).pvalue > 1e-3
    tm, tp = to_frame(mean).iloc[0], to_frame(pred).iloc[0]
    assert tp.loss_upper - tp.loss_lower > tm.loss_upper - tm.loss_lower


def test_summaries_chunked_equal_full(fake_chinchilla_fit):
    kw = {"params": np.geomspace(1e8, 1e11, 7), "tokens": np.geomspace(1e9, 1e12, 5), "grid": True}
    full = to_frame(predict(fake_chinchilla_fit, **kw))
    chunked = bands(fake_chinchilla_fit, chunk_size=3, **kw)
    pd.testing.assert_frame_equal(full, chunked)


def test_keep_draws_refuses_huge_results(fake_chinchilla_fit, monkeypatch):
    import bayescale.analysis.predict as mod

    monkeypatch.setattr(mod, "MAX_DRAW_ELEMENTS", 1000)
    with pytest.raises(BayescaleError, match="keep_draws=False"):
        predict(fake_chinchilla_fit, params=[1e9, 1e10], tokens=1e10)
    assert len(bands(fake_chinchilla_fit, params=[1e9, 1e10], tokens=1e10)) == 2


def test_flops_alone_gives_the_compute_optimal_frontier(fake_chinchilla_fit):
    ds = predict(fake_chinchilla_fit, flops=[1e21, 1e23])
    alloc = allocate(fake_chinchilla_fit, flops=[1e21, 1e23], kind="mean")
    np.testing.assert_allclose(ds["loss"].values, alloc["loss_opt"].values, rtol=1e-12)


def test_pooled_fit_groups():
    fit = pooled_fit()
    ds = predict(fit, params=[1e9, 1e10], tokens=1e11)
    assert set(ds["loss"].dims) == {"chain", "draw", "point", "family"}
    table = to_frame(ds)
    assert table.columns[:3].tolist() == ["params", "tokens", "group"]
    assert sorted(set(table["group"])) == ["a", "b"]
    one = predict(fit, params=[1e9, 1e10], tokens=1e11, group="b")
    xr.testing.assert_allclose(
        one["loss"], ds["loss"].sel(family="b", drop=True).transpose(*one["loss"].dims)
    )
    assert "group" not in to_frame(one).columns
    with pytest.raises(BayescaleError, match="'c' is not in the fit's 'family'"):
        predict(fit, params=1e9, tokens=1e10, group="c")


def test_new_group_draws_from_population():
    fit = pooled_fit(draws=4000)
    post = fit.posterior
    theta = law_draws(fit, group=NEW_GROUP, random_seed=1)
    assert "family" not in theta.dims
    z = np.log(theta["alpha"] / post["alpha_pop"]) / post["alpha_tau"]
    assert abs(float(z.mean())) < 0.05 and abs(float(z.std()) - 1) < 0.05
    xr.testing.assert_equal(theta["beta"], post["beta"])  # not pooled: unchanged
    # prefactor: A_new = A_pop·exp(tau·z)·x0^(alpha_new − alpha_pop)
    x0 = fit.info.scales["params"]
    za = (
        np.log(theta["A"] / post["A_pop"]) - (theta["alpha"] - post["alpha_pop"]) * np.log(x0)
    ) / post["A_tau"]
    assert abs(float(za.mean())) < 0.05 and abs(float(za.std()) - 1) < 0.05
    ds = predict(fit, params=1e9, tokens=1e10, group=NEW_GROUP, random_seed=1)
    assert ds["loss"].dims == ("chain", "draw", "point")


def test_at_table_with_the_group_column_predicts_each_row_for_its_group():
    fit = pooled_fit()
    at = pd.DataFrame(
        {"params": [1e9, 1e10, 3e9], "tokens": [1e11, 1e11, 5e10], "family": ["b", "a", "b"]}
    )
    ds = predict(fit, at=at)
    assert ds["loss"].dims == ("chain", "draw", "point")
    assert ds.attrs["new_groups"] == "" and ds.attrs["group_dim"] == ""
    for i, g in enumerate(at["family"]):
        one = predict(fit, params=at.params[i], tokens=at.tokens[i], group=g)
        np.testing.assert_allclose(ds["loss"].isel(point=i).values, one["loss"].values[..., 0])
    table = to_frame(ds)
    assert table["family"].tolist() == ["b", "a", "b"] and "group" not in table.columns
    # predictive: the same per-row law times exp(sigma·eps), eps ~ Student-t(4) as the spec says
    pred = predict(fit, at=at, kind="predictive", random_seed=2)
    eps = np.log(pred["loss"] / ds["loss"]) / fit.posterior["sigma"]
    q1, q3 = np.quantile(eps.values, [0.25, 0.75])
    assert abs(q1 + 0.741) < 0.1 and abs(q3 - 0.741) < 0.1


def test_at_table_with_an_unseen_group_gets_the_new_group_prediction():
    fit = pooled_fit(draws=2000)
    at = pd.DataFrame({"params": [1e9, 1e9], "tokens": [1e11, 1e11], "family": ["a", "zz"]})
    ds = predict(fit, at=at, random_seed=4)
    assert ds.attrs["new_groups"] == "zz"
    new = predict(fit, params=1e9, tokens=1e11, group=NEW_GROUP, random_seed=5)
    seen = predict(fit, params=1e9, tokens=1e11, group="a")
    row = ds["loss"].isel(point=1)
    # same distribution as the new-group prediction (independent draws), wider than group a's
    spread = float(new["loss"].std())
    assert abs(float(row.median()) - float(new["loss"].median())) < 0.1 * spread
    np.testing.assert_allclose(float(row.std()), float(new["loss"].std()), rtol=0.1)
    assert float(row.std()) > 1.5 * float(seen["loss"].std())
    np.testing.assert_allclose(ds["loss"].isel(point=0).values, seen["loss"].values[..., 0])
    with pytest.raises(BayescaleError, match="column 'family', row 1"):
        predict(fit, at=at.assign(family=["a", None]))


def test_explicit_group_overrides_the_at_column():
    fit = pooled_fit()
    at = pd.DataFrame({"params": [1e9], "tokens": [1e11], "family": ["a"]})
    ds = predict(fit, at=at, group="b")
    one = predict(fit, params=1e9, tokens=1e11, group="b")
    np.testing.assert_allclose(ds["loss"].values, one["loss"].values)


def _with_discrepancy(fit: Fit, compute: float, ratio: float) -> Fit:
    from dataclasses import replace

    from bayescale.modeling.spec import Discrepancy

    like = replace(fit.spec.likelihood, discrepancy=Discrepancy(compute=compute, ratio=ratio))
    return Fit(fit.tree, replace(fit.spec, likelihood=like), fit.runs, fit.info)


def test_predictive_equals_noise_without_a_discrepancy_or_inside_the_range(fake_chinchilla_fit):
    from bayescale.analysis.discrepancy import distances

    fit = fake_chinchilla_fit
    runs = fit.runs.iloc[:5]
    at = runs[["params", "tokens"]]
    noise = predict(fit, at=at, kind="noise", random_seed=3)
    xr.testing.assert_equal(
        noise["loss"], predict(fit, at=at, kind="predictive", random_seed=3)["loss"]
    )
    wide = _with_discrepancy(fit, 0.02, 0.01)
    far = distances(wide, {c: at[c].to_numpy() for c in at})
    assert all((v == 0).all() for v in far.values())  # the fitted runs themselves
    inside = predict(wide, at=at, kind="predictive", random_seed=3)
    xr.testing.assert_allclose(inside["loss"], noise["loss"])
    assert (predict(wide, at=at, kind="mean")["loss"] == predict(fit, at=at)["loss"]).all()


def test_discrepancy_grows_with_decades_past_the_fitted_range():
    from bayescale.analysis.discrepancy import fitted_bounds

    fit = _with_discrepancy(fake_fit_draws(4000), 0.02, 0.01)
    top = fitted_bounds(fit)["compute"][1]
    ratio = fitted_bounds(fit)["ratio"]
    mid_ratio = 10 ** (0.5 * sum(ratio))
    # points 1 and 2 decades past the largest fitted compute, at a fitted tokens-per-param ratio
    c = 10 ** (top + np.array([1.0, 2.0]))
    n = np.sqrt(c / 6 / mid_ratio)
    noise = predict(fit, params=n, tokens=n * mid_ratio, kind="noise", random_seed=1)
    pred = predict(fit, params=n, tokens=n * mid_ratio, kind="predictive", random_seed=1)
    shift = np.log(pred["loss"] / noise["loss"])
    sd = shift.std(dim=("chain", "draw")).values
    np.testing.assert_allclose(sd, [0.02, 0.04], rtol=0.06)
    # one slope per draw: the shift at 2 decades is twice that at 1 decade
    np.testing.assert_allclose(shift.isel(point=1), 2 * shift.isel(point=0), rtol=1e-9)
    # out of the fitted tokens-per-parameter range only: the ratio term
    n0 = np.sqrt(10**top / 6 / mid_ratio) / 10
    far_ratio = predict(
        fit,
        params=n0,
        tokens=n0 * mid_ratio * 100 * 10 ** (ratio[1] - ratio[0]),
        kind="predictive",
        random_seed=1,
    )
    assert float(np.log(far_ratio["loss"]).std()) > 0
    frontier = predict(fit, flops=10 ** (top + 1.5), kind="predictive", random_seed=1)
    assert np.isfinite(frontier["loss"]).all()


def test_predictive_frontier_is_allocates_optimum_with_the_same_law_error(fake_chinchilla_fit):
    # one implementation: predict(flops=C, kind="predictive") is each draw's optimum of the law
    # times its error (allocate's loss_opt with the same seed), times the same noise as "noise"
    from bayescale.analysis.allocate import allocate

    fit = _with_discrepancy(fake_chinchilla_fit, 0.02, 0.0)
    from dataclasses import replace

    like = replace(
        fit.spec.likelihood,
        discrepancy=replace(fit.spec.likelihood.discrepancy, params=0.03, tokens=0.03),
    )
    fit = Fit(fit.tree, replace(fit.spec, likelihood=like), fit.runs, fit.info)
    c = [1e24, 1e26]
    pred = predict(fit, flops=c, kind="predictive", random_seed=4)["loss"]
    noise = predict(fit, flops=c, kind="noise", random_seed=4)["loss"]
    with_error = allocate(fit, flops=c, random_seed=4)["loss_opt"]
    law_only = allocate(fit, flops=c, kind="mean")["loss_opt"]
    np.testing.assert_allclose(
        (pred / noise).values, (with_error / law_only).values.reshape(pred.shape), rtol=1e-6
    )
    assert float(np.log(pred / noise).std()) > 0.01


def fake_fit_draws(draws: int) -> Fit:
    from bayescale.testing import fake_fit

    return fake_fit("chinchilla", draws=draws)


def test_discrepancy_in_spec_files_and_ids():
    from bayescale.exceptions import SpecError
    from bayescale.modeling.spec import Discrepancy, ModelSpec

    spec = load_spec("chinchilla")
    plain = spec.to_dict()
    plain["likelihood"].pop("discrepancy", None)
    off = ModelSpec.from_dict(plain)
    assert "discrepancy" not in off.to_dict()["likelihood"]  # older fit files keep their id
    on = ModelSpec.from_dict(
        {**plain, "likelihood": {**plain["likelihood"], "discrepancy": {"compute": 0.01}}}
    )
    assert on.likelihood.discrepancy == Discrepancy(compute=0.01)
    assert on.spec_id != off.spec_id
    sig = Discrepancy.from_dict({"compute": 0.01, "tokens_per_sigma": 2})
    assert sig.tokens_per_sigma == 2.0 and sig.active
    assert Discrepancy.from_dict(sig.to_dict()) == sig
    assert "params_per_sigma" not in sig.to_dict()
    with pytest.raises(SpecError, match="unknown key"):
        Discrepancy.from_dict({"slope": 1})
    with pytest.raises(SpecError, match="non-negative"):
        Discrepancy(compute=-0.1)


def test_discrepancy_per_sigma_scales_with_each_draws_noise():
    from dataclasses import replace

    from bayescale.analysis.discrepancy import draw_law_error
    from bayescale.modeling.spec import Discrepancy

    fit = fake_fit_draws(2000)
    term = Discrepancy(compute=0.01, compute_per_sigma=2.0, tokens_per_sigma=1.0)
    error = draw_law_error(fit, term, random_seed=3)
    assert error is not None and error.directions == ("compute", "tokens")
    z = np.random.default_rng(3).standard_normal((4, *error.slopes["compute"].shape))
    sigma = fit.posterior["sigma"].transpose("chain", "draw").values
    np.testing.assert_allclose(
        error.slopes["compute"].values, np.sqrt(0.01**2 + (2.0 * sigma) ** 2) * z[0]
    )
    np.testing.assert_allclose(error.slopes["tokens"].values, sigma * z[3])
    from bayescale.modeling import _container

    tree = _container.make_tree(
        {"posterior": fit.posterior.drop_vars("sigma"), "sample_stats": fit.sample_stats}
    )
    no_sigma = Fit(tree, fit.spec, fit.runs, fit.info)
    with pytest.raises(BayescaleError, match="per_sigma"):
        draw_law_error(no_sigma, term, random_seed=3)
    assert (
        draw_law_error(fit, replace(term, compute=0.0, compute_per_sigma=0.0, tokens_per_sigma=0.0))
        is None
    )
