"""The hostile command lines of issue 17 (``tests/cli/hostile.py``): each fails with one clear
line and exit code 2 before any sampling, destroys no file and leaves none behind.
"""

from __future__ import annotations

import shutil

import pytest
from hostile import CASES, error_line, make_fixtures, run_case, unwritable_folder


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    root = make_fixtures(tmp_path_factory.mktemp("hostile") / "fixtures")
    return root, unwritable_folder(root)


@pytest.mark.parametrize(("name", "argv", "expected", "needle"), CASES, ids=[c[0] for c in CASES])
def test_hostile_case(fixtures, tmp_path, name, argv, expected, needle):
    root, ro = fixtures
    folder = tmp_path / "case"
    shutil.copytree(root, folder)
    o = run_case(argv, folder, ro)
    assert not o.traceback, o.traceback
    assert o.code == expected, o.stderr
    assert not o.sampled, "sampling started before the input was refused"
    assert o.changed == [], f"files changed or removed: {o.changed}"
    assert o.added == [], f"files left behind: {o.added}"
    if needle:
        assert needle in error_line(o.stderr), o.stderr


def test_there_are_about_a_hundred_cases():
    assert len(CASES) >= 97
    assert len({c[0] for c in CASES}) == len(CASES)
