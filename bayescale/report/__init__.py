"""One self-contained HTML page of a fit: summary, diagnostics, allocations, figures, provenance.

Examples
--------
>>> import tempfile, pathlib
>>> from bayescale.testing import fake_fit
>>> from bayescale.report import write_report
>>> out = write_report(fake_fit("chinchilla", draws=100),
...                    pathlib.Path(tempfile.mkdtemp()) / "report.html", figures=("loss_params",))
>>> out.read_text().count("data:image/png;base64,")
1
"""

from __future__ import annotations

from bayescale.report.html import FIGURES, STANDARD_BUDGETS, render_report, write_report

__all__ = ["FIGURES", "STANDARD_BUDGETS", "render_report", "write_report"]
