"""Model families beyond the generic loss-law builder.

A family module ``bayescale.modeling.families.<name>`` provides

- ``prepare(runs: pandas.DataFrame, spec: ModelSpec) -> pandas.DataFrame``: validate the table
  the family needs (errors name the column and the row), and
- ``build(spec: ModelSpec, runs: pandas.DataFrame) -> tuple[pymc.Model, ModelInfo]``: build the
  PyMC model; posterior variable names equal the law's parameter names;

and optionally

- ``initial_values(spec: ModelSpec, runs: pandas.DataFrame) -> dict[str, numpy.ndarray]``:
  starting values read off the data (constrained values by free-variable name); the chains
  start there, each jittered by ±``sampling.INIT_JITTER`` on the unconstrained scale.

A law selects its family with ``Law(family="<name>")``.
"""
