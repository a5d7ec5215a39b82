"""Helpers shared by the subcommands: parser, option types, output checks, data, messages.

Every check here runs before a command does any work: a bad option or output path is one line
on stderr and exit code 2, never a traceback after a long run.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from bayescale.constants import DEFAULT_CI_PROB

if TYPE_CHECKING:
    import pandas as pd

#: Numbers argparse must read as values, not options: ``-5``, ``-.5``, ``-70e9``, ``-1E+23``.
NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")

#: Largest accepted ``--seed`` (NumPy and the samplers take any non-negative 64-bit integer).
SEED_MAX = 2**63 - 1


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and which reads ``-70e9`` as a number."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # argparse's own pattern misses exponents, so "--params -70e9" would be an option
        self._negative_number_matcher = NEGATIVE_NUMBER

    def error(self, message: str) -> NoReturn:
        """Print ``bayescale: error: MESSAGE (see PROG --help)`` on stderr; exit with code 2."""
        self.exit(2, f"bayescale: error: {message} (see {self.prog} --help)\n")


# ------------------------------------------------------------------------- option types
def _number(text: str, kind: type[int] | type[float]) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected {'an integer' if kind is int else 'a number'}, got {text!r}"
        ) from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def count(minimum: int = 1) -> Callable[[str], int]:
    """An option type: an integer ``>= minimum`` (draws, tune, chains)."""

    def parse(text: str) -> int:
        value = int(_number(text, int))
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {value}")
        return value

    parse.__name__ = "count"
    return parse


def seed(text: str) -> int:
    """An option type: a random seed, an integer in ``[0, 2**63)``."""
    value = int(_number(text, int))
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to 2**63-1, got {value}")
    return value


def positive(text: str) -> float:
    """An option type: a finite number ``> 0`` (budgets, parameter and token counts, losses)."""
    value = _number(text, float)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def non_negative(text: str) -> float:
    """An option type: a finite number ``>= 0``."""
    value = _number(text, float)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def finite(text: str) -> float:
    """An option type: any finite number."""
    return _number(text, float)


def probability(text: str) -> float:
    """An option type: a probability strictly between 0 and 1 (interval mass, quantile)."""
    value = _number(text, float)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text}")
    return value


# ------------------------------------------------------------------------- output paths
#: Argument names that hold input files (compared with every output path).
INPUT_ARGS: tuple[str, ...] = ("fit", "fits", "data", "at", "spec", "sweep")


def add_out(parser: Any, kind: str, *, help: str, required: bool = True, **kwargs: Any) -> None:
    """Add ``--out`` and ``--force``; :func:`check_outputs` checks the path before any work.

    ``kind`` is ``"fit"`` (an existing fit may be replaced, which is stated), ``"file"`` (an
    existing file needs ``--force``) or ``"dir"`` (a folder of outputs; see the command).
    """
    parser.add_argument("--out", required=required, help=help, **kwargs)
    parser.add_argument("--force", action="store_true", help="overwrite an existing output file")
    parser.set_defaults(out_kind=kind)


def _inputs(args: argparse.Namespace) -> list[Path]:
    paths: list[Path] = []
    for name in INPUT_ARGS:
        value = getattr(args, name, None)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and item and Path(item).exists():
                paths.append(Path(item))
    return paths


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def is_fit_file(path: Path) -> bool:
    """Whether ``path`` is a bayescale fit file (reads its root attributes only)."""
    from bayescale.modeling import _container

    try:
        value = _container.peek(path)[0].get("file_format")
    except Exception:  # not HDF5, unreadable: not a fit
        return False
    return isinstance(value, str) and value.startswith("bayescale-fit")


def check_writable_folder(folder: Path, label: str) -> None:
    """Raise unless files can be created in ``folder`` (or in its nearest existing parent)."""
    from bayescale.exceptions import BayescaleError

    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise BayescaleError(f"{label}: {probe} is not a folder")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".bayescale-probe.", dir=probe)
    except OSError as exc:
        raise BayescaleError(f"{label}: cannot write in {probe} ({exc.strerror})") from None
    os.close(fd)
    os.unlink(tmp)


def check_output(
    out: str, *, kind: str, inputs: Iterable[Path] = (), force: bool = False, label: str = "--out"
) -> str | None:
    """Check an output path before any work; return a note to state, if any.

    Raises
    ------
    BayescaleError
        When the path is a folder (for a file output), is one of the inputs, cannot be
        written, or is an existing file and neither ``force`` nor a fit replaced by a fit.
    """
    from bayescale.exceptions import BayescaleError

    path = Path(out)
    if not out.strip():
        raise BayescaleError(f"{label}: empty path")
    for source in inputs:
        if path.exists() and _same_file(path, source):
            raise BayescaleError(f"{label} {out}: is an input of this command; write elsewhere")
    if kind == "dir":
        if path.exists() and not path.is_dir():
            raise BayescaleError(f"{label} {out}: exists and is not a folder")
        check_writable_folder(path, f"{label} {out}")
        return None
    if path.is_dir():
        raise BayescaleError(f"{label} {out}: is a folder; give a file name")
    check_writable_folder(path.parent, f"{label} {out}")
    if path.exists() or path.is_symlink():
        if kind == "fit" and is_fit_file(path):
            return f"replacing the existing fit {out}"
        if not force:
            raise BayescaleError(f"{label} {out}: exists; use --force to overwrite it")
        return f"overwriting {out} (--force)"
    return None


def check_outputs(args: argparse.Namespace) -> None:
    """Check the ``--out`` of a parsed command (see :func:`add_out`); state any replacement."""
    kind = getattr(args, "out_kind", None)
    out = getattr(args, "out", None)
    if kind is None or out is None or out == "-":
        return
    inputs = _inputs(args)
    quiet = bool(getattr(args, "quiet", False))
    note = check_output(out, kind=kind, inputs=inputs, force=bool(args.force))
    if note:
        say(note, quiet=quiet)
    # a folder output: the files the command writes in it (name -> kind)
    for name, file_kind in getattr(args, "out_files", {}).items():
        target = str(Path(out) / name)
        note = check_output(target, kind=file_kind, inputs=inputs, force=bool(args.force))
        if note:
            say(note, quiet=quiet)


def progress_every(quiet: bool = False) -> float | None:
    """Seconds between plain progress lines, or None for none.

    Lines are printed when stderr is not a terminal (logs, CI, Slurm), where a progress bar
    cannot draw; on a terminal the bar shows instead, and ``--quiet`` silences both.
    """
    from bayescale._progress import DEFAULT_EVERY_S

    if quiet or sys.stderr.isatty():
        return None
    return DEFAULT_EVERY_S


def describe_diagnostics(d: dict[str, float]) -> str:
    """``max R-hat 1.002, min ESS 3400, 0 divergences`` (R-hat needs two or more chains)."""
    rhat = (
        f"max R-hat {d['r_hat_max']:.3f}"
        if math.isfinite(d["r_hat_max"])
        else "R-hat not computable (one chain)"
        if d.get("chains") == 1
        else "R-hat not computable"
    )
    return f"{rhat}, min bulk ESS {d['ess_bulk_min']:.0f}, {d['divergences']} divergences"


def print_warnings(caught: Iterable[warnings.WarningMessage], *categories: type[Warning]) -> None:
    """Print recorded warnings as one ``bayescale: WARNING: ...`` line each, without repeats.

    With ``categories`` only warnings of those categories are printed (the rest are dropped);
    without, bayescale's own warnings are printed and any other warning is re-issued.
    """
    seen: set[str] = set()
    for w in caught:
        if categories:
            if not issubclass(w.category, categories):
                continue
        elif not getattr(w.category, "__module__", "").startswith("bayescale"):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            continue
        text = str(w.message)
        if text not in seen:
            seen.add(text)
            print(f"bayescale: WARNING: {text}", file=sys.stderr, flush=True)


def say(message: str, *, quiet: bool = False) -> None:
    """Print a progress line on stderr (standard output stays machine-readable)."""
    if not quiet:
        print(f"bayescale: {message}", file=sys.stderr, flush=True)


def load_runs(
    data: str,
    *,
    group: str | None = None,
    columns: str | None = None,
    params_kind: str | None = None,
    loss_unit: str | None = None,
    quiet: bool = False,
) -> pd.DataFrame:
    """Resolve ``--data``: an existing file is read as a run table, anything else is a dataset.

    ``columns`` is ``--columns`` (``N=params,D=tokens,L=loss``). The table's notes (aliases
    read, columns derived) go to stderr, and so do its warnings (units that look wrong).
    """
    from bayescale.data.registry import load_dataset
    from bayescale.data.schema import parse_columns, read_runs
    from bayescale.exceptions import BayescaleError

    path = Path(data)
    mapping = parse_columns(columns) if columns else None
    is_file = path.exists() or path.suffix.lower() in {
        ".csv",
        ".tsv",
        ".txt",
        ".parquet",
        ".gz",
        ".xlsx",
        ".xls",
        ".ods",
    }
    if not is_file:
        if mapping or params_kind or loss_unit:
            raise BayescaleError(
                f"--columns, --params-kind and --loss-unit apply to a file; {data!r} is a "
                "registered dataset, whose conventions are recorded in the registry"
            )
        return load_dataset(data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runs = read_runs(
            path,
            group=group,
            columns=mapping,
            params_kind=params_kind,  # type: ignore[arg-type]
            loss_unit=loss_unit,  # type: ignore[arg-type]
        )
    for note in runs.attrs.get("notes", []):
        say(f"note: {note}", quiet=quiet)
    print_warnings(caught)
    return runs


def units_line(attrs: Any) -> str:
    """``units: loss in nats per token; params count total parameters`` from a table's attrs."""
    unit = str(attrs.get("loss_unit") or "nats_per_token").replace("_", " ")
    kind = str(attrs.get("params_kind") or "total").replace("_", "-")
    return f"units: loss in {unit}; params count {kind} parameters"


