"""Scaling laws as pure functions, and a registry describing each one.

Each :class:`Law` names the run-table columns it reads (``inputs``), its parameters (the
keywords of its loss function, which are also the posterior variable names) and which
parameters are *prefactors* tied to an input scale. The modelling layer uses that last piece to
sample prefactors at a reference scale of the data (e.g. ``A_ref = A / N0^α``), which removes
the strong ridge between a prefactor and its exponent.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bayescale.exceptions import SpecError
from bayescale.laws.chinchilla import chinchilla_loss, chinchilla_optimal
from bayescale.laws.kaplan import (
    alpha_c_min,
    c_min,
    critical_batch,
    e_min,
    kaplan_loss_c,
    kaplan_loss_d,
    kaplan_loss_n,
    kaplan_loss_nd,
    kaplan_loss_ns,
    s_min,
)
from bayescale.laws.other import data_constrained_loss, effective_data

__all__ = [
    "LAWS",
    "Law",
    "Prefactor",
    "alpha_c_min",
    "c_min",
    "chinchilla_loss",
    "chinchilla_optimal",
    "critical_batch",
    "data_constrained_loss",
    "e_min",
    "effective_data",
    "get_law",
    "kaplan_loss_c",
    "kaplan_loss_d",
    "kaplan_loss_n",
    "kaplan_loss_nd",
    "kaplan_loss_ns",
    "register_law",
    "s_min",
]


@dataclass(frozen=True)
class Prefactor:
    """How a prefactor scales with an input's reference value.

    With reference input value ``x0``, the law evaluated on ``input / x0`` with the
    reference-scale prefactor ``P_ref`` equals the law on ``input`` with
    ``P = P_ref · x0^(power)``, where ``power`` is the value of the parameter named by
    ``exponent`` (or 1 when ``exponent`` is None).
    """

    input: str
    exponent: str | None = None


@dataclass(frozen=True)
class Law:
    """A scaling law: its loss function, inputs, parameters and published values."""

    name: str
    loss: Callable[..., Any]
    inputs: tuple[str, ...]
    params: tuple[str, ...]
    description: str
    params_kind: str
    prefactors: Mapping[str, Prefactor] = field(default_factory=dict)
    published: Mapping[str, float] = field(default_factory=dict)
    citation: str = ""
    #: Model family: "loss" (the generic builder in bayescale.modeling.build) or the name of a
    #: module ``bayescale.modeling.families.<family>`` providing ``prepare`` and ``build``.
    family: str = "loss"
    #: Name of the noise-scale variable reported by summaries ("" when the family has none).
    noise: str = "sigma"

    def __call__(self, **kwargs: Any) -> Any:
        """Evaluate the law with inputs and parameters given by name."""
        missing = [k for k in (*self.inputs, *self.params) if k not in kwargs]
        if missing:
            raise SpecError(f"law {self.name!r} needs {', '.join(missing)}")
        return self.loss(*(kwargs[k] for k in self.inputs), **{p: kwargs[p] for p in self.params})


LAWS: dict[str, Law] = {
    law.name: law
    for law in (
        Law(
            name="chinchilla",
            loss=chinchilla_loss,
            inputs=("params", "tokens"),
            params=("E", "A", "B", "alpha", "beta"),
            description="L = E + A/N^alpha + B/D^beta (Hoffmann et al. 2022)",
            params_kind="total",
            prefactors={"A": Prefactor("params", "alpha"), "B": Prefactor("tokens", "beta")},
            published={"E": 1.6934, "A": 406.4, "B": 410.7, "alpha": 0.33917, "beta": 0.28491},
            citation="Hoffmann et al. 2022, arXiv:2203.15556, Approach 3 (unrounded)",
        ),
        Law(
            name="kaplan",
            loss=kaplan_loss_nd,
            inputs=("params", "tokens"),
            params=("N_c", "D_c", "alpha_N", "alpha_D"),
            description="L = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D (Kaplan et al. 2020)",
            params_kind="non_embedding",
            prefactors={"N_c": Prefactor("params"), "D_c": Prefactor("tokens")},
            published={"N_c": 6.4e13, "D_c": 1.8e13, "alpha_N": 0.076, "alpha_D": 0.103},
            citation="Kaplan et al. 2020, arXiv:2001.08361, eq. 1.5",
        ),
        Law(
            name="kaplan_n",
            loss=kaplan_loss_n,
            inputs=("params",),
            params=("N_c", "alpha_N"),
            description="L = (N_c/N)^alpha_N (Kaplan et al. 2020)",
            params_kind="non_embedding",
            prefactors={"N_c": Prefactor("params")},
            published={"N_c": 8.8e13, "alpha_N": 0.076},
            citation="Kaplan et al. 2020, arXiv:2001.08361, eq. 1.1",
        ),
        Law(
            name="kaplan_d",
            loss=kaplan_loss_d,
            inputs=("tokens",),
            params=("D_c", "alpha_D"),
            description="L = (D_c/D)^alpha_D (Kaplan et al. 2020)",
            params_kind="non_embedding",
            prefactors={"D_c": Prefactor("tokens")},
            published={"D_c": 5.4e13, "alpha_D": 0.095},
            citation="Kaplan et al. 2020, arXiv:2001.08361, eq. 1.2",
        ),
        Law(
            name="kaplan_c",
            loss=kaplan_loss_c,
            inputs=("flops",),
            params=("C_c", "alpha_C"),
            description="L = (C_c/C)^alpha_C, C in FLOP (Kaplan et al. 2020)",
            params_kind="non_embedding",
            prefactors={"C_c": Prefactor("flops")},
            published={"C_c": 3.1e8 * 8.64e19, "alpha_C": 0.050},
            citation="Kaplan et al. 2020, arXiv:2001.08361, eq. 1.3 (C_min form)",
        ),
        Law(
            name="kaplan_ns",
            loss=kaplan_loss_ns,
            inputs=("params", "steps"),
            params=("N_c", "S_c", "alpha_N", "alpha_S"),
            description="L = (N_c/N)^alpha_N + (S_c/S_min)^alpha_S (Kaplan et al. 2020)",
            params_kind="non_embedding",
            prefactors={"N_c": Prefactor("params"), "S_c": Prefactor("steps")},
            published={"N_c": 6.5e13, "S_c": 2.1e3, "alpha_N": 0.077, "alpha_S": 0.76},
            citation="Kaplan et al. 2020, arXiv:2001.08361, eq. 1.6",
        ),
        Law(
            name="data_constrained",
            loss=data_constrained_loss,
            inputs=("params", "tokens", "unique_tokens"),
            params=("E", "A", "B", "alpha", "beta", "R_star"),
            description="Chinchilla at effective data D' (Muennighoff et al. 2023)",
            params_kind="total",
            published={
                "E": 1.869,
                "A": 521.0,
                "B": 1488.0,
                "alpha": 0.3527,
                "beta": 0.3527,
                "R_star": 15.39,
            },
            citation="Muennighoff et al. 2023, arXiv:2305.16264",
        ),
    )
}


def register_law(law: Law) -> Law:
    """Add a law to the registry (used by modules defining model families)."""
    LAWS[law.name] = law
    return law


def get_law(name: str) -> Law:
    """Look a law up by name, suggesting the closest name when unknown.

    Examples
    --------
    >>> get_law("chinchilla").params
    ('E', 'A', 'B', 'alpha', 'beta')
    """
    try:
        return LAWS[name]
    except KeyError:
        close = difflib.get_close_matches(name, LAWS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise SpecError(f"unknown law {name!r}{hint} (known: {', '.join(sorted(LAWS))})") from None


from bayescale.laws import batch as _batch  # noqa: E402, F401  (registers bcrit, optimal_batch, ...)
from bayescale.laws import isoflop as _isoflop  # noqa: E402, F401  (registers the "isoflop" law)
