"""Shared fixtures: offline dataset mirror, Agg backend, --run-slow, tiny shared fits."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

#: The mirror's default place: ``../shared/datasets`` next to the repository.
_DEFAULT_MIRROR = Path(__file__).resolve().parents[2] / "shared" / "datasets"
# Resolved to an absolute path once, here: tests that change directory (the docs' code blocks run
# in a temporary folder) still find a mirror given as ``BAYESCALE_DATA=../shared/datasets``.
MIRROR = Path(os.environ.get("BAYESCALE_DATA") or _DEFAULT_MIRROR).expanduser().resolve()
os.environ["BAYESCALE_DATA"] = str(MIRROR)
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


def in_ci() -> bool:
    """True under continuous integration (``CI`` set to anything but empty, ``0`` or ``false``)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def mirror_available() -> bool:
    return (MIRROR / "epoch_chinchilla").is_dir()


_NO_MIRROR = (
    f"dataset mirror not found at {MIRROR} (BAYESCALE_DATA): set BAYESCALE_DATA to the folder "
    "holding epoch_chinchilla/, or place the mirror at ../shared/datasets"
)


def pytest_sessionstart(session: pytest.Session) -> None:
    """In CI a missing mirror fails the run at once instead of skipping every real-data test."""
    if in_ci() and not mirror_available():
        raise pytest.UsageError(f"CI: {_NO_MIRROR}")


#: Real-data tests: skipped with a reason outside CI when the mirror is absent (in CI the
#: session refuses to start instead, see :func:`pytest_sessionstart`).
needs_mirror = pytest.mark.skipif(not mirror_available() and not in_ci(), reason=_NO_MIRROR)


@pytest.fixture(scope="session")
def epoch_runs():
    if not mirror_available():
        if in_ci():
            pytest.fail(f"CI: {_NO_MIRROR}")
        pytest.skip(_NO_MIRROR)
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
