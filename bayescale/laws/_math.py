"""Elementary functions that dispatch on the array type (numpy, xarray, pytensor).

The laws are written with arithmetic operators only where possible; where a transcendental
function is unavoidable it goes through here, so the same law body builds a PyMC graph,
evaluates xarray posterior draws and serves plain numpy.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _is_tensor(x: Any) -> bool:
    return type(x).__module__.startswith("pytensor")


def exp(x: Any) -> Any:
    """Exponential of a numpy array, xarray object or pytensor tensor."""
    if _is_tensor(x):
        import pytensor.tensor as pt

        return pt.exp(x)
    return np.exp(x)


def log(x: Any) -> Any:
    """Natural logarithm of a numpy array, xarray object or pytensor tensor."""
    if _is_tensor(x):
        import pytensor.tensor as pt

        return pt.log(x)
    return np.log(x)


def tanh(x: Any) -> Any:
    """Hyperbolic tangent of a numpy array, xarray object or pytensor tensor."""
    if _is_tensor(x):
        import pytensor.tensor as pt

        return pt.tanh(x)
    return np.tanh(x)
