"""The bundled PyTorch training runner: small GPTs -> scaling-law run tables.

Install with ``pip install "bayescale[runner]"``. Importing this package does not import
torch; :func:`train` and :func:`run_sweep` import it when called. The runner never imports
PyMC. See ``docs/runner.md``.

Examples
--------
>>> from bayescale.runner import RunSpec, load_sweep
>>> len(load_sweep("smoke").specs)
4
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "Corpus",
    "RunResult",
    "RunSpec",
    "RunnerError",
    "RunnerWarning",
    "Sweep",
    "count_flops",
    "count_params",
    "load_corpus",
    "load_sweep",
    "lr_at",
    "noise_scale_simple",
    "run_sweep",
    "submit_array",
    "train",
]

_LAZY: dict[str, str] = {
    "Corpus": "bayescale.runner.data",
    "load_corpus": "bayescale.runner.data",
    "RunResult": "bayescale.runner.trainer",
    "train": "bayescale.runner.trainer",
    "RunSpec": "bayescale.runner.config",
    "Sweep": "bayescale.runner.config",
    "load_sweep": "bayescale.runner.config",
    "RunnerError": "bayescale.runner.errors",
    "RunnerWarning": "bayescale.runner.errors",
    "count_flops": "bayescale.runner.counting",
    "count_params": "bayescale.runner.counting",
    "lr_at": "bayescale.runner.schedule",
    "noise_scale_simple": "bayescale.runner.noise",
    "run_sweep": "bayescale.runner.sweep",
    "submit_array": "bayescale.runner.sweep",
}

if TYPE_CHECKING:  # pragma: no cover
    from bayescale.runner.config import RunSpec, Sweep, load_sweep
    from bayescale.runner.counting import count_flops, count_params
    from bayescale.runner.data import Corpus, load_corpus
    from bayescale.runner.errors import RunnerError, RunnerWarning
    from bayescale.runner.noise import noise_scale_simple
    from bayescale.runner.schedule import lr_at
    from bayescale.runner.sweep import run_sweep, submit_array
    from bayescale.runner.trainer import RunResult, train


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bayescale.runner' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
