"""Render a fit as one self-contained HTML page (figures embedded as base64 PNG)."""

from __future__ import annotations

import base64
import html
import io
import json
import platform
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayescale._atomic import atomic_path
from bayescale._version import __version__
from bayescale.exceptions import BayescaleError
from bayescale.intervals import check_ci

__all__ = ["FIGURES", "STANDARD_BUDGETS", "render_report", "write_report"]

#: Budgets (FLOP) of the allocation table: 1e21 to 1e25, with Chinchilla's 5.76e23.
STANDARD_BUDGETS: tuple[float, ...] = (1e21, 1e22, 1e23, 5.76e23, 1e24, 1e25)

#: Published fits of the allocation comparison (short names of the plots' reference lines).
_REFERENCE_ALLOCATIONS = ("hoffmann", "epoch", "kaplan")


#: Width of every figure (inches): drawn at :data:`_DPI` it fills the page's content column.
_FIG_WIDTH = 11.6
_DPI = 100


def _figure(width: float = _FIG_WIDTH, height: float = 5.0, ncols: int = 1) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, axes


def _loss(x: str) -> Callable[[Any, float], Any]:
    def draw(fit: Any, ci_prob: float) -> Any:
        from bayescale.plots import plot_loss

        fig, (ax,) = _figure()
        plot_loss(fit, x=x, ci_prob=ci_prob, ax=ax)
        return fig

    return draw


def _isoflop(fit: Any, ci_prob: float) -> Any:
    from bayescale.plots import plot_isoflop

    fig, (ax,) = _figure()
    plot_isoflop(fit, ci_prob=ci_prob, ax=ax)
    return fig


def _frontier(fit: Any, ci_prob: float) -> Any:
    from bayescale.plots import plot_frontier

    fig, axes = _figure(ncols=2)
    plot_frontier(fit, quantity="params", ci_prob=ci_prob, ax=axes[0])
    plot_frontier(fit, quantity="tokens", ci_prob=ci_prob, ax=axes[1])
    return fig