def add_table_output(parser: Any, *, what: str = "the table") -> None:
    """Add ``--out`` (optional; ``-`` is CSV on stdout), ``--force`` and ``--json``."""
    add_out(
        parser,
        "file",
        required=False,
        help=f"also write {what} as CSV to this file ('-': CSV on stdout instead of the "
        "printed table)",
    )
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON records instead")


def labelled(fit: Any, table: pd.DataFrame, *, columns: dict[str, str] | None = None) -> Any:
    """``table`` with its extrapolation distance (extrap_N/D/C); warnings printed on stderr."""
    from bayescale.analysis.extrapolation import label

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = label(fit, table, columns=columns)
    print_warnings(caught)
    return out


def format_table(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> str:
    """A table for the terminal: the chosen columns, 4 significant digits, no index."""
    shown = frame if columns is None else frame[[c for c in columns if c in frame.columns]]
    return shown.to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep="-")


def emit_table(
    frame: pd.DataFrame,
    *,
    out: str | None,
    as_json: bool = False,
    columns: Sequence[str] | None = None,
    title: str | None = None,
    quiet: bool = False,
    what: str = "rows",
) -> None:
    """Print ``frame`` on stdout (readable table, JSON, or CSV with ``--out -``); write ``--out``.

    The readable table shows ``columns`` (every column by default); CSV and JSON hold them all.
    """
    from bayescale.exceptions import BayescaleError

    if out == "-":
        if as_json:
            raise BayescaleError("give one of --json and --out - (both print to stdout)")
        frame.to_csv(sys.stdout, index=False)
        return
    if as_json:
        print(frame.to_json(orient="records", indent=2, double_precision=10))
    else:
        if title:
            print(title)
        print(format_table(frame, columns))
    if out:
        path = write_csv(frame, out)
        say(f"wrote {len(frame)} {what} to {path}", quiet=quiet)


