import tomllib

import pytest

from bayescale.exceptions import SpecError
from bayescale.laws import get_law
from bayescale.modeling.spec import ModelSpec, Prior, list_specs, load_spec


@pytest.mark.parametrize("name", list_specs())
def test_every_bundled_spec_round_trips(name):
    spec = load_spec(name)
    again = ModelSpec.from_dict(spec.to_dict())
    assert again == spec
    assert again.spec_id == spec.spec_id


def test_chinchilla_priors_are_centred_on_published_values_with_citations():
    spec = load_spec("chinchilla")
    law = get_law("chinchilla")
    import math

    for p in ("E", "A", "B"):
        assert math.exp(spec.priors[p].kwargs["mu"]) == pytest.approx(law.published[p], rel=0.01)
        assert spec.priors[p].citation
    assert spec.priors["alpha"].kwargs["mu"] == pytest.approx(0.339, abs=0.01)
    assert spec.likelihood.dist == "StudentT"
    assert spec.sampler["chains"] == 4 and spec.sampler["draws"] == 1000


def test_spec_errors_are_specific(tmp_path):
    base = load_spec("chinchilla").to_dict()
    bad = dict(base, law="chinchila")
    with pytest.raises(SpecError, match="did you mean"):
        ModelSpec.from_dict(bad)
    missing = dict(base, priors={k: v for k, v in base["priors"].items() if k != "beta"})
    with pytest.raises(SpecError, match="no prior for beta"):
        ModelSpec.from_dict(missing)
    with pytest.raises(SpecError, match="needs a LogNormal"):
        ModelSpec.from_dict(dict(base, priors={**base["priors"], "A": {"dist": "Normal"}}))
    with pytest.raises(SpecError, match="unknown prior distribution 'Norml'"):
        Prior("Norml", {})
    with pytest.raises(SpecError, match="takes mu, sigma"):
        Prior("Normal", {"scale": 1.0})
    path = tmp_path / "broken.toml"
    path.write_text("name = [")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_spec(path)
    with pytest.raises(SpecError, match="unknown spec 'chinchila'; did you mean 'chinchilla'"):
        load_spec("chinchila")


def test_user_priors_override_spec_and_change_the_id():
    spec = load_spec("chinchilla")
    new = spec.with_priors({"alpha": {"dist": "Normal", "mu": 0.3, "sigma": 0.01}})
    assert new.priors["alpha"] == Prior("Normal", {"mu": 0.3, "sigma": 0.01})
    assert new.spec_id != spec.spec_id
    assert spec.priors["alpha"].dist == "TruncatedNormal"  # original untouched


def test_spec_file_from_disk(tmp_path):
    text = (load_spec_path := tmp_path / "mine.toml")
    data = load_spec("kaplan").to_dict()
    import json

    lines = ['name = "mine"', 'law = "kaplan"']
    for p, prior in data["priors"].items():
        lines.append(f"[priors.{p}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in prior.items()]
    text.write_text("\n".join(lines))
    tomllib.loads(text.read_text())
    spec = load_spec(load_spec_path)
    assert spec.name == "mine" and spec.likelihood.dist == "StudentT"


def test_family_options_are_checked_and_kept():
    spec = load_spec("isoflop")
    assert spec.option("window", None) == 0.2
    again = ModelSpec.from_dict(spec.with_options(window=0.1).to_dict())
    assert again.options["window"] == 0.1 and again.spec_id != spec.spec_id
    with pytest.raises(
        SpecError, match=r"unknown option .windw..*curvature_trend, neighbours, skew, window"
    ):
        spec.with_options(windw=0.1)
    with pytest.raises(SpecError, match="option 'curvature_trend' must be bool"):
        spec.with_options(curvature_trend=1)
    with pytest.raises(SpecError, match="option 'window' must be float"):
        spec.with_options(window="wide")
    with pytest.raises(SpecError, match="unknown option 'window' for the loss model family"):
        load_spec("chinchilla").with_options(window=0.1)
    assert "options" not in load_spec("chinchilla").to_dict()  # spec ids of old fits unchanged


def test_nuisance_priors_are_spec_data_checked_against_the_family():
    from bayescale.modeling.build import family_module

    for name in list_specs():
        spec = load_spec(name)
        assert set(spec.nuisance) == set(family_module(get_law(spec.law).family).nuisance), name
    data = load_spec("bcrit").to_dict()
    assert data["nuisance"]["nu"] == {
        "dist": "LogNormal",
        "mu": 2.302585092994046,
        "sigma": 1.5,
        "citation": "weakly informative",
    }
    # a user's spec that sets only the law's priors takes the bundled spec's nuisance priors
    mine = {k: v for k, v in data.items() if k != "nuisance"} | {"name": "mine"}
    assert ModelSpec.from_dict(mine).nuisance == load_spec("bcrit").nuisance
    # and one that sets them is checked: unknown names, missing ones, data-supplied arguments
    wrong = dict(data, nuisance={**data["nuisance"], "typo": {"dist": "Normal", "sigma": 1.0}})
    with pytest.raises(SpecError, match=r"\[nuisance\] typo is not a variable of the bcrit"):
        ModelSpec.from_dict(wrong)
    short = dict(data, nuisance={k: v for k, v in data["nuisance"].items() if k != "nu"})
    with pytest.raises(SpecError, match=r"no \[nuisance\] prior for nu"):
        ModelSpec.from_dict(short)
    tradeoff = load_spec("bcrit_tradeoff").to_dict()
    tradeoff["nuisance"]["log_steps_min"]["mu"] = 5.0
    with pytest.raises(SpecError, match=r"log_steps_min\] sets mu, which the tradeoff"):
        ModelSpec.from_dict(tradeoff)
    # a changed nuisance prior reaches the model
    narrow = {"dist": "LogNormal", "mu": 0.0, "sigma": 0.1}
    spec = ModelSpec.from_dict(dict(data, nuisance={**data["nuisance"], "nu": narrow}))
    assert spec.nuisance["nu"].kwargs == {"mu": 0.0, "sigma": 0.1}
    assert spec.spec_id != load_spec("bcrit").spec_id
