"""Partial pooling in the generic loss-law builder: graph == law per group, summaries, recovery."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayescale.data.schema import validate_runs
from bayescale.exceptions import ConvergenceWarning
from bayescale.laws import get_law
from bayescale.modeling.build import build_model
from bayescale.modeling.model import ScalingModel
from bayescale.modeling.spec import load_spec

GROUPS = ("g0", "g1", "g2")
#: Population values the simulations draw group values around.
POP = {"E": 1.8, "A": 480.0, "B": 2000.0, "alpha": 0.34, "beta": 0.30}
#: The parameters that vary by group (the default pooling of the Chinchilla spec).
POOLED = ("E", "alpha", "beta")


def grouped_runs(
    seed: int,
    *,
    n_per_group: int = 40,
    spread: float = 0.1,
    noise: float = 0.01,
    groups: tuple[str, ...] = GROUPS,
) -> tuple[pd.DataFrame, dict[str, dict[str, float]]]:
    """Runs from a hierarchical Chinchilla law; returns the table and each group's true values.

    ``E``, ``alpha`` and ``beta`` (the default pooled parameters) are ``POP[p]·exp(spread·z)``
    per group; the prefactors are shared at the reference scales ``N0``, ``D0`` (the centres of
    the size grid), as the model shares them: ``A_g = A_ref·N0^α_g`` with
    ``A_ref = POP["A"]/N0^POP["alpha"]``. The loss gets log-normal noise.
    """
    rng = np.random.default_rng(seed)
    law = get_law("chinchilla")
    n0, d0 = 10**8.75, 10**10.25
    frames, truth = [], {}
    for g in groups:
        values = {
            p: v * float(np.exp(spread * rng.standard_normal())) if p in POOLED else v
            for p, v in POP.items()
        }
        values["A"] *= n0 ** (values["alpha"] - POP["alpha"])
        values["B"] *= d0 ** (values["beta"] - POP["beta"])
        truth[g] = values
        n = 10 ** rng.uniform(7.5, 10.0, n_per_group)
        d = 10 ** rng.uniform(9.0, 11.5, n_per_group)
        mean = law(params=n, tokens=d, **values)
        loss = mean * np.exp(noise * rng.standard_normal(n_per_group))
        frames.append(pd.DataFrame({"params": n, "tokens": d, "loss": loss, "family": g}))
    runs = pd.concat(frames, ignore_index=True)
    runs["run_id"] = [f"r{i}" for i in range(len(runs))]
    return validate_runs(runs, group="family"), truth


def _elementwise_check(pooled: tuple[str, ...]) -> None:
    """At a point with distinct group values, the model's likelihood equals the law's."""
    runs, _ = grouped_runs(0, n_per_group=8)
    spec = load_spec("chinchilla").with_pooling("family", pooled)
    model, info = build_model(spec, runs)
    rng = np.random.default_rng(1)
    point = model.initial_point()
    for name in point:
        if name.endswith("_z"):
            point[name] = rng.normal(size=point[name].shape)
        if name.endswith("_tau_log__"):
            point[name] = np.log(0.3)
    names = ["E", "A", "B", "alpha", "beta", "sigma"]
    outs = model.replace_rvs_by_values(
        [*(model[n] for n in names), model.logp(vars=[model["log_loss"]], sum=False)[0]]
    )
    fn = model.compile_fn(
        outs, inputs=model.value_vars, on_unused_input="ignore", mode="FAST_COMPILE"
    )
    *values, logp = fn(point)
    vals = dict(zip(names, values, strict=True))
    g = pd.Index(info.groups).get_indexer(runs["family"])
    per_run = {
        p: (vals[p][g] if np.ndim(vals[p]) else vals[p]) for p in ("E", "A", "B", "alpha", "beta")
    }
    mean = get_law("chinchilla")(
        params=runs["params"].to_numpy(), tokens=runs["tokens"].to_numpy(), **per_run
    )
    expected = stats.t.logpdf(np.log(runs["loss"]), df=4.0, loc=np.log(mean), scale=vals["sigma"])
    np.testing.assert_allclose(logp, expected, rtol=1e-8)
    # every group-level value differs across groups
    for p in pooled:
        assert np.ptp(vals[p]) > 0


@pytest.mark.parametrize(
    "pooled",
    [("E", "alpha", "beta"), ("alpha",), ("E", "A", "B", "alpha", "beta"), ("A", "beta")],
)
def test_group_values_reproduce_the_likelihood(pooled):
    _elementwise_check(pooled)


def test_prefactor_gets_group_dim_when_its_exponent_is_pooled():
    runs, _ = grouped_runs(0, n_per_group=6)
    spec = load_spec("chinchilla").with_pooling("family", ("alpha",))
    model, _ = build_model(spec, runs)
    assert model.named_vars_to_dims["A"] == ("family",)
    assert "A_pop" in model.named_vars
    # B's exponent is shared: B stays a scalar
    assert not model.named_vars_to_dims.get("B")


def test_default_pooled_parameters_and_names():
    runs, _ = grouped_runs(0, n_per_group=6)
    model = ScalingModel("chinchilla", group="family")
    assert model.spec.pooling is not None
    assert model.spec.pooling.params == ("E", "alpha", "beta")
    pm_model, info = build_model(model.spec, runs)
    assert info.groups == GROUPS and info.pooled == ("E", "alpha", "beta")
    for p in ("E", "alpha", "beta"):
        assert pm_model.named_vars_to_dims[p] == ("family",)
        assert f"{p}_pop" in pm_model.named_vars and f"{p}_tau" in pm_model.named_vars


def test_missing_group_column_is_named():
    from bayescale.exceptions import RunTableError

    runs, _ = grouped_runs(0, n_per_group=6)
    with pytest.raises(RunTableError, match="'dataset'"):
        ScalingModel("chinchilla", group="dataset").fit(runs.drop(columns="family"))


@pytest.fixture
def fake_pooled_fit():
    """A Fit with a fake posterior shaped like a pooled fit (group dim ``family``)."""
    import xarray as xr

    from bayescale.modeling import _container
    from bayescale.modeling.build import ModelInfo, reference_scales
    from bayescale.modeling.fit import Fit

    runs, truth = grouped_runs(3, n_per_group=5)
    rng = np.random.default_rng(0)
    chains, draws = 2, 100
    coords = {"chain": np.arange(chains), "draw": np.arange(draws), "family": list(GROUPS)}
    data = {}
    for p in ("E", "A", "B", "alpha", "beta"):
        centre = np.array([truth[g][p] for g in GROUPS])
        draws_ = centre * np.exp(0.02 * rng.standard_normal((chains, draws, len(GROUPS))))
        data[p] = (("chain", "draw", "family"), draws_)
    for p in ("E", "alpha", "beta"):
        data[f"{p}_pop"] = (
            ("chain", "draw"),
            POP[p] * np.exp(0.02 * rng.standard_normal((2, 100))),
        )
        data[f"{p}_tau"] = (("chain", "draw"), np.abs(0.1 + 0.01 * rng.standard_normal((2, 100))))
    data["sigma"] = (("chain", "draw"), np.abs(0.01 + 0.001 * rng.standard_normal((2, 100))))
    post = xr.Dataset(data, coords=coords)
    stats_ = xr.Dataset(
        {"diverging": (("chain", "draw"), np.zeros((chains, draws), dtype=bool))},
        coords={"chain": coords["chain"], "draw": coords["draw"]},
    )
    spec = load_spec("chinchilla").with_pooling("family")
    info = ModelInfo(
        law="chinchilla",
        scales=reference_scales(get_law("chinchilla"), runs),
        group="family",
        groups=GROUPS,
        pooled=("E", "alpha", "beta"),
        run_ids=tuple(runs["run_id"]),
    )
    tree = _container.make_tree({"posterior": post, "sample_stats": stats_})
    return Fit(tree, spec, runs, info), truth


def test_summary_has_per_group_rows(fake_pooled_fit):
    fit, truth = fake_pooled_fit
    table = fit.summary()
    for g in GROUPS:
        for p in ("E", "alpha", "beta", "A"):
            assert f"{p}[{g}]" in table.index
            assert table.loc[f"{p}[{g}]", "lower"] < truth[g][p] < table.loc[f"{p}[{g}]", "upper"]
    for p in ("alpha_pop", "alpha_tau", "E_pop", "beta_tau"):
        assert p in table.index
    assert "alpha" not in table.index
    assert (table["lower"] <= table["median"]).all() and (table["median"] <= table["upper"]).all()


@pytest.mark.slow
def test_group_exponent_intervals_cover_the_truth():
    """40 simulated hierarchical tables: 90% intervals of the group exponents cover the truth."""
    hits, total = 0, 0
    for seed in range(40):
        runs, truth = grouped_runs(100 + seed, n_per_group=40)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fit = ScalingModel("chinchilla", group="family").fit(
                runs, draws=500, tune=500, chains=2, random_seed=seed
            )
        q = fit.posterior[["alpha", "beta"]].quantile([0.05, 0.95], dim=("chain", "draw"))
        for g in GROUPS:
            for p in ("alpha", "beta"):
                lo, hi = (float(v) for v in q[p].sel(family=g).values)
                hits += lo <= truth[g][p] <= hi
                total += 1
    assert total == 240
    print(f"coverage of the 90% intervals of the group exponents: {hits}/{total}")
    assert hits / total >= 0.85, f"coverage {hits}/{total}"
