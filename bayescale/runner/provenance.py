"""Provenance notes for a run table made by the runner (no torch at import time).

Examples
--------
>>> from bayescale.runner.provenance import cpu_name
>>> isinstance(cpu_name(), str)
True
"""

from __future__ import annotations

import csv
import hashlib
import platform
from pathlib import Path

from bayescale.runner.io import result_paths

__all__ = ["cpu_name", "provenance_markdown", "sha256_file"]


def sha256_file(path: str | Path) -> str:
    """SHA-256 hex digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cpu_name() -> str:
    """The CPU model name (``/proc/cpuinfo`` on Linux, else :func:`platform.processor`)."""
    info = Path("/proc/cpuinfo")
    if info.is_file():
        for line in info.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def provenance_markdown(
    out: str | Path, sweep_file: str | Path, *, title: str = "", command: str = ""
) -> str:
    """Describe a finished run table: versions, corpus, machine, wall times, hashes.

    Parameters
    ----------
    out : str or pathlib.Path
        The runs file (curves and noise files beside it are described too).
    sweep_file : str or pathlib.Path
        The sweep it was made from.
    title : str, optional
        Heading.
    command : str, optional
        The command that regenerates it.

    Returns
    -------
    str
        Markdown text.
    """
    runs_p, curves_p, noise_p = result_paths(out)
    with open(runs_p, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ValueError(f"{runs_p} has no runs")

    def uniq(col: str) -> str:
        return ", ".join(sorted({r.get(col, "") for r in rows}))

    wall = sum(float(r["wall_s"]) for r in rows)
    train_s = sum(float(r["train_s"]) for r in rows)
    losses = [float(r["loss"]) for r in rows]
    params = sorted({int(float(r["params"])) for r in rows})
    tokens = sorted({int(float(r["tokens"])) for r in rows})
    lines = [
        f"# {title or 'Provenance of ' + runs_p.name}",
        "",
        "Made by the bayescale runner (`bayescale.runner`); every number below is read from "
        "the files themselves.",
        "",
        "| item | value |",
        "| --- | --- |",
        f"| runner version | {uniq('runner_version')} |",
        f"| torch | {uniq('torch_version')} |",
        f"| python | {uniq('python_version')} ({platform.python_implementation()}) |",
        f"| device | {uniq('device')} (`cpu:<arch>:<threads>t`) |",
        f"| CPU | {cpu_name()} |",
        f"| sweep | `{Path(sweep_file).name}` (in this folder) |",
        f"| corpus | {uniq('corpus')}, tokenizer {uniq('tokenizer')}, vocab {uniq('vocab_size')} |",
        f"| corpus fingerprint (SHA-256) | `{uniq('corpus_fingerprint')}` |",
        f"| runs | {len(rows)}: {len(params)} sizes x {len(tokens)} token budgets |",
        f"| params (total) | {params[0]:,} .. {params[-1]:,} |",
        f"| tokens | {tokens[0]:,} .. {tokens[-1]:,} |",
        f"| final validation loss (nats/byte) | {min(losses):.4f} .. {max(losses):.4f} |",
        f"| total wall time | {wall:.1f} s ({wall / 60:.1f} min; {train_s:.1f} s in training "
        "steps, the rest in evaluations and checkpoints) |",
        "",
        "Conventions: `params` = total parameters (`params_kind: total`), `loss` = final "
        "validation loss in nats per token (byte tokenizer: nats per byte; "
        "`loss_unit: nats_per_token`), `flops` = 6·params·tokens. Every other convention "
        "is a column (see `docs/runner.md`).",
        "",
        "## Files",
        "",
        "| file | rows | SHA-256 |",
        "| --- | --- | --- |",
    ]
    for p in (runs_p, curves_p, noise_p, Path(sweep_file)):
        if p.is_file():
            n: int | str = "-"
            if p.suffix == ".csv":
                n = len(p.read_text(encoding="utf-8").splitlines()) - 1
            lines.append(f"| `{p.name}` | {n} | `{sha256_file(p)}` |")
    lines += [
        "",
        "## Per-run wall time",
        "",
        "| run_id | n_layer | d_model | params | tokens | steps | loss | wall_s | tokens/s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    key = sorted(rows, key=lambda r: (float(r["params"]), float(r["tokens"])))
    for r in key:
        lines.append(
            f"| `{r['run_id']}` | {r['n_layer']} | {r['d_model']} | {int(float(r['params'])):,} "
            f"| {int(float(r['tokens'])):,} | {r['steps']} | {float(r['loss']):.4f} "
            f"| {float(r['wall_s']):.1f} | {float(r['tokens_per_s']):,.0f} |"
        )
    if command:
        lines += [
            "",
            "## Regenerate",
            "",
            "```",
            command,
            "```",
            "",
            "Run ids hash the run settings, the corpus fingerprint and the runner version, so a "
            "different Python (a different standard library) or runner version gives new ids "
            "and new rows. Losses are reproducible bit for bit only on the same torch build, "
            "CPU type and thread count.",
        ]
    return "\n".join(lines) + "\n"
