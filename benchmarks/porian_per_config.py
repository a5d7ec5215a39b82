"""One IsoFLOP fit per porian2024 configuration, against the authors' published exponents.

Fits ``models/isoflop.toml`` (or ``--spec``, with ``--option name=value`` overrides) to each
of the 15 configurations separately and prints the Markdown table of
docs/isoflop-and-comparison.md: posterior median and 90 % interval of ``a`` next to Porian et
al.'s value and 95 % bootstrap interval, whether the intervals overlap, the worst R-hat and
smallest tail ESS over every reported variable, divergences, and the rows fitted (and left out).

Acceptance (issue 5): every median within ±0.03 of the published value, every interval
overlapping.

Run: BAYESCALE_DATA=../shared/datasets python benchmarks/porian_per_config.py [--seed 1]
     [--option neighbours=1] [--option skew=true] [--spec isoflop]
"""

from __future__ import annotations

import argparse
import time
import warnings
from typing import Any

DATASETS = {"rw": "RefinedWeb", "owt2": "OpenWebText2"}


def _value(text: str) -> Any:
    if text in ("true", "false"):
        return text == "true"
    if text == "none":
        return None
    try:
        return int(text)
    except ValueError:
        return float(text)


def main() -> int:
    """Fit every configuration and print the table and a one-line verdict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="isoflop")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()

    import bayescale as bs
    from bayescale.data.published import published_fit
    from bayescale.data.registry import get_entry
    from bayescale.exceptions import ConvergenceWarning
    from bayescale.modeling.spec import load_spec

    options = {k: _value(v) for k, v in (o.split("=", 1) for o in args.option)}
    spec = load_spec(args.spec).with_options(**options)
    runs = bs.load_dataset("porian2024")
    configs = {c["config"]: c for c in get_entry("porian2024").extra["configurations"]}
    print(f"spec {spec.name}, options {dict(spec.options)}, seed {args.seed}\n")
    print(
        "| config | experiment | a, median [90 % interval] | published a [95 %] | diff | "
        "overlap | R-hat max | tail ESS min | div. | rows fitted (left out) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    within = overlap = 0
    t0 = time.perf_counter()
    for cfg in sorted(runs["config"].unique()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fit = bs.ScalingModel(spec).fit(runs[runs["config"] == cfg], random_seed=args.seed)
        table = fit.summary(ci_prob=0.9)
        row = table.loc["a"]
        pub = published_fit(f"porian2024:{cfg}")
        lo, hi = pub.intervals["a"]
        diff = float(row["median"] - pub.values["a"])
        ok_diff, ok_overlap = abs(diff) <= 0.03, row["upper"] >= lo and row["lower"] <= hi
        within += ok_diff
        overlap += ok_overlap
        diag = fit.diagnostics()
        c = configs[cfg]
        print(
            f"| `{cfg}` | {c['experiment']} ({DATASETS[c['dataset']]}) | {row['median']:.3f} "
            f"[{row['lower']:.3f}, {row['upper']:.3f}] | {pub.values['a']:.3f} "
            f"[{lo:.3f}, {hi:.3f}] | {diff:+.3f}{'' if ok_diff else ' **miss**'} | "
            f"{'yes' if ok_overlap else '**no**'} | {diag['r_hat_max']:.3f} | "
            f"{diag['ess_tail_min']:.0f} | {diag['divergences']} | {len(fit.runs)} "
            f"({fit.runs.attrs.get('isoflop_window_excluded', 0)}) |",
            flush=True,
        )
    n = len(configs)
    print(
        f"\n{within} of {n} medians within ±0.03, {overlap} of {n} intervals overlap "
        f"({time.perf_counter() - t0:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
