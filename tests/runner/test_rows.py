from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

from bayescale.data import read_runs, validate_runs
from bayescale.runner.io import NOISE_COLUMNS, result_paths

pytestmark = pytest.mark.runner

DATASET = Path(__file__).resolve().parents[2] / "datasets" / "runner_cpu" / "runs.csv"
REQUIRED_EXTRA = [
    "run_id", "flops", "params_nonembedding", "params_with_head", "flops_context",
    "flops_palm", "pf_days", "batch_size", "steps", "learning_rate", "n_layer", "d_model",
    "seq_len", "seed", "schedule", "wall_s", "device", "corpus_fingerprint", "mfu",
    "noise_scale_simple",
]  # fmt: skip


def _check(out: Path) -> pd.DataFrame:
    runs_p, curves_p, noise_p = result_paths(out)
    runs = read_runs(runs_p)
    assert runs.attrs["params_kind"] == "total"
    assert runs.attrs["loss_unit"] == "nats_per_token"
    for col in REQUIRED_EXTRA:
        assert col in runs.columns, col
    for _, r in runs.iterrows():  # every row on its own, too
        validate_runs(pd.DataFrame([r.drop("outlier")]))
    np.testing.assert_allclose(runs["flops"], 6 * runs["params"] * runs["tokens"], rtol=1e-12)
    assert (runs["params_nonembedding"] < runs["params_with_head"]).all()
    assert (runs["params_with_head"] <= runs["params"]).all()
    assert runs["mfu"].isna().all()  # CPU rows carry no MFU
    curves = read_runs(curves_p, group="run")
    assert "step" in curves.columns
    assert set(curves["run"]) == set(runs["run_id"])
    noise = pd.read_csv(noise_p)
    assert list(noise.columns) == list(NOISE_COLUMNS)
    assert set(noise["run_id"]) == set(runs["run_id"])
    assert (noise["b_small"] < noise["b_big"]).all()
    assert (noise["g2_small"] > noise["g2_big"]).mean() > 0.9
    return runs


def test_smoke_rows_validate(smoke_out: Path) -> None:
    runs = _check(smoke_out)
    assert len(runs) == 4


def test_committed_dataset_validates_and_spans_n_and_d() -> None:
    runs = _check(DATASET)
    sizes = runs.groupby("params")["tokens"].nunique()
    assert len(sizes) >= 5 and (sizes >= 3).all()
    assert math.log10(runs["params"].max() / runs["params"].min()) >= 1.5
    assert runs["corpus_fingerprint"].nunique() == 1
    # loss clearly depends on both N and D
    for _, g in runs.groupby("params"):
        g = g.sort_values("tokens")
        assert g["loss"].iloc[-1] < g["loss"].iloc[0] - 0.05
    top = runs[runs["tokens"] == runs["tokens"].max()].sort_values("params")
    assert top["loss"].iloc[-1] < top["loss"].iloc[0] - 0.2


def test_provenance_markdown(smoke_out: Path) -> None:
    from bayescale.runner.provenance import provenance_markdown, sha256_file

    text = provenance_markdown(smoke_out, smoke_out, command="bayescale run --preset smoke")
    assert sha256_file(smoke_out) in text
    assert "| runs | 4: 2 sizes x 2 token budgets |" in text
