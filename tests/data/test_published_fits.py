"""Published fits as data: values, provenance, priors and reference lines."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayescale.constants import PF_DAY
from bayescale.data.published import (
    PublishedFit,
    list_published_fits,
    published_fit,
    published_fits,
    published_values,
)
from bayescale.data.registry import get_entry
from bayescale.exceptions import DatasetError, SpecError
from bayescale.laws import LAWS, get_law
from bayescale.modeling.priors import published_priors
from bayescale.modeling.spec import ModelSpec, Prior, load_spec
from tests.conftest import needs_mirror

#: What the issue asks to be covered, by name.
REQUIRED = [
    "kaplan2020_n",
    "kaplan2020_d",
    "kaplan2020_cmin",
    "kaplan2020_c_fixed_batch",
    "kaplan2020_nd",
    "kaplan2020_ns",
    "kaplan2020_bcrit",
    "kaplan2020_allocation",
    "hoffmann2022_approach3",
    "hoffmann2022_approach3_unrounded",
    "hoffmann2022_approach1",
    "hoffmann2022_approach2",
    "besiroglu2024",
    "muennighoff2023",
    "deepseek2024",
    "steplaw2025",
]


def test_everything_required_is_there():
    fits = published_fits()
    assert set(REQUIRED) <= set(fits)
    assert len(list_published_fits(group="porian2024")) == 15
    for f in fits.values():
        assert f.citation and f.locator and f.values
        assert f.params_kind in {"total", "non_embedding"}


def test_fits_of_package_laws_give_every_law_parameter():
    for f in published_fits().values():
        law = LAWS.get(f.law)
        if law is not None:
            assert set(law.params) <= set(f.values), f.name


def test_kaplan_values_in_package_units():
    assert published_fit("kaplan2020_cmin").values["C_c"] == pytest.approx(3.1e8 * PF_DAY)
    assert published_fit("kaplan2020_c_fixed_batch").values["C_c"] == pytest.approx(1.6e7 * PF_DAY)
    nd = published_fit("kaplan2020_nd").values
    assert (nd["alpha_N"], nd["alpha_D"], nd["N_c"], nd["D_c"]) == (0.076, 0.103, 6.4e13, 1.8e13)
    assert published_fit("kaplan2020_bcrit").values == {"B_star": 2.1e8, "alpha_B": 0.21}


def test_hoffmann_and_epoch_are_mutually_consistent():
    h = published_fit("hoffmann2022_approach3_unrounded").values
    a = h["beta"] / (h["alpha"] + h["beta"])
    assert a == pytest.approx(
        published_fit("hoffmann2022_approach3_allocation").values["a"], abs=0.005
    )
    e = published_fit("besiroglu2024")
    a_epoch = e.values["beta"] / (e.values["alpha"] + e.values["beta"])
    assert a_epoch == pytest.approx(
        published_fit("besiroglu2024_allocation").values["a"], abs=0.001
    )
    for p, (lo, hi) in e.intervals.items():
        assert lo < e.values[p] < hi
    assert e.interval_prob == 0.95
    assert published_fit("hoffmann2022_approach3").values["alpha"] == 0.34


def test_epoch_reference_line_reproduces_the_printed_loss():
    # Besiroglu et al.: loss at 70B params / 1.4T tokens = 1.973 under their fit
    epoch = published_fit("besiroglu2024")
    loss = get_law(epoch.law)(params=70e9, tokens=1.4e12, **epoch.values)
    assert float(loss) == pytest.approx(1.973, abs=0.002)
    hoffmann = published_fit("hoffmann2022_approach3")
    grid = get_law(hoffmann.law)(
        params=np.array([1e8, 1e9, 1e10]), tokens=np.array([2e9, 2e10, 2e11]), **hoffmann.values
    )
    assert np.all(np.diff(grid) < 0)


def test_a_published_law_the_package_lacks_is_refused_by_name():
    with pytest.raises(SpecError, match="unknown law 'batch_lr_compute'"):
        get_law(published_fit("deepseek2024").law)


@needs_mirror
def test_porian_exponents_match_the_mirror_csv():
    csv = pd.read_csv(
        Path(os.environ["BAYESCALE_DATA"])
        / "porian2024_isoflops"
        / "porian2024_compute_optimal_fits.csv",
        keep_default_na=False,
    )
    assert len(csv) == 15
    registry_configs = {c["config"]: c for c in get_entry("porian2024").extra["configurations"]}
    for _, row in csv.iterrows():
        config = "-".join(
            str(row[k])
            for k in ["dataset", "hparams", "warmup", "decay", "param_count", "loss_type"]
        )
        fit = published_fit(f"porian2024:{config}")
        assert fit.values["a"] == pytest.approx(row["a_n_exponent"], rel=1e-9)
        assert fit.values["b"] == pytest.approx(row["b_t_exponent"], rel=1e-9)
        assert fit.values["n_coef"] == pytest.approx(row["n_coef"], rel=1e-6)
        assert fit.values["t_coef"] == pytest.approx(row["t_coef"], rel=1e-6)
        assert fit.intervals["a"] == pytest.approx((row["a_ci95_low"], row["a_ci95_high"]))
        assert fit.params_kind == ("non_embedding" if row["param_count"] == "kaplan" else "total")
        reg = registry_configs[config]
        assert reg["experiment"] == row["experiment"]
        assert (reg["a"], reg["b"]) == pytest.approx((row["a_n_exponent"], row["b_t_exponent"]))
        assert tuple(reg["a_ci95"]) == pytest.approx((row["a_ci95_low"], row["a_ci95_high"]))


@needs_mirror
def test_steplaw_fit_matches_the_authors_bootstrap():
    import bayescale as bs

    boot = bs.load_dataset("steplaw2025_bootstrap")
    fit = published_fit("steplaw2025")
    columns = {
        "lr_exp_N": ("lr_coefN", False),
        "lr_exp_D": ("lr_coefD", False),
        "B_exp_D": ("bs_coefD", False),
        "lr_coef": ("lr_intercept", True),
        "B_coef": ("bs_intercept", True),
    }
    for name, (col, log) in columns.items():
        values = np.exp(boot[col]) if log else boot[col]
        lo, hi = np.quantile(values, [0.025, 0.975])
        tol = 0.02 * abs(fit.values[name]) + 1e-3
        assert float(np.median(values)) == pytest.approx(fit.values[name], abs=tol), name
        assert fit.intervals[name] == pytest.approx((lo, hi), abs=0.01 * (hi - lo) + 0.006), name


def test_steplaw_in_the_optimal_batch_law_names_is_the_same_fit():
    step = published_fit("steplaw2025").values
    renamed = published_fit("steplaw2025_optimal_batch").values
    pairs = {"B_0": "B_coef", "b_D": "B_exp_D", "eta_0": "lr_coef", "e_N": "lr_exp_N"}
    pairs["e_D"] = "lr_exp_D"
    assert {k: renamed[k] for k in pairs} == {k: step[v] for k, v in pairs.items()}
    assert renamed["b_N"] == 0.0  # Step Law's B_opt has no N term


def test_every_law_reads_its_published_values_from_the_toml():
    # the law modules name published fits; the numbers live only in datasets/published_fits.toml
    for law in LAWS.values():
        merged: dict[str, float] = {}
        for name in law.published_fits:
            merged.update(published_fit(name).values)
        assert law.published == {p: merged[p] for p in law.params if p in merged}, law.name
    assert LAWS["chinchilla"].published["E"] == 1.6934
    assert set(LAWS["kaplan_ns_curves"].published) == set(LAWS["kaplan_ns_curves"].params)


def test_priors_are_centred_and_scaled():
    fit = published_fit("besiroglu2024")
    p1, p3 = published_priors(fit), published_priors(fit, scale=3)
    assert p1["alpha"].dist == "TruncatedNormal"
    assert p1["alpha"].kwargs["mu"] == 0.3478
    assert p1["alpha"].kwargs["sigma"] == pytest.approx(0.0154)  # the published s.e.
    assert p3["alpha"].kwargs["sigma"] == pytest.approx(3 * 0.0154)
    # prefactors: LogNormal on the log scale, width from the 95% interval
    assert p1["A"].dist == "LogNormal" and p1["A"].kwargs["mu"] == pytest.approx(math.log(482.01))
    expected = (math.log(743.6) - math.log(285.2)) / (2 * 1.959963984540054)
    assert p1["A"].kwargs["sigma"] == pytest.approx(expected)
    assert "arXiv:2404.10102" in p1["A"].citation


def test_priors_without_published_uncertainty_use_default_rel():
    priors = published_priors("kaplan2020_nd", default_rel=0.5, scale=2)
    assert priors["alpha_N"].kwargs["sigma"] == pytest.approx(0.076 * 0.5 * 2)
    assert priors["N_c"].dist == "LogNormal" and priors["N_c"].kwargs["sigma"] == pytest.approx(1.0)
    negative = published_priors("deepseek2024")["lr_exp"]
    assert negative.dist == "Normal" and negative.kwargs["mu"] == -0.125


def test_priors_plug_into_specs_and_models():
    import bayescale as bs

    spec = load_spec("chinchilla").with_priors(published_priors("besiroglu2024", scale=4))
    assert isinstance(spec, ModelSpec)
    assert spec.priors["beta"].kwargs["mu"] == 0.3658
    kaplan = load_spec("kaplan").with_priors(published_priors("kaplan2020_nd"))
    assert kaplan.priors["D_c"].dist == "LogNormal"
    model = bs.ScalingModel("chinchilla", priors=published_priors("hoffmann2022_approach3"))
    assert model.spec.priors["E"].kwargs["mu"] == pytest.approx(math.log(1.69))


def test_priors_for_selected_params_and_errors():
    fit = published_fit("muennighoff2023")
    assert set(published_priors(fit)) == set(LAWS["data_constrained"].params)  # R_N_star left out
    assert set(published_priors(fit, params=["R_N_star"])) == {"R_N_star"}
    with pytest.raises(SpecError, match="no value for nope"):
        published_priors(fit, params=["nope"])
    with pytest.raises(SpecError, match="positive"):
        published_priors(fit, scale=0)
    assert all(isinstance(p, Prior) for p in published_priors(fit).values())


def test_unknown_name_suggests():
    with pytest.raises(DatasetError, match="did you mean 'besiroglu2024'"):
        published_fit("besiroglu204")


def test_malformed_entries_are_refused():
    with pytest.raises(DatasetError, match="interval of 'a'"):
        PublishedFit(
            "x",
            "compute_optimal",
            "x",
            "c",
            "l",
            {"a": 0.5},
            intervals={"a": (0.6, 0.4)},
            interval_prob=0.9,
        )
    with pytest.raises(DatasetError, match="interval_prob"):
        PublishedFit("x", "compute_optimal", "x", "c", "l", {"a": 0.5}, intervals={"a": (0.4, 0.6)})
    with pytest.raises(DatasetError, match="finite"):
        PublishedFit("x", "compute_optimal", "x", "c", "l", {"a": math.nan})
    with pytest.raises(DatasetError, match="unknown parameter 'b'"):
        PublishedFit("x", "compute_optimal", "x", "c", "l", {"a": 0.5}, se={"b": 0.1})


def test_published_values_is_tidy():
    table = published_values()
    assert {"fit", "param", "value", "se", "lower", "upper", "interval_prob"} <= set(table.columns)
    assert len(table) == sum(len(f.values) for f in published_fits().values())
    row = table[(table["fit"] == "hoffmann2022_approach2") & (table["param"] == "a")].iloc[0]
    assert (row["value"], row["lower"], row["upper"], row["interval_prob"]) == (
        0.49,
        0.462,
        0.534,
        0.8,
    )
