"""Runner throughput vs a bare PyTorch loop on the same model, in the same process.

Both loops train the same GPT shape with AdamW, the same batch (``batch_size`` sequences
split into ``micro_batches``), gradient clipping and one CPU thread. The bare loop samples
random windows nanoGPT-style and does nothing else; the runner (``bayescale.runner.train``)
adds the schedule, counter-based data order, loss bookkeeping, gradient-noise statistics
(its default: about 128 measured steps per run) and learning-curve evaluations.

Reported, with repeats interleaved and medians printed:

* wall-clock tokens/s of each (runner: time inside its step loop, as recorded in the row's
  ``train_s``; evaluations excluded) and their ratio;
* CPU-time tokens/s (``time.process_time``) of the bare loop and of the *whole* ``train()``
  call (model set-up, step loop and its evaluations included), a figure that is robust
  when other jobs share the machine; evaluations are cut to one window per curve point
  so that this measures the training loop, not validation.

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


def bare_loop(spec: RunSpec, corpus_train: np.ndarray) -> tuple[float, float]:
    """Train with a minimal loop; return (wall tokens/s, CPU tokens/s)."""
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
    c0 = time.process_time()
    for _ in range(spec.steps):
        ix = torch.randint(len(data) - T - 1, (B,))
        batch = torch.stack([data[i : i + T + 1] for i in ix.tolist()]).long()
        for mb in batch.chunk(k):
            (model.loss(mb[:, :-1], mb[:, 1:]) / k).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
    dt = time.perf_counter() - t0
    dc = time.process_time() - c0
    return spec.steps * B * T / dt, spec.steps * B * T / dc


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
        eval_tokens=64,
        final_eval_tokens=64,
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
    ratios, cpu_ratios, bare_tps, run_tps = [], [], [], []
    for r in range(args.repeats):
        b, b_cpu = bare_loop(spec, corpus.train)
        c0 = time.process_time()
        res = train(spec, corpus=corpus, threads=args.threads)
        r_cpu = spec.tokens / (time.process_time() - c0)
        rt = spec.tokens / res.row["train_s"]
        bare_tps.append(b)
        run_tps.append(rt)
        ratios.append(rt / b)
        cpu_ratios.append(r_cpu / b_cpu)
        print(
            f"repeat {r}: wall: bare {b:,.0f} tok/s, runner loop {rt:,.0f} tok/s, "
            f"ratio {rt / b:.3f} | CPU time: bare {b_cpu:,.0f} tok/s, runner train() "
            f"{r_cpu:,.0f} tok/s ({len(res.curve) + 2} evals, "
            f"{res.row['noise_points']} noise steps), ratio {r_cpu / b_cpu:.3f}"
        )
    print(
        f"median: bare {statistics.median(bare_tps):,.0f} tok/s, runner "
        f"{statistics.median(run_tps):,.0f} tok/s, wall ratio {statistics.median(ratios):.3f}; "
        f"CPU-time ratio {statistics.median(cpu_ratios):.3f} (target >= 0.90)"
    )


if __name__ == "__main__":
    main()
