"""Corpora for the runner: token arrays, a content fingerprint and a counter-based sampler.

Corpus specifications (strings, as in a sweep file):

``stdlib`` (default)
    Every ``*.py`` file of the running interpreter's standard library (``site-packages``
    excluded), read as bytes in sorted path order and joined with NUL bytes. Offline, about
    30 MB, code plus English comments and docstrings. Files go to validation when
    ``int(sha1(relpath), 16) % 100 < 2``.
``stdlib-en``
    English-only subset: the docstrings of the non-test standard-library modules plus the
    reference-manual text of ``pydoc_data/topics.py`` (same file-hash split).
``text:PATH``
    A UTF-8 text file, a directory (every file under it) or a glob. Several files are split
    by file hash as above; a single file (or a hash split that leaves a side empty) by its
    last 2 %.
``bin:PATH`` or ``bin:TRAIN,VAL``
    nanoGPT-style raw ``uint16`` token files (an llm.c header, magic 20240520, is detected
    and skipped), memory-mapped: nothing is read whole, so memory does not grow with the
    file. Either side may be a glob (``bin:data/train_*.bin,data/val.bin``): its shards
    are read as one stream in sorted order. The vocabulary comes from ``meta.json`` or
    nanoGPT's ``meta.pkl`` beside the first file, else the largest id + 1 (one chunked
    scan). Without a validation file the last 2 % is held out. The fingerprint reads the
    file sizes and 64 sampled blocks of each file, not the whole files.

Tokenizers: ``byte`` (vocabulary 256; the loss is then in nats per byte) or ``bpe:V``, a
byte-level BPE of vocabulary ``V`` trained on the training split with Hugging Face
``tokenizers`` when that package is installed (cached by corpus fingerprint).

Examples
--------
>>> from bayescale.runner.data import load_corpus
>>> c = load_corpus("stdlib")
>>> c.vocab_size, len(c.fingerprint)
(256, 64)
"""

from __future__ import annotations

import ast
import glob
import hashlib
import json
import os
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bayescale.runner.errors import RunnerError

__all__ = ["Corpus", "TokenShards", "cache_dir", "corpus_vocab_size", "load_corpus"]

_VAL_PERCENT = 2
_LLMC_MAGIC = (20240520, 20240801)
_CACHE: dict[tuple[str, str], Corpus] = {}


def cache_dir() -> Path:
    """Directory for cached corpora (``$BAYESCALE_RUNNER_CACHE`` or ``~/.cache/bayescale``).

    Returns
    -------
    pathlib.Path
    """
    env = os.environ.get("BAYESCALE_RUNNER_CACHE")
    root = Path(env) if env else Path.home() / ".cache" / "bayescale" / "runner"
    return root