def _parameters(fit: Any, ci_prob: float) -> Any:
    from matplotlib.figure import Figure

    from bayescale.plots import plot_parameter

    names = [p for p in fit.law.params if p in fit.posterior]
    ncols = min(3, len(names))
    nrows = -(-len(names) // ncols)
    fig = Figure(figsize=(_FIG_WIDTH, 3.9 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for name, ax in zip(names, axes, strict=False):
        plot_parameter(fit, name=name, ci_prob=ci_prob, ax=ax)
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    return fig


def _ppc(fit: Any, ci_prob: float) -> Any:
    from bayescale.plots import plot_ppc

    fig, axes = _figure(ncols=2)
    plot_ppc(fit, prior=True, ci_prob=ci_prob, ax=axes[0])
    plot_ppc(fit, prior=False, ci_prob=ci_prob, ax=axes[1])
    return fig


def _trace(fit: Any, ci_prob: float) -> Any:
    from bayescale.plots import plot_diagnostics

    fig = plot_diagnostics(fit, kind="trace")
    fig.set_size_inches(_FIG_WIDTH, 2.1 * len(fit.param_names()))
    fig.set_layout_engine("constrained")  # titles and tick labels of stacked panels apart
    return fig


#: The report's figures, in page order: key -> (caption, drawing function).
FIGURES: dict[str, tuple[str, Callable[[Any, float], Any]]] = {
    "loss_params": ("Loss against parameters N, at fixed token counts", _loss("params")),
    "loss_tokens": ("Loss against training tokens D, at fixed model sizes", _loss("tokens")),
    "loss_flops": ("Loss of the compute-optimal allocation against compute C", _loss("flops")),
    "isoflop": ("IsoFLOP curves with the posterior compute-optimal size", _isoflop),
    "frontier": ("Allocation frontier N_opt(C), D_opt(C) against published fits", _frontier),
    "parameters": ("Parameter posteriors against published values", _parameters),
    "ppc": ("Prior (left) and posterior (right) predictive checks", _ppc),
    "trace": ("Sampler diagnostics: per-chain densities and traces (arviz-plots)", _trace),
}


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    import matplotlib.pyplot as plt

    plt.close(fig)  # figures made through pyplot (arviz-plots) are registered there
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _num(value: Any, digits: int = 4) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return html.escape(str(value))
    if not np.isfinite(v):
        return "–"
    return f"{v:.{digits}g}"


def _table(frame: pd.DataFrame, *, index: bool = True, css: str = "") -> str:
    """An HTML table: string cells are HTML already (escaped by the caller), numbers formatted."""
    head = ([frame.index.name or ""] if index else []) + [str(c) for c in frame.columns]
    rows = []
    for idx, row in frame.iterrows():
        cells = ([f"<th>{html.escape(str(idx))}</th>"] if index else []) + [
            f"<td>{v if isinstance(v, str) else _num(v)}</td>" for v in row
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    th = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
    return (
        f'<table class="{css}"><thead><tr>{th}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _interval(median: float, lower: float, upper: float) -> str:
    return f"{_num(median)} <span class=ci>[{_num(lower)}, {_num(upper)}]</span>"


def _summary_section(fit: Any, ci_prob: float) -> str:
    table = fit.summary(ci_prob=ci_prob)
    shown = pd.DataFrame(
        {
            "median": table["median"],
            f"{ci_prob:.0%} interval": [
                f"[{_num(lo)}, {_num(hi)}]"
                for lo, hi in zip(table["lower"], table["upper"], strict=True)
            ],
            "mean": table["mean"],
            "sd": table["sd"],
            "R-hat": [
                f'<span class="{"bad" if r > 1.01 else "ok"}">{_num(r, 4)}</span>'
                for r in table["r_hat"]
            ],
            "ESS bulk": table["ess_bulk"].round(0),
            "ESS tail": table["ess_tail"].round(0),
        },
        index=table.index,
    )
    shown.index.name = "parameter"
    d = fit.diagnostics()
    problems = fit.check_convergence(warn=False)
    verdict = (
        '<p class="ok">No convergence problems: R-hat ≤ 1.01, ESS ≥ 400, no divergences.</p>'
        if not problems
        else '<p class="bad">Convergence problems: '
        + html.escape("; ".join(problems))
        + ". Sample longer, raise target_accept or revisit the priors before trusting "
        "these numbers.</p>"
    )
    diag = (
        f"<p>{d['chains']} chains × {d['draws']} draws; max R-hat {_num(d['r_hat_max'])}, "
        f"min bulk ESS {d['ess_bulk_min']:.0f}, min tail ESS {d['ess_tail_min']:.0f}, "
        f"{d['divergences']} divergent transitions.</p>"
    )
    return (
        "<h2 id=summary>Posterior summary</h2>"
        f"<p>Medians with {ci_prob:.0%} equal-tailed intervals.</p>"
        + _table(shown)
        + "<h2 id=diagnostics>Sampler diagnostics</h2>"
        + diag
        + verdict
    )


def _allocation_section(fit: Any, budgets: Sequence[float], ci_prob: float) -> str:
    from bayescale.analysis.allocate import allocate, to_frame
    from bayescale.plots._draws import REFERENCE_FITS, reference_allocation

    try:
        # the default (predictive) allocation, its law-error draws seeded so a page is
        # reproducible
        ds = allocate(fit, flops=list(budgets), ci_prob=ci_prob, random_seed=0)
        frame = to_frame(ds, ci_prob)
    except BayescaleError as exc:
        return (
            "<h2 id=allocation>Compute-optimal allocations</h2>"
            f"<p class=note>Not available: {html.escape(str(exc))}</p>"
        )
    cols = {
        "params_opt": "N_opt (parameters)",
        "tokens_opt": "D_opt (tokens)",
        "tokens_per_param": "tokens per parameter",
        "loss_opt": "loss at the optimum",
    }
    shown = pd.DataFrame(index=[_num(c, 3) for c in frame["flops"]])
    shown.index.name = "budget C (FLOP)"
    if "group" in frame:
        shown["group"] = frame["group"].astype(str).to_numpy()
        shown["group"] = [html.escape(g) for g in shown["group"]]
    for var, label in cols.items():
        if f"{var}_median" in frame:
            shown[label] = [
                _interval(m, lo, hi)
                for m, lo, hi in zip(
                    frame[f"{var}_median"],
                    frame[f"{var}_lower"],
                    frame[f"{var}_upper"],
                    strict=True,
                )
            ]
    ref = pd.DataFrame(index=[_num(c, 3) for c in budgets])
    ref.index.name = "budget C (FLOP)"
    notes = []
    for name in _REFERENCE_ALLOCATIONS:
        r = REFERENCE_FITS[name]
        alloc = reference_allocation(name, np.asarray(budgets, dtype=float))
        ref[f"N_opt, {r.label}"] = alloc["params_opt"]
        ref[f"D/N, {r.label}"] = alloc["tokens_opt"] / alloc["params_opt"]
        notes.append(f"<li>{html.escape(r.label)}: {html.escape(r.citation)}</li>")
    return (
        "<h2 id=allocation>Compute-optimal allocations</h2>"
        f"<p>Posterior medians with {ci_prob:.0%} intervals of the allocation that minimises the "
        "fitted law under C = 6·N·D, for standard budgets"
        + (
            ", each posterior draw with its own error of the law past the fitted range (the "
            "spec's discrepancy; kind='predictive')"
            if ds.attrs.get("law_error")
            else ""
        )
        + ".</p>"
        + _table(shown)
        + "<h3>The same budgets under published fits</h3>"
        + _table(ref)
        + "<ul class=cite>"
        + "".join(notes)
        + "</ul>"
    )


def _backtest_section(rows: pd.DataFrame) -> str:
    """Coverage, interval score and width of back-test rows, and their calibration curve."""
    from bayescale.analysis.backtest import calibration, summarize_backtest
    from bayescale.plots.checks import plot_calibration

    try:
        summary = summarize_backtest(rows, by=("model", "factor_bin"))
        curve = calibration(rows)
    except (BayescaleError, KeyError) as exc:
        return (
            "<h2 id=backtest>Back-test</h2>"
            "<p class=note>Not shown: the back-test rows cannot be scored "
            f"({html.escape(str(exc))}); give the rows written by "
            "<code>bayescale backtest --out</code>.</p>"
        )
    cols = {
        "n": "runs scored",
        "coverage_50": "50 % band coverage",
        "coverage_90": "90 % band coverage",
        "interval_score_90": "interval score (90 %)",
        "mean_width_90": "mean 90 % width",
        "median_abs_rel_error": "median |rel. error|",
        "bias": "bias",
    }
    shown = pd.DataFrame(
        {
            label: [
                _num(v, 3) if key in ("n", "coverage_50", "coverage_90") else f"{v:.2%}"
                for v in summary[key]
            ]
            for key, label in cols.items()
        }
    )
    shown.insert(0, "extrapolation", [f"{f:g}×" for f in summary["factor_bin"]])
    shown.insert(0, "model", [html.escape(str(m)) for m in summary["model"]])
    fig, axes = _figure(height=4.0)
    plot_calibration(curve, ax=axes[0])
    tables = sorted({str(t) for t in rows["table"]}) if "table" in rows else []
    return (
        "<h2 id=backtest>Back-test</h2>"
        "<p>Fits below compute cuts, scored on the held-out larger runs"
        + (f" of {html.escape(', '.join(tables))}" if tables else "")
        + ": coverage of the 50 % and 90 % predictive bands (nominal 0.5 and 0.9), the interval "
        "score of the 90 % band (its width plus 20× any miss, relative to the loss; lower is "
        "better), the band's mean width and the median's error, by extrapolation factor "
        "(held-out compute over the largest fitted compute).</p>"
        + _table(shown, index=False)
        + f'<figure id="fig-calibration"><img alt="calibration" src="data:image/png;base64,'
        f'{_png(fig)}"><figcaption>Nominal against empirical coverage of central predictive '
        "bands, per extrapolation factor (a calibrated model lies on the diagonal).</figcaption>"
        "</figure>"
    )


def _published_section(fit: Any, ci_prob: float) -> str:
    from bayescale.data.published import published_fits

    fits = [f for f in published_fits().values() if f.law == fit.spec.law]
    if not fits:
        return (
            "<h2 id=published>Comparison to published fits</h2>"
            f"<p class=note>No published fit of the {html.escape(fit.spec.law)!s} law is "
            "registered.</p>"
        )
    table = fit.summary(ci_prob=ci_prob)
    params = [p for p in fit.law.params if p in table.index]
    shown = pd.DataFrame(index=params)
    shown.index.name = "parameter"
    shown[f"this fit, median [{ci_prob:.0%}]"] = [
        _interval(table.loc[p, "median"], table.loc[p, "lower"], table.loc[p, "upper"])
        for p in params
    ]
    # one interval mass per table: published values beside this fit's intervals, and the
    # published intervals (another mass, e.g. 95%) in tables of their own, one per mass
    by_mass: dict[float, pd.DataFrame] = {}
    notes = []
    for f in fits:
        shown[f.label] = [_num(f.values[p]) if p in f.values else "–" for p in params]
        if f.intervals and f.interval_prob:
            other = by_mass.setdefault(float(f.interval_prob), pd.DataFrame(index=params))
            other.index.name = "parameter"
            other[f.label] = [
                _interval(f.values[p], *f.intervals[p]) if p in f.intervals else "–" for p in params
            ]
        prob = f" (its intervals: {f.interval_prob:.0%})" if f.interval_prob else ""
        source = f"{f.citation}; {f.locator}"
        notes.append(f"<li>{html.escape(f.label)}{prob}: {html.escape(source)}</li>")
    extra = "".join(
        f"<h3>Published {mass:.0%} intervals</h3>" + _table(frame)
        for mass, frame in sorted(by_mass.items())
    )
    return (
        "<h2 id=published>Comparison to published fits</h2>"
        f"<p>This fit's medians and {ci_prob:.0%} intervals next to the published values "
        "of the same law. Different data, parameter counts or losses make different values; "
        "the table says how different. Published intervals, where the source gives them, "
        "follow in their own table: their mass differs from this fit's.</p>"
        + _table(shown)
        + extra
        + "<ul class=cite>"
        + "".join(notes)
        + "</ul>"
    )


def _provenance_section(fit: Any) -> str:
    import arviz
    import pymc

    attrs = fit.tree.attrs
    post = fit.posterior
    rows = {
        "dataset": attrs.get("dataset") or "(a user table)",
        "dataset SHA-256": attrs.get("dataset_sha256") or "–",
        "source": attrs.get("source") or "–",
        "runs fitted": str(len(fit.runs)),
        "outliers excluded": str(attrs.get("outliers_excluded", 0)),
        "run table SHA-256": attrs.get("runs_sha256", "–"),
        "parameter count": attrs.get("params_kind") or "–",
        "loss unit": attrs.get("loss_unit") or "–",
        "law": f"{fit.law.name}: {fit.law.description}",
        "spec": f"{fit.spec.name} (id {fit.spec.spec_id})",
        "pooling": (
            f"{fit.info.group}: {', '.join(fit.info.groups)}" if fit.info.group else "none"
        ),
        "sampler": f"{attrs.get('sampler', '?')}, {post.sizes['chain']} chains × "
        f"{post.sizes['draw']} draws, seed {attrs.get('random_seed') or 'none'}",
        "fit created": attrs.get("created_utc", "–"),
        "fitted with": f"bayescale {attrs.get('bayescale_version', '?')}",
        "report made with": f"bayescale {__version__}, PyMC {pymc.__version__}, "
        f"ArviZ {arviz.__version__}, Python {platform.python_version()}",
        "report created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    body = "".join(
        f"<tr><th>{html.escape(k)}</th><td><code>{html.escape(str(v))}</code></td></tr>"
        for k, v in rows.items()
    )
    spec_json = json.dumps(json.loads(fit.spec.to_json()), indent=2)
    return (
        "<h2 id=provenance>Provenance</h2>"
        f"<table class=prov><tbody>{body}</tbody></table>"
        "<details><summary>Model spec (priors as data)</summary>"
        f"<pre>{html.escape(spec_json)}</pre></details>"
    )


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1180px;margin:2em auto;
padding:0 1em;color:#1b1b1b;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;
margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right}th{background:#f4f4f4}
table.prov th{text-align:left}table.prov td{text-align:left}
.ci{color:#666;font-size:.9em}.ok{color:#1a7f37}.bad{color:#b42318;font-weight:600}
.note{color:#666;font-style:italic}figure{margin:1.2em 0}figure img{width:100%;height:auto;
border:1px solid #eee;box-sizing:border-box}figcaption{color:#444;font-size:.92em}
nav a{margin-right:1em}
ul.cite{font-size:.85em;color:#555}pre{background:#f7f7f7;padding:.8em;overflow:auto}
"""


def render_report(
    fit: Any,
    *,
    budgets: Sequence[float] = STANDARD_BUDGETS,
    ci_prob: float | None = None,
    figures: Sequence[str] | None = None,
    title: str | None = None,
    backtest: pd.DataFrame | None = None,
) -> str:
    """The report of ``fit`` as one HTML string (no external resources).

    Parameters
    ----------
    fit : Fit
        A fit (e.g. from :func:`bayescale.load_fit`).
    budgets : sequence of float
        FLOP budgets of the allocation tables (default :data:`STANDARD_BUDGETS`).
    ci_prob : float, optional
        Mass of every equal-tailed interval on the page. Default
        :data:`~bayescale.constants.DEFAULT_CI_PROB`.
    figures : sequence of str, optional
        Keys of :data:`FIGURES` to include (default: all). A figure the model cannot draw
        (e.g. an allocation for a law without N and D) is replaced by a note saying why.
    title : str, optional
        Page title (default: law and dataset).
    backtest : pandas.DataFrame, optional
        Rows of :func:`bayescale.analysis.backtest.backtest` (or the CSV of ``bayescale
        backtest --out``); when given, a back-test section shows their coverage, interval score
        and width per extrapolation factor and the calibration curve.

    Returns
    -------
    str
        The page.
    """
    ci_prob = check_ci(ci_prob)
    keys = list(FIGURES) if figures is None else list(figures)
    unknown = [k for k in keys if k not in FIGURES]
    if unknown:
        raise BayescaleError(f"unknown figure(s) {unknown}; known: {', '.join(FIGURES)}")
    dataset = fit.tree.attrs.get("dataset") or "a user table"
    title = title or f"bayescale report: {fit.spec.law} law fitted to {dataset}"
    parts = [_summary_section(fit, ci_prob)]
    parts.append(_published_section(fit, ci_prob))
    parts.append(_allocation_section(fit, budgets, ci_prob))
    if backtest is not None:
        parts.append(_backtest_section(backtest))
    figs = ["<h2 id=figures>Figures</h2>"]
    for key in keys:
        caption, draw = FIGURES[key]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # overflow in wide prior draws
                data = _png(draw(fit, ci_prob))
        except BayescaleError as exc:
            figs.append(
                f'<p class=note id="fig-{key}">{html.escape(caption)}: not drawn '
                f"({html.escape(str(exc))})</p>"
            )
            continue
        figs.append(
            f'<figure id="fig-{key}"><img alt="{html.escape(caption)}" '
            f'src="data:image/png;base64,{data}"><figcaption>{html.escape(caption)}'
            "</figcaption></figure>"
        )
    parts.append("".join(figs))
    parts.append(_provenance_section(fit))
    nav = "".join(
        f'<a href="#{a}">{t}</a>'
        for a, t in (
            ("summary", "Summary"),
            ("diagnostics", "Diagnostics"),
            ("published", "Published fits"),
            ("allocation", "Allocations"),
            *((("backtest", "Back-test"),) if backtest is not None else ()),
            ("figures", "Figures"),
            ("provenance", "Provenance"),
        )
    )
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(fit.law.description)}; {len(fit.runs)} runs. "
        f"Intervals are {ci_prob:.0%} equal-tailed.</p><nav>{nav}</nav>"
        + "".join(parts)
        + "</body></html>\n"
    )


def write_report(
    fit: Any,
    path: str | Path,
    *,
    budgets: Sequence[float] = STANDARD_BUDGETS,
    ci_prob: float | None = None,
    figures: Sequence[str] | None = None,
    title: str | None = None,
    backtest: pd.DataFrame | None = None,
) -> Path:
    """Write the report of ``fit`` to ``path`` atomically; see :func:`render_report`.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    text = render_report(
        fit, budgets=budgets, ci_prob=ci_prob, figures=figures, title=title, backtest=backtest
    )
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
