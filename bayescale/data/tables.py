"""Schemas of the tables beside the run table: learning curves, noise statistics, lr × batch.

The run table (one row per trained network) is :mod:`bayescale.data.schema`. Three more
tables feed the batch-size and learning-curve families, and the runner writes all of them
through the schemas here (so a file the runner wrote is a file the families read):

:data:`CURVES`
    One row per learning-curve point of a run (key column ``run``, not ``run_id``, because
    a run table requires unique ``run_id`` and a curve file then still validates as one).
:data:`NOISE`
    One row per measured optimizer step: the raw gradient-noise statistics ``g2_small``
    (mean over micro-batches of ``|g_i|²`` at batch ``b_small``) and ``g2_big``
    (``|mean g_i|²`` at batch ``b_big``), batch sizes in tokens.
:data:`LR_BATCH`
    A learning-rate × batch-size grid: run-table rows with ``learning_rate`` and
    ``batch_size`` present on every row.

Examples
--------
>>> import pandas as pd
>>> from bayescale.data.tables import NOISE, validate_table
>>> t = validate_table(pd.DataFrame({"run_id": ["a"], "step": [0], "tokens": [0],
...     "train_loss": [5.5], "b_small": [512], "b_big": [1024], "g2_small": [2.0],
...     "g2_big": [1.5]}), NOISE)
>>> float(t["g2_small"].iloc[0])
2.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayescale.exceptions import RunTableError

__all__ = ["CURVES", "LR_BATCH", "NOISE", "TABLES", "TableSchema", "validate_table"]


@dataclass(frozen=True)
class TableSchema:
    """The columns of one kind of table.

    Attributes
    ----------
    name : str
        What the table is (used in error messages).
    key : str
        The column naming the run a row belongs to.
    columns : tuple of str
        Every column a writer writes, in order (readers accept more).
    required : tuple of str
        Columns a reader needs.
    positive : tuple of str
        Numeric columns that must be finite and > 0 where present.
    nonnegative : tuple of str
        Numeric columns that must be finite and >= 0 where present.
    """

    name: str
    key: str
    columns: tuple[str, ...]
    required: tuple[str, ...]
    positive: tuple[str, ...] = ()
    nonnegative: tuple[str, ...] = ()


CURVES = TableSchema(
    name="learning curves",
    key="run",
    columns=(
        "run",
        "step",
        "tokens",
        "loss",
        "train_loss",
        "learning_rate",
        "params",
        "params_nonembedding",
        "flops",
        "batch_size",
        "n_layer",
        "d_model",
        "seed",
        "wall_s",
    ),
    required=("run", "step", "tokens", "loss"),
    positive=("loss", "params", "params_nonembedding", "batch_size", "learning_rate"),
    nonnegative=("step", "tokens", "flops", "wall_s"),
)

NOISE = TableSchema(
    name="gradient-noise statistics",
    key="run_id",
    columns=("run_id", "step", "tokens", "train_loss", "b_small", "b_big", "g2_small", "g2_big"),
    required=("run_id", "step", "b_small", "b_big", "g2_small", "g2_big"),
    positive=("b_small", "b_big", "g2_small", "g2_big"),
    nonnegative=("step", "tokens"),
)

LR_BATCH = TableSchema(
    name="learning-rate x batch grid",
    key="run_id",
    columns=("run_id", "params", "tokens", "loss", "learning_rate", "batch_size"),
    required=("params", "tokens", "loss", "learning_rate", "batch_size"),
    positive=("params", "tokens", "loss", "learning_rate", "batch_size"),
)

#: Every schema by name.
TABLES: dict[str, TableSchema] = {"curves": CURVES, "noise": NOISE, "lr_batch": LR_BATCH}


def validate_table(
    table: pd.DataFrame, schema: TableSchema, *, source: str | None = None
) -> pd.DataFrame:
    """Check a table against ``schema`` and return a copy with float64 numeric columns.

    Parameters
    ----------
    table : pandas.DataFrame
        The rows.
    schema : TableSchema
        :data:`CURVES`, :data:`NOISE` or :data:`LR_BATCH`.
    source : str, optional
        File name for error messages.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    RunTableError
        Naming the table, the column and the row of the first problem.
    """
    where = f"{source}: " if source else ""
    if not isinstance(table, pd.DataFrame):
        raise RunTableError(f"{where}{schema.name} must be a pandas DataFrame")
    if len(table) == 0:
        raise RunTableError(f"{where}{schema.name}: the table is empty")
    for col in schema.required:
        if col not in table.columns:
            found = ", ".join(map(str, table.columns)) or "none"
            raise RunTableError(f"{where}{schema.name}: missing column {col!r} (found: {found})")
    out = table.copy()
    if out[schema.key].isna().any():
        pos = int(np.flatnonzero(out[schema.key].isna().to_numpy())[0])
        raise RunTableError(f"{where}{schema.name}: column {schema.key!r}, row {pos}: missing")
    checks = [(c, True) for c in schema.positive] + [(c, False) for c in schema.nonnegative]
    for col, strict in checks:
        if col not in out.columns:
            continue
        values = pd.to_numeric(out[col], errors="coerce")
        arr = values.to_numpy(dtype=float)
        present = out[col].notna().to_numpy()
        with np.errstate(invalid="ignore"):
            bad = present & (~np.isfinite(arr) | ((arr <= 0) if strict else (arr < 0)))
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            relation = "> 0" if strict else ">= 0"
            raise RunTableError(
                f"{where}{schema.name}: column {col!r}, row {pos}: {out[col].iloc[pos]!r} is "
                f"not a finite number {relation}"
            )
        out[col] = values.astype("float64")
    return out
