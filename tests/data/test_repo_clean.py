"""No upstream data file is committed, and the catalogue page is generated from the registry."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bayescale.data.published import catalogue_markdown
from bayescale.data.registry import registry
from tests.conftest import needs_mirror

ROOT = Path(__file__).resolve().parents[2]


def _tracked_files() -> list[Path]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    return [ROOT / p for p in out.decode().split("\0") if p]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _offenders(paths: list[Path], root: Path) -> list[str]:
    """Files among ``paths`` named like, or byte-identical to, an upstream data file."""
    upstream = {f.sha256: f.path for e in registry().values() for f in e.files if not f.bundled}
    names = {Path(p).name for p in upstream.values()}
    mirror = Path(os.environ.get("BAYESCALE_DATA", ""))
    mirror_files = [p for p in mirror.rglob("*") if p.is_file()] if mirror.is_dir() else []
    names |= {p.name for p in mirror_files if p.suffix != ".md"}
    sizes = {p.stat().st_size: p for p in mirror_files}
    found = []
    for path in paths:
        if not path.is_file():
            continue
        if path.name in names:
            found.append(f"{path.relative_to(root)} (same name as an upstream file)")
            continue
        size = path.stat().st_size
        if size in sizes or size > 50_000:
            digest = _sha256(path)
            if digest in upstream or (size in sizes and digest == _sha256(sizes[size])):
                found.append(f"{path.relative_to(root)} (same bytes as an upstream file)")
    return found


def test_no_upstream_file_is_committed():
    offenders = _offenders(_tracked_files(), ROOT)
    assert not offenders, "upstream data committed: " + ", ".join(offenders)


@needs_mirror
def test_the_check_catches_copies(tmp_path):
    mirror = Path(os.environ["BAYESCALE_DATA"])
    renamed = tmp_path / "renamed.bin"
    shutil.copyfile(mirror / "epoch_chinchilla" / "svg_extracted_data.csv", renamed)
    same_name = tmp_path / "scaling_results.csv"
    same_name.write_text("x\n")
    harmless = tmp_path / "ok.csv"
    harmless.write_text("params,tokens,loss\n")
    found = _offenders([renamed, same_name, harmless], tmp_path)
    assert found == [
        "renamed.bin (same bytes as an upstream file)",
        "scaling_results.csv (same name as an upstream file)",
    ]


def test_catalogue_page_is_up_to_date():
    page = ROOT / "docs" / "datasets.md"
    assert page.read_text(encoding="utf-8") == catalogue_markdown(), (
        "docs/datasets.md is stale: regenerate it with "
        "bayescale.data.published.catalogue_markdown()"
    )


def test_catalogue_lists_every_table_and_fit():
    text = catalogue_markdown()
    for name in registry():
        assert f"### `{name}`" in text
    assert "`porian2024:owt2-tuned-short-const-standard-val`" in text
    assert "| `besiroglu2024` | chinchilla |" in text
