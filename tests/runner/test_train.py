from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from bayescale.data import read_runs  # noqa: E402
from bayescale.runner import RunnerError, RunnerWarning, RunSpec, load_corpus, train  # noqa: E402
from bayescale.runner.schedule import lr_at  # noqa: E402
from bayescale.runner.trainer import curve_steps  # noqa: E402

pytestmark = pytest.mark.runner


def test_loss_falls_from_ln_256(smoke_out: Path) -> None:
    runs = read_runs(smoke_out)
    assert (abs(runs["loss_init"] - math.log(256)) < 0.15).all()
    big = runs.sort_values(["params", "tokens"]).iloc[-1]
    assert big["loss"] < 3.2
    # more tokens -> lower loss at each size; bigger model -> lower loss at the larger budget
    for _, g in runs.groupby("params"):
        g = g.sort_values("tokens")
        assert g["loss"].is_monotonic_decreasing
    at_max = runs[runs["tokens"] == runs["tokens"].max()].sort_values("params")
    assert at_max["loss"].is_monotonic_decreasing


def test_curve_is_log_spaced_then_regular() -> None:
    s = curve_steps(200)
    assert s[:4] == [1, 2, 4, 8]
    assert s[-1] == 200
    assert np.all(np.diff(s[4:-1]) == 12)


@pytest.mark.parametrize("kind", ["cosine", "kaplan", "wsd", "constant"])
def test_schedules(kind: str) -> None:
    steps, warm = 400, 20
    lrs = [lr_at(s, peak=1.0, steps=steps, warmup=warm, kind=kind) for s in range(steps)]
    assert lrs[0] == pytest.approx(1 / warm)
    assert lrs[warm - 1] == pytest.approx(1.0)
    end = {"cosine": 0.1, "kaplan": 0.0, "wsd": 0.1, "constant": 1.0}[kind]
    assert lrs[-1] == pytest.approx(end, abs=1e-12)
    assert all(a >= b - 1e-12 for a, b in zip(lrs[warm:], lrs[warm + 1 :], strict=False))
    if kind == "cosine":  # midpoint of the cosine sits halfway between peak and floor
        mid = warm + (steps - warm - 1) / 2
        assert lr_at(int(mid), peak=1.0, steps=steps, warmup=warm) == pytest.approx(0.55, abs=0.01)


def test_kaplan_preset_warmup() -> None:
    spec = RunSpec(n_layer=1, steps=10_000, schedule="kaplan").resolved()
    assert spec.warmup == 3000
    assert lr_at(2999, peak=1.0, steps=10_000, warmup=3000, kind="kaplan") == 1.0


def test_stdlib_split_and_sampler() -> None:
    c = load_corpus("stdlib")
    assert c.vocab_size == 256 and len(c.fingerprint) == 64
    assert 0.005 < len(c.val) / len(c.train) < 0.05
    a = c.batch_indices(7, 8, 64, seed=3)
    c.batch_indices(0, 8, 64, seed=3)  # other calls do not change step 7's batch
    np.testing.assert_array_equal(a, c.batch_indices(7, 8, 64, seed=3))
    assert not np.array_equal(a, c.batch_indices(7, 8, 64, seed=4))
    assert load_corpus("stdlib") is c  # cached in-process
    # the data order is rng.permutation's (rows made before the 4-byte permutation reproduce)
    n = c.n_windows(64)
    expected = np.random.default_rng([3, 0]).permutation(n)[7 * 8 + np.arange(8)] * 64
    np.testing.assert_array_equal(a, expected)


def test_text_corpus_epochs_cover_every_window_once(tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_bytes(bytes(range(256)) * 20)
    c = load_corpus(f"text:{f}")
    T = 8
    n = c.n_windows(T)
    first = np.concatenate([c.batch_indices(s, 10, T, seed=0) for s in range(n // 10)])
    assert len(set(first.tolist())) == len(first)  # no repeats within an epoch
    assert c.windows(first[:2], T).shape == (2, T + 1)


def test_bin_corpus_roundtrip(tmp_path: Path) -> None:
    tokens = np.arange(5000, dtype=np.uint16) % 1000
    tokens.tofile(tmp_path / "train.bin")
    (tmp_path / "meta.json").write_text('{"vocab_size": 1000}')
    c = load_corpus(f"bin:{tmp_path / 'train.bin'}")
    assert c.vocab_size == 1000
    assert len(c.train) + len(c.val) == 5000
    np.testing.assert_array_equal(np.concatenate([c.train, c.val]), tokens)


def test_unknown_corpus_is_a_user_error() -> None:
    with pytest.raises(RunnerError, match="unknown corpus"):
        load_corpus("nope")


def test_epoch_warning_and_limit(tmp_path: Path) -> None:
    f = tmp_path / "small.txt"
    f.write_bytes(b"hello world, this is a tiny corpus. " * 300)
    spec = RunSpec(
        n_layer=1,
        seq_len=16,
        batch_size=16,
        micro_batches=2,
        aspect_ratio=16,
        head_dim=16,
        steps=50,
        corpus=f"text:{f}",
        eval_tokens=64,
        final_eval_tokens=64,
        max_epochs=10,
    )
    with pytest.warns(RunnerWarning, match="exceeds one epoch"):
        train(spec, threads=1)
    with pytest.raises(RunnerError, match="max_epochs"):
        train(RunSpec(**{**spec.__dict__, "steps": 500}), threads=1)


def test_seed_changes_the_run() -> None:
    base = {
        "n_layer": 1,
        "seq_len": 16,
        "batch_size": 4,
        "micro_batches": 2,
        "aspect_ratio": 16,
        "head_dim": 16,
        "steps": 3,
        "eval_tokens": 256,
        "final_eval_tokens": 256,
    }
    a = train(RunSpec(**base, seed=0), threads=1).row
    b = train(RunSpec(**base, seed=0), threads=1).row
    c = train(RunSpec(**base, seed=1), threads=1).row
    assert a["loss"] == b["loss"] and a["run_id"] == b["run_id"]
    assert c["loss"] != a["loss"] and c["run_id"] != a["run_id"]


def test_bpe_tokenizer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tokenizers")
    monkeypatch.setenv("BAYESCALE_RUNNER_CACHE", str(tmp_path / "cache"))
    d = tmp_path / "docs"
    d.mkdir()
    for i in range(60):
        (d / f"{i}.txt").write_text(f"the quick brown fox {i} jumps over the lazy dog. " * 20)
    c = load_corpus(f"text:{d}", tokenizer="bpe:300")
    assert c.vocab_size == 300 and c.tokenizer == "bpe:300"
    assert c.bytes_per_token > 1.5
    assert int(c.train.max()) < 300
