"""The hostile inputs of issue 17, rebuilt: each is a command line run against a folder of
prepared files (a fit, a run table, an unrelated file, a folder, damaged fits and tables).

Every case must end with exit code 2 (or 0 where the input is legal), one line on stderr
without a traceback, every prepared file unchanged, no new file (nor hidden temporary) in the
folder, and sampling never started. ``tests/cli/test_hostile.py`` runs them;
``python tests/cli/hostile.py`` prints the tally.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path

import h5py
import pandas as pd

#: Stands for an unwritable folder: sysfs for root (who writes through permission bits),
#: else a folder made read-only.
RO = "{ro}"

GOOD_FIT = ["predict", "fit.nc", "--params", "1e9", "--tokens", "2e10"]
FIT = ["fit", "--data", "runs.csv"]

#: (name, argv, expected exit code, needle of the one stderr line).
CASES: list[tuple[str, list[str], int, str]] = [
    # ---- fit: numeric options
    ("fit draws 0", [*FIT, "--draws", "0", "--out", "o.nc"], 2, "--draws: must be"),
    ("fit draws -5", [*FIT, "--draws", "-5", "--out", "o.nc"], 2, "--draws: must be"),
    ("fit draws=-5", [*FIT, "--draws=-5", "--out", "o.nc"], 2, "--draws: must be"),
    ("fit draws 1.5", [*FIT, "--draws", "1.5", "--out", "o.nc"], 2, "--draws: expected an integer"),
    ("fit draws abc", [*FIT, "--draws", "abc", "--out", "o.nc"], 2, "--draws: expected"),
    ("fit tune 0", [*FIT, "--tune", "0", "--out", "o.nc"], 2, "--tune: must be"),
    ("fit tune -1", [*FIT, "--tune", "-1", "--out", "o.nc"], 2, "--tune: must be"),
    ("fit chains 0", [*FIT, "--chains", "0", "--out", "o.nc"], 2, "--chains: must be"),
    ("fit chains -2", [*FIT, "--chains", "-2", "--out", "o.nc"], 2, "--chains: must be"),
    ("fit seed -1", [*FIT, "--seed", "-1", "--out", "o.nc"], 2, "--seed: must be"),
    ("fit seed 2**64", [*FIT, "--seed", str(2**64), "--out", "o.nc"], 2, "--seed: must be"),
    ("fit seed 1e3", [*FIT, "--seed", "1e3", "--out", "o.nc"], 2, "--seed: expected"),
    ("fit sampler bogus", [*FIT, "--sampler", "stan", "--out", "o.nc"], 2, "invalid choice"),
    ("fit unknown option", [*FIT, "--drawz", "5", "--out", "o.nc"], 2, "unrecognized"),
    ("fit no --out", FIT, 2, "--out"),
    ("fit no --data", ["fit", "--out", "o.nc"], 2, "--data"),
    # ---- fit: output paths
    ("fit out is a folder", [*FIT, "--out", "folder"], 2, "is a folder"),
    ("fit out unrelated file", [*FIT, "--out", "notes.txt"], 2, "exists; use --force"),
    ("fit out csv table", [*FIT, "--out", "other.csv"], 2, "exists; use --force"),
    ("fit out = data", [*FIT, "--out", "runs.csv", "--force"], 2, "is an input"),
    ("fit out unwritable", [*FIT, "--out", f"{RO}/o.nc"], 2, "cannot write in"),
    ("fit out under a file", [*FIT, "--out", "notes.txt/o.nc"], 2, "is not a folder"),
    ("fit out empty", [*FIT, "--out", ""], 2, "empty path"),
    ("fit out garbage fit", [*FIT, "--out", "garbage.nc"], 2, "exists; use --force"),
    # ---- fit: data, spec, law
    ("fit data missing", ["fit", "--data", "nope.csv", "--out", "o.nc"], 2, "nope.csv"),
    (
        "fit dataset unknown",
        ["fit", "--data", "epoch_chinchila", "--out", "o.nc"],
        2,
        "did you mean",
    ),
    ("fit data empty", ["fit", "--data", "empty.csv", "--out", "o.nc"], 2, "empty.csv"),
    ("fit data header only", ["fit", "--data", "header.csv", "--out", "o.nc"], 2, "header.csv"),
    ("fit data binary", ["fit", "--data", "binary.csv", "--out", "o.nc"], 2, "binary.csv"),
    ("fit data negative loss", ["fit", "--data", "negloss.csv", "--out", "o.nc"], 2, "'loss'"),
    ("fit data zero params", ["fit", "--data", "zeroparams.csv", "--out", "o.nc"], 2, "'params'"),
    ("fit data nan tokens", ["fit", "--data", "nantokens.csv", "--out", "o.nc"], 2, "'tokens'"),
    ("fit data text loss", ["fit", "--data", "textloss.csv", "--out", "o.nc"], 2, "'loss'"),
    ("fit data no tokens", ["fit", "--data", "notokens.csv", "--out", "o.nc"], 2, "'tokens'"),
    ("fit data is a fit", ["fit", "--data", "fit.nc", "--out", "o.nc"], 2, "fit.nc"),
    ("fit data is a folder", ["fit", "--data", "folder", "--out", "o.nc"], 2, "folder"),
    ("fit spec missing", [*FIT, "--spec", "nope.toml", "--out", "o.nc"], 2, "nope.toml"),
    ("fit spec garbage", [*FIT, "--spec", "notes.txt", "--out", "o.nc"], 2, "notes.txt"),
    ("fit law unknown", [*FIT, "--law", "chinchila", "--out", "o.nc"], 2, "chinchila"),
    ("fit group missing", [*FIT, "--group", "family", "--out", "o.nc"], 2, "family"),
    # ---- predict
    (
        "predict params -70e9",
        ["predict", "fit.nc", "--params", "-70e9", "--tokens", "1e12", "--out", "p.csv"],
        2,
        "--params: must be positive",
    ),
    (
        "predict tokens -1.4e12",
        ["predict", "fit.nc", "--params", "7e10", "--tokens", "-1.4e12", "--out", "p.csv"],
        2,
        "--tokens: must be positive",
    ),
    (
        "predict flops -1e23",
        ["predict", "fit.nc", "--params", "7e10", "--flops", "-1e23", "--out", "p.csv"],
        2,
        "--flops: must be positive",
    ),
    (
        "predict params 0",
        ["predict", "fit.nc", "--params", "0", "--tokens", "1e12", "--out", "p.csv"],
        2,
        "--params: must be positive",
    ),
    (
        "predict params nan",
        ["predict", "fit.nc", "--params", "nan", "--tokens", "1e12", "--out", "p.csv"],
        2,
        "finite",
    ),
    (
        "predict params inf",
        ["predict", "fit.nc", "--params", "inf", "--tokens", "1e12", "--out", "p.csv"],
        2,
        "finite",
    ),
    (
        "predict params text",
        ["predict", "fit.nc", "--params", "big", "--tokens", "1e12", "--out", "p.csv"],
        2,
        "expected a number",
    ),
    ("predict ci 0", [*GOOD_FIT, "--ci", "0", "--out", "p.csv"], 2, "--ci: must be between"),
    ("predict ci 1", [*GOOD_FIT, "--ci", "1", "--out", "p.csv"], 2, "--ci: must be between"),
    ("predict ci 1.5", [*GOOD_FIT, "--ci", "1.5", "--out", "p.csv"], 2, "--ci: must be between"),
    ("predict ci -0.1", [*GOOD_FIT, "--ci", "-0.1", "--out", "p.csv"], 2, "--ci: must be between"),
    ("predict seed -3", [*GOOD_FIT, "--seed", "-3", "--out", "p.csv"], 2, "--seed: must be"),
    ("predict out = fit", [*GOOD_FIT, "--out", "fit.nc"], 2, "is an input"),
    ("predict out = fit forced", [*GOOD_FIT, "--out", "fit.nc", "--force"], 2, "is an input"),
    ("predict out unrelated", [*GOOD_FIT, "--out", "notes.txt"], 2, "exists; use --force"),
    ("predict out folder", [*GOOD_FIT, "--out", "folder"], 2, "is a folder"),
    ("predict out unwritable", [*GOOD_FIT, "--out", f"{RO}/p.csv"], 2, "cannot write in"),
    (
        "predict fit missing",
        ["predict", "nope.nc", "--params", "1e9", "--tokens", "2e10", "--out", "p.csv"],
        2,
        "no such fit file",
    ),
    (
        "predict fit garbage",
        ["predict", "garbage.nc", "--params", "1e9", "--tokens", "2e10", "--out", "p.csv"],
        2,
        "cannot be read",
    ),
    (
        "predict fit truncated",
        ["predict", "truncated.nc", "--params", "1e9", "--tokens", "2e10", "--out", "p.csv"],
        2,
        "truncated.nc: cannot be read",
    ),
    (
        "predict fit tampered",
        ["predict", "tampered.nc", "--params", "1e9", "--tokens", "2e10", "--out", "p.csv"],
        2,
        "'posterior' group failed its checksum",
    ),
    (
        "predict fit is a csv",
        ["predict", "runs.csv", "--params", "1e9", "--tokens", "2e10", "--out", "p.csv"],
        2,
        "runs.csv",
    ),
    (
        "predict at missing",
        ["predict", "fit.nc", "--at", "nope.csv", "--out", "p.csv"],
        2,
        "nope.csv",
    ),
    (
        "predict at empty",
        ["predict", "fit.nc", "--at", "empty.csv", "--out", "p.csv"],
        2,
        "empty.csv",
    ),
    (
        "predict at and params",
        ["predict", "fit.nc", "--at", "runs.csv", "--params", "1e9", "--out", "p.csv"],
        2,
        "not both",
    ),
    ("predict no points", ["predict", "fit.nc", "--out", "p.csv"], 2, "no points"),
    ("predict group unknown", [*GOOD_FIT, "--group", "x", "--out", "p.csv"], 2, "group"),
    # ---- allocate
    (
        "allocate flops -1",
        ["allocate", "fit.nc", "--flops", "-1", "--out", "a.csv"],
        2,
        "--flops: must be positive",
    ),
    (
        "allocate flops 0",
        ["allocate", "fit.nc", "--flops", "0", "--out", "a.csv"],
        2,
        "--flops: must be positive",
    ),
    (
        "allocate flops -1e23",
        ["allocate", "fit.nc", "--flops", "1e21", "-1e23", "--out", "a.csv"],
        2,
        "--flops: must be positive",
    ),
    ("allocate no flops", ["allocate", "fit.nc", "--out", "a.csv"], 2, "--flops"),
    (
        "allocate ci 2",
        ["allocate", "fit.nc", "--flops", "1e21", "--ci", "2", "--out", "a.csv"],
        2,
        "--ci",
    ),
    (
        "allocate inference -1",
        ["allocate", "fit.nc", "--flops", "1e21", "--inference-tokens", "-1", "--out", "a.csv"],
        2,
        "--inference-tokens",
    ),
    (
        "allocate unique 0",
        ["allocate", "fit.nc", "--flops", "1e21", "--unique-tokens", "0", "--out", "a.csv"],
        2,
        "--unique-tokens",
    ),
    (
        "allocate method bogus",
        ["allocate", "fit.nc", "--flops", "1e21", "--method", "magic", "--out", "a.csv"],
        2,
        "invalid choice",
    ),
    (
        "allocate out = fit",
        ["allocate", "fit.nc", "--flops", "1e21", "--out", "fit.nc", "--force"],
        2,
        "is an input",
    ),
    (
        "allocate out folder",
        ["allocate", "fit.nc", "--flops", "1e21", "--out", "folder"],
        2,
        "is a folder",
    ),
    # ---- decide
    ("decide flops -1", ["decide", "fit.nc", "--flops", "-1"], 2, "--flops: must be positive"),
    (
        "decide risk 0",
        ["decide", "fit.nc", "--flops", "1e21", "--risk-quantile", "0"],
        2,
        "--risk-quantile",
    ),
    (
        "decide risk 1.5",
        ["decide", "fit.nc", "--flops", "1e21", "--risk-quantile", "1.5"],
        2,
        "--risk-quantile",
    ),
    ("decide target -2", ["decide", "fit.nc", "--target-loss", "-2"], 2, "--target-loss"),
    ("decide nothing", ["decide", "fit.nc"], 2, "--flops"),
    (
        "decide bogus candidate",
        ["decide", "fit.nc", "--flops", "1e21", "--candidates", "bogus"],
        2,
        "bogus",
    ),
    (
        "decide out = fit",
        ["decide", "fit.nc", "--flops", "1e21", "--out", "fit.nc", "--force"],
        2,
        "is an input",
    ),
    # ---- report
    ("report out = fit", ["report", "fit.nc", "--out", "fit.nc"], 2, "is an input"),
    (
        "report out = fit forced",
        ["report", "fit.nc", "--out", "fit.nc", "--force"],
        2,
        "is an input",
    ),
    ("report out unrelated", ["report", "fit.nc", "--out", "notes.txt"], 2, "exists; use --force"),
    ("report out folder", ["report", "fit.nc", "--out", "folder"], 2, "is a folder"),
    ("report ci 1.5", ["report", "fit.nc", "--ci", "1.5", "--out", "r.html"], 2, "--ci"),
    ("report flops -1", ["report", "fit.nc", "--flops", "-1", "--out", "r.html"], 2, "--flops"),
    ("report fit tampered", ["report", "tampered.nc", "--out", "r.html"], 2, "checksum"),
    ("report fit missing", ["report", "nope.nc", "--out", "r.html"], 2, "no such fit file"),
    # ---- summary
    ("summary ci 0", ["summary", "fit.nc", "--ci", "0"], 2, "--ci"),
    ("summary fit missing", ["summary", "nope.nc"], 2, "no such fit file"),
    ("summary fit garbage", ["summary", "garbage.nc"], 2, "cannot be read"),
    ("summary fit truncated", ["summary", "truncated.nc"], 2, "truncated.nc"),
    ("summary fit tampered", ["summary", "tampered.nc"], 2, "checksum"),
    ("summary fit folder", ["summary", "folder"], 2, "folder"),
    # ---- compare
    ("compare one fit", ["compare", "fit.nc"], 2, "two or more fits"),
    ("compare same fit twice", ["compare", "fit.nc", "fit.nc"], 2, "the same fit"),
    ("compare fit and its copy", ["compare", "fit.nc", "copy.nc"], 2, "the same fit"),
    ("compare other table", ["compare", "fit.nc", "other.nc"], 2, "same losses"),
    (
        "compare threshold for loo",
        ["compare", "fit.nc", "other.nc", "--threshold", "1e20"],
        2,
        "extrapolation only",
    ),
    (
        "compare no threshold",
        ["compare", "fit.nc", "other.nc", "--method", "extrapolation"],
        2,
        "needs --threshold",
    ),
    ("compare draws 0", ["compare", "fit.nc", "other.nc", "--draws", "0"], 2, "--draws"),
    ("compare missing", ["compare", "fit.nc", "nope.nc"], 2, "nope.nc"),
    ("compare garbage", ["compare", "fit.nc", "garbage.nc"], 2, "garbage.nc"),
    (
        "compare out = fit",
        ["compare", "fit.nc", "other.nc", "--out", "fit.nc", "--force"],
        2,
        "is an input",
    ),
    # ---- demo, datasets, the command line itself
    ("demo out is a file", ["demo", "--out", "notes.txt"], 2, "not a folder"),
    ("demo chains 0", ["demo", "--chains", "0"], 2, "--chains"),
    ("demo seed -1", ["demo", "--seed", "-1"], 2, "--seed"),
    ("demo report exists", ["demo", "--out", "demo"], 2, "report.html: exists"),
    ("datasets show unknown", ["datasets", "show", "nope"], 2, "nope"),
    ("unknown command", ["fitt"], 2, "invalid choice"),
    ("no command", [], 2, ""),
]


def _write_fixtures(root: Path) -> None:
    """The prepared files every case runs against."""
    from bayescale.testing import fake_fit, synthetic_runs

    runs = synthetic_runs("chinchilla", n=30, seed=3)
    runs.to_csv(root / "runs.csv", index=False)
    fit = fake_fit("chinchilla", draws=50, runs=runs)
    fit.save(root / "fit.nc")
    shutil.copy(root / "fit.nc", root / "copy.nc")
    fake_fit("chinchilla", draws=50, seed=1).save(root / "other.nc")
    shutil.copy(root / "fit.nc", root / "tampered.nc")
    with h5py.File(root / "tampered.nc", "r+") as f:
        f["posterior/E"][0, 0] = 1.5
    data = (root / "fit.nc").read_bytes()
    (root / "truncated.nc").write_bytes(data[: len(data) // 2])
    (root / "garbage.nc").write_bytes(b"\x89HDF\r\n\x1a\n" + os.urandom(500))
    (root / "notes.txt").write_text("my notes: do not lose\n")
    pd.DataFrame({"a": [1]}).to_csv(root / "other.csv", index=False)
    (root / "empty.csv").write_text("")
    (root / "header.csv").write_text("params,tokens,loss\n")
    (root / "binary.csv").write_bytes(os.urandom(300))
    base = {"params": [1e8, 2e8, 3e8], "tokens": [1e9, 2e9, 3e9], "loss": [3.0, 2.9, 2.8]}
    for name, column, values in [
        ("negloss", "loss", [3.0, -2.9, 2.8]),
        ("zeroparams", "params", [1e8, 0.0, 3e8]),
        ("nantokens", "tokens", [1e9, None, 3e9]),
        ("textloss", "loss", ["3.0", "low", "2.8"]),
    ]:
        pd.DataFrame({**base, column: values}).to_csv(root / f"{name}.csv", index=False)
    pd.DataFrame({"params": base["params"], "loss": base["loss"]}).to_csv(
        root / "notokens.csv", index=False
    )
    (root / "folder").mkdir()
    (root / "demo").mkdir()
    (root / "demo" / "report.html").write_text("<p>an older report</p>")


def make_fixtures(root: Path) -> Path:
    """Write the prepared files under ``root`` (once) and return it."""
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "runs.csv").exists():
        _write_fixtures(root)
    return root


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` (hidden ones too), with a digest of each file's bytes."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def unwritable_folder(root: Path) -> Path:
    """A folder this process cannot create files in."""
    if os.geteuid() == 0:
        return Path("/sys")
    ro = root.parent / f"{root.name}-ro"
    ro.mkdir(exist_ok=True)
    ro.chmod(0o555)
    return ro


@dataclass
class Outcome:
    """What one case did."""

    name: str
    code: int | None
    stderr: str
    traceback: str = ""
    sampled: bool = False
    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)


@contextmanager
def _no_sampling() -> Iterator[list[bool]]:
    """Replace the sampler by a Ctrl-C at its start; record whether it was reached."""
    import bayescale.modeling.sampling as sampling

    started = [False]
    original = sampling.run_nuts

    def refuse(*args: object, **kwargs: object) -> None:
        started[0] = True
        raise KeyboardInterrupt("sampling started")

    sampling.run_nuts = refuse  # type: ignore[assignment]
    try:
        yield started
    finally:
        sampling.run_nuts = original


def run_case(argv: list[str], folder: Path, ro: Path) -> Outcome:
    """Run one command line (in-process) in ``folder`` and record what it did."""
    from bayescale.cli import main

    argv = [a.replace(RO, str(ro)) for a in argv]
    before = snapshot(folder)
    out, err = StringIO(), StringIO()
    cwd = Path.cwd()
    os.chdir(folder)
    tb = ""
    code: int | None = None
    try:
        with _no_sampling() as started, redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # main() must return, not exit
                code = exc.code if isinstance(exc.code, int) else None
                tb = f"SystemExit({exc.code!r}) escaped main()"
            except BaseException:
                tb = traceback.format_exc()
    finally:
        os.chdir(cwd)
    after = snapshot(folder)
    return Outcome(
        name=" ".join(argv),
        code=code,
        stderr=err.getvalue(),
        traceback=tb or ("Traceback" in err.getvalue()) * err.getvalue(),
        sampled=started[0],
        changed=[k for k in before if k in after and after[k] != before[k]]
        + [k for k in before if k not in after],
        added=[k for k in after if k not in before],
    )


def error_line(stderr: str) -> str:
    """The one ``bayescale: error:`` line of ``stderr`` (progress lines before it allowed);
    empty when there is not exactly one, or anything but ``bayescale:`` lines.
    """
    lines = stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("bayescale: error:")]
    if len(errors) != 1 or lines[-1] != errors[0]:
        return ""
    if not all(line.startswith("bayescale: ") for line in lines):
        return ""
    return errors[0]


def tally(workdir: Path) -> dict[str, int]:
    """Run every case, each in a fresh copy of the fixtures; count the contract's breaches."""
    fixtures = make_fixtures(workdir / "fixtures")
    ro = unwritable_folder(workdir / "fixtures")
    counts = dict.fromkeys(
        [
            "cases",
            "tracebacks",
            "wrong_exit",
            "files_destroyed",
            "partial_files",
            "sampled",
            "not_one_line",
        ],
        0,
    )
    for i, (_name, argv, expected, needle) in enumerate(CASES):
        folder = workdir / f"case{i}"
        shutil.copytree(fixtures, folder)
        o = run_case(argv, folder, ro)
        counts["cases"] += 1
        counts["tracebacks"] += bool(o.traceback)
        counts["wrong_exit"] += o.code != expected
        counts["files_destroyed"] += bool(o.changed)
        counts["partial_files"] += bool(o.added)
        counts["sampled"] += o.sampled
        counts["not_one_line"] += bool(needle) and needle not in error_line(o.stderr)
        shutil.rmtree(folder)
    return counts


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        result = tally(Path(tmp))
    print(" ".join(f"{k}={v}" for k, v in result.items()))
    sys.exit(0 if all(v == 0 for k, v in result.items() if k != "cases") else 1)
