"""Scaling laws as pure functions, and a registry describing each one.

Each :class:`Law` names the run-table columns it reads (``inputs``) and its parameters (the
keywords of its loss function, which are also the posterior variable names), both read off the
function's signature, and which parameters are *prefactors* tied to an input scale. The
modelling layer uses that last piece to sample prefactors at a reference scale of the data
(e.g. ``A_ref = A / N0^α``), which removes the strong ridge between a prefactor and its
exponent. What a law implies in closed form (its compute-optimal allocation and exponent, its
inverse in D) is part of the law too.

:mod:`bayescale.laws.base` defines :class:`Law` and the registry; every law module registers its
laws when imported, and this package imports them all.
"""

from __future__ import annotations

from bayescale.laws import batch as _batch  # noqa: F401  (registers bcrit, optimal_batch, ...)
from bayescale.laws import isoflop as _isoflop  # noqa: F401  (registers the "isoflop" law)
from bayescale.laws.base import LAWS, Law, Prefactor, call_with, get_law, register_law
from bayescale.laws.chinchilla import (
    chinchilla_loss,
    chinchilla_optimal,
    chinchilla_optimal_exponent,
    chinchilla_tokens_for_loss,
)
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
    kaplan_ns_optimal,
    kaplan_optimal_exponent,
    s_min,
)
from bayescale.laws.other import data_constrained_loss, effective_data

__all__ = [
    "LAWS",
    "Law",
    "Prefactor",
    "alpha_c_min",
    "c_min",
    "call_with",
    "chinchilla_loss",
    "chinchilla_optimal",
    "chinchilla_optimal_exponent",
    "chinchilla_tokens_for_loss",
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
    "kaplan_ns_optimal",
    "kaplan_optimal_exponent",
    "register_law",
    "s_min",
]
