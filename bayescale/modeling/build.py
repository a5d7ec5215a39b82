"""Build a PyMC model from a spec and a validated run table (pure graph construction).

The law names its model family; the family builds the graph (see
:mod:`bayescale.modeling.families.base` for the protocol and :mod:`bayescale.modeling.families`
for the families). This module is the one front door: :func:`build_model` builds, and
:func:`family_module` is the lookup every caller outside the families uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from bayescale.laws import get_law
from bayescale.modeling.families import FAMILIES, Family, ModelInfo, get_family
from bayescale.modeling.families._common import run_labels
from bayescale.modeling.families.loss import reference_scales

if TYPE_CHECKING:
    from bayescale.modeling.spec import ModelSpec

__all__ = [
    "FAMILIES",
    "ModelInfo",
    "build_model",
    "family_module",
    "reference_scales",
    "run_labels",
]


def family_module(family: str) -> Family:
    """The registered :class:`~bayescale.modeling.families.base.Family` called ``family``.

    Examples
    --------
    >>> family_module("loss").predicts_loss
    True
    """
    return get_family(family)


def build_model(spec: ModelSpec, runs: pd.DataFrame) -> tuple[Any, ModelInfo]:
    """Build the PyMC model of ``spec`` on ``runs`` (prepared by its family) with the family.

    Returns the model and the :class:`ModelInfo` needed to read its posterior; for the loss
    family see :func:`bayescale.modeling.families.loss.build`.
    """
    return family_module(get_law(spec.law).family).build(spec, runs)
