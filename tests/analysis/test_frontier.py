"""The compute-efficient frontier: closed form == numerical allocation, exponents, joins."""

from __future__ import annotations

import numpy as np
import pytest

from bayescale.analysis.frontier import alpha_c_min_posterior, frontier, optimum, to_frame
from bayescale.exceptions import BayescaleError
from bayescale.laws import alpha_c_min, critical_batch, get_law, kaplan_loss_ns
from bayescale.testing import fake_fit, synthetic_runs

KAPLAN = dict(get_law("kaplan_ns_curves").published)


def test_optimum_is_consistent_with_the_laws():
    flops = np.array([1e19, 1e21, 1e23])
    out = optimum(KAPLAN, flops)
    # the budget is spent: C = 12 N B_crit S_min
    np.testing.assert_allclose(12 * out["params_opt"] * out["batch_opt"] * out["steps_min"], flops)
    # the loss is the law's at (N, S_min), and the batch is B_crit at that loss
    law = kaplan_loss_ns(
        out["params_opt"],
        out["steps_min"],
        N_c=KAPLAN["N_c"],
        S_c=KAPLAN["S_c"],
        alpha_N=KAPLAN["alpha_N"],
        alpha_S=KAPLAN["alpha_S"],
    )
    np.testing.assert_allclose(out["loss_opt"], law, rtol=1e-10)
    np.testing.assert_allclose(
        out["batch_opt"],
        critical_batch(out["loss_opt"], B_star=KAPLAN["B_star"], alpha_B=KAPLAN["alpha_B"]),
    )


def test_optimum_is_a_minimum():
    c = 1e21
    out = optimum(KAPLAN, c)
    n_opt = float(out["params_opt"])
    for factor in (0.7, 1.4):
        n = n_opt * factor
        # solve the budget 12 N B_crit(L) S_min = C for the loss at this N (bisection on L)
        lo, hi = 1e-3, 50.0
        for _ in range(200):
            mid = np.sqrt(lo * hi)
            l_n = (KAPLAN["N_c"] / n) ** KAPLAN["alpha_N"]
            if mid <= l_n:
                lo = mid
                continue
            s_min = KAPLAN["S_c"] * (mid - l_n) ** (-1 / KAPLAN["alpha_S"])
            b = critical_batch(mid, B_star=KAPLAN["B_star"], alpha_B=KAPLAN["alpha_B"])
            if 12 * n * b * s_min > c:
                lo = mid
            else:
                hi = mid
        assert mid > float(out["loss_opt"])


def test_exponents_follow_alpha_c_min():
    a, b = optimum(KAPLAN, 1e20), optimum(KAPLAN, 1e22)
    a_c = alpha_c_min(alpha_S=0.76, alpha_B=0.21, alpha_N=0.077)
    slope = {k: np.log(b[k] / a[k]) / np.log(100.0) for k in ("params_opt", "batch_opt")}
    assert slope["params_opt"] == pytest.approx(a_c / 0.077)
    assert slope["batch_opt"] == pytest.approx(a_c / 0.21)
    assert np.log(b["loss_opt"] / a["loss_opt"]) / np.log(100.0) == pytest.approx(-a_c)


def test_matches_the_numerical_kaplan_allocation():
    from bayescale.analysis.allocate import allocate

    post = {k: (v, 0.03) for k, v in KAPLAN.items()} | {"sigma": (0.01, 0.1)}
    fit = fake_fit("kaplan_ns", posterior=post, draws=60)
    flops = [1e19, 1e22]
    numeric = allocate(fit, flops=flops)
    closed = frontier(fit, flops=flops)
    for name in ("params_opt", "batch_opt", "steps_opt", "loss_opt"):
        np.testing.assert_allclose(closed[name], numeric[name], rtol=2e-3, err_msg=name)


def test_frontier_posterior_and_frame():
    fit = fake_fit("kaplan_ns_curves", draws=200, runs=synthetic_runs())
    ds = frontier(fit, flops=[1e19, 1e21])
    assert ds["params_opt"].dims == ("chain", "draw", "flops")
    frame = to_frame(ds, ci_prob=0.9)
    assert list(frame["flops"]) == [1e19, 1e21]
    assert (frame["params_opt_lower"] < frame["params_opt_median"]).all()
    assert (frame["params_opt_median"] < frame["params_opt_upper"]).all()
    ac = alpha_c_min_posterior(fit)
    assert float(ac.median()) == pytest.approx(0.0525, rel=0.05)
    np.testing.assert_allclose(ds["alpha_C_min"].isel(flops=0), ac)


def test_allocate_delegates_to_the_frontier():
    from bayescale.analysis.allocate import allocate

    fit = fake_fit("kaplan_ns_curves", draws=100, runs=synthetic_runs())
    ds = allocate(fit, flops=[1e20])
    direct = frontier(fit, flops=[1e20])
    np.testing.assert_allclose(ds["params_opt"], direct["params_opt"])
    assert "batch_opt" in ds and "tokens_per_param" in ds


def test_joining_a_bcrit_fit():
    main = fake_fit(
        "kaplan_ns",
        posterior={k: (KAPLAN[k], 0.03) for k in ("N_c", "S_c", "alpha_N", "alpha_S")},
        draws=100,
    )
    bcrit = fake_fit(
        "bcrit",
        posterior={"B_star": (3e8, 0.1), "alpha_B": (0.2, 0.05)},
        draws=50,
        runs=synthetic_runs(),
    )
    ds = frontier(main, bcrit=bcrit, flops=[1e21])
    assert ds.sizes["draw"] == 100
    ac = alpha_c_min_posterior(main, bcrit=bcrit)
    assert float(ac.median()) == pytest.approx(
        alpha_c_min(alpha_S=0.76, alpha_B=0.2, alpha_N=0.077), rel=0.05
    )
    with pytest.raises(BayescaleError, match="B_star"):
        frontier(main, flops=[1e21])
    with pytest.raises(BayescaleError, match="flops"):
        frontier(main, bcrit=bcrit, flops=[-1.0])
