"""Constants shared across bayescale, each defined once."""

from __future__ import annotations

#: Training FLOPs per parameter per token in the C ≈ 6·N·D approximation (Kaplan et al. 2020).
FLOPS_PER_PARAM_TOKEN: float = 6.0
#: Inference FLOPs per parameter per token (forward pass only), C_inf ≈ 2·N·D_inf.
INFERENCE_FLOPS_PER_PARAM_TOKEN: float = 2.0
#: One petaflop/s-day in FLOP (Kaplan et al. 2020 quote compute in PF-days).
PF_DAY: float = 8.64e19
#: Default probability mass of an equal-tailed interval.
DEFAULT_CI_PROB: float = 0.9
#: The run-table schema version written into saved fits and registry entries.
SCHEMA_VERSION: int = 1
#: Sampling dimensions of a posterior, in ArviZ vocabulary.
SAMPLE_DIMS: tuple[str, str] = ("chain", "draw")
