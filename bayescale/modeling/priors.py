"""Priors from published fits: a published value and its spread become a spec's prior.

The numbers come from :mod:`bayescale.data.published` (``datasets/published_fits.toml``); which
parameter is a prefactor comes from the law. The result is a mapping of :class:`Prior` objects,
usable as ``ScalingModel(priors=...)`` or ``ModelSpec.with_priors(...)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from bayescale.data.published import PublishedFit, published_fit
from bayescale.exceptions import SpecError
from bayescale.laws import LAWS
from bayescale.modeling.spec import Prior

__all__ = ["published_priors"]


def _is_exponent(name: str) -> bool:
    return name.startswith(("alpha", "beta")) or name in {"a", "b"} or "_exp" in name


def published_priors(
    fit: str | PublishedFit,
    *,
    scale: float = 1.0,
    default_rel: float = 0.2,
    params: Iterable[str] | None = None,
) -> dict[str, Prior]:
    """Priors centred on a fit's published values, as many standard deviations wide as asked.

    Prefactors (the law's prefactors, ``E`` and other positive non-exponents) get
    ``LogNormal(log value, s)`` with ``s`` the published spread on the log scale;
    positive exponents get ``TruncatedNormal(value, s, lower=0)``; negative ones
    ``Normal(value, s)``. The spread comes from the standard error or the interval
    (:meth:`~bayescale.data.published.PublishedFit.spread`); where none is published it is
    ``default_rel`` times the value (log-scale ``default_rel`` for LogNormal priors). ``scale``
    multiplies every spread: a published ±1 s.e. is a tight prior, so ``scale`` of 2-5 is usual
    when the new data differ from the published set-up.

    Parameters
    ----------
    fit : str or PublishedFit
        A published fit or its name (see :func:`bayescale.data.published.list_published_fits`).
    scale : float, default 1.0
        Multiplier of the published spread (> 0).
    default_rel : float, default 0.2
        Relative spread used where the source gives no uncertainty (> 0).
    params : iterable of str, optional
        Which parameters; default: the law's parameters when the package models the law,
        else every published value.

    Returns
    -------
    dict of str to Prior
        Usable as ``ScalingModel(priors=...)`` or ``ModelSpec.with_priors(...)``.

    Examples
    --------
    >>> priors = published_priors("besiroglu2024", scale=2)
    >>> priors["alpha"].dist, round(priors["alpha"].kwargs["sigma"], 4)
    ('TruncatedNormal', 0.0308)
    >>> priors["A"].dist
    'LogNormal'
    """
    pub = published_fit(fit) if isinstance(fit, str) else fit
    if not (scale > 0 and default_rel > 0):
        raise SpecError("published_priors: scale and default_rel must be positive")
    law = LAWS.get(pub.law)
    if params is None:
        names = [p for p in law.params if p in pub.values] if law else list(pub.values)
        if law is not None:
            missing = [p for p in law.params if p not in pub.values]
            if missing:
                raise SpecError(
                    f"published fit {pub.name!r} gives no value for {', '.join(missing)} "
                    f"of law {pub.law!r}"
                )
    else:
        names = list(params)
        unknown = [p for p in names if p not in pub.values]
        if unknown:
            raise SpecError(
                f"published fit {pub.name!r} has no value for {', '.join(unknown)} "
                f"(has: {', '.join(pub.values)})"
            )
    prefactors = set(law.prefactors) if law else set()
    cite = f"{pub.citation}; {pub.locator}"
    out: dict[str, Prior] = {}
    for p in names:
        value = pub.values[p]
        if p in prefactors or (value > 0 and not _is_exponent(p)):
            s = pub.log_spread(p) or default_rel
            out[p] = Prior("LogNormal", {"mu": math.log(value), "sigma": s * scale}, cite)
        else:
            s = pub.spread(p) or default_rel * abs(value)
            if value > 0:
                kwargs = {"mu": value, "sigma": s * scale, "lower": 0.0}
                out[p] = Prior("TruncatedNormal", kwargs, cite)
            else:
                out[p] = Prior("Normal", {"mu": value, "sigma": s * scale}, cite)
    return out
