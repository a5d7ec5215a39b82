"""bayescale: Bayesian inference of neural scaling laws.

Importing the package is cheap: PyMC, PyTensor and torch are imported only when a function
that needs them is first used.

Examples
--------
>>> import bayescale as bs
>>> bs.__version__
'0.1.0'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from bayescale._version import __version__

# public name -> module that defines it (imported on first access)
_LAZY: dict[str, str] = {
    "validate_runs": "bayescale.data.schema",
    "read_runs": "bayescale.data.schema",
    "concat_runs": "bayescale.data.schema",
    "load_dataset": "bayescale.data.registry",
    "list_datasets": "bayescale.data.registry",
    "dataset_path": "bayescale.data.registry",
    "get_data_home": "bayescale.data.registry",
    "simulate_runs": "bayescale.testing",
    "published_fit": "bayescale.data.published",
    "list_published_fits": "bayescale.data.published",
    "published_priors": "bayescale.modeling.priors",
    "laws": "bayescale.laws",
    "get_law": "bayescale.laws",
    "ModelSpec": "bayescale.modeling.spec",
    "Prior": "bayescale.modeling.spec",
    "load_spec": "bayescale.modeling.spec",
    "ScalingModel": "bayescale.modeling.model",
    "Fit": "bayescale.modeling.fit",
    "load_fit": "bayescale.modeling.fit",
    "compare": "bayescale.analysis.compare",
    "backtest": "bayescale.analysis.backtest",
    "plan": "bayescale.analysis.plan",
}

__all__ = [
    "Fit",
    "ModelSpec",
    "Prior",
    "ScalingModel",
    "__version__",
    "backtest",
    "compare",
    "concat_runs",
    "dataset_path",
    "get_data_home",
    "get_law",
    "laws",
    "list_datasets",
    "list_published_fits",
    "load_dataset",
    "load_fit",
    "load_spec",
    "plan",
    "published_fit",
    "published_priors",
    "read_runs",
    "simulate_runs",
    "validate_runs",
]

if TYPE_CHECKING:  # pragma: no cover
    from bayescale import laws
    from bayescale.analysis.backtest import backtest
    from bayescale.analysis.compare import compare
    from bayescale.analysis.plan import plan
    from bayescale.data.published import list_published_fits, published_fit
    from bayescale.data.registry import dataset_path, get_data_home, list_datasets, load_dataset
    from bayescale.data.schema import concat_runs, read_runs, validate_runs
    from bayescale.laws import get_law
    from bayescale.modeling.fit import Fit, load_fit
    from bayescale.modeling.model import ScalingModel
    from bayescale.modeling.priors import published_priors
    from bayescale.modeling.spec import ModelSpec, Prior, load_spec
    from bayescale.testing import simulate_runs


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bayescale' has no attribute {name!r}")
    mod = importlib.import_module(module)
    value = mod if module == f"bayescale.{name}" else getattr(mod, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
