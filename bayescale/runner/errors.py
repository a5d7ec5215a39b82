"""Runner errors and warnings (no torch)."""

from __future__ import annotations

from bayescale.exceptions import BayescaleError

__all__ = ["RunnerError", "RunnerWarning", "require_torch"]

_INSTALL = 'pip install "bayescale[runner]"'


class RunnerError(BayescaleError, ValueError):
    """A sweep, run spec or corpus is invalid, or the runner's extra is not installed."""


class RunnerWarning(UserWarning):
    """A run is questionable but allowed (for example it sees the corpus more than once)."""


def require_torch() -> None:
    """Raise :class:`RunnerError` with the install hint when torch is missing.

    Examples
    --------
    >>> require_torch()  # doctest: +SKIP
    """
    try:
        import torch  # noqa: F401
    except ImportError:
        raise RunnerError(f"the runner needs PyTorch: {_INSTALL}") from None
