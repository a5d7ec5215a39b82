"""Mixing parameter-count or loss-unit conventions in one table is an error unless declared."""

from __future__ import annotations

import numpy as np
import pytest

import bayescale as bs
from bayescale.data.loaders import porian_config
from bayescale.data.schema import concat_runs, validate_runs
from bayescale.exceptions import ConventionError
from tests.conftest import needs_mirror

pytestmark = needs_mirror


def _non_embedding(runs):
    """The misfitting table re-expressed with Kaplan's count (an explicit conversion)."""
    out = runs.assign(params=runs["params_nonembedding"])
    out.attrs = {**runs.attrs, "params_kind": "non_embedding", "source": "misfitting2025[N_no_emb]"}
    return validate_runs(out)


def test_misfitting_total_vs_non_embedding_is_refused():
    total = bs.load_dataset("misfitting2025")
    nonemb = _non_embedding(total)
    with pytest.raises(ConventionError) as info:
        concat_runs([total, nonemb])
    msg = str(info.value)
    assert "params_kind" in msg
    assert "misfitting2025=total" in msg and "misfitting2025[N_no_emb]=non_embedding" in msg


def test_explicit_conversion_is_accepted():
    total = bs.load_dataset("misfitting2025")
    nonemb = _non_embedding(total)
    # the caller converts back to total counts and says so
    back = nonemb.assign(params=total["params"].to_numpy(), run_id="copy-" + nonemb["run_id"])
    both = concat_runs([total, back], convert={"params_kind": "total"})
    assert len(both) == 2 * len(total)
    assert both.attrs["params_kind"] == "total"


def test_same_convention_tables_stack():
    epoch = bs.load_dataset("epoch_chinchilla")
    misfit = bs.load_dataset("misfitting2025")
    both = concat_runs([epoch, misfit])
    assert len(both) == 245 + 261 and both.attrs["params_kind"] == "total"


def test_chinchilla_vs_steplaw_is_refused():
    with pytest.raises(ConventionError, match="params_kind"):
        concat_runs([bs.load_dataset("epoch_chinchilla"), bs.load_dataset("steplaw2025")])


def test_porian_configurations_with_different_counts_are_refused():
    porian = bs.load_dataset("porian2024")
    kaplan = porian_config(porian, "rw-base-long-kaplan-kaplan-train")
    standard = porian_config(porian, "rw-base-long-kaplan-standard-val")
    with pytest.raises(ConventionError, match="params_kind"):
        concat_runs([kaplan, standard])
    # two configurations with the same count do stack
    tuned = porian_config(porian, "rw-tuned-short-const-standard-val")
    assert len(concat_runs([standard, tuned])) == len(standard) + len(tuned)


def test_loss_units_are_not_mixed():
    epoch = bs.load_dataset("epoch_chinchilla")
    bits = epoch.assign(loss=epoch["loss"] / np.log(2))
    bits.attrs = {**epoch.attrs, "loss_unit": "bits_per_byte", "source": "bits"}
    bits = validate_runs(bits)
    with pytest.raises(ConventionError, match="loss_unit"):
        concat_runs([epoch, bits])
