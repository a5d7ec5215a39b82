"""Model families beyond the generic loss-law builder.

A family module ``bayescale.modeling.families.<name>`` provides

- ``prepare(runs: pandas.DataFrame, spec: ModelSpec) -> pandas.DataFrame``: validate the table
  the family needs (errors name the column and the row), and
- ``build(spec: ModelSpec, runs: pandas.DataFrame) -> tuple[pymc.Model, ModelInfo]``: build the
  PyMC model; posterior variable names equal the law's parameter names.

A law selects its family with ``Law(family="<name>")``.
"""
