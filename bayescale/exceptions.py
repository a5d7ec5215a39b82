"""Exceptions raised by bayescale.

Every error a user can cause derives from :class:`BayescaleError`, so the command line can
turn it into one clear line on stderr and exit code 2 instead of a traceback.
"""

from __future__ import annotations

__all__ = [
    "BayescaleError",
    "ConventionError",
    "ConventionWarning",
    "ConvergenceWarning",
    "DatasetError",
    "ExtrapolationWarning",
    "FitFileError",
    "RunTableError",
    "SpecError",
    "UnitsWarning",
]


class BayescaleError(Exception):
    """Base class of every error bayescale raises on bad input."""


class RunTableError(BayescaleError, ValueError):
    """A run table breaks the schema (the message names the column and the row)."""


class ConventionError(RunTableError):
    """Tables with different counting or unit conventions were mixed without conversion."""


class DatasetError(BayescaleError):
    """A registered dataset is unknown, missing from the cache, or fails its checksum."""


class SpecError(BayescaleError, ValueError):
    """A model spec is malformed (unknown law, bad prior, unknown parameter)."""


class FitFileError(BayescaleError):
    """A saved fit cannot be read, or its provenance does not check out."""


class ConvergenceWarning(UserWarning):
    """The sampler's diagnostics (R-hat, ESS, divergences) say the posterior is not trustworthy."""


class UnitsWarning(UserWarning):
    """A table's numbers look like they are in other units than the schema's (e.g. millions)."""


class ConventionWarning(UserWarning):
    """A law meets a table counted in a convention the law was not defined on."""


class ExtrapolationWarning(UserWarning):
    """A prediction or allocation lies far outside the range of the runs the fit used."""
