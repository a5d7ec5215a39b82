"""Runner throughput vs a bare PyTorch loop on the same model, in the same process.

Both loops train the same GPT shape with AdamW, the same batch (``batch_size`` sequences
split into ``micro_batches``), gradient clipping and one CPU thread. The bare loop samples
random windows nanoGPT-style and does nothing else; the runner (``bayescale.runner.train``)
adds the schedule, counter-based data order, loss bookkeeping, gradient-noise statistics
(its default: about 128 measured steps per run) and learning-curve evaluations.

Reported: training tokens/s of each (runner: time inside its step loop, evaluations
excluded, as recorded in the row's ``train_s``), the ratio, and the runner's end-to-end
ratio including its evaluations. Repeats are interleaved and the median ratio is printed.

Usage::

    python benchmarks/runner_throughput.py [--n-layer 3] [--steps 256] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from bayescale.runner import RunSpec, load_corpus, train
from bayescale.runner.model import GPT, GPTConfig


def bare_loop(spec: RunSpec, corpus_train: np.ndarray) -> float:
    """Train with a minimal loop; return tokens/s."""
    torch.manual_seed(spec.seed)
    model = GPT(
        GPTConfig(
            n_layer=spec.n_layer,
            d_model=spec.d_model,
            n_head=spec.n_head,
            vocab_size=256,
            seq_len=spec.seq_len,
        )
    )
    opt = torch.optim.AdamW(
        model.parameters(), lr=spec.learning_rate, betas=(spec.beta1, spec.beta2)
    )
    data = torch.from_numpy(np.array(corpus_train))  # writable copy
    T, B, k = spec.seq_len, spec.batch_size, spec.micro_batches
    t0 = time.perf_counter()
    for _ in range(spec.steps):
        ix = torch.randint(len(data) - T - 1, (B,))
        batch = torch.stack([data[i : i + T + 1] for i in ix.tolist()]).long()
        for mb in batch.chunk(k):
            (model.loss(mb[:, :-1], mb[:, 1:]) / k).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
    dt = time.perf_counter() - t0
    return spec.steps * B * T / dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-layer", type=int, default=3)
    ap.add_argument("--steps", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    spec = RunSpec(
        n_layer=args.n_layer,
        steps=args.steps,
        seq_len=64,
        batch_size=32,
        micro_batches=2,
        eval_tokens=8192,
        final_eval_tokens=8192,
    ).resolved()
    corpus = load_corpus(spec.corpus)
    print(
        f"model: n_layer={spec.n_layer} d_model={spec.d_model} seq_len={spec.seq_len} "
        f"batch={spec.batch_size}x{spec.seq_len} tokens, {spec.micro_batches} micro-batches, "
        f"{spec.steps} steps, {args.threads} thread(s), torch {torch.__version__}"
    )
    # warm-up both paths once (allocator, kernels)
    bare_loop(RunSpec(**{**spec.__dict__, "steps": 5}), corpus.train)
    train(RunSpec(**{**spec.__dict__, "steps": 5}), corpus=corpus, threads=args.threads)
    ratios, e2e, bare_tps, run_tps = [], [], [], []
    for r in range(args.repeats):
        b = bare_loop(spec, corpus.train)
        res = train(spec, corpus=corpus, threads=args.threads)
        rt = spec.tokens / res.row["train_s"]
        end = spec.tokens / res.row["wall_s"]
        bare_tps.append(b)
        run_tps.append(rt)
        ratios.append(rt / b)
        e2e.append(end / b)
        print(
            f"repeat {r}: bare {b:,.0f} tok/s | runner {rt:,.0f} tok/s (loop), "
            f"{end:,.0f} tok/s (end-to-end incl. {len(res.curve) + 2} evals) | "
            f"ratio {rt / b:.3f} (loop), {end / b:.3f} (end-to-end)"
        )
    print(
        f"median: bare {statistics.median(bare_tps):,.0f} tok/s, runner "
        f"{statistics.median(run_tps):,.0f} tok/s, ratio {statistics.median(ratios):.3f} "
        f"(target >= 0.90); end-to-end ratio {statistics.median(e2e):.3f}"
    )


if __name__ == "__main__":
    main()
