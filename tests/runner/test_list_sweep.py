"""``kind = "list"`` sweeps: one run per table, sized by total parameters (issue 19)."""

from __future__ import annotations

import math

import pytest

from bayescale.runner import RunnerError
from bayescale.runner.config import RunSpec, parse_sweep
from bayescale.runner.counting import count_params

LIST = """\
[sweep]
name = "planned"
kind = "list"
seeds = [0, 1]

[defaults]
seq_len = 64
batch_size = 8
micro_batches = 1

[[list]]
params = {params}
tokens = 65536

[[list]]
n_layer = 2
tokens = 32768
"""


def _total(spec) -> int:
    s = spec.resolved(256)
    return count_params(
        n_layer=s.n_layer, d_model=s.d_model, vocab_size=256, seq_len=s.seq_len
    ).total


@pytest.mark.parametrize("target", [5e4, 2.1e5, 9e5, 3e6])
def test_params_entries_get_the_depth_with_the_nearest_count(target):
    sweep = parse_sweep(LIST.format(params=target))
    assert sweep.name == "planned" and len(sweep.specs) == 4  # 2 runs x 2 seeds
    sized = sweep.specs[0]
    gap = abs(math.log(_total(sized) / target))
    for depth in (sized.n_layer - 1, sized.n_layer + 1):
        if depth >= 1:
            other = RunSpec.from_dict(
                {
                    "n_layer": depth,
                    "seq_len": 64,
                    "batch_size": 8,
                    "micro_batches": 1,
                    "tokens": 65536,
                }
            )
            assert gap <= abs(math.log(_total(other) / target))
    assert sized.resolved().tokens == 65536
    assert sweep.specs[1].n_layer == 2 and sweep.specs[1].tokens == 32768
    assert [s.seed for s in sweep.specs] == [0, 0, 1, 1]


def test_list_errors():
    with pytest.raises(RunnerError, match="needs \\[\\[list\\]\\] tables"):
        parse_sweep('[sweep]\nkind = "list"\n')
    with pytest.raises(RunnerError, match="params or n_layer, not both"):
        parse_sweep('[sweep]\nkind = "list"\n[[list]]\nparams = 1e5\nn_layer = 2\ntokens = 9\n')
    with pytest.raises(RunnerError, match="params must be positive"):
        parse_sweep('[sweep]\nkind = "list"\n[[list]]\nparams = -3\ntokens = 9\n')
    with pytest.raises(RunnerError, match="'grid', 'isoflop' or 'list'"):
        parse_sweep('[sweep]\nkind = "table"\n')
