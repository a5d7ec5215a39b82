"""Runner errors and warnings (no torch)."""

from __future__ import annotations

from bayescale.exceptions import BayescaleError

__all__ = ["RunInterrupted", "RunnerError", "RunnerWarning", "require_torch"]

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


class RunInterrupted(RunnerError):
    """A run stopped on a signal after saving its checkpoint (run it again to resume).

    Parameters
    ----------
    message : str
        What happened.
    signum : int
        The signal that stopped it.
    """

    def __init__(self, message: str, *, signum: int) -> None:
        super().__init__(message)
        self.signum = signum
