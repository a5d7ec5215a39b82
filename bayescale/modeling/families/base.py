"""The model-family protocol: what every family provides, and the registry of families.

A law names its family (``Law.family``); the family turns a spec and a table into a PyMC model.
Each family module ends by registering one :class:`Family`; ``bayescale.modeling.families``
imports every family module, so the registry is filled by imports alone (no import paths are
resolved from strings). Callers ask a family what it can do through its capability fields
(``predicts_loss``, ``allocate``, ``group_draws``, ``reads_raw_table``, ``options``), never by
its name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from bayescale.laws.base import lookup

if TYPE_CHECKING:
    from bayescale.laws import Law
    from bayescale.modeling.spec import ModelSpec

__all__ = ["FAMILIES", "Family", "ModelInfo", "get_family", "register_family"]


@dataclass(frozen=True)
class ModelInfo:
    """What the model builder decided, needed to interpret the posterior later."""

    law: str
    scales: dict[str, float]
    group: str | None = None
    groups: tuple[str, ...] = ()
    pooled: tuple[str, ...] = ()
    run_ids: tuple[str, ...] = field(default_factory=tuple)


#: ``prepare(runs, spec) -> table``: validate the table the family needs (errors name the
#: column and the row); families with ``drops_outliers`` also take ``exclude_outliers=``.
Prepare = Callable[..., pd.DataFrame]
#: ``build(spec, runs) -> (pymc.Model, ModelInfo)``: posterior names equal the law's parameters.
Build = Callable[["ModelSpec", pd.DataFrame], tuple[Any, ModelInfo]]
#: ``initial_values(spec, runs) -> {free variable: constrained value}`` read off the data.
InitialValues = Callable[["ModelSpec", pd.DataFrame], dict[str, np.ndarray]]
#: ``group_draws(law, posterior, info, names, rng) -> Dataset``: the parameters ``names`` of a
#: group absent from the data, drawn from the population values and spreads of the pooling the
#: family's builder defines (dims ``chain``, ``draw``; no group dim).
GroupDraws = Callable[["Law", xr.Dataset, ModelInfo, list[str], np.random.Generator], xr.Dataset]
#: ``allocate(posterior, flops) -> {"params_opt", "tokens_opt", ...}``: the family's own
#: compute-optimal allocation at new budgets.
Allocate = Callable[[xr.Dataset, Any], Mapping[str, xr.DataArray]]


@dataclass(frozen=True)
class Family:
    """A model family: how a law's PyMC model is built, and what its posterior supports.

    Attributes
    ----------
    name : str
        The name laws use (``Law.family``).
    description : str
        One line for docs and error messages.
    prepare, build : callable
        See :data:`Prepare` and :data:`Build`.
    options : mapping of str to type
        The spec's ``[options]`` the family accepts, with their types.
    nuisance : mapping of str to tuple of str
        The variables besides the law's parameters that carry a prior (per-run latents, noise
        shapes, ...), each with the prior arguments the family supplies from the data (e.g.
        ``("mu",)`` for a prior centred on an observed value). Their priors are the spec's
        ``[nuisance]`` table (:attr:`bayescale.modeling.spec.ModelSpec.nuisance`).
    initial_values : callable, optional
        Data-based starting values (:data:`InitialValues`); the chains start there, each
        jittered by ±``sampling.INIT_JITTER`` on the unconstrained scale.
    group_draws : callable, optional
        Parameters of an unseen group (:data:`GroupDraws`); None when the family cannot draw
        them.
    allocate : callable, optional
        The family's own compute-optimal allocation (:data:`Allocate`). None leaves allocation
        to the generic optimum over the law when ``predicts_loss`` holds, else to no one.
    predicts_loss : bool
        The law, evaluated on a run's inputs with the posterior's parameters, is the mean loss
        of that run, with no per-run or per-budget latent values: such a fit predicts unseen
        runs (extrapolation, decisions, the prior predictive, loss plots, the generic optimum).
    reads_raw_table : bool
        ``bayescale fit --data FILE`` hands the file to ``prepare`` as read (the table is not a
        run table of the schema).
    drops_outliers : bool
        ``prepare`` takes ``exclude_outliers=`` (rows flagged in the ``outlier`` column).
    """

    name: str
    description: str
    prepare: Prepare
    build: Build
    options: Mapping[str, type] = field(default_factory=dict)
    nuisance: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    initial_values: InitialValues | None = None
    group_draws: GroupDraws | None = None
    allocate: Allocate | None = None
    predicts_loss: bool = False
    reads_raw_table: bool = False
    drops_outliers: bool = False

    def prepare_runs(
        self, runs: pd.DataFrame, spec: ModelSpec, *, exclude_outliers: bool = True
    ) -> pd.DataFrame:
        """``prepare(runs, spec)``, passing ``exclude_outliers`` where the family takes it."""
        if self.drops_outliers:
            return self.prepare(runs, spec, exclude_outliers=exclude_outliers)
        return self.prepare(runs, spec)


#: Every registered family by name; filled by importing ``bayescale.modeling.families``.
FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    """Add ``family`` to :data:`FAMILIES`, replacing one of the same name; returns it."""
    FAMILIES[family.name] = family
    return family


def get_family(name: str) -> Family:
    """The registered family called ``name`` (``get_family("isoflop").options``, ...)."""
    return lookup(FAMILIES, name, what="model family")
