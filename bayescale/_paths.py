"""Where the bundled ``models/`` and ``datasets/`` folders live.

In a source checkout they sit at the repository root; in an installed wheel hatchling copies
them to ``bayescale/_bundled/``. This is the one place that knows.
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """Return the directory of a bundled resource folder (``models`` or ``datasets``)."""
    bundled = _PKG / "_bundled" / name
    if bundled.is_dir():
        return bundled
    return _PKG.parent / name
