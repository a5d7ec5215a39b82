"""Model families: how a law's PyMC model is built, and what its posterior supports.

:mod:`bayescale.modeling.families.base` defines the :class:`Family` protocol and the registry;
each family module registers its family when imported, and this package imports them all, so
``get_family(law.family)`` finds every family without resolving import paths from strings.
A law selects its family with ``Law(family="<name>")`` (default ``"loss"``).
"""

from bayescale.modeling.families import (  # noqa: F401  (each import registers a family)
    bcrit,
    curves,
    isoflop,
    loss,
    optimal_batch,
    tradeoff,
)
from bayescale.modeling.families.base import (
    FAMILIES,
    Family,
    ModelInfo,
    get_family,
    register_family,
)

__all__ = ["FAMILIES", "Family", "ModelInfo", "get_family", "register_family"]