@dataclass
class Corpus:
    """Training and validation tokens plus what identifies them.

    Attributes
    ----------
    name : str
        The corpus specification it was loaded from.
    tokenizer : str
        ``"byte"`` or ``"bpe:V"``.
    vocab_size : int
        Vocabulary size.
    train, val : numpy.ndarray or TokenShards
        1-D token arrays (``uint8``, ``uint16`` or ``uint32``; memory-mapped for ``bin:``).
    fingerprint : str
        SHA-256 of the tokenizer, vocabulary and both token streams.
    bytes_per_token : float
        Mean raw bytes per token (1 for the byte tokenizer).
    meta : dict
        Extra provenance (file counts, Python version for ``stdlib``).
    """

    name: str
    tokenizer: str
    vocab_size: int
    train: Any
    val: Any
    fingerprint: str
    bytes_per_token: float = 1.0
    meta: dict[str, Any] = field(default_factory=dict)
    _perm: tuple[int, int, int, np.ndarray] | None = field(default=None, repr=False)

    def n_windows(self, seq_len: int) -> int:
        """Number of training windows of ``seq_len + 1`` tokens (stride ``seq_len``)."""
        return max(0, (len(self.train) - 1) // seq_len)

    def batch_indices(self, step: int, batch_size: int, seq_len: int, seed: int) -> np.ndarray:
        """Window start offsets of optimizer step ``step`` (counter-based, stateless).

        Global sequence ``g = step·batch_size + j`` reads window ``perm_e[g mod W]`` of
        epoch ``e = g // W``, where ``perm_e`` is a permutation seeded by ``(seed, e)``. A
        resumed run therefore needs only the step number.

        Parameters
        ----------
        step, batch_size, seq_len, seed : int
            Step, sequences per step, context length and data seed.

        Returns
        -------
        numpy.ndarray
            ``batch_size`` start offsets into :attr:`train`.
        """
        n = self.n_windows(seq_len)
        if n < 1:
            raise RunnerError(f"corpus {self.name!r} is shorter than one window")
        g = step * batch_size + np.arange(batch_size, dtype=np.int64)
        epochs = g // n
        out = np.empty(batch_size, dtype=np.int64)
        for e in np.unique(epochs):
            sel = epochs == e
            out[sel] = self._permutation(int(e), seq_len, seed)[g[sel] % n]
        return out * seq_len

    def _permutation(self, epoch: int, seq_len: int, seed: int) -> np.ndarray:
        key = (epoch, seq_len, seed)
        if self._perm is None or self._perm[:3] != key:
            # the order of rng.permutation(n), shuffled in place in 4-byte indices (half the
            # memory of the int64 array permutation() returns; the same Fisher-Yates draws)
            n = self.n_windows(seq_len)
            perm = np.arange(n, dtype=np.uint32 if n < 2**32 else np.int64)
            np.random.default_rng([seed, epoch]).shuffle(perm)
            self._perm = (*key, perm)
        return self._perm[3]

    def windows(self, starts: np.ndarray, seq_len: int, *, split: str = "train") -> np.ndarray:
        """Gather windows of ``seq_len + 1`` tokens as an ``int64`` array."""
        src = self.train if split == "train" else self.val
        idx = starts[:, None] + np.arange(seq_len + 1, dtype=np.int64)[None, :]
        out = np.array(src[idx], dtype=np.int64)
        _release(src)
        return out

    def val_starts(self, seq_len: int, n: int) -> np.ndarray:
        """``n`` evenly spaced validation windows, identical for every run of this corpus."""
        total = (len(self.val) - 1) // seq_len
        if total < 1:
            raise RunnerError(f"validation split of {self.name!r} is shorter than one window")
        n = min(n, total)
        return (np.arange(n, dtype=np.int64) * total // n) * seq_len


def _fingerprint(tokenizer: str, vocab: int, train: np.ndarray, val: np.ndarray) -> str:
    h = hashlib.sha256(f"bayescale-corpus-v1|{tokenizer}|{vocab}|".encode())
    h.update(str(train.dtype).encode())
    h.update(np.ascontiguousarray(train).tobytes())
    h.update(b"|val|")
    h.update(np.ascontiguousarray(val).tobytes())
    return h.hexdigest()


def _is_val(relpath: str) -> bool:
    return int(hashlib.sha1(relpath.encode()).hexdigest(), 16) % 100 < _VAL_PERCENT


def _stdlib_files() -> tuple[Path, list[Path]]:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(
        p for p in root.rglob("*.py") if "site-packages" not in p.relative_to(root).parts
    )
    if not files:
        raise RunnerError(f"no standard-library sources under {root}")
    return root, files


def _split_docs(docs: list[tuple[str, bytes]]) -> tuple[bytes, bytes]:
    train = [b for rel, b in docs if not _is_val(rel)]
    val = [b for rel, b in docs if _is_val(rel)]
    if not val or not train:  # too few files for a file-hash split: hold out the tail
        data = b"\x00".join(b for _, b in docs)
        cut = int(len(data) * (1 - _VAL_PERCENT / 100))
        return data[:cut], data[cut:]
    return b"\x00".join(train), b"\x00".join(val)


def _docstrings(source: bytes) -> list[str]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    out = []
    nodes = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    for node in ast.walk(tree):
        if isinstance(node, nodes):
            doc = ast.get_docstring(node)
            if doc and len(doc) > 40:
                out.append(doc)
    return out


def _stdlib_docs(english: bool) -> tuple[list[tuple[str, bytes]], dict[str, Any]]:
    root, files = _stdlib_files()
    docs: list[tuple[str, bytes]] = []
    for p in files:
        rel = p.relative_to(root).as_posix()
        raw = p.read_bytes()
        if english:
            parts = set(rel.split("/"))
            if parts & {"test", "tests", "idle_test"} or rel.startswith("pydoc_data/"):
                continue
            text = "\n\n".join(_docstrings(raw))
            if text:
                docs.append((rel, text.encode("utf-8")))
        else:
            docs.append((rel, raw))
    if english:
        from pydoc_data import topics

        for key in sorted(topics.topics):
            docs.append((f"pydoc_data/topics/{key}", topics.topics[key].encode("utf-8")))
    meta = {
        "python": sys.version.split()[0],
        "implementation": sys.implementation.name,
        "stdlib": str(root),
        "documents": len(docs),
    }
    return docs, meta


def _text_docs(pattern: str) -> list[tuple[str, bytes]]:
    p = Path(pattern).expanduser()
    if p.is_file():
        return [(p.name, p.read_bytes())]
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file())
        return [(f.relative_to(p).as_posix(), f.read_bytes()) for f in files]
    matches = sorted(glob.glob(str(p), recursive=True))
    files = [Path(m) for m in matches if Path(m).is_file()]
    if not files:
        raise RunnerError(f"text corpus {pattern!r}: no such file, directory or glob match")
    return [(f.as_posix(), f.read_bytes()) for f in files]


class TokenShards:
    """Several token arrays read as one stream (memory-mapped shards of a ``bin:`` corpus).

    Supports ``len``, contiguous slices and integer-array indexing, which is all a
    :class:`Corpus` needs; nothing is read until it is indexed.

    Parameters
    ----------
    parts : sequence of numpy.ndarray
        The shards in order, all of one dtype.
    """

    def __init__(self, parts: list[np.ndarray]) -> None:
        if not parts:
            raise RunnerError("no token shards")
        if len({p.dtype for p in parts}) != 1:
            raise RunnerError("token shards mix dtypes (uint16 and uint32)")
        self.parts = parts
        self.offsets = np.cumsum([0] + [len(p) for p in parts], dtype=np.int64)
        self.dtype = parts[0].dtype

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            start, stop, stride = key.indices(len(self))
            if stride != 1:
                raise IndexError("token shards support only contiguous slices")
            out = []
            for part, off in zip(self.parts, self.offsets[:-1], strict=True):
                lo, hi = max(start - off, 0), min(stop - off, len(part))
                if lo < hi:
                    out.append(part[lo:hi])
            if len(out) == 1:
                return out[0]
            return TokenShards(out) if out else self.parts[0][:0]
        idx = np.asarray(key, dtype=np.int64)
        flat = idx.ravel()
        which = np.searchsorted(self.offsets, flat, side="right") - 1
        res = np.empty(flat.shape, dtype=self.dtype)
        for w in np.unique(which):
            sel = which == w
            res[sel] = self.parts[int(w)][flat[sel] - self.offsets[w]]
        return res.reshape(idx.shape)


def _parts(tokens: Any) -> list[np.ndarray]:
    return list(tokens.parts) if isinstance(tokens, TokenShards) else [tokens]


def _read_bin(path: Path) -> np.ndarray:
    """Memory-map one token file (nanoGPT raw ``uint16`` or an llm.c file with a header)."""
    if not path.is_file():
        raise RunnerError(f"token file {path}: no such file")
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(1024)
    if len(head) == 1024:
        header = np.frombuffer(head, dtype=np.int32)
        if int(header[0]) in _LLMC_MAGIC:
            dtype = np.dtype(np.uint16 if int(header[0]) == 20240520 else np.uint32)
            n = int(header[2])
            if 1024 + n * dtype.itemsize > size:
                raise RunnerError(f"token file {path}: header says {n} tokens, file is shorter")
            return _random_access(np.memmap(path, dtype=dtype, mode="r", offset=1024, shape=(n,)))
    if size < 2:
        raise RunnerError(f"token file {path}: empty")
    if size % 2:
        raise RunnerError(f"token file {path}: odd byte count, not a uint16 token file")
    return _random_access(np.memmap(path, dtype=np.uint16, mode="r"))


def _release(tokens: Any) -> None:
    """Unmap the pages of memory-mapped token files from the process (``MADV_DONTNEED``).

    The windows are copied out first; the pages stay in the page cache and are mapped again
    when read. Without this, pages the kernel holds in large folios (a file written shortly
    before) are mapped a folio at a time, and the resident memory grows with every batch read.
    """
    import mmap

    advice = getattr(mmap, "MADV_DONTNEED", None)
    for part in _parts(tokens):
        handle = getattr(part, "_mmap", None)
        if advice is not None and handle is not None and hasattr(handle, "madvise"):
            handle.madvise(advice)


def _random_access(tokens: np.memmap) -> np.memmap:
    """Tell the kernel the mapping is read at random windows (no read-ahead into the process).

    Training reads windows at random offsets; the default sequential read-ahead would map
    pages around every window into the process. Where ``madvise`` is missing it is a no-op.
    """
    import mmap

    handle = getattr(tokens, "_mmap", None)
    advice = getattr(mmap, "MADV_RANDOM", None)
    if handle is not None and advice is not None and hasattr(handle, "madvise"):
        handle.madvise(advice)
    return tokens


def _expand_paths(side: str) -> list[Path]:
    p = Path(side).expanduser()
    if any(ch in side for ch in "*?["):
        found = sorted(Path(m) for m in glob.glob(str(p)) if Path(m).is_file())
        if not found:
            raise RunnerError(f"token files {side!r}: no file matches")
        return found
    return [p]


def _read_stream(paths: list[Path]) -> Any:
    parts = [_read_bin(p) for p in paths]
    return parts[0] if len(parts) == 1 else TokenShards(parts)


def _meta_vocab(first: Path) -> int | None:
    """``vocab_size`` from ``meta.json`` or nanoGPT's ``meta.pkl`` beside a token file."""
    meta_json = first.with_name("meta.json")
    if meta_json.is_file():
        try:
            return int(json.loads(meta_json.read_text(encoding="utf-8"))["vocab_size"])
        except (ValueError, KeyError, TypeError) as exc:
            raise RunnerError(f"{meta_json}: no integer 'vocab_size' ({exc})") from None
    meta_pkl = first.with_name("meta.pkl")
    if meta_pkl.is_file():
        from bayescale.data.pickle_safe import RestrictedUnpickler

        try:
            with open(meta_pkl, "rb") as fh:  # plain dicts, strings and ints only
                meta = RestrictedUnpickler(fh, allowed=(), source=str(meta_pkl)).load()
            return int(meta["vocab_size"])
        except Exception as exc:
            raise RunnerError(f"{meta_pkl}: cannot read 'vocab_size' ({exc})") from None
    return None


def _scan_max(tokens: Any, chunk: int = 1 << 24) -> int:
    """Largest token id, read chunk by chunk from the files (no whole-file mapping kept)."""
    best = 0
    for part in _parts(tokens):
        base = part.base if isinstance(part, np.memmap) else None
        if isinstance(part, np.memmap) and isinstance(part.filename, str) and base is not None:
            off = part.offset
            for i in range(0, len(part), chunk):
                n = min(chunk, len(part) - i)
                block = np.fromfile(
                    part.filename, dtype=part.dtype, count=n, offset=off + i * part.itemsize
                )
                best = max(best, int(block.max(initial=0)))
        else:
            best = max(best, int(np.max(part, initial=0)))
    return best


def _bin_vocab(spec: str) -> int:
    first = _expand_paths(spec.split(",")[0])[0]
    vocab = _meta_vocab(first)
    return vocab if vocab is not None else _bin_corpus(spec)[2]


def _bin_corpus(spec: str) -> tuple[Any, Any, int, dict[str, Any]]:
    sides = spec.split(",")
    if len(sides) > 2:
        raise RunnerError(f"bin:{spec}: give TRAIN or TRAIN,VAL (globs allowed for shards)")
    train_paths = _expand_paths(sides[0])
    tokens = _read_stream(train_paths)
    val_paths: list[Path] = []
    if len(sides) > 1:
        val_paths = _expand_paths(sides[1])
        train, val = tokens, _read_stream(val_paths)
    else:
        cut = int(len(tokens) * (1 - _VAL_PERCENT / 100))
        train, val = tokens[:cut], tokens[cut:]
    vocab = _meta_vocab(train_paths[0])
    if vocab is None:
        vocab = max(_scan_max(train), _scan_max(val)) + 1
    files = [str(p) for p in train_paths + val_paths]
    return train, val, vocab, {"files": files, "shards": len(train_paths)}


#: Bytes read from each sampled block of a ``bin:`` file for its fingerprint.
FINGERPRINT_BLOCK: int = 1 << 16
#: Evenly spaced blocks (first and last included) read per token file.
FINGERPRINT_BLOCKS: int = 64


def _file_digest(path: str, offset: int, nbytes: int, h: Any) -> None:
    """Feed a token file's size and sampled blocks into ``h`` (reads at most 4 MiB)."""
    h.update(f"|{nbytes}|".encode())
    span = max(0, nbytes - FINGERPRINT_BLOCK)
    k = FINGERPRINT_BLOCKS if span else 1
    with open(path, "rb") as fh:
        for i in range(k):
            start = offset + (span * i // max(1, k - 1) if k > 1 else 0)
            fh.seek(start)
            h.update(fh.read(min(FINGERPRINT_BLOCK, nbytes)))


def _bin_fingerprint(vocab: int, train: Any, val: Any, files: list[str]) -> str:
    """Fingerprint of memory-mapped token files without reading them whole.

    SHA-256 of the vocabulary, dtype, both token counts (which fix the train/val cut) and,
    per file in order, its size and 64 evenly spaced 64 KiB blocks (first and last
    included), read with plain file reads (nothing is mapped): about 4 MiB per file
    whatever its size. It catches a different, truncated, re-tokenized or reordered file;
    an edit confined to unsampled bytes would go unnoticed (documented in
    ``docs/runner.md``).
    """
    h = hashlib.sha256(f"bayescale-corpus-bin-v2|pretokenized|{vocab}|".encode())
    h.update(f"|{train.dtype}|{len(train)}|{len(val)}".encode())
    for path in files:
        _file_digest(path, 0, os.path.getsize(path), h)
    return h.hexdigest()


def corpus_vocab_size(spec: str = "stdlib", tokenizer: str = "byte") -> int:
    """The vocabulary of a corpus without loading or tokenizing it.

    Parameters
    ----------
    spec, tokenizer : str
        As in :func:`load_corpus`.

    Returns
    -------
    int
        256 for bytes, ``V`` for ``bpe:V``, a ``bin:`` file's ``meta.json`` / ``meta.pkl``
        vocabulary (else its largest id + 1).

    Examples
    --------
    >>> corpus_vocab_size("stdlib", "bpe:4096"), corpus_vocab_size("stdlib")
    (4096, 256)
    """
    if spec.startswith("bin:"):
        if tokenizer != "byte":
            raise RunnerError("bin: corpora are already tokenized; leave tokenizer='byte'")
        key = (spec, tokenizer)
        if key in _CACHE:
            return _CACHE[key].vocab_size
        return _bin_vocab(spec[4:])
    if tokenizer == "byte":
        return 256
    if tokenizer.startswith("bpe:"):
        return _bpe_vocab(tokenizer)
    raise RunnerError(f"unknown tokenizer {tokenizer!r}; use 'byte' or 'bpe:V'")


def _bpe_vocab(tokenizer: str) -> int:
    try:
        vocab = int(tokenizer[4:])
    except ValueError:
        raise RunnerError(f"tokenizer {tokenizer!r}: use bpe:V with an integer V") from None
    if not 257 <= vocab <= 65535:
        raise RunnerError(f"tokenizer {tokenizer!r}: V must be in 257..65535 (uint16 ids)")
    return vocab


def _bpe(train: bytes, val: bytes, vocab: int, key: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    except ImportError:
        raise RunnerError(
            "the BPE tokenizer needs Hugging Face tokenizers: pip install tokenizers"
        ) from None
    path = cache_dir() / f"bpe-{key[:16]}-{vocab}.npz"
    if path.is_file():
        with np.load(path) as z:
            return z["train"], z["val"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    text = train.decode("utf-8", errors="replace")
    chunks = [text[i : i + (1 << 16)] for i in range(0, len(text), 1 << 16)]
    tok.train_from_iterator(chunks, trainer=trainer)

    def encode(data: bytes) -> np.ndarray:
        s = data.decode("utf-8", errors="replace")
        parts = [s[i : i + (1 << 16)] for i in range(0, len(s), 1 << 16)]
        ids = [e.ids for e in tok.encode_batch(parts)]
        return np.concatenate([np.asarray(i, dtype=np.uint16) for i in ids])

    tr, va = encode(train), encode(val)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}.npz")
    np.savez(tmp, train=tr, val=va)
    os.replace(tmp, path)
    return tr, va


def load_corpus(spec: str = "stdlib", tokenizer: str = "byte") -> Corpus:
    """Load (and cache in-process) a corpus.

    Parameters
    ----------
    spec : str, default "stdlib"
        ``stdlib``, ``stdlib-en``, ``text:PATH`` or ``bin:PATH[,VAL]`` (see module docs).
    tokenizer : str, default "byte"
        ``byte`` or ``bpe:V`` (needs ``tokenizers``; not for ``bin:`` corpora).

    Returns
    -------
    Corpus

    Raises
    ------
    RunnerError
        For an unknown specification, a missing file or a missing optional package.

    Examples
    --------
    >>> load_corpus("stdlib-en").meta["documents"] > 100
    True
    """
    key = (spec, tokenizer)
    if key in _CACHE:
        return _CACHE[key]
    meta: dict[str, Any]
    if spec.startswith("bin:"):
        if tokenizer != "byte":
            raise RunnerError("bin: corpora are already tokenized; leave tokenizer='byte'")
        train, val, vocab, meta = _bin_corpus(spec[4:])
        tok_name, bpt = "pretokenized", float("nan")
        fingerprint = _bin_fingerprint(vocab, train, val, meta["files"])
    else:
        if spec in ("stdlib", "stdlib-en"):
            docs, meta = _stdlib_docs(english=spec == "stdlib-en")
        elif spec.startswith("text:"):
            docs = _text_docs(spec[5:])
            meta = {"documents": len(docs)}
        else:
            raise RunnerError(
                f"unknown corpus {spec!r}; use stdlib, stdlib-en, text:PATH or bin:PATH"
            )
        if len(docs) == 1:
            data = docs[0][1]
            cut = int(len(data) * (1 - _VAL_PERCENT / 100))
            tr_b, va_b = data[:cut], data[cut:]
        else:
            tr_b, va_b = _split_docs(docs)
        if tokenizer == "byte":
            train = np.frombuffer(tr_b, dtype=np.uint8)
            val = np.frombuffer(va_b, dtype=np.uint8)
            vocab, tok_name, bpt = 256, "byte", 1.0
        elif tokenizer.startswith("bpe:"):
            vocab = _bpe_vocab(tokenizer)
            raw_key = hashlib.sha256(tr_b + b"|" + va_b).hexdigest()
            train, val = _bpe(tr_b, va_b, vocab, raw_key)
            tok_name = tokenizer
            bpt = (len(tr_b) + len(va_b)) / max(1, len(train) + len(val))
        else:
            raise RunnerError(f"unknown tokenizer {tokenizer!r}; use 'byte' or 'bpe:V'")
        fingerprint = _fingerprint(tok_name, vocab, train, val)
    if len(val) < 2 or len(train) < 2:
        raise RunnerError(f"corpus {spec!r} is too small to split into train and validation")
    meta.update(train_tokens=len(train), val_tokens=len(val))
    corpus = Corpus(
        name=spec,
        tokenizer=tok_name,
        vocab_size=vocab,
        train=train,
        val=val,
        fingerprint=fingerprint,
        bytes_per_token=bpt,
        meta=meta,
    )
    _CACHE[key] = corpus
    return corpus
