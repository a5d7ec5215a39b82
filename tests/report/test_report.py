"""The HTML report: content on fake posteriors, the real Epoch fit, a headless-browser render."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from bayescale.exceptions import BayescaleError
from bayescale.report import FIGURES, render_report, write_report
from bayescale.testing import fake_fit

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("BAYESCALE_TEST_ARTIFACTS", ROOT / "build" / "test-artifacts"))
IMG = re.compile(r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)">')


@pytest.fixture(scope="module")
def fake_page():
    return render_report(fake_fit("chinchilla", draws=150))


def test_sections_and_figures(fake_page):
    for anchor in ("summary", "diagnostics", "published", "allocation", "figures", "provenance"):
        assert f"id={anchor}>" in fake_page
    images = IMG.findall(fake_page)
    assert len(images) == len(FIGURES) >= 5
    for data in images:  # every figure is a real PNG
        import base64

        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"


def test_self_contained(fake_page):
    assert not re.search(r'(src|href)="(?!data:|#)', fake_page)
    assert "<link" not in fake_page and "<script" not in fake_page
    assert fake_page.startswith("<!DOCTYPE html>")


def test_tables_have_the_numbers(fake_page):
    fit = fake_fit("chinchilla", draws=150)
    alpha = fit.summary().loc["alpha"]
    assert f"{alpha['median']:.4g}" in fake_page
    # Chinchilla's budget and Besiroglu et al.'s published alpha interval
    assert "5.76e+23" in fake_page
    assert "0.3478 <span class=ci>[0.317, 0.373]</span>" in fake_page
    assert "Kaplan et al. 2020" in fake_page
    # HTML in cells is not escaped twice
    assert "&lt;span" not in fake_page


def test_provenance(fake_page):
    fit = fake_fit("chinchilla", draws=150)
    assert fit.tree.attrs["runs_sha256"] in fake_page
    assert fit.spec.spec_id in fake_page
    assert "sampler" in fake_page and "fake, 2 chains × 150 draws" in fake_page


def test_figures_the_model_cannot_draw_become_notes(monkeypatch):
    from bayescale.report import html

    def refuse(fit, ci_prob):
        raise BayescaleError("this law has no tokens input")

    monkeypatch.setitem(html.FIGURES, "isoflop", ("IsoFLOP curves", refuse))
    page = render_report(fake_fit(draws=50), figures=["loss_params", "isoflop"])
    assert len(IMG.findall(page)) == 1
    assert (
        '<p class=note id="fig-isoflop">IsoFLOP curves: not drawn (this law has no tokens' in page
    )


def test_kaplan_fit_report():
    page = render_report(fake_fit("kaplan", draws=100), figures=["frontier", "parameters"])
    assert len(IMG.findall(page)) == 2
    assert "Kaplan et al. 2020, L(N, D)" in page  # the published fit of the same law


def test_write_is_atomic_and_readable(tmp_path):
    out = write_report(fake_fit(draws=100), tmp_path / "sub" / "r.html", figures=["loss_params"])
    assert out.exists() and out.stat().st_mode & 0o044  # others may read a shared report
    assert [p.name for p in out.parent.iterdir()] == ["r.html"]


def test_bad_arguments():
    fit = fake_fit(draws=50)
    with pytest.raises(BayescaleError, match="unknown figure"):
        render_report(fit, figures=["nope"])
    with pytest.raises(BayescaleError, match="ci_prob"):
        render_report(fit, ci_prob=1.5)


# ----------------------------------------------------------------- the real fit, in a browser
@pytest.fixture(scope="module")
def epoch_report(epoch_fit, tmp_path_factory):
    from bayescale.exceptions import ConvergenceWarning

    path = tmp_path_factory.mktemp("report") / "report.html"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        write_report(epoch_fit, path)
    return path


def test_epoch_report_content(epoch_report, epoch_fit):
    page = epoch_report.read_text()
    assert len(IMG.findall(page)) >= 5
    assert "epoch_chinchilla" in page
    assert epoch_fit.tree.attrs["dataset_sha256"] in page
    assert "not drawn" not in page


_PROBE = """<script>
window.__errors = [];
window.addEventListener('error', function (e) {
  var t = e.target || {};
  window.__errors.push(t.tagName ? 'failed to load ' + t.tagName : String(e.message));
}, true);
var _err = console.error;
console.error = function () { window.__errors.push(Array.from(arguments).join(' ')); };
window.addEventListener('load', function () {
  var imgs = Array.from(document.images);
  var out = document.createElement('pre');
  out.id = '__status';
  out.textContent = JSON.stringify({
    images: imgs.length,
    broken: imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                .map(function (i) { return i.alt; }),
    errors: window.__errors
  });
  document.body.appendChild(out);
});
</script>"""


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _run_chromium(exe: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        exe,
        "--headless",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.browser
def test_report_renders_in_headless_chromium(epoch_report, tmp_path):
    exe = _chromium()
    if exe is None:
        pytest.skip("headless Chromium not installed (Debian: apt-get install chromium)")
    page = epoch_report.read_text()
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("<head>", "<head>" + _PROBE, 1))
    dom = _run_chromium(
        exe, tmp_path / "p1", "--virtual-time-budget=10000", "--dump-dom", probed.as_uri()
    )
    match = re.search(r'<pre id="__status">(.*?)</pre>', dom.stdout, re.S)
    assert match, f"no status from the page; chromium said: {dom.stderr[-2000:]}"
    status = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert status["images"] >= 5
    assert status["broken"] == []
    assert status["errors"] == []
    console = [ln for ln in dom.stderr.splitlines() if "CONSOLE" in ln and "ERROR" in ln]
    assert console == []

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "epoch_chinchilla_report.png"
    shot.unlink(missing_ok=True)
    run = _run_chromium(
        exe,
        tmp_path / "p2",
        "--window-size=1280,2400",
        "--virtual-time-budget=10000",
        f"--screenshot={shot}",
        epoch_report.as_uri(),
    )
    assert shot.exists(), run.stderr[-2000:]
    pixels = matplotlib.image.imread(shot)
    gray = pixels[..., :3].mean(axis=-1)
    assert gray.std() > 0.05  # not a blank page
    assert (gray < 0.5).mean() > 0.01  # there is dark ink (text, axes)
    assert np.unique((pixels[..., :3] * 255).astype(int).reshape(-1, 3), axis=0).shape[0] > 50


def test_pooled_fit_report():
    from dataclasses import replace

    import pandas as pd

    from bayescale.testing import synthetic_runs

    runs = pd.concat(
        [
            synthetic_runs(seed=1, n=20).assign(family="a"),
            synthetic_runs(seed=2, n=20).assign(family="b"),
        ],
        ignore_index=True,
    )
    fit = fake_fit("chinchilla", runs=runs, draws=100)
    alpha = fit.posterior["alpha"].expand_dims(family=["a", "b"]).copy()
    alpha.loc[{"family": "b"}] = alpha.sel(family="b") * 1.2
    tree = fit.tree.copy()
    tree["posterior"] = tree["posterior"].to_dataset().assign(alpha=alpha)
    fit = type(fit)(tree, fit.spec, runs, replace(fit.info, group="family", groups=("a", "b")))
    page = render_report(fit, figures=["loss_params", "frontier"], budgets=[1e21, 1e23])
    assert len(IMG.findall(page)) == 2
    assert "<th>alpha[a]</th>" in page and "<th>alpha[b]</th>" in page
    assert page.count("<td>a</td>") == 2 and page.count("<td>b</td>") == 2  # one row per budget
    assert "family: a, b" in page  # provenance names the pooling


def test_backtest_section_from_rows(tmp_path):
    import pandas as pd

    from bayescale.analysis.backtest import score_draws

    rng = np.random.default_rng(0)
    loss = np.exp(rng.normal(1.0, 0.02, 40))
    draws = np.log(loss)[:, None] + 0.02 * rng.standard_normal((40, 400))
    rows = pd.concat(
        [
            pd.DataFrame(
                {"table": "t", "model": "chinchilla:predictive", "factor_bin": [3.0, 10.0] * 20}
            ),
            score_draws(draws, loss),
        ],
        axis=1,
    )
    fit = fake_fit("chinchilla", draws=100)
    assert "id=backtest>" not in render_report(fit, figures=[])
    page = render_report(fit, figures=[], backtest=rows)
    assert "id=backtest>" in page and 'href="#backtest"' in page
    assert 'id="fig-calibration"' in page and len(IMG.findall(page)) == 1
    table = page[page.index("id=backtest>") :]
    assert "10×" in table and "3×" in table
    cov = float(rows.loc[rows.factor_bin == 3.0, "inside_90"].mean())
    assert f"{cov:.3g}" in table
    bad = render_report(fit, figures=[], backtest=rows.drop(columns=["pit"]))
    assert "Not shown" in bad[bad.index("id=backtest>") :]
    # the CLI reads the rows from a CSV
    from bayescale.cli import main

    csv, fit_path, out = tmp_path / "rows.csv", tmp_path / "fit.nc", tmp_path / "r.html"
    rows.to_csv(csv, index=False)
    fit.save(fit_path)
    code = main(["report", str(fit_path), "--out", str(out), "--backtest", str(csv), "--quiet"])
    assert code == 0 and "id=backtest>" in out.read_text()
    assert (
        main(
            [
                "report",
                str(fit_path),
                "--out",
                str(out),
                "--force",
                "--backtest",
                str(tmp_path / "none.csv"),
            ]
        )
        == 2
    )
