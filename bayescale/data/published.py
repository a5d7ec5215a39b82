"""Published fits as data: parameter values of scaling laws from the literature.

The values live in ``datasets/published_fits.toml`` (one ``[[fit]]`` per published fit, with
its citation, locator, standard errors or intervals where the source gives them). This module
returns them as :class:`PublishedFit` objects: numbers only, at the bottom of the package
(this module imports no law and no model). The layers above use them

- as priors for a spec: :func:`bayescale.modeling.priors.published_priors`
  (``ScalingModel("chinchilla", priors=published_priors("besiroglu2024", scale=3))``);
- as reference lines in plots and comparisons: the law evaluated with the published values,
  ``get_law(fit.law)(params=..., tokens=..., **fit.values)``; :func:`published_values` gives one
  tidy table of everything.

It also writes the dataset catalogue page ``docs/datasets.md`` (:func:`catalogue_markdown`).
"""

from __future__ import annotations

import difflib
import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from statistics import NormalDist
from typing import TYPE_CHECKING

from bayescale._paths import resource_dir
from bayescale.exceptions import DatasetError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "PublishedFit",
    "catalogue_markdown",
    "list_published_fits",
    "published_fit",
    "published_fits",
    "published_values",
]

_REQUIRED = ("name", "law", "label", "citation", "locator", "values")
_KNOWN = {
    *_REQUIRED,
    "group",
    "params_kind",
    "dataset",
    "se",
    "intervals",
    "interval_prob",
    "notes",
    "config",
}


@dataclass(frozen=True)
class PublishedFit:
    """One published fit of a scaling law.

    Attributes
    ----------
    name : str
        Registry key, e.g. ``"besiroglu2024"`` or ``"porian2024:rw-base-long-kaplan-kaplan-train"``.
    law : str
        Name of the law (a key of :data:`bayescale.laws.LAWS` when the package models it).
    label : str
        Short human-readable label (for legends).
    citation, locator : str
        The source and where in it the numbers are (table, equation, file).
    values : mapping of str to float
        Point estimates, in the units the package's laws take (N in parameters, D in tokens,
        C in FLOP, batch sizes in tokens).
    se : mapping of str to float
        Standard errors, where published.
    intervals : mapping of str to (float, float)
        Intervals with probability ``interval_prob``, where published.
    interval_prob : float or None
        Probability mass of ``intervals``.
    params_kind : str
        ``"total"`` or ``"non_embedding"``: which parameter count the fit used.
    group, dataset, notes, config : str
        Grouping key, training data, free-text notes, and the Porian configuration name.

    Examples
    --------
    >>> fit = published_fit("besiroglu2024")
    >>> fit.values["alpha"], fit.intervals["alpha"]
    (0.3478, (0.317, 0.373))
    """

    name: str
    law: str
    label: str
    citation: str
    locator: str
    values: Mapping[str, float]
    se: Mapping[str, float] = field(default_factory=dict)
    intervals: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    interval_prob: float | None = None
    params_kind: str = ""
    group: str = ""
    dataset: str = ""
    notes: str = ""
    config: str = ""

    def __post_init__(self) -> None:
        where = f"published fit {self.name!r}"
        for key, value in self.values.items():
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise DatasetError(f"{where}: value of {key!r} must be a finite number")
        for key, value in self.se.items():
            if key not in self.values:
                raise DatasetError(f"{where}: standard error for unknown parameter {key!r}")
            if not (isinstance(value, int | float) and value > 0):
                raise DatasetError(f"{where}: standard error of {key!r} must be positive")
        for key, pair in self.intervals.items():
            if key not in self.values:
                raise DatasetError(f"{where}: interval for unknown parameter {key!r}")
            if len(pair) != 2 or not pair[0] < pair[1]:
                raise DatasetError(f"{where}: interval of {key!r} must be [lower, upper]")
        if self.intervals and not (
            self.interval_prob is not None and 0.0 < self.interval_prob < 1.0
        ):
            raise DatasetError(f"{where}: intervals need an interval_prob in (0, 1)")
        object.__setattr__(self, "values", {k: float(v) for k, v in self.values.items()})
        object.__setattr__(self, "se", {k: float(v) for k, v in self.se.items()})
        object.__setattr__(
            self,
            "intervals",
            {k: (float(v[0]), float(v[1])) for k, v in self.intervals.items()},
        )

    def spread(self, param: str) -> float | None:
        """Published standard deviation of ``param``: its s.e., else from its interval.

        An interval of probability ``p`` is read as a normal one: ``(upper - lower) / (2 z)``
        with ``z`` the ``(1 + p) / 2`` normal quantile. None when nothing is published.
        """
        if param in self.se:
            return self.se[param]
        if param in self.intervals and self.interval_prob is not None:
            lo, hi = self.intervals[param]
            z = NormalDist().inv_cdf(0.5 + self.interval_prob / 2)
            return (hi - lo) / (2 * z)
        return None

    def log_spread(self, param: str) -> float | None:
        """Published spread of ``log param``: from a positive interval, else s.e. / value."""
        value = self.values[param]
        if param in self.intervals and self.interval_prob is not None:
            lo, hi = self.intervals[param]
            if lo > 0:
                z = NormalDist().inv_cdf(0.5 + self.interval_prob / 2)
                return (math.log(hi) - math.log(lo)) / (2 * z)
        if param in self.se:
            return self.se[param] / abs(value)
        return None


