"""Step/data trade-off (bcrit_tradeoff) and L(N, S_min) on learning curves (kaplan_ns_curves)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from bayescale.exceptions import ConvergenceWarning, RunTableError
from bayescale.laws import critical_batch, get_law
from bayescale.laws.batch import kaplan_curve_loss, tradeoff_steps
from bayescale.modeling.build import build_model
from bayescale.modeling.families import curves, tradeoff
from bayescale.modeling.model import ScalingModel
from bayescale.modeling.spec import load_spec

TRUE_B = {"B_star": 5.0e5, "alpha_B": 0.3}
TINY = {"draws": 300, "tune": 300, "chains": 2}
#: Kaplan et al. 2020's values (eqs. 1.4, 1.6), the centres of the spec's priors.
CURVE_TRUE = dict(get_law("kaplan_ns_curves").published)


def tradeoff_rows(seed: int = 0, noise: float = 0.03) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for target, s_min in ((3.2, 200.0), (2.9, 500.0), (2.6, 1500.0), (2.3, 6000.0)):
        b_crit = critical_batch(target, **TRUE_B)
        for b in b_crit * np.exp(np.linspace(-2.0, 2.0, 6)):
            steps = tradeoff_steps(b, s_min, b_crit) * np.exp(noise * rng.standard_normal())
            rows.append({"batch_size": b, "steps": steps, "loss": target})
    return pd.DataFrame(rows)


def curve_rows(seed: int = 0, noise: float = 0.01) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for n in (1e6, 1e7, 1e8):
        for b in (6.5e4, 5e5, 4e6):
            for step in np.unique(np.geomspace(300, 1e5, 15).round()):
                loss = 3.0
                for _ in range(200):  # the law uses the loss itself (in B_crit): fixed point
                    loss = kaplan_curve_loss(n, step, b, loss, **CURVE_TRUE)
                rows.append(
                    {
                        "run": f"N{n:g}-B{b:g}",
                        "step": step,
                        "params": n,
                        "batch_size": b,
                        "loss": loss * np.exp(noise * rng.standard_normal()),
                    }
                )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- trade-off
@pytest.mark.parametrize("col", ["batch_size", "steps", "loss"])
def test_tradeoff_prepare_names_missing_column(col):
    with pytest.raises(RunTableError, match=f"'{col}'"):
        tradeoff.prepare(tradeoff_rows().drop(columns=col), load_spec("bcrit_tradeoff"))


def test_tradeoff_prepare_needs_two_batch_sizes_and_targets():
    spec = load_spec("bcrit_tradeoff")
    rows = tradeoff_rows()
    one_b = rows.groupby("loss").head(1)
    with pytest.raises(RunTableError, match="only one batch size"):
        tradeoff.prepare(pd.concat([one_b, rows[rows["loss"] == 3.2]]), spec)
    with pytest.raises(RunTableError, match="two or more target"):
        tradeoff.prepare(rows[rows["loss"] == 3.2], spec)
    bad = rows.copy()
    bad.loc[3, "steps"] = np.nan
    with pytest.raises(RunTableError, match=r"'steps', row 3"):
        tradeoff.prepare(bad, spec)


def test_steps_to_target_interpolates_the_running_best():
    c = pd.DataFrame(
        {
            "run": ["a"] * 4 + ["b"] * 2,
            "step": [10, 20, 40, 80, 10, 20],
            "loss": [4.0, 3.0, 3.2, 2.0, 5.0, 4.5],
            "batch_size": [1024] * 4 + [4096] * 2,
        }
    )
    out = tradeoff.steps_to_target(c, [3.0, 2.5])
    assert out["run_id"].tolist() == ["a", "a"]
    # 2.5 lies halfway between the running best 3.0 (step 40) and 2.0 (step 80), in log steps
    assert out["steps"].tolist() == pytest.approx([20.0, 40 * 2**0.5])


def test_tradeoff_graph_matches_numpy_law():
    spec = load_spec("bcrit_tradeoff")
    runs = tradeoff.prepare(tradeoff_rows(), spec)
    model, info = build_model(spec, runs)
    point = model.initial_point()
    point["log_B_ref"] = np.asarray(8.0)
    point["log_steps_min"] = np.log([100.0, 300.0, 900.0, 2000.0])
    import pytensor

    outs = model.replace_rvs_by_values([model["alpha_B"], model["B_star"]])
    mu = model.replace_rvs_by_values(
        [model["log_steps"].owner.inputs[-2]]  # the Student-t location
    )
    fn = pytensor.function(model.value_vars, [*outs, *mu], on_unused_input="ignore")
    alpha_b, b_star, loc = fn(*(point[v.name] for v in model.value_vars))
    codes = pd.factorize(runs["target"], sort=False)[0]
    b_crit = critical_batch(runs["loss"].to_numpy(), B_star=b_star, alpha_B=alpha_b)
    expected = tradeoff_steps(
        runs["batch_size"].to_numpy(), np.array([100.0, 300.0, 900.0, 2000.0])[codes], b_crit
    )
    np.testing.assert_allclose(np.exp(loc), expected, rtol=1e-10)
    assert len(info.run_ids) == len(runs)


def test_tradeoff_tiny_fit_recovers_b_crit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = ScalingModel("bcrit_tradeoff").fit(tradeoff_rows(seed=1), random_seed=1, **TINY)
    table = fit.summary(ci_prob=0.99)
    for name, true in TRUE_B.items():
        assert table.loc[name, "lower"] < true < table.loc[name, "upper"], name
    assert table.loc["alpha_B", "upper"] - table.loc["alpha_B", "lower"] < 0.2


# ---------------------------------------------------------------- learning curves
def test_curves_prepare_checks_and_skips_warmup():
    spec = load_spec("kaplan_ns_curves")
    rows = curve_rows()
    with pytest.raises(RunTableError, match="'batch_size'"):
        curves.prepare(rows.drop(columns="batch_size"), spec)
    bad = rows.copy()
    bad.loc[5, "loss"] = -2.0
    with pytest.raises(RunTableError, match=r"'loss', row 5"):
        curves.prepare(bad, spec)
    out = curves.prepare(rows, spec)
    last = rows.groupby("run")["step"].transform("max")
    assert len(out) == int((rows["step"] > 0.1 * last).sum())
    assert out.attrs["warmup_points_skipped"] > 0
    with_nonemb = rows.assign(params_nonembedding=rows["params"] / 2)
    assert curves.prepare(with_nonemb, spec)["params"].max() == rows["params"].max() / 2


def test_curves_graph_matches_numpy_law():
    spec = load_spec("kaplan_ns_curves")
    runs = curves.prepare(curve_rows(), spec)
    model, _ = build_model(spec, runs)
    import pytensor

    names = ["N_c", "S_c", "alpha_N", "alpha_S", "B_star", "alpha_B"]
    outs = model.replace_rvs_by_values([model[n] for n in names])
    loc = model.replace_rvs_by_values([model["log_loss"].owner.inputs[-2]])
    fn = pytensor.function(model.value_vars, [*outs, *loc], on_unused_input="ignore")
    point = model.initial_point()
    *values, mu = fn(*(point[v.name] for v in model.value_vars))
    expected = kaplan_curve_loss(
        runs["params"].to_numpy(),
        runs["step"].to_numpy(),
        runs["batch_size"].to_numpy(),
        runs["loss"].to_numpy(),
        **dict(zip(names, values, strict=True)),
    )
    np.testing.assert_allclose(np.exp(mu), expected, rtol=1e-9)


def test_curves_tiny_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = ScalingModel("kaplan_ns_curves").fit(curve_rows(seed=2), random_seed=2, **TINY)
    table = fit.summary(ci_prob=0.99)
    assert set(CURVE_TRUE) <= set(table.index)
    assert table.loc["alpha_N", "lower"] < CURVE_TRUE["alpha_N"] < table.loc["alpha_N", "upper"]
    # alpha_S trades off against B* and alpha_B (one noisy loss enters B_crit): a looser check
    assert table.loc["alpha_S", "median"] == pytest.approx(CURVE_TRUE["alpha_S"], abs=0.2)
    assert table.loc["sigma", "median"] == pytest.approx(0.01, rel=0.5)
