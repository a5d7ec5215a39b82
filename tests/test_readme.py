"""The README's two commands, pasted as they are, on a fresh copy of the repository.

Heavy by design (two fresh venvs, ``pip install`` from the warm cache, the demo's real fit): it
is the only test that catches a README a new user cannot paste. It runs in two forms:

- **pyenv**: ``python3.12`` is a pyenv shim that refuses unless ``PYENV_VERSION`` selects 3.12
  (the shim and ``pyenv versions --bare`` are imitated by two small scripts, so the form runs on
  any machine);
- **plain**: ``python3.12`` is an interpreter on ``PATH`` and there is no pyenv.

Each form pastes command 1 and then command 2 into ``bash`` in a copy of the repository whose
``../shared/datasets`` is the mirror, as a user would on a fresh clone. Command 2's last step is
the test suite itself; here it runs a selection (the real-data tests that change directory and
the mirror logic), with ``-rs`` so that any skip shows, instead of recursing into this test.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MIRROR, mirror_available

ROOT = Path(__file__).resolve().parents[1]
#: The end of command 2 in the README, replaced by the selection below.
PYTEST_TAIL = "-m pytest -n 2"
SELECTION = (
    "-m pytest -p no:cacheprovider -rs -q tests/test_conftest.py tests/data/test_conventions.py "
    "'tests/docs/test_docs.py::test_code_blocks_run[explanation/priors-and-pooling.md]'"
)


def readme_commands() -> list[str]:
    """The two command lines of the README's first bash block."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"^```bash\n(.*?)^```", text, re.M | re.S)
    assert block, "README.md has no bash block"
    lines = [ln for ln in block.group(1).splitlines() if ln.strip() and not ln.startswith("#")]
    assert len(lines) == 2, lines
    return lines


def _copy_repo(dest: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for raw in files:
        if not raw:
            continue
        rel = Path(os.fsdecode(raw))
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def _fake_bin(bin_dir: Path, form: str, python: Path) -> None:
    bin_dir.mkdir()
    shim = bin_dir / "python3.12"
    if form == "plain":
        shim.symlink_to(python)
        return
    # pyenv's shim: refuses unless a 3.12 is selected, as on a machine whose global is 3.11
    shim.write_text(
        "#!/bin/sh\n"
        'case "$PYENV_VERSION" in\n'
        f'  3.12*) exec {shlex.quote(str(python))} "$@" ;;\n'
        "esac\n"
        'echo "pyenv: python3.12: command not found" >&2\n'
        "exit 127\n"
    )
    (bin_dir / "pyenv").write_text(
        "#!/bin/sh\n"
        'if [ "$1" = versions ] && [ "$2" = --bare ]; then\n'
        '  printf "3.11.7\\n3.12.1\\n"; exit 0\n'
        "fi\n"
        "exit 1\n"
    )
    for p in (shim, bin_dir / "pyenv"):
        p.chmod(0o755)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git to copy the repository")
@pytest.mark.parametrize("form", ["pyenv", "plain"])
def test_readme_commands_paste_and_run(form, tmp_path):
    if not mirror_available():
        pytest.fail(f"the README's command 2 needs the mirror; none at {MIRROR}")
    cmd1, cmd2 = readme_commands()
    assert cmd2.endswith(PYTEST_TAIL), "README command 2 no longer ends with the test run"
    assert "../shared/datasets" in cmd2
    cmd2 = cmd2[: -len(PYTEST_TAIL)] + SELECTION

    repo = tmp_path / "bayescale"
    _copy_repo(repo)
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "datasets").symlink_to(MIRROR, target_is_directory=True)
    python = Path(sys._base_executable).resolve()
    _fake_bin(tmp_path / "bin", form, python)
    # only system tools and the imitated interpreter: no pyenv of the machine, no venv of ours
    env = {
        "PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
    }
    env.update({k: v for k, v in os.environ.items() if k.startswith("PIP_")})
    if form == "pyenv":  # the shim really refuses without the README's prefix
        bare = subprocess.run(["python3.12", "-V"], env=env, capture_output=True, text=True)
        assert bare.returncode == 127 and "command not found" in bare.stderr

    for label, command in (("command 1", cmd1), ("command 2", cmd2)):
        res = subprocess.run(
            ["bash", "-c", command], cwd=repo, env=env, capture_output=True, text=True
        )
        out = res.stdout + res.stderr
        assert res.returncode == 0, f"README {label} ({form}) failed:\n{out[-4000:]}"
        if label == "command 1":
            assert (repo / "demo" / "report.html").is_file()
            assert "bayescale: WARNING" not in out, f"the demo warns:\n{out[-3000:]}"
            # the acceptance figures, as the demo states them
            prior = re.search(r"Prior predictive check .*\((\d+)%\) inside the prior 90%", out)
            assert prior and int(prior.group(1)) >= 50, out[-3000:]
            diag = re.search(r"max R-hat ([\d.]+), min bulk ESS (\d+)", out)
            assert diag and float(diag.group(1)) <= 1.01 and int(diag.group(2)) >= 400
        else:
            assert "skipped" not in out.lower(), f"command 2 skipped tests:\n{out[-3000:]}"
            assert re.search(r"\d+ passed", out), out[-2000:]
