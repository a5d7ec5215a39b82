from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from bayescale.constants import PF_DAY  # noqa: E402
from bayescale.runner.counting import count_flops, count_params  # noqa: E402
from bayescale.runner.model import GPT, GPTConfig, shape_for  # noqa: E402

pytestmark = pytest.mark.runner


@pytest.mark.parametrize(
    ("n_layer", "tied", "bias"), [(1, False, False), (2, True, False), (3, False, True)]
)
def test_param_counts_match_the_model(n_layer: int, tied: bool, bias: bool) -> None:
    d, h = shape_for(n_layer, aspect_ratio=16, head_dim=16)
    model = GPT(GPTConfig(n_layer=n_layer, d_model=d, n_head=h, seq_len=24, tied=tied, bias=bias))
    c = count_params(n_layer=n_layer, d_model=d, vocab_size=256, seq_len=24, tied=tied, bias=bias)
    assert c.total == model.num_params()
    emb = model.tok.weight.numel() + model.pos.weight.numel()
    head = 0 if tied else model.head.weight.numel()
    assert c.nonembedding == model.num_params() - emb - head
    assert c.with_head == c.nonembedding + 256 * d
    assert c.kaplan == 12 * n_layer * d * d
    assert c.matmul == 12 * n_layer * d * d + 256 * d


@pytest.mark.parametrize(("n_layer", "d", "h", "T", "B"), [(1, 32, 2, 16, 3), (2, 48, 3, 24, 2)])
def test_measured_flops_equal_palm_formula_on_matmul_path(
    n_layer: int, d: int, h: int, T: int, B: int
) -> None:
    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layer=n_layer, d_model=d, n_head=h, seq_len=T, attn_impl="manual"))
    x = torch.randint(0, 256, (B, T + 1))
    with FlopCounterMode(display=False) as fc:
        model.loss(x[:, :-1], x[:, 1:]).backward()
    p = count_params(n_layer=n_layer, d_model=d, vocab_size=256, seq_len=T)
    f = count_flops(p, n_layer=n_layer, d_model=d, seq_len=T, tokens=B * T)
    assert fc.get_total_flops() == f.flops_palm
    assert f.flops_palm == (6 * p.matmul + 12 * n_layer * T * d) * B * T


def test_sdpa_and_manual_paths_agree_numerically() -> None:
    torch.manual_seed(0)
    cfg = GPTConfig(n_layer=2, d_model=32, n_head=2, seq_len=16)
    a = GPT(cfg)
    b = GPT(GPTConfig(**{**cfg.__dict__, "attn_impl": "manual"}))
    b.load_state_dict(a.state_dict())
    x = torch.randint(0, 256, (2, 16))
    torch.testing.assert_close(a(x), b(x), rtol=1e-5, atol=1e-5)


def test_flop_conventions_and_pf_days() -> None:
    p = count_params(n_layer=2, d_model=48, vocab_size=256, seq_len=64)
    f = count_flops(p, n_layer=2, d_model=48, seq_len=64, tokens=1e6)
    assert f.flops == 6 * p.total * 1e6
    assert f.flops_kaplan == 6 * p.nonembedding * 1e6
    assert f.flops_context == (6 * p.nonembedding + 6 * 2 * 64 * 48) * 1e6
    d = f.as_dict()
    assert math.isclose(d["pf_days"] * PF_DAY, f.flops)
    assert math.isclose(d["pf_days_palm"] * 8.64e19, f.flops_palm)


def test_gradient_accumulation_equals_full_batch() -> None:
    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layer=1, d_model=32, n_head=2, seq_len=16))
    x = torch.randint(0, 256, (8, 17))
    model.loss(x[:, :-1], x[:, 1:]).backward()
    full = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    for mb in x.chunk(4):
        (model.loss(mb[:, :-1], mb[:, 1:]) / 4).backward()
    for g, p in zip(full, model.parameters(), strict=True):
        torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-6)
