"""The docs: every ```python block runs; generated reference pages are current; links resolve."""

from __future__ import annotations

import importlib.util
import re
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
CODE = re.compile(r"^```python\n(.*?)^```", re.M | re.S)
#: A page may set up its examples out of sight: an HTML comment ``<!-- docs-setup ... -->``
#: holding Python that runs before the page's first block (e.g. a small fit the page discusses).
SETUP = re.compile(r"<!--\s*docs-setup\n(.*?)-->", re.S)
#: Pages whose code does not run on its own yet, with the reason (strict: remove when fixed).
NOT_SELF_CONTAINED: dict[str, str] = {}
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _rel(page: Path) -> str:
    return page.relative_to(DOCS).as_posix()


def _generator():
    spec = importlib.util.spec_from_file_location("docs_generate", DOCS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _code_pages() -> list:
    out = []
    for page in PAGES:
        if not CODE.search(page.read_text(encoding="utf-8")):
            continue
        reason = NOT_SELF_CONTAINED.get(_rel(page))
        marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
        out.append(pytest.param(page, marks=marks, id=_rel(page)))
    return out


@pytest.mark.parametrize("page", _code_pages())
def test_code_blocks_run(page, tmp_path, monkeypatch):
    """Blocks of a page run in order in one namespace, in an empty working folder."""
    from bayescale.exceptions import ConvergenceWarning, DatasetError
    from tests.conftest import in_ci, mirror_available

    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs.{_rel(page)}"}
    text = page.read_text(encoding="utf-8")
    blocks = [("setup", b) for b in SETUP.findall(text)]
    blocks += [(f"python block {i}", b) for i, b in enumerate(CODE.findall(text), start=1)]
    try:
        for label, block in blocks:
            with warnings.catch_warnings():
                # the docs' fits use small sampler settings to stay fast
                warnings.simplefilter("ignore", ConvergenceWarning)
                code = compile(block, f"{page.relative_to(ROOT)} ({label})", "exec")
                exec(code, namespace)
    except DatasetError:
        if mirror_available() or in_ci():
            raise
        pytest.skip("the page loads a published table and the mirror (BAYESCALE_DATA) is absent")
    finally:
        plt.close("all")


@pytest.mark.parametrize("rel", ["reference/cli.md", "reference/api.md"])
def test_generated_pages_are_current(rel):
    gen = _generator()
    expected = gen.PAGES[rel]()
    actual = (DOCS / rel).read_text(encoding="utf-8")
    assert actual == expected, f"docs/{rel} is stale: run `python docs/generate.py`"


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_relative_links_resolve(page):
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target):
            continue  # external (https:, mailto:)
        path = (page.parent / target).resolve()
        if not path.exists():
            broken.append(target)
    assert not broken, f"{_rel(page)} links to missing files: {broken}"


def test_every_page_is_reachable_from_the_index():
    seen: set[Path] = set()
    todo = [DOCS / "index.md"]
    while todo:
        page = todo.pop()
        if page in seen or not page.exists():
            continue
        seen.add(page)
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if not re.match(r"^[a-z]+:", target) and target.endswith(".md"):
                todo.append((page.parent / target).resolve())
    orphans = sorted(_rel(p) for p in PAGES if p.resolve() not in seen)
    assert not orphans, f"pages no other page links to: {orphans}"


def test_getting_started_has_the_readmes_two_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first = re.search(r"^```bash\n(.*?)^```", readme, re.M | re.S)
    assert first, "README.md has no bash block"
    commands = [ln for ln in first.group(1).splitlines() if ln.strip() and not ln.startswith("#")]
    assert len(commands) == 2
    page = (DOCS / "getting-started.md").read_text(encoding="utf-8")
    for command in commands:
        assert command in page, f"docs/getting-started.md lacks the README's command: {command}"
