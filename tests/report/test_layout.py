"""The report's figures as a reader sees them: no clipped text, no colliding ticks, full width.

The figure checks use matplotlib's own bounding boxes (each text's window extent after a draw);
the page check renders the report in headless Chromium and measures every figure there.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess

import matplotlib
import pytest

matplotlib.use("Agg")

import bayescale as bs
from bayescale.modeling.spec import load_spec
from bayescale.report import html as report_html
from bayescale.testing import fake_fit

CHROMIUM = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None
)


def _small_fit():
    """The demo's situation: the bundled small-run table and its spec (narrow loss range)."""
    fit = fake_fit("chinchilla", draws=200, runs=bs.load_dataset("runner_cpu"))
    fit.spec = load_spec("chinchilla_small")
    return fit


FITS = {"small_runs": _small_fit, "chinchilla_scale": lambda: fake_fit("chinchilla", draws=200)}


def _texts(fig):
    """Every visible, non-empty text of the figure with where it belongs."""
    out = []
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        for name, t in (
            ("title", ax.title),
            ("left title", ax._left_title),
            ("right title", ax._right_title),
            ("xlabel", ax.xaxis.label),
            ("ylabel", ax.yaxis.label),
        ):
            out.append((f"axes {i} {name}", t))
        for axis in ("x", "y"):
            for t in _tick_labels(ax, axis):
                out.append((f"axes {i} {axis} tick", t))
        legend = ax.get_legend()
        if legend is not None:
            out.extend((f"axes {i} legend", t) for t in legend.get_texts())
    out.extend(("figure text", t) for t in fig.texts)
    return [(where, t) for where, t in out if t.get_visible() and t.get_text().strip()]


def _tick_labels(ax, axis, minor=False):
    """The tick labels matplotlib draws: non-empty and inside the axis's view limits."""
    lo, hi = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
    k = 0 if axis == "x" else 1
    labels = getattr(ax, f"get_{axis}ticklabels")(minor=minor)
    return [
        t
        for t in labels
        if t.get_visible()
        and t.get_text().strip()
        and lo * (1 - 1e-9) <= t.get_position()[k] <= hi * (1 + 1e-9)
    ]


def _drawn(fig):
    canvas = fig.canvas
    if not hasattr(canvas, "get_renderer"):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


@pytest.fixture(scope="module", params=list(FITS))
def drawn_figures(request):
    fit = FITS[request.param]()
    figures = {}
    for key, (_, draw) in report_html.FIGURES.items():
        try:
            fig = draw(fit, 0.9)
        except bs.exceptions.BayescaleError:
            continue  # a figure the model cannot draw is a note in the report
        figures[key] = (fig, _drawn(fig))
    yield request.param, figures
    import matplotlib.pyplot as plt

    plt.close("all")


def test_no_text_overflows_its_figure(drawn_figures):
    name, figures = drawn_figures
    assert {"loss_params", "ppc", "parameters", "trace"} <= set(figures)
    problems = []
    for key, (fig, renderer) in figures.items():
        box = fig.bbox
        for where, text in _texts(fig):
            b = text.get_window_extent(renderer)
            if b.x0 < box.x0 - 1 or b.x1 > box.x1 + 1 or b.y0 < box.y0 - 1 or b.y1 > box.y1 + 1:
                problems.append(f"{key}: {where} {text.get_text()!r} leaves the figure")
    assert not problems, f"{name}: " + "; ".join(problems)


def test_tick_labels_do_not_overlap(drawn_figures):
    name, figures = drawn_figures
    problems = []
    for key, (fig, renderer) in figures.items():
        for i, ax in enumerate(fig.axes):
            if not ax.get_visible():
                continue
            for axis in ("x", "y"):
                labels = _tick_labels(ax, axis) + _tick_labels(ax, axis, minor=True)
                boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in labels]
                for (ta, a), (tb, b) in itertools.combinations(boxes, 2):
                    if a.overlaps(b):
                        problems.append(f"{key} axes {i} {axis}: {ta!r} overlaps {tb!r}")
    assert not problems, f"{name}: " + "; ".join(problems)


