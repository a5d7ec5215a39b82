from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from bayescale.runner.io import read_rows

pytestmark = [pytest.mark.runner, pytest.mark.slow]


def test_two_rank_gloo_ddp_matches_one_process(tiny_sweep: Path, tmp_path: Path) -> None:
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun"))
    if not Path(torchrun).exists():
        pytest.skip("torchrun not found")
    text = tiny_sweep.read_text().replace("steps = [40]", "steps = [20]")
    tiny_sweep.write_text(text)
    common = ["run", str(tiny_sweep), "--threads", "1", "--no-progress"]
    ddp, single = tmp_path / "ddp.csv", tmp_path / "single.csv"
    subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node=2", "-m", "bayescale.runner", *common,
         "--out", str(ddp)],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "bayescale.runner", *common, "--out", str(single)],
        check=True,
        capture_output=True,
    )
    (a,) = read_rows(ddp)[1]
    (b,) = read_rows(single)[1]
    assert a["world_size"] == "2" and b["world_size"] == "1"
    assert float(a["loss"]) == pytest.approx(float(b["loss"]), rel=1e-5)
    assert float(a["noise_scale_simple"]) == pytest.approx(float(b["noise_scale_simple"]), rel=1e-3)
