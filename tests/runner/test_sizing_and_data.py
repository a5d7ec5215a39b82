"""isoFLOP sizing from the real vocabulary; memory-mapped token files and their fingerprint."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from bayescale.runner import RunnerError, load_corpus
from bayescale.runner.config import parse_sweep
from bayescale.runner.counting import count_flops, count_params
from bayescale.runner.data import TokenShards, corpus_vocab_size

pytestmark = pytest.mark.runner


def _token_file(path: Path, n: int, vocab: int, *, meta: str = "json", seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    rng.integers(0, vocab, n, dtype=np.uint16).tofile(path)
    if meta == "json":
        path.with_name("meta.json").write_text(json.dumps({"vocab_size": vocab}))
    elif meta == "pkl":
        stoi = {chr(65 + i): i for i in range(min(vocab, 26))}
        meta_blob = {"vocab_size": vocab, "stoi": stoi, "itos": {i: c for c, i in stoi.items()}}
        path.with_name("meta.pkl").write_bytes(pickle.dumps(meta_blob))
    return path


def _iso(corpus: str, tokenizer: str, convention: str = "flops") -> str:
    return f"""
[sweep]
kind = "isoflop"
[defaults]
corpus = "{corpus}"
tokenizer = "{tokenizer}"
seq_len = 64
batch_size = 16
[isoflop]
budgets = [3e13, 1e14]
n_layer = [1, 2, 3, 4, 6]
convention = "{convention}"
"""


@pytest.mark.parametrize("vocab", [512, 4096, 50257])
def test_isoflop_runs_land_within_5_percent_of_their_budget(tmp_path: Path, vocab: int) -> None:
    if vocab == 4096:
        corpus, tok = "stdlib", "bpe:4096"  # sized without training the tokenizer
    else:
        corpus, tok = f"bin:{_token_file(tmp_path / 'tok.bin', 4096, vocab)}", "byte"
    assert corpus_vocab_size(corpus, tok) == vocab
    sweep = parse_sweep(_iso(corpus, tok))
    assert len(sweep.specs) == 10
    for i, spec in enumerate(sweep.specs):
        budget = (3e13, 1e14)[i // 5]
        r = spec.resolved(vocab)
        n = count_params(n_layer=r.n_layer, d_model=r.d_model, vocab_size=vocab, seq_len=64)
        actual = count_flops(n, n_layer=r.n_layer, d_model=r.d_model, seq_len=64, tokens=r.tokens)
        assert abs(actual.flops / budget - 1) <= 0.05, (vocab, r.n_layer, actual.flops / budget)


def test_isoflop_budget_in_another_convention(tmp_path: Path) -> None:
    corpus = f"bin:{_token_file(tmp_path / 'tok.bin', 4096, 50257)}"
    for spec in parse_sweep(_iso(corpus, "byte", "flops_palm")).specs:
        r = spec.resolved(50257)
        n = count_params(n_layer=r.n_layer, d_model=r.d_model, vocab_size=50257, seq_len=64)
        f = count_flops(n, n_layer=r.n_layer, d_model=r.d_model, seq_len=64, tokens=r.tokens)
        assert min(abs(f.flops_palm / b - 1) for b in (3e13, 1e14)) <= 0.05


def test_isoflop_budget_too_small_for_whole_steps_is_refused() -> None:
    text = "[isoflop]\nbudgets = [2e9]\nn_layer = [4]\n"
    with pytest.raises(RunnerError, match=r"whole step.*off \(tolerance 5%\)"):
        parse_sweep(text)
    with pytest.raises(RunnerError, match="convention must be one of"):
        parse_sweep("[isoflop]\nbudgets = [1e12]\nn_layer = [1]\nconvention = 'x'\n")


def test_bin_files_are_memory_mapped_with_meta_pkl(tmp_path: Path) -> None:
    path = _token_file(tmp_path / "train.bin", 100_000, 65, meta="pkl")
    c = load_corpus(f"bin:{path}")
    assert c.vocab_size == 65  # from nanoGPT's meta.pkl
    assert isinstance(c.train, np.memmap) and isinstance(c.val, np.memmap)
    raw = np.fromfile(path, dtype=np.uint16)
    starts = c.batch_indices(3, 8, 32, seed=1)
    np.testing.assert_array_equal(
        c.windows(starts, 32), raw[starts[:, None] + np.arange(33)].astype(np.int64)
    )


def test_meta_pkl_with_code_is_refused(tmp_path: Path) -> None:
    import os

    path = _token_file(tmp_path / "train.bin", 10_000, 65, meta="none")
    path.with_name("meta.pkl").write_bytes(pickle.dumps({"vocab_size": os.getcwd}))
    with pytest.raises(RunnerError, match=r"meta\.pkl: cannot read 'vocab_size'.*refusing"):
        load_corpus(f"bin:{path}")


def test_fingerprint_samples_the_file_and_follows_content(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = _token_file(tmp_path / "a" / "t.bin", 3_000_000, 1000)
    b = tmp_path / "b" / "t.bin"
    b.write_bytes(a.read_bytes())
    b.with_name("meta.json").write_text(a.with_name("meta.json").read_text())
    fa = load_corpus(f"bin:{a}").fingerprint
    assert load_corpus(f"bin:{b}").fingerprint == fa  # content, not path or mtime
    data = bytearray(b.read_bytes())
    data[-10] ^= 1  # the last block is always sampled
    b.write_bytes(bytes(data))
    from bayescale.runner import data as data_mod

    data_mod._CACHE.clear()
    assert load_corpus(f"bin:{b}").fingerprint != fa
    b.write_bytes(bytes(data[:-2]))  # one token shorter
    data_mod._CACHE.clear()
    assert load_corpus(f"bin:{b}").fingerprint != fa


def test_sharded_token_files_read_as_one_stream(tmp_path: Path) -> None:
    parts = [_token_file(tmp_path / f"train_{i}.bin", 5_000 + 7 * i, 300, seed=i) for i in range(3)]
    val = _token_file(tmp_path / "val.bin", 2_000, 300, seed=9)
    c = load_corpus(f"bin:{tmp_path}/train_*.bin,{val}")
    assert isinstance(c.train, TokenShards) and c.meta["shards"] == 3
    whole = np.concatenate([np.fromfile(p, dtype=np.uint16) for p in parts])
    assert len(c.train) == len(whole)
    starts = np.array([0, 4_990, 9_999, len(whole) - 33])  # across the shard boundaries
    np.testing.assert_array_equal(
        c.windows(starts, 32), whole[starts[:, None] + np.arange(33)].astype(np.int64)
    )
    np.testing.assert_array_equal(c.train[4_990:5_010], whole[4_990:5_010])
    with pytest.raises(RunnerError, match="no file matches"):
        load_corpus(f"bin:{tmp_path}/nope_*.bin")


def test_vocab_without_meta_is_scanned(tmp_path: Path) -> None:
    path = tmp_path / "t.bin"
    arr = np.zeros(50_000, dtype=np.uint16)
    arr[12_345] = 777
    arr.tofile(path)
    assert corpus_vocab_size(f"bin:{path}") == 778
