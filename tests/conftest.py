"""Shared fixtures: offline dataset mirror, Agg backend, --run-slow, tiny shared fits."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

_MIRROR = Path(__file__).resolve().parents[2] / "shared" / "datasets"
os.environ.setdefault("BAYESCALE_DATA", str(_MIRROR))
os.environ["BAYESCALE_OFFLINE"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")

#: Small sampler settings for the few real fits of the fast suite.
TINY = {"draws": 300, "tune": 300, "chains": 2}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="run slow recovery tests")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def mirror_available() -> bool:
    return (Path(os.environ["BAYESCALE_DATA"]) / "epoch_chinchilla").is_dir()


needs_mirror = pytest.mark.skipif(
    not mirror_available(), reason="dataset mirror (BAYESCALE_DATA) not available"
)


@pytest.fixture(scope="session")
def epoch_runs():
    if not mirror_available():
        pytest.skip("dataset mirror not available")
    import bayescale as bs

    return bs.load_dataset("epoch_chinchilla")


@pytest.fixture(scope="session")
def epoch_fit(epoch_runs):
    """One real, small Chinchilla fit of Epoch's table, shared by the whole test session."""
    import bayescale as bs
    from bayescale.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return bs.ScalingModel("chinchilla").fit(epoch_runs, random_seed=1, **TINY)


@pytest.fixture
def fake_chinchilla_fit():
    from bayescale.testing import fake_fit

    return fake_fit("chinchilla", draws=400)
