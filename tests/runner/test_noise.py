from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from bayescale.runner.noise import (  # noqa: E402
    MicroGradNorms,
    noise_components,
    noise_scale_simple,
)

pytestmark = pytest.mark.runner


def test_estimator_is_unbiased_on_a_quadratic_problem() -> None:
    """Least squares on a finite population: exact |G|² and tr(Σ) are known.

    Micro-batches are drawn with replacement and pass through the same accumulator the
    trainer uses (backward of loss/k per micro-batch into .grad).
    """
    rng = np.random.default_rng(1234)
    M, p, b, k, trials = 512, 16, 4, 4, 1500
    X = rng.normal(size=(M, p))
    w_true = rng.normal(size=p)
    y = X @ w_true + rng.normal(scale=2.0, size=M)
    w0 = w_true + rng.normal(scale=0.5, size=p)
    per_ex = (X @ w0 - y)[:, None] * X  # gradients of 0.5 (x·w - y)^2
    G = per_ex.mean(axis=0)
    g2_true = float(G @ G)
    tr_true = float(((per_ex - G) ** 2).sum(axis=1).mean())

    lin = torch.nn.Linear(p, 1, bias=False, dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(w0[None, :]))
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    norms = MicroGradNorms(list(lin.parameters()), k)
    small, big = np.empty(trials), np.empty(trials)
    idx = rng.integers(0, M, size=(trials, k, b))
    for t in range(trials):
        lin.zero_grad(set_to_none=True)
        for j in range(k):
            sel = torch.from_numpy(idx[t, j])
            loss = 0.5 * ((lin(Xt[sel]).squeeze(1) - yt[sel]) ** 2).mean() / k
            loss.backward()
            norms.after_backward()
        small[t], big[t] = norms.finish()
    g2, tr = noise_components(small, big, b_small=b, b_big=k * b)
    z_g2 = (g2.mean() - g2_true) / (g2.std(ddof=1) / np.sqrt(trials))
    z_tr = (tr.mean() - tr_true) / (tr.std(ddof=1) / np.sqrt(trials))
    assert abs(z_g2) < 4, z_g2
    assert abs(z_tr) < 4, z_tr
    est = noise_scale_simple(small, big, b_small=b, b_big=k * b)
    assert est == pytest.approx(tr_true / g2_true, rel=0.08)


def test_components_on_exact_expectations() -> None:
    # E|g_B|^2 = |G|^2 + tr/B exactly -> the estimator returns the truth
    g2, tr = 2.0, 30.0
    s, b = g2 + tr / 4, g2 + tr / 16
    est_g2, est_tr = noise_components([s], [b], b_small=4, b_big=16)
    assert est_g2[0] == pytest.approx(g2)
    assert est_tr[0] == pytest.approx(tr)
    assert noise_scale_simple([s, s], [b, b], b_small=4, b_big=16) == pytest.approx(15.0)
    with pytest.raises(ValueError, match="b_small < b_big"):
        noise_components([s], [b], b_small=4, b_big=4)