def write_csv(frame: pd.DataFrame, out: str | Path) -> Path:
    """Write a CSV atomically (temporary file in the same folder, then rename)."""
    from bayescale._atomic import atomic_path

    with atomic_path(out) as tmp:
        frame.to_csv(tmp, index=False)
    return Path(out)


def add_ci(parser: Any) -> None:
    """Add ``--ci``, the interval mass (default :data:`~bayescale.constants.DEFAULT_CI_PROB`)."""
    parser.add_argument(
        "--ci",
        type=probability,
        default=DEFAULT_CI_PROB,
        help=f"interval mass (default {DEFAULT_CI_PROB:g})",
    )


def add_seed(parser: Any, help: str = "random seed", default: int | None = None) -> None:
    """Add ``--seed`` (an integer >= 0)."""
    parser.add_argument("--seed", type=seed, default=default, help=help)


def add_quiet(parser: Any) -> None:
    """Add the ``--quiet`` flag."""
    parser.add_argument("--quiet", action="store_true", help="no progress messages")


def add_kind(parser: Any, widens: str) -> None:
    """Add ``--kind {predictive,mean}`` (allocate and decide); ``widens`` names what widens."""
    parser.add_argument(
        "--kind",
        choices=["predictive", "mean"],
        default="predictive",
        help=(
            "predictive (default): each draw's loss includes the uncertainty about the law "
            f"itself past the fitted range (the spec's discrepancy), which widens {widens}; "
            "mean: the law alone"
        ),
    )


def add_budget_variant_args(parser: Any) -> None:
    """Add ``--inference-tokens`` and ``--unique-tokens`` (allocate and decide)."""
    parser.add_argument(
        "--inference-tokens",
        type=non_negative,
        default=0.0,
        help="tokens to serve; the budget pays 2·N per served token (Sardana et al.)",
    )
    parser.add_argument(
        "--unique-tokens",
        type=positive,
        default=None,
        help="cap on unique training tokens (Muennighoff et al. effective data)",
    )