@cache
def published_fits() -> dict[str, PublishedFit]:
    """Every published fit by name, read once from ``datasets/published_fits.toml``."""
    path = resource_dir("datasets") / "published_fits.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DatasetError(f"{path}: cannot be read ({exc})") from None
    out: dict[str, PublishedFit] = {}
    for i, raw in enumerate(data.get("fit", [])):
        missing = [k for k in _REQUIRED if k not in raw]
        if missing:
            raise DatasetError(f"{path}: fit #{i + 1} ({raw.get('name', '?')!r}) lacks {missing}")
        unknown = set(raw) - _KNOWN
        if unknown:
            raise DatasetError(f"{path}: fit {raw['name']!r} has unknown key(s) {sorted(unknown)}")
        if raw["name"] in out:
            raise DatasetError(f"{path}: fit {raw['name']!r} appears twice")
        kwargs = dict(raw)
        kwargs["intervals"] = {k: tuple(v) for k, v in raw.get("intervals", {}).items()}
        out[raw["name"]] = PublishedFit(**kwargs)
    return out


def published_fit(name: str) -> PublishedFit:
    """Return the published fit ``name``, suggesting the closest name when unknown.

    Examples
    --------
    >>> published_fit("hoffmann2022_approach3").values["alpha"]
    0.34
    """
    fits = published_fits()
    if name not in fits:
        close = difflib.get_close_matches(name, fits, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise DatasetError(f"unknown published fit {name!r}{hint} (see list_published_fits())")
    return fits[name]


def list_published_fits(*, law: str | None = None, group: str | None = None) -> pd.DataFrame:
    """Catalogue of published fits: name, law, group, params_kind, label, citation.

    Parameters
    ----------
    law, group : str, optional
        Keep only fits of this law / group.

    Examples
    --------
    >>> table = list_published_fits(group="porian2024")
    >>> len(table)
    15
    """
    import pandas as pd

    rows = [
        {
            "name": f.name,
            "law": f.law,
            "group": f.group,
            "params_kind": f.params_kind,
            "label": f.label,
            "citation": f.citation,
        }
        for f in published_fits().values()
        if (law is None or f.law == law) and (group is None or f.group == group)
    ]
    return pd.DataFrame(rows, columns=["name", "law", "group", "params_kind", "label", "citation"])


def published_values(names: Iterable[str] | None = None) -> pd.DataFrame:
    """One tidy row per (fit, parameter): value, se, lower, upper, interval_prob.

    Convenient for reference lines and comparisons against a posterior summary.

    Examples
    --------
    >>> t = published_values(["besiroglu2024"])
    >>> t.loc[t["param"] == "beta", ["value", "lower", "upper"]].to_numpy().tolist()
    [[0.3658, 0.331, 0.415]]
    """
    import pandas as pd

    fits = [published_fit(n) for n in names] if names is not None else published_fits().values()
    rows = []
    for f in fits:
        for p, v in f.values.items():
            lo, hi = f.intervals.get(p, (math.nan, math.nan))
            rows.append(
                {
                    "fit": f.name,
                    "law": f.law,
                    "param": p,
                    "value": v,
                    "se": f.se.get(p, math.nan),
                    "lower": lo,
                    "upper": hi,
                    "interval_prob": f.interval_prob if p in f.intervals else math.nan,
                    "params_kind": f.params_kind,
                    "citation": f.citation,
                }
            )
    return pd.DataFrame(rows)


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def catalogue_markdown() -> str:
    """The dataset catalogue page (``docs/datasets.md``), generated from the registry files.

    A test checks that the committed page equals this text; regenerate it with
    ``python -c "from bayescale.data.published import catalogue_markdown as c;
    open('docs/datasets.md', 'w').write(c())"``.
    """
    from bayescale.data.registry import registry

    lines = [
        "# Datasets and published fits",
        "",
        "<!-- Generated by bayescale.data.published.catalogue_markdown() from",
        "     datasets/registry.toml and datasets/published_fits.toml. Do not edit by hand. -->",
        "",
        "Registered tables load with `bayescale.load_dataset(NAME)` (CLI: `bayescale datasets",
        "list | show NAME | path NAME`). Upstream files are fetched from their pinned URLs into",
        "the cache (`$BAYESCALE_DATA`, else the per-user cache) and their SHA-256 is checked on",
        "every load; a file whose checksum differs is refused. Nothing upstream is committed.",
        "Tables with different `params_kind` or `loss_unit` cannot be stacked with",
        "`bayescale.concat_runs` unless the caller converts them and says so (`convert=`).",
        "",
        "## Tables",
        "",
        "| name | kind | rows | params_kind | loss_unit | licence |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    entries = registry()
    for name, e in entries.items():
        lines.append(
            f"| `{name}` | {e.kind} | {e.rows if e.rows is not None else '-'} | "
            f"{e.params_kind or '-'} | {e.loss_unit or '-'} | {_md_escape(e.license)} |"
        )
    for name, e in entries.items():
        lines += ["", f"### `{name}`", "", _md_escape(e.description), ""]
        lines += [
            f"- **Citation:** {_md_escape(e.citation)}",
            f"- **Source:** {_md_escape(e.source)}",
            f"- **Locator:** {_md_escape(e.locator)}",
            f"- **Extraction:** {_md_escape(e.extraction)}",
            f"- **Licence:** {_md_escape(e.license)}",
        ]
        if e.params_kind:
            lines.append(f"- **params_kind:** `{e.params_kind}`")
        if "params_kind_note" in e.extra:
            lines.append(f"  ({_md_escape(e.extra['params_kind_note'])})")
        if e.loss_unit:
            lines.append(f"- **loss_unit:** `{e.loss_unit}`")
        if "group_columns" in e.extra:
            cols = ", ".join(f"`{c}`" for c in e.extra["group_columns"])
            lines.append(f"- **Group columns:** {cols}")
        if e.columns:
            lines += ["", "| column | from upstream | units |", "| --- | --- | --- |"]
            for col, src in e.columns.items():
                unit = e.units.get(col, "")
                lines.append(f"| `{col}` | {_md_escape(src)} | {_md_escape(unit)} |")
        configs = e.extra.get("configurations")
        if configs:
            lines += [
                "",
                "| config | experiment | a (N* ∝ C^a) | 95% interval | b |",
                "| --- | --- | --- | --- | --- |",
            ]
            for c in configs:
                lo, hi = c["a_ci95"]
                lines.append(
                    f"| `{c['config']}` | {_md_escape(c['experiment'])} | {_fmt(c['a'])} | "
                    f"{_fmt(lo)}-{_fmt(hi)} | {_fmt(c['b'])} |"
                )
        lines += ["", "Files (path in the cache, SHA-256, pinned URL):", ""]
        for file in e.files:
            where = "bundled with the package" if file.bundled else file.url
            lines.append(f"- `{file.path}`  \n  `{file.sha256}`  \n  {where}")
    lines += [
        "",
        "## Published fits",
        "",
        "`bayescale.data.published.published_fit(NAME)` returns one as a `PublishedFit`",
        "(`.values`, `.se`, `.intervals`); `bayescale.modeling.priors.published_priors(NAME)`",
        "turns one into priors, and `get_law(fit.law)(**inputs, **fit.values)` evaluates it.",
        "Values are in the units of the package's laws (N in parameters, D in tokens, C in FLOP).",
        "",
        "| name | law | params_kind | values | uncertainty | source |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for f in published_fits().values():
        values = ", ".join(f"{k} = {_fmt(v)}" for k, v in f.values.items())
        unc = []
        unc += [f"{k} s.e. {_fmt(v)}" for k, v in f.se.items()]
        if f.intervals:
            pct = f"{round(100 * (f.interval_prob or 0))}%"
            unc += [f"{k} {pct} [{_fmt(lo)}, {_fmt(hi)}]" for k, (lo, hi) in f.intervals.items()]
        lines.append(
            f"| `{f.name}` | {f.law} | {f.params_kind or '-'} | {values} | "
            f"{'; '.join(unc) or '-'} | {_md_escape(f.citation)}, {_md_escape(f.locator)} |"
        )
    return "\n".join(lines) + "\n"