def test_loss_axes_read_as_plain_numbers_with_enough_ticks(drawn_figures):
    """Not "4×10⁰", and more than two ticks on a loss range under a decade."""
    name, figures = drawn_figures
    fig, _ = figures["loss_params"]
    ax = fig.axes[0]
    shown = [t.get_text() for t in _tick_labels(ax, "y") + _tick_labels(ax, "y", minor=True)]
    lo, hi = ax.get_ylim()
    assert not any("times" in s or "×" in s for s in shown), shown  # no "4×10⁰"
    if hi / lo < 10:
        inside = [v for v in ax.get_yticks() if lo <= v <= hi]
        assert len(inside) >= 3, (name, shown)


def test_trace_panels_are_named(drawn_figures):
    _, figures = drawn_figures
    fig, _ = figures["trace"]
    titles = [ax.get_title() for ax in fig.axes]
    assert "alpha: density per chain" in titles and "alpha: trace per chain" in titles
    assert all(titles), titles


def test_one_interval_mass_per_table():
    fit = fake_fit("chinchilla", draws=100)
    page = report_html.render_report(fit, figures=[])
    for table in re.findall(r"<table.*?</table>", page, re.S):
        masses = set(re.findall(r"(\d+)% (?:interval|\])", table)) | set(
            re.findall(r"\[(\d+)%\]", table)
        )
        assert len(masses) <= 1, masses
    assert "Published 95% intervals" in page


def test_excluded_outliers_are_drawn_apart_and_named(tmp_path):
    """A user table with 2 flagged runs: the loss plot draws them as excluded, by run id."""
    runs = bs.load_dataset("runner_cpu").copy()
    runs["outlier"] = False
    runs.loc[runs.index[:2], "outlier"] = True
    path = tmp_path / "runs.csv"
    runs.to_csv(path, index=False)
    table = bs.read_runs(path)
    fitted = bs.ScalingModel("chinchilla_small").prepare(table)
    fit = fake_fit("chinchilla", draws=50, runs=fitted)
    fit.tree.attrs.update(source=str(path), outliers_excluded=2, dataset="")
    from bayescale.plots import plot_loss

    ax = plot_loss(fit, x="params")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    ids = runs["run_id"].head(2).tolist()
    assert any(lbl.startswith("excluded outliers (2: ") and ids[0] in lbl for lbl in labels)
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="needs headless chromium (apt-get install chromium)")
def test_report_in_headless_chromium(tmp_path):
    """Every figure spans the content column and nothing overflows the page sideways."""
    fit = _small_fit()
    page = report_html.render_report(fit, budgets=[1e13, 1e14])
    probe = """<script>addEventListener('load', () => {
      const col = document.body.getBoundingClientRect().width;
      const imgs = [...document.querySelectorAll('figure img')].map(i => ({
        id: i.closest('figure').id, w: i.getBoundingClientRect().width, nw: i.naturalWidth}));
      const pre = document.createElement('pre'); pre.id = 'probe';
      pre.textContent = JSON.stringify({col, imgs, scroll: document.documentElement.scrollWidth,
                                        view: innerWidth});
      document.body.appendChild(pre);});</script>"""
    path = tmp_path / "report.html"
    path.write_text(page.replace("</body>", probe + "</body>"), encoding="utf-8")
    args = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--window-size=1280,900",
        "--virtual-time-budget=10000",
    ]
    dom = subprocess.run(
        [*args, "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, "chromium did not run the page's probe"
    probe_out = json.loads(found.group(1).replace("&quot;", '"'))
    assert probe_out["scroll"] <= probe_out["view"], "the page overflows sideways"
    assert len(probe_out["imgs"]) >= 6
    for img in probe_out["imgs"]:
        assert img["w"] >= 0.97 * probe_out["col"], f"{img['id']} fills {img['w']:.0f} px"
        assert img["nw"] >= 0.9 * img["w"], f"{img['id']} is upscaled (blurry)"
    shot = tmp_path / "report.png"
    subprocess.run([*args, f"--screenshot={shot}", path.as_uri()], capture_output=True, timeout=120)
    assert shot.is_file() and shot.stat().st_size > 20_000
