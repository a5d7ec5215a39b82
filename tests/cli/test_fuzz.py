"""Property-based fuzzing of the command line (issue 17, item 7).

Command lines are drawn from every command's options with hostile values (zero, negative,
non-finite, huge, text, empty) and from a folder of prepared files (a fit, a table, an unrelated
file, a folder, damaged fits). Whatever the draw: the exit code is 0, 2 or 130, stderr holds no
traceback, and on failure no file is changed and none is left behind (on success only the
``--out`` target may appear). The sampler is replaced by a Ctrl-C at its start (exit 130), so
no draw samples for real.
"""

from __future__ import annotations

import shutil

import pytest
from hostile import make_fixtures, run_case, unwritable_folder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

NUMBERS = st.sampled_from(
    [
        "0",
        "1",
        "-1",
        "-70e9",
        "1e23",
        "-1e23",
        "0.5",
        "1.5",
        "nan",
        "inf",
        "-inf",
        "1e400",
        "abc",
        "",
        "7",
        str(2**64),
        "1e-300",
        "-0",
    ]
)
FILES = st.sampled_from(
    [
        "fit.nc",
        "copy.nc",
        "other.nc",
        "tampered.nc",
        "truncated.nc",
        "garbage.nc",
        "runs.csv",
        "notes.txt",
        "folder",
        "nope.nc",
        "empty.csv",
        "negloss.csv",
        "{ro}/x.nc",
        "new.csv",
    ]
)
OPTIONS = {
    "fit": ["--data", "--out", "--draws", "--tune", "--chains", "--seed", "--law", "--force"],
    "predict": ["--params", "--tokens", "--flops", "--ci", "--seed", "--out", "--at", "--force"],
    "allocate": ["--flops", "--ci", "--inference-tokens", "--unique-tokens", "--out", "--force"],
    "decide": ["--flops", "--risk-quantile", "--target-loss", "--ci", "--out", "--force"],
    "summary": ["--ci", "--json"],
    "compare": ["--draws", "--threshold", "--method", "--out", "--force"],
}
PATH_OPTIONS = {"--data", "--out", "--at"}
FLAGS = {"--force", "--json"}
POSITIONAL = {"predict": 1, "allocate": 1, "decide": 1, "summary": 1, "compare": 2}


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    command = draw(st.sampled_from(sorted(OPTIONS)))
    argv = [command]
    for _ in range(POSITIONAL.get(command, 0) + draw(st.integers(0, 1))):
        argv.append(draw(FILES))
    for option in draw(st.lists(st.sampled_from(OPTIONS[command]), max_size=5, unique=True)):
        if option in FLAGS:
            argv.append(option)
        elif option in PATH_OPTIONS:
            argv += [option, draw(FILES)]
        elif option == "--method":
            argv += [option, draw(st.sampled_from(["loo", "extrapolation", "magic"]))]
        elif option == "--law":
            argv += [option, draw(st.sampled_from(["chinchilla", "kaplan", "nope"]))]
        else:
            argv += [option, *draw(st.lists(NUMBERS, min_size=1, max_size=2))]
    return argv


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    root = make_fixtures(tmp_path_factory.mktemp("fuzz") / "fixtures")
    return root, unwritable_folder(root)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,  # seeded: the same draws on every run
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(argv=command_lines())
def test_fuzz_command_line(fixtures, tmp_path_factory, argv):
    root, ro = fixtures
    folder = tmp_path_factory.mktemp("example")
    shutil.copytree(root, folder, dirs_exist_ok=True)
    o = run_case(argv, folder, ro)
    assert not o.traceback, o.traceback
    assert o.code in {0, 2, 130}, (o.code, o.stderr)
    if o.code == 0:
        out = argv[argv.index("--out") + 1] if "--out" in argv else None
        assert [c for c in o.changed if c != out] == [], o.changed
        assert [a for a in o.added if a != out] == [], o.added
    else:
        assert o.changed == [] and o.added == [], (o.changed, o.added, o.stderr)
    shutil.rmtree(folder)
