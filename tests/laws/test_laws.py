import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from bayescale import laws
from bayescale.constants import FLOPS_PER_PARAM_TOKEN, PF_DAY
from bayescale.exceptions import SpecError

HOFF = {"E": 1.6934, "A": 406.4, "B": 410.7, "alpha": 0.33917, "beta": 0.28491}


def test_chinchilla_published_value_at_chinchilla_scale():
    # Hoffmann's printed (rounded) fit at 70B / 1.4T tokens gives 1.937 nats, unrounded 1.921
    rounded = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
    assert laws.chinchilla_loss(70e9, 1.4e12, **rounded) == pytest.approx(1.937, abs=1e-3)
    assert laws.chinchilla_loss(70e9, 1.4e12, **HOFF) == pytest.approx(1.921, abs=1e-3)


def test_hoffmann_approach3_allocation_is_the_known_32b():
    # REFERENCE.md: plugging the printed values in gives N_opt ~ 32B at 5.76e23 FLOP
    out = laws.chinchilla_optimal(5.76e23, E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
    assert 30e9 < out["params_opt"] < 35e9
    assert out["params_opt"] * out["tokens_opt"] * 6 == pytest.approx(5.76e23, rel=1e-12)


def test_closed_form_allocation_is_the_minimum_on_the_isoflop_line():
    flops = 1e22
    opt = laws.chinchilla_optimal(flops, **HOFF)
    n = opt["params_opt"] * np.exp(np.linspace(-0.5, 0.5, 2001))
    loss = laws.chinchilla_loss(n, flops / (FLOPS_PER_PARAM_TOKEN * n), **HOFF)
    assert n[np.argmin(loss)] == pytest.approx(opt["params_opt"], rel=1e-3)
    assert loss.min() == pytest.approx(opt["loss_opt"], rel=1e-9)


def test_numpy_and_xarray_agree_and_broadcast_by_name():
    draws = xr.DataArray(np.array([0.3, 0.35, 0.4]), dims="draw")
    grid = xr.DataArray(np.array([1e8, 1e9, 1e10, 1e11]), dims="point")
    out = laws.chinchilla_loss(grid, 20 * grid, E=1.7, A=400.0, B=400.0, alpha=draws, beta=0.3)
    assert set(out.dims) == {"draw", "point"}
    expect = laws.chinchilla_loss(
        grid.values[None, :],
        20 * grid.values[None, :],
        E=1.7,
        A=400.0,
        B=400.0,
        alpha=draws.values[:, None],
        beta=0.3,
    )
    np.testing.assert_allclose(out.transpose("draw", "point").values, expect, rtol=1e-14)


#: log10 ranges of the laws' inputs, so that each law is evaluated where it means something.
INPUT_RANGES: dict[str, tuple[float, float]] = {
    "params": (7, 10),
    "tokens": (9, 12),
    "unique_tokens": (8, 11),
    "flops": (18, 22),
    "steps": (3, 5),
    "step": (3, 5),
    "batch_size": (5, 7),
    "loss": (0.3, 0.6),
    "train_loss": (0.3, 0.6),
}
#: Values for the parameters a law publishes none of (the shape of an IsoFLOP valley).
UNPUBLISHED = {"G": 0.1, "curvature": 0.05, "loss_opt": 2.5, "skew": 0.1}


@pytest.mark.parametrize("name", sorted(laws.LAWS))
def test_every_law_is_the_same_function_in_pytensor(name):
    import pytensor
    import pytensor.tensor as pt

    law = laws.get_law(name)
    rng = np.random.default_rng(0)
    inputs = {k: 10 ** rng.uniform(*INPUT_RANGES[k], 5) for k in law.inputs}
    if "unique_tokens" in inputs:
        inputs["unique_tokens"] = inputs["tokens"] / 3
    params = {p: law.published[p] if p in law.published else UNPUBLISHED[p] for p in law.params}
    expect = law(**inputs, **params)
    names = sorted(expect) if isinstance(expect, dict) else [None]  # a law may give several
    expect = {n: np.asarray(expect[n] if n else expect, dtype=float) for n in names}
    for value in expect.values():
        assert value.shape == (5,) and np.all(np.isfinite(value)), expect
    sym_in = {k: pt.dvector(k) for k in inputs}
    sym_par = {k: pt.dscalar(k) for k in params}
    sym_out = law(**sym_in, **sym_par)
    outputs = [sym_out[n] if n else sym_out for n in names]
    fn = pytensor.function([*sym_in.values(), *sym_par.values()], outputs)
    for n, got in zip(names, fn(*inputs.values(), *params.values()), strict=True):
        np.testing.assert_allclose(got, expect[n], rtol=1e-12, err_msg=str(n))


def test_reference_scaling_identity_for_prefactors():
    # the builder evaluates the law on input/x0 with P_ref = P / x0^power; this must be exact
    for name in ("chinchilla", "kaplan", "kaplan_n", "kaplan_c"):
        law = laws.get_law(name)
        rng = np.random.default_rng(1)
        inputs = {k: 10 ** rng.uniform(8, 11, 7) for k in law.inputs}
        scales = {k: float(np.exp(np.log(v).mean())) for k, v in inputs.items()}
        params = dict(law.published)
        ref = dict(params)
        for p, pf in law.prefactors.items():
            power = params[pf.exponent] if pf.exponent else 1.0
            ref[p] = params[p] / scales[pf.input] ** power
        scaled = {k: v / scales[k] for k, v in inputs.items()}
        np.testing.assert_allclose(law(**scaled, **ref), law(**inputs, **params), rtol=1e-10)


def test_kaplan_published_values_and_batch_relations():
    assert laws.kaplan_loss_c(PF_DAY, C_c=3.1e8 * PF_DAY, alpha_C=0.05) == pytest.approx(
        (3.1e8) ** 0.05
    )
    b = laws.critical_batch(2.0, B_star=2.1e8, alpha_B=0.21)
    assert b == pytest.approx(2.1e8 / 2.0 ** (1 / 0.21))
    # the trade-off curve (S/S_min - 1)(E/E_min - 1) = 1 holds for any B
    for batch in (1e4, 1e6, 1e8):
        steps, tokens = 1000.0, 1000.0 * batch
        s = laws.s_min(steps, batch, b)
        e = laws.e_min(tokens, batch, b)
        assert (steps / s - 1) * (tokens / e - 1) == pytest.approx(1.0)
    assert laws.alpha_c_min(alpha_S=0.76, alpha_B=0.21, alpha_N=0.076) == pytest.approx(
        0.0520, abs=1e-3
    )


def test_effective_data_no_repeats_and_saturation():
    assert laws.effective_data(5e9, 5e9, R_star=15.39) == pytest.approx(5e9)
    # infinitely many repeats: D' -> U (1 + R*)
    assert laws.effective_data(1e15, 1e9, R_star=15.39) == pytest.approx(1e9 * 16.39, rel=1e-6)


def test_unknown_law_suggests_a_name():
    with pytest.raises(SpecError, match="did you mean 'chinchilla'"):
        laws.get_law("chinchila")


@settings(max_examples=50, deadline=None)
@given(
    n=st.floats(1e6, 1e12),
    d=st.floats(1e8, 1e14),
    alpha=st.floats(0.1, 0.8),
    beta=st.floats(0.1, 0.8),
)
def test_loss_falls_with_more_params_and_tokens(n, d, alpha, beta):
    p = {"E": 1.7, "A": 400.0, "B": 400.0, "alpha": alpha, "beta": beta}
    base = laws.chinchilla_loss(n, d, **p)
    assert laws.chinchilla_loss(2 * n, d, **p) < base
    assert laws.chinchilla_loss(n, 2 * d, **p) < base
    assert base > p["E"]
