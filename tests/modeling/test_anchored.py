"""The anchored geometry of the Chinchilla fit: same prior and likelihood, better geometry."""

from dataclasses import replace

import numpy as np
import pytest

from bayescale.exceptions import SpecError
from bayescale.laws import get_law
from bayescale.modeling.build import build_model
from bayescale.modeling.families.loss import (
    _anchored_start,
    _exponent_order,
    _logit_inverse,
    initial_values,
)
from bayescale.modeling.spec import Pooling, load_spec
from bayescale.testing import synthetic_runs


def _anchored_point(values, info, runs):
    """Free values of the anchored model for given law parameters (inverse of the map)."""
    n0, d0 = info.scales["params"], info.scales["tokens"]
    a_ref = values["A"] / n0 ** values["alpha"]
    b_ref = values["B"] / d0 ** values["beta"]
    l_ref = values["E"] + a_ref + b_ref
    slopes = {"A": values["alpha"] * a_ref, "B": values["beta"] * b_ref}
    exps = {"A": values["alpha"], "B": values["beta"]}
    hi = {"A": 2.0, "B": 2.0}
    point = {
        "log_loss_ref": np.log(l_ref),
        **{f"log_slope_{p}": np.log(s) for p, s in slopes.items()},
    }
    order = _exponent_order(get_law("chinchilla"), runs)
    for i, p in enumerate(order):
        room = l_ref - sum(slopes[q] / exps[q] for q in order[:i])
        room -= sum(slopes[q] / hi[q] for q in order[i + 1 :])
        lo = max(0.0, slopes[p] / room)
        name = "alpha" if p == "A" else "beta"
        point[f"{name}_anchored"] = _logit_inverse(exps[p], lo, hi[p])
    start = _anchored_start(load_spec("chinchilla"), runs)
    return {f"{k}_offset": v - start[k] for k, v in point.items()}


def _transformed(point):
    """The reference model's unconstrained values (log E, logit-interval exponents, log sigma)."""
    out = {k: point[k] for k in ("log_A_ref", "log_B_ref")}
    out["E_log__"] = np.log(point["E"])
    out["sigma_log__"] = np.log(point["sigma"])
    for p in ("alpha", "beta"):  # TruncatedNormal on (0, 2): log(x - 0) - log(2 - x)
        out[f"{p}_interval__"] = np.log(point[p]) - np.log(2.0 - point[p])
    return out


def _reference_point(values, info):
    n0, d0 = info.scales["params"], info.scales["tokens"]
    return {
        "E": values["E"],
        "alpha": values["alpha"],
        "beta": values["beta"],
        "log_A_ref": np.log(values["A"]) - values["alpha"] * np.log(n0),
        "log_B_ref": np.log(values["B"]) - values["beta"] * np.log(d0),
    }


def test_anchored_density_is_the_spec_posterior_density_times_the_jacobian():
    """log p_anchored(u) = log p_reference(theta(u)) + log |d theta / d u| at random points.

    theta = (E, log A_ref, log B_ref, alpha, beta, sigma): the reference geometry's density in
    those coordinates (jacobian=False) is the spec's prior times the likelihood; the
    Jacobian is taken by central differences of the anchored model's own deterministics.
    """
    runs = synthetic_runs(n=25, seed=3)
    spec = load_spec("chinchilla")
    anchored, info = build_model(spec, runs)
    reference, info_ref = build_model(spec.with_options(geometry="reference"), runs)
    assert "log_loss_ref_offset" in anchored.named_vars and "log_A_ref" in reference.named_vars
    assert info.scales == info_ref.scales
    logp_a = anchored.compile_logp(jacobian=False)
    logp_r = reference.compile_logp(jacobian=False)
    names = ["E", "A", "B", "alpha", "beta"]
    theta_fn = anchored.compile_fn(
        anchored.replace_rvs_by_values([anchored[n] for n in names]),
        inputs=anchored.value_vars,
        on_unused_input="ignore",
        mode="FAST_COMPILE",
    )
    rng = np.random.default_rng(0)
    free = [
        f"{k}_offset"
        for k in ("log_loss_ref", "log_slope_A", "log_slope_B", "alpha_anchored", "beta_anchored")
    ]

    def theta(u):
        e, a, b, al, be = (float(v) for v in theta_fn(u))
        n0, d0 = info.scales["params"], info.scales["tokens"]
        return np.array([e, np.log(a) - al * np.log(n0), np.log(b) - be * np.log(d0), al, be])

    for _ in range(5):
        values = {
            "E": rng.uniform(1.0, 2.5),
            "A": np.exp(rng.uniform(4.0, 7.5)),
            "B": np.exp(rng.uniform(5.0, 8.0)),
            "alpha": rng.uniform(0.15, 0.6),
            "beta": rng.uniform(0.15, 0.6),
        }
        u = _anchored_point(values, info, runs) | {"sigma_log__": np.log(0.02)}
        got = theta(u)
        want = _reference_point(values, info)
        np.testing.assert_allclose(
            got, [want[k] for k in ("E", "log_A_ref", "log_B_ref", "alpha", "beta")], rtol=1e-9
        )
        jac = np.empty((5, 5))
        h = 1e-6
        for j, name in enumerate(free):
            up, down = dict(u), dict(u)
            up[name] += h
            down[name] -= h
            jac[:, j] = (theta(up) - theta(down)) / (2 * h)
        log_det = np.log(abs(np.linalg.det(jac)))
        ref = logp_r(_transformed(want | {"sigma": 0.02}))
        assert logp_a(u) == pytest.approx(ref + log_det, abs=1e-5)


