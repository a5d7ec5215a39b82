"""docs/architecture.md stays true: its module map matches the package, and imports flow one way."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "bayescale"
PAGE = ROOT / "docs" / "architecture.md"

#: The one-way flow: a module may import from its own layer and the layers before it.
LAYERS = ("data", "laws", "modeling", "analysis", "plots", "report", "cli")
#: Leaf modules every layer may import; they import nothing else of the package.
BASE = {"_version", "_paths", "_atomic", "constants", "exceptions", "intervals"}
#: Where the top-level modules sit in the flow.
TOP_LEVEL = {"testing": "modeling", "__init__": "cli", "__main__": "cli"}
#: Upward imports allowed on purpose (listed in docs/architecture.md, "Exceptions to the flow").
ALLOWED_UPWARD = {
    # Fit.predict / Fit.allocate delegate to the analysis layer (lazy, inside the methods)
    ("bayescale.modeling.fit", "bayescale.analysis.predict"),
    ("bayescale.modeling.fit", "bayescale.analysis.allocate"),
    # a model family's allocate(posterior, flops) hook delegates to its analysis (lazy)
    ("bayescale.modeling.families.curves", "bayescale.analysis.frontier"),
    # simulated run tables are drawn from a law
    ("bayescale.data.synthetic", "bayescale.laws"),
    # published values evaluated as laws and turned into priors (lazy, inside the methods)
    ("bayescale.data.published", "bayescale.laws"),
    ("bayescale.data.published", "bayescale.modeling.spec"),
}


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
    return ".".join(path.relative_to(root).with_suffix("").parts)


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


def imports_of(path: Path) -> list[tuple[str, int]]:
    """Runtime imports of a module (those under ``if TYPE_CHECKING:`` only annotate)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, node.lineno))
            if node.module == "bayescale":  # "from bayescale import plots" imports a subpackage
                out += [(f"bayescale.{a.name}", node.lineno) for a in node.names]
    return out


def _allowed(me: str, target: str) -> bool:
    return any(me == a and (target == b or target.startswith(b + ".")) for a, b in ALLOWED_UPWARD)


def violations(package: Path = PACKAGE) -> list[str]:
    """Every import against the flow in ``package`` (a folder named ``bayescale``)."""
    root = package.parent
    problems = []
    rank = {name: i for i, name in enumerate(LAYERS)}
    for path in sorted(package.rglob("*.py")):
        me = module_name(path, root)
        my_layer = layer_of(me)
        for target, line in imports_of(path):
            where = f"{path.relative_to(root)}:{line}"
            top = target.split(".")[0]
            if top == "torch" and my_layer != "runner":
                problems.append(f"{where}: imports torch outside the runner")
            if top != "bayescale" or target == "bayescale":
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
                and not _allowed(me, target)
            ):
                problems.append(f"{where}: {me} ({my_layer}) imports {target} ({their})")
    return problems


def test_imports_flow_one_way():
    problems = violations()
    assert not problems, "imports against the flow data -> ... -> cli:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("module", "code", "expect"),
    [
        ("laws/probe.py", "from bayescale.plots import plot_loss\n", "(laws) imports"),
        ("laws/probe.py", "def f():\n    import bayescale.cli\n", "(laws) imports"),
        ("runner/probe.py", "import bayescale.modeling.fit\n", "the runner imports"),
        ("analysis/probe.py", "import bayescale.runner.io\n", "imports the runner"),
        ("plots/probe.py", "import torch\n", "torch outside the runner"),
        ("constants.py", "from bayescale.laws import LAWS\n", "base module"),
    ],
)
def test_the_check_catches_bad_imports(tmp_path, module, code, expect):
    pkg = tmp_path / "bayescale"
    (pkg / module).parent.mkdir(parents=True, exist_ok=True)
    (pkg / module).write_text(code, encoding="utf-8")
    (pkg / "data").mkdir(exist_ok=True)
    (pkg / "data" / "ok.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import bayescale.cli\n"
    )
    found = violations(pkg)
    assert len(found) == 1 and expect in found[0], found


@pytest.mark.parametrize("layer", LAYERS)
def test_the_page_states_the_flow(layer):
    text = PAGE.read_text(encoding="utf-8")
    assert " -> ".join(LAYERS) in text
    assert f"`bayescale/{layer}/" in text
