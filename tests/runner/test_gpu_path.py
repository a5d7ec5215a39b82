"""The GPU code paths, exercised on the CPU with mocked CUDA, the meta device and fakes."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from bayescale.runner import RunnerError, RunnerWarning, RunSpec, train  # noqa: E402
from bayescale.runner.errors import RunInterrupted  # noqa: E402
from bayescale.runner.noise import MicroGradNorms  # noqa: E402
from bayescale.runner.trainer import (  # noqa: E402
    Collectives,
    _fresh_state,
    _set_rng_state,
    peak_flops,
    read_checkpoint,
    save_checkpoint,
    select_device,
    setup,
    train_step,
)

pytestmark = pytest.mark.runner

TINY = {"n_layer": 1, "steps": 6, "seq_len": 16, "batch_size": 4, "aspect_ratio": 16,
        "head_dim": 16, "eval_tokens": 256, "final_eval_tokens": 512}  # fmt: skip


@pytest.fixture
def fake_cuda(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """CUDA 'available' with two devices; set_device checks its argument like torch does."""
    from torch.cuda._utils import _get_device_index

    calls: list[Any] = []

    def set_device(device: Any) -> None:
        calls.append(_get_device_index(device))  # raises for an index-less torch.device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", set_device)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: "NVIDIA H100 PCIe")
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: [])
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    # the model cannot really move to a GPU here; everything else of setup runs
    monkeypatch.setattr(torch.nn.Module, "to", lambda self, *a, **k: self)
    return calls


def test_cuda_device_always_gets_an_index(fake_cuda: list[Any]) -> None:
    assert select_device("cuda") == torch.device("cuda", 0)
    assert select_device("cuda", world=2, local_rank=1) == torch.device("cuda", 1)
    assert select_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(RunnerError, match="does not exist"):
        select_device("cuda:2")
    with pytest.raises(RunnerError, match="LOCAL_RANK"):
        select_device("cuda:1", world=2)


def test_no_cuda_is_one_clear_error() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(RunnerError, match="is_available"):
        select_device("cuda")


def test_setup_on_cuda_sets_an_indexed_device(
    fake_cuda: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCAL_RANK", "1")
    s = setup(RunSpec(**TINY, device="cuda"))
    assert fake_cuda == [1]  # torch.cuda.set_device got cuda:1, not the index-less "cuda"
    assert s.device == torch.device("cuda", 1)
    assert s.amp_dtype == torch.bfloat16
    assert s.compiled
    assert s.peak_flops == 756.5e12  # H100 PCIe, not the SXM figure
    assert s.device_name == "NVIDIA H100 PCIe"


def test_no_native_bf16_falls_back_to_fp32_honestly(
    fake_cuda: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []

    def bf16(including_emulation: bool = True) -> bool:
        seen.append(including_emulation)
        return including_emulation  # emulated only (e.g. a V100)

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", bf16)
    with pytest.warns(RunnerWarning, match="no native bf16"):
        s = setup(RunSpec(**TINY, device="cuda"))
    assert s.amp_dtype == torch.float32 and seen == [False]
    assert s.peak_flops is None  # the table holds bf16 peaks only
    with pytest.raises(RunnerError, match="no native bf16"):
        setup(RunSpec(**TINY, device="cuda", precision="bf16"))
    with pytest.raises(RunnerError, match="needs a CUDA device"):
        setup(RunSpec(**TINY, precision="bf16"))


class _RecordingDist:
    def __init__(self) -> None:
        self.devices: list[torch.device] = []

    def all_reduce(self, t: torch.Tensor) -> None:
        self.devices.append(t.device)
        t.mul_(2)  # as if a second rank had contributed the same numbers


def test_noise_statistics_stay_on_the_device_for_the_all_reduce() -> None:
    meta = torch.device("meta")  # NCCL takes device tensors only; meta stands in for CUDA
    lin = torch.nn.Linear(8, 1, device=meta)
    norms = MicroGradNorms(list(lin.parameters()), 2)
    for _ in range(2):
        (lin(torch.zeros(4, 8, device=meta)).sum() / 2).backward()
        norms.after_backward()
    dist = _RecordingDist()
    comm = Collectives(dist, meta)
    comm.grads(list(lin.parameters()))
    out = comm.sum(norms.small_sum_tensor())
    assert out.device == meta and out.dtype == torch.float64 and out.shape == (2,)
    assert dist.devices == [meta, meta, meta]


def test_data_parallel_step_reduces_on_the_training_device(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    dist = _RecordingDist()
    s = setup(RunSpec(**TINY), dist=dist)
    assert s.comm is not None and s.world == 2
    norms = MicroGradNorms(list(s.model.parameters()), s.spec.micro_batches)
    stats = train_step(s, 0, norms, measure=True)
    assert stats.g2_small > 0 and stats.g2_big > 0
    n_grads = sum(1 for p in s.model.parameters())
    assert len(dist.devices) == n_grads + 2  # gradients, the loss, the noise statistics
    assert set(dist.devices) == {s.device}


def test_checkpoint_loads_onto_the_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = setup(RunSpec(**TINY))
    path = tmp_path / "c.pt"
    save_checkpoint(s, path, _fresh_state())
    seen: list[Any] = []
    real = torch.load

    def load(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("map_location"))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", load)
    blob = read_checkpoint(path)
    assert seen == ["cpu"]  # never the training device: set_rng_state takes CPU tensors
    assert blob["rng"]["torch"].device.type == "cpu"
    _set_rng_state(blob["rng"])
    # what went wrong before: the RNG state mapped to another device is rejected
    moved = real(path, map_location="meta", weights_only=False)
    with pytest.raises((RuntimeError, TypeError)):
        torch.set_rng_state(moved["rng"]["torch"])


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("NVIDIA H100 80GB HBM3", 989.4e12),
        ("NVIDIA H100 PCIe", 756.5e12),
        ("NVIDIA H100 NVL", 835.5e12),
        ("NVIDIA H200", 989.4e12),
        ("NVIDIA GH200 480GB", 989.4e12),
        ("NVIDIA A100-SXM4-80GB", 312e12),
        ("NVIDIA A100 80GB PCIe", 312e12),
        ("NVIDIA L40S", 362.1e12),
        ("NVIDIA L40", 181.0e12),
        ("NVIDIA L4", 121.0e12),
        ("NVIDIA A10", 125e12),
        ("NVIDIA A10G", None),
        ("NVIDIA B200", 2250e12),
        ("NVIDIA RTX A6000", 154.8e12),
        ("NVIDIA GeForce RTX 3090", 71.0e12),
        ("NVIDIA GeForce RTX 3090 Ti", 80.0e12),
        ("NVIDIA GeForce RTX 4090", 165.2e12),
        ("Tesla V100-SXM2-16GB", None),
    ],
)
def test_peak_flops_by_exact_device(name: str, value: float | None) -> None:
    assert peak_flops(name) == value
    assert peak_flops(name, "float32") is None


def test_peak_flops_override_gives_mfu_on_any_device() -> None:
    res = train(RunSpec(**TINY), peak=1e12)
    row = res.row
    assert row["peak_flops"] == 1e12
    per_token = row["flops_palm"] / row["tokens"]
    assert row["mfu"] == pytest.approx(row["tokens_per_s"] * per_token / 1e12)
    # the first step (compilation / warm-up) is timed apart from the throughput
    assert 0 < row["compile_s"] < row["train_s"]
    timed = (row["steps"] - 1) * row["batch_size"] / (row["train_s"] - row["compile_s"])
    assert row["tokens_per_s"] == pytest.approx(timed)
    assert train(RunSpec(**TINY)).row["mfu"] is None  # CPU, no override


def test_sigusr2_checkpoints_then_resumes_bit_identically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = RunSpec(**{**TINY, "steps": 8})
    ref = train(spec, threads=1)
    received: list[int] = []
    previous = signal.signal(signal.SIGUSR2, lambda signum, _f: received.append(signum))
    try:
        ckpt = tmp_path / "run.pt"

        def kick(step: int, steps: int, loss: float) -> None:
            if step == 3:
                os.kill(os.getpid(), signal.SIGUSR2)  # what submitit's scheduler sends

        with pytest.raises(RunInterrupted) as info:
            train(spec, checkpoint=ckpt, threads=1, progress=kick)
        assert info.value.signum == signal.SIGUSR2
        assert ckpt.is_file() and read_checkpoint(ckpt)["state"]["step"] == 3
        assert received == []  # the trainer handled it, then put the old handler back
        os.kill(os.getpid(), signal.SIGUSR2)
        assert received == [signal.SIGUSR2]
        done = train(spec, checkpoint=ckpt, threads=1)
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert done.row["loss"] == ref.row["loss"]
    assert [c["loss"] for c in done.curve] == [c["loss"] for c in ref.curve]
    assert not ckpt.exists()