def test_starts_are_inside_the_support_with_a_positive_floor():
    spec = load_spec("chinchilla")
    for seed in range(3):
        runs = synthetic_runs(n=20, seed=seed)
        model, _ = build_model(spec, runs)
        start = initial_values(spec, runs)
        assert set(start) == {v.name for v in model.value_vars} - {"sigma_log__"}
        point = model.initial_point()  # the data-based start: every offset is 0
        assert all(point[k] == 0 for k in start)
        assert np.isfinite(model.compile_logp()(point))
        floor = model.compile_fn(
            model.replace_rvs_by_values([model["E"]])[0],
            inputs=model.value_vars,
            on_unused_input="ignore",
            mode="FAST_COMPILE",
        )
        assert float(floor(point)) > 0


def test_geometry_option():
    runs = synthetic_runs(n=15, seed=1)
    spec = load_spec("chinchilla")
    with pytest.raises(SpecError, match="geometry"):
        build_model(spec.with_options(geometry="curved"), runs)
    pooled = replace(spec.with_options(geometry="anchored"), pooling=Pooling("corpus", ("E",)))
    runs = runs.assign(corpus=["a", "b", "c"] * 5)
    with pytest.raises(SpecError, match="anchored geometry needs an unpooled"):
        build_model(pooled, runs)
    assert initial_values(spec.with_options(geometry="reference"), runs) == {}
    model, _ = build_model(replace(spec, pooling=Pooling("corpus", ("E",))), runs)
    assert "log_A_ref" in model.named_vars  # pooled fits keep the reference geometry


def test_kaplan_anchored_density_is_the_spec_posterior_density_times_the_jacobian():
    """As above for Kaplan's L(N, D): theta = (log N_c_ref, log D_c_ref, alpha_N, alpha_D)."""
    from bayescale.modeling.families.loss import _kaplan_share_bounds

    runs = synthetic_runs("kaplan", n=25, seed=3)
    spec = load_spec("kaplan")
    anchored, info = build_model(spec, runs)
    reference, _ = build_model(spec.with_options(geometry="reference"), runs)
    assert "share_anchored_offset" in anchored.named_vars
    logp_a = anchored.compile_logp(jacobian=False)
    logp_r = reference.compile_logp(jacobian=False)
    log_n0, log_d0 = np.log(info.scales["params"]), np.log(info.scales["tokens"])
    theta_fn = anchored.compile_fn(
        anchored.replace_rvs_by_values([anchored[n] for n in ("N_c", "D_c", "alpha_N", "alpha_D")]),
        inputs=anchored.value_vars,
        on_unused_input="ignore",
        mode="FAST_COMPILE",
    )

    def theta(u):
        n_c, d_c, a_n, a_d = (float(v) for v in theta_fn(u))
        return np.array([np.log(n_c) - log_n0, np.log(d_c) - log_d0, a_n, a_d])

    start = _anchored_start(spec, runs)
    free = ["log_loss_ref", "log_slope_N_c", "log_slope_D_c", "share_anchored"]
    rng = np.random.default_rng(1)
    for _ in range(5):
        p, q = (
            np.log(10 ** rng.uniform(12, 14)) - log_n0,
            np.log(10 ** rng.uniform(12, 14)) - log_d0,
        )
        a_n, a_d = rng.uniform(0.05, 0.3), rng.uniform(0.05, 0.4)
        t_n, t_d = np.exp(a_n / a_d * p), np.exp(q)
        w = t_n / (t_n + t_d)
        g_n, g_d = a_n * w, a_d * (1 - w)
        lo, hi = _kaplan_share_bounds(np, g_n, g_d, (0.0, 2.0), (0.001, 2.0))
        named = {
            "log_loss_ref": a_d * np.log(t_n + t_d),
            "log_slope_N_c": np.log(g_n),
            "log_slope_D_c": np.log(g_d),
            "share_anchored": _logit_inverse(w - lo, 0.0, hi - lo),
        }
        u = {f"{k}_offset": v - start[k] for k, v in named.items()} | {"sigma_log__": np.log(0.02)}
        np.testing.assert_allclose(theta(u), [p, q, a_n, a_d], rtol=1e-8)
        jac = np.empty((4, 4))
        h = 1e-6
        for j, name in enumerate(free):
            up, down = dict(u), dict(u)
            up[f"{name}_offset"] += h
            down[f"{name}_offset"] -= h
            jac[:, j] = (theta(up) - theta(down)) / (2 * h)
        ref = {
            "log_N_c_ref": p,
            "log_D_c_ref": q,
            "alpha_N_interval__": np.log(a_n) - np.log(2.0 - a_n),
            "alpha_D_interval__": np.log(a_d - 0.001) - np.log(2.0 - a_d),
            "sigma_log__": np.log(0.02),
        }
        assert logp_a(u) == pytest.approx(logp_r(ref) + np.log(abs(np.linalg.det(jac))), abs=1e-4)
