from __future__ import annotations

from pathlib import Path

import pytest

TINY = """\
[sweep]
name = "tiny"
kind = "grid"

[defaults]
corpus = "stdlib"
seq_len = 32
batch_size = 8
micro_batches = 2
aspect_ratio = 16
head_dim = 16
learning_rate = 3e-3
eval_tokens = 1024
final_eval_tokens = 4096

[grid]
n_layer = [1]
steps = [40]
"""


@pytest.fixture(scope="session")
def smoke_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke preset trained once per session (about 5 s)."""
    from bayescale.runner import run_sweep

    out = tmp_path_factory.mktemp("smoke") / "runs.csv"
    run_sweep("smoke", out, progress=False, threads=1)
    return out


@pytest.fixture
def tiny_sweep(tmp_path: Path) -> Path:
    p = tmp_path / "tiny.toml"
    p.write_text(TINY)
    return p
