"""``bayescale summary``: posterior summary of a saved fit."""

from __future__ import annotations

import argparse
import json
import math

from bayescale.cli._common import add_ci, describe_diagnostics, units_line


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``summary`` subcommand."""
    p = sub.add_parser("summary", help="posterior medians, intervals and diagnostics of a fit")
    p.add_argument("fit", help="a fit file written by `bayescale fit`")
    add_ci(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--strict", action="store_true", help="exit with code 3 when the diagnostics fail"
    )
    p.set_defaults(func=run)


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def run(args: argparse.Namespace) -> int:
    """Handle ``bayescale summary``."""
    import sys

    from bayescale.modeling.fit import CONVERGENCE_REMEDY, load_fit

    fit = load_fit(args.fit)
    table = fit.summary(ci_prob=args.ci)
    problems = fit.check_convergence(warn=False)
    if problems:
        print(
            "bayescale: WARNING: this fit failed its diagnostics: "
            + "; ".join(problems)
            + ". "
            + CONVERGENCE_REMEDY,
            file=sys.stderr,
        )
    code = 3 if problems and args.strict else 0
    if args.json:
        out = {
            name: {
                "median": _num(row["median"]),
                "lower": _num(row["lower"]),
                "upper": _num(row["upper"]),
                "r_hat": _num(row["r_hat"]),
                "ess_bulk": _num(row["ess_bulk"]),
            }
            for name, row in table.iterrows()
        }
        print(json.dumps(out, indent=2))
        return code
    d = fit.diagnostics()
    print(f"{fit!r}  source={fit.tree.attrs.get('source')}  spec={fit.spec.name}")
    print(units_line(fit.tree.attrs))
    cols = ["median", "lower", "upper", "r_hat", "ess_bulk"]
    print(table[cols].to_string(float_format=lambda v: f"{v:.4g}"))
    print(
        f"{describe_diagnostics(d)}; interval: {args.ci:.0%} equal-tailed"
        + ("" if not problems else "; DIAGNOSTICS FAILED (see stderr)")
    )
    return code
