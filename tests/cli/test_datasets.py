"""``bayescale datasets list | show | path``, in-process."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from bayescale.cli import main
from bayescale.data.registry import get_entry
from tests.conftest import needs_mirror

pytestmark = needs_mirror

MIRROR = Path(os.environ["BAYESCALE_DATA"])
NAMES = [
    "epoch_chinchilla",
    "misfitting2025",
    "misfitting2025_curves",
    "porian2024",
    "steplaw2025",
    "steplaw2025_bootstrap",
]


def run_cli(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_list(capsys):
    code, out, err = run_cli(["datasets", "list"], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["name", "kind", "rows", "params_kind", "license", "cached"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(NAMES) <= set(rows)
    assert rows["porian2024"][1:4] == ["runs", "1745", "total"]
    assert rows["steplaw2025"][1:4] == ["runs", "1911", "non_embedding"]
    assert rows["misfitting2025_curves"][2] == "4852"
    assert all(rows[n][-1] == "True" for n in NAMES)  # all in the mirror


def test_list_shows_uncached(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BAYESCALE_DATA", str(tmp_path))
    code, out, _ = run_cli(["datasets", "list"], capsys)
    assert code == 0
    row = next(line for line in out.splitlines() if line.split()[0] == "porian2024")
    assert row.split()[-1] == "False"


def test_show_porian_lists_the_15_configurations(capsys):
    code, out, err = run_cli(["datasets", "show", "porian2024"], capsys)
    assert code == 0, err
    assert "configurations (15):" in out
    configs = [line for line in out.splitlines() if line.strip().startswith("- config = ")]
    assert len(configs) == 15
    assert any("experiment = Reproducing Kaplan et al.; a = 0.8353" in c for c in configs)
    assert any("owt2-tuned-short-const-standard-val" in c and "a = 0.518454" in c for c in configs)
    for f in get_entry("porian2024").files:  # provenance: paths and checksums
        assert f.path in out and f.sha256 in out
    assert "license:     MIT" in out
    assert "params <- data.orig_n" in out


@pytest.mark.parametrize("name", NAMES)
def test_show_every_dataset(name, capsys):
    code, out, err = run_cli(["datasets", "show", name], capsys)
    assert code == 0, err
    entry = get_entry(name)
    assert out.startswith(f"{name}  ({entry.kind}, {entry.rows} rows)")
    assert entry.citation in out
    assert all(f.sha256 in out for f in entry.files)


def test_show_unknown_is_one_line_exit_2(capsys):
    code, out, err = run_cli(["datasets", "show", "porian204"], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert "unknown dataset 'porian204'; did you mean 'porian2024'?" in err


def test_path(capsys):
    code, out, err = run_cli(["datasets", "path", "porian2024"], capsys)
    assert code == 0, err
    paths = [Path(p) for p in out.splitlines()]
    assert len(paths) == 4 and all(p.is_file() for p in paths)
    assert paths[0] == MIRROR / "porian2024_isoflops" / "upstream" / "summary_df.pickle.xz"


def test_path_refuses_a_changed_byte(tmp_path, monkeypatch, capsys):
    rel = "misfitting2025/scaling_results_last_ckpt_only.csv"
    bad = tmp_path / rel
    bad.parent.mkdir(parents=True)
    shutil.copyfile(MIRROR / rel, bad)
    data = bytearray(bad.read_bytes())
    data[100] = (data[100] + 1) % 256
    bad.write_bytes(bytes(data))
    monkeypatch.setenv("BAYESCALE_DATA", str(tmp_path))
    code, out, err = run_cli(["datasets", "path", "misfitting2025"], capsys)
    assert code == 2 and out == ""
    assert err.startswith("bayescale: error: ") and err.count("\n") == 1
    expected = get_entry("misfitting2025").files[0].sha256
    assert str(bad) in err and expected in err
    assert hashlib.sha256(bytes(data)).hexdigest() in err


def test_path_missing_offline_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BAYESCALE_DATA", str(tmp_path))
    monkeypatch.setenv("BAYESCALE_OFFLINE", "1")
    code, _, err = run_cli(["datasets", "path", "steplaw2025"], capsys)
    assert code == 2 and "not in the cache" in err
