"""docs/architecture.md stays true: its module map matches the package, imports flow one way
through the layers the page names, and no modules import each other in a circle.

There is no whitelist: an import against the flow, or a circle, fails the test. Imports under
``if TYPE_CHECKING:`` only annotate and do not count; imports inside functions do.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "bayescale"
PAGE = ROOT / "docs" / "architecture.md"


def page_layers(text: str) -> tuple[str, ...]:
    """The flow the page states, in its one line ``a -> b -> ...``."""
    flows = re.findall(r"^(\w+(?: -> \w+)+)$", text, flags=re.MULTILINE)
    assert len(flows) == 1, f"docs/architecture.md must state the flow once, found {flows}"
    return tuple(flows[0].split(" -> "))


#: The one-way flow, read from the page: a module may import its own layer and those before it.
LAYERS = page_layers(PAGE.read_text(encoding="utf-8"))
#: Leaf modules every layer may import; they import nothing else of the package but each other.
BASE = {"_version", "_paths", "_atomic", "_progress", "constants", "exceptions", "intervals"}
#: Where the top-level modules sit in the flow.
TOP_LEVEL = {"testing": "modeling", "__init__": "cli", "__main__": "cli"}
#: No exceptions: the upward import and the circle issue 15 found are gone (Kaplan's frontier
#: optimum is the law's, and every law module registers through laws/base.py).
ALLOWED_UPWARD: set[tuple[str, str]] = set()
KNOWN_CIRCLES: list[list[str]] = []


def modules_on_disk() -> set[str]:
    return {p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*.py")}


def modules_in_page() -> set[str]:
    return set(re.findall(r"`(bayescale/[\w/]+\.py)`", PAGE.read_text(encoding="utf-8")))


def test_every_module_is_on_the_map():
    missing = sorted(modules_on_disk() - modules_in_page())
    assert not missing, f"add these modules to docs/architecture.md: {missing}"


def test_every_module_on_the_map_exists():
    stale = sorted(modules_in_page() - modules_on_disk())
    assert not stale, f"docs/architecture.md lists modules that do not exist: {stale}"


def module_name(path: Path, root: Path) -> str:
    """Dotted name of a module file; a package's ``__init__.py`` is the package itself."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "cli"  # the package itself
    head = parts[1]
    if head in BASE:
        return "base"
    if head in TOP_LEVEL:
        return TOP_LEVEL[head]
    return head


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path, me: str, known: set[str]) -> list[tuple[str, int]]:
    """Runtime imports of module ``me`` (file ``path``), resolved to modules where they are.

    ``from a import b`` imports the module ``a.b`` when there is one, else ``a``; relative
    imports are resolved against ``me``. Imports under ``if TYPE_CHECKING:`` are left out.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for a in node.names:
                sub = f"{base}.{a.name}"
                out.append((sub if sub in known else base, node.lineno))
    return out


def import_graph(package: Path = PACKAGE) -> dict[str, dict[str, int]]:
    """Every module of ``package`` -> the modules it imports at run time (first line of each)."""
    root = package.parent
    files = {module_name(p, root): p for p in sorted(package.rglob("*.py"))}
    graph: dict[str, dict[str, int]] = {}
    for me, path in files.items():
        edges: dict[str, int] = {}
        for target, line in imports_of(path, me, set(files)):
            edges.setdefault(target, line)
        graph[me] = edges
    return graph


def violations(package: Path = PACKAGE) -> list[str]:
    """Every import against the flow in ``package`` (a folder named ``bayescale``)."""
    root = package.parent
    rank = {name: i for i, name in enumerate(LAYERS)}
    problems = []
    for me, edges in import_graph(package).items():
        my_layer = layer_of(me)
        path = (root / me.replace(".", "/")).with_suffix(".py")
        if not path.exists():
            path = root / me.replace(".", "/") / "__init__.py"
        for target, line in edges.items():
            where = f"{path.relative_to(root).as_posix()}:{line}"
            top = target.split(".")[0]
            if top == "torch" and my_layer != "runner":
                problems.append(f"{where}: imports torch outside the runner")
            if top != "bayescale":
                continue
            their = layer_of(target)
            if my_layer == "base":
                if their != "base":
                    problems.append(f"{where}: base module {me} imports {target}")
            elif my_layer == "runner":
                if their not in {"runner", "base", "data"}:
                    problems.append(f"{where}: the runner imports {target} (only data allowed)")
            elif their == "runner":
                problems.append(f"{where}: {me} imports the runner ({target})")
            elif (
                their != "base"
                and rank.get(their, -1) > rank.get(my_layer, len(LAYERS))
                and (package != PACKAGE or (me, target) not in ALLOWED_UPWARD)
            ):
                problems.append(f"{where}: {me} ({my_layer}) imports {target} ({their})")
    return problems


def circles(graph: Mapping[str, Mapping[str, int]]) -> list[list[str]]:
    """The import circles of ``graph``: its strongly connected components (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in graph:
                continue  # outside the package
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def describe(circle: list[str], graph: Mapping[str, Mapping[str, int]]) -> str:
    members = set(circle)
    edges = [f"{a} -> {b} (line {graph[a][b]})" for a in circle for b in graph[a] if b in members]
    return "circle: " + "; ".join(edges)


def test_imports_flow_one_way():
    problems = violations()
    assert not problems, (
        "imports against the flow " + " -> ".join(LAYERS) + ":\n" + "\n".join(problems)
    )


def test_no_import_circles():
    graph = import_graph()
    found = [describe(c, graph) for c in circles(graph) if c not in KNOWN_CIRCLES]
    assert not found, "modules that import each other:\n" + "\n".join(found)


def _package(tmp_path: Path, files: Mapping[str, str]) -> Path:
    pkg = tmp_path / "bayescale"
    for rel, code in files.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(code, encoding="utf-8")
    return pkg


@pytest.mark.parametrize(
    ("module", "code", "expect"),
    [
        ("laws/probe.py", "from bayescale.plots import plot_loss\n", "(laws) imports"),
        ("laws/probe.py", "def f():\n    import bayescale.cli\n", "(laws) imports"),
        ("data/probe.py", "from bayescale.laws import get_law\n", "(data) imports"),
        ("modeling/probe.py", "from ..analysis import predict\n", "(modeling) imports"),
        ("runner/probe.py", "import bayescale.modeling.fit\n", "the runner imports"),
        ("analysis/probe.py", "import bayescale.runner.io\n", "imports the runner"),
        ("plots/probe.py", "import torch\n", "torch outside the runner"),
        ("constants.py", "from bayescale.laws import LAWS\n", "base module"),
        ("analysis/probe.py", "from bayescale import load_dataset\n", "imports bayescale (cli)"),
    ],
)
def test_the_check_catches_bad_imports(tmp_path, module, code, expect):
    type_only = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import bayescale.cli\n"
    pkg = _package(tmp_path, {module: code, "data/ok.py": type_only})
    found = violations(pkg)
    assert len(found) == 1 and expect in found[0], found


def test_the_check_finds_a_circle_and_a_violation_in_a_small_package(tmp_path):
    pkg = _package(
        tmp_path,
        {
            "__init__.py": "",
            "data/__init__.py": "",
            "data/registry.py": "def load():\n    from bayescale.data.loaders import get\n",
            "data/loaders.py": "from bayescale.data.registry import Entry\n",
            "data/schema.py": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from bayescale.data.ok import X\n",
            "data/ok.py": "from bayescale.data import schema\n",  # type-only back: no circle
            "laws/__init__.py": "from bayescale.laws import batch\n",
            "laws/batch.py": "from bayescale.laws import register\n",
            "modeling/fit.py": "def predict():\n    from bayescale.analysis.predict import p\n",
            "analysis/predict.py": "from bayescale.modeling.fit import Fit\n",
        },
    )
    graph = import_graph(pkg)
    assert circles(graph) == [
        ["bayescale.analysis.predict", "bayescale.modeling.fit"],
        ["bayescale.data.loaders", "bayescale.data.registry"],
        ["bayescale.laws", "bayescale.laws.batch"],
    ]
    assert "line 2" in describe(circles(graph)[0], graph)  # the lazy import is named
    found = violations(pkg)
    assert len(found) == 1 and "modeling/fit.py:2" in found[0] and "(modeling)" in found[0]


def test_the_check_resolves_submodules_and_relative_imports(tmp_path):
    pkg = _package(
        tmp_path,
        {
            "modeling/__init__.py": "",
            "modeling/a.py": "from bayescale.modeling import b\nfrom . import c\n",
            "modeling/b.py": "",
            "modeling/c.py": "from .b import x\n",
        },
    )
    graph = import_graph(pkg)
    assert graph["bayescale.modeling.a"] == {"bayescale.modeling.b": 1, "bayescale.modeling.c": 2}
    assert graph["bayescale.modeling.c"] == {"bayescale.modeling.b": 1}
    assert circles(graph) == []


def test_the_flow_is_read_from_the_page():
    assert page_layers("x\n\ndata -> laws -> cli\n") == ("data", "laws", "cli")
    with pytest.raises(AssertionError):
        page_layers("no flow here")


@pytest.mark.parametrize("layer", LAYERS)
def test_every_layer_has_its_section(layer):
    assert f"`bayescale/{layer}/" in PAGE.read_text(encoding="utf-8")


def test_the_page_names_no_exceptions_and_every_base_module():
    text = PAGE.read_text(encoding="utf-8")
    assert "Exceptions to the flow" not in text
    for name in BASE:
        assert f"`{name}`" in text, f"docs/architecture.md does not name the base module {name}"
