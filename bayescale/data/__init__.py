"""Run tables: schema and validation, the dataset registry, synthetic tables."""

from __future__ import annotations

from bayescale.data.schema import concat_runs, read_runs, validate_runs

__all__ = ["concat_runs", "read_runs", "validate_runs"]
