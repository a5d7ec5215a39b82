"""Peak memory of one runner process training on a large memory-mapped token file.

Writes a ``uint16`` token file of ``--gb`` GB (random ids below 50,257, with a ``meta.json``)
in a temporary folder with ``np.memmap``, trains one small run on it in a fresh process,
and prints that process's peak resident set (``VmHWM``) and, at the end, its anonymous and
file-backed resident memory (``RssAnon``, ``RssFile``). The file is deleted afterwards.

    PYTHONPATH=. python benchmarks/runner_memory.py            # 2 GB, the issue's check
    PYTHONPATH=. python benchmarks/runner_memory.py --gb 0.5 --steps 20

The same run on a 0.02 GB file follows (``--baseline-gb``), so that what the corpus costs is
told apart from what torch and the model cost.

Needs torch (the runner extra).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = r"""
import json, sys, time
from bayescale.runner import RunSpec, train

def status():
    out = {}
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0]) * 1024
    return out

path, steps = sys.argv[1], int(sys.argv[2])
t0 = time.perf_counter()
res = train(RunSpec(n_layer=2, seq_len=64, batch_size=8, micro_batches=2, steps=steps,
                    corpus=f"bin:{path}", eval_tokens=2048, final_eval_tokens=8192), threads=2)
print(json.dumps({"status": status(), "wall_s": time.perf_counter() - t0,
                  "loss": res.row["loss"],
                  "vocab": res.row["vocab_size"], "fingerprint": res.row["corpus_fingerprint"]}))
"""


def make_file(folder: Path, gb: float, vocab: int = 50257) -> Path:
    path = folder / "train.bin"
    n = int(gb * 1e9) // 2
    mm = np.memmap(path, dtype=np.uint16, mode="w+", shape=(n,))
    rng = np.random.default_rng(0)
    chunk = 1 << 25
    for i in range(0, n, chunk):
        m = min(chunk, n - i)
        mm[i : i + m] = rng.integers(0, vocab, m, dtype=np.uint16)
    mm.flush()
    del mm
    (folder / "meta.json").write_text(json.dumps({"vocab_size": vocab}))
    return path


def measure(folder: Path, gb: float, steps: int) -> dict:
    """Write a token file of ``gb`` GB in ``folder``, train on it in a fresh process."""
    t0 = time.perf_counter()
    path = make_file(folder, gb)
    size = path.stat().st_size
    print(
        f"token file: {size / 1e9:.2f} GB ({size // 2:,} tokens), "
        f"written in {time.perf_counter() - t0:.1f} s"
    )
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(steps)],
        capture_output=True,
        text=True,
        check=False,
    )
    path.unlink()
    if proc.returncode:
        sys.exit(f"training failed:\n{proc.stderr[-3000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    st = res["status"]
    mb = 1 / 2**20
    print(
        f"  trained {steps} steps in {res['wall_s']:.1f} s, loss {res['loss']:.3f}, "
        f"vocab {res['vocab']}; peak RSS (VmHWM) {st['VmHWM'] * mb:.0f} MiB "
        f"(at the end: anon {st['RssAnon'] * mb:.0f} + file-backed {st['RssFile'] * mb:.0f} MiB)"
    )
    return {"size": size, **st}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gb", type=float, default=2.0, help="token file size in GB")
    ap.add_argument(
        "--baseline-gb", type=float, default=0.02, help="the same run on a small file (0: skip)"
    )
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--dir", default=None, help="where to write the file (default: /tmp)")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bayescale-mem-", dir=args.dir))
    try:
        big = measure(folder, args.gb, args.steps)
        mib = 2**20
        print(f"peak RSS / 1 GiB: {big['VmHWM'] / 2**30:.2f}; under 1 GiB: {big['VmHWM'] < 2**30}")
        if args.baseline_gb > 0:
            small = measure(folder, args.baseline_gb, args.steps)
            extra = (big["VmHWM"] - small["VmHWM"]) / mib
            print(
                f"the {big['size'] / 1e9:.2f} GB file adds {extra:+.0f} MiB to the peak of the "
                f"same run on {small['size'] / 1e9:.2f} GB "
                f"(anon at the end {(big['RssAnon'] - small['RssAnon']) / mib:+.0f} MiB): "
                "what is left is torch and the model, whatever the corpus"
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
