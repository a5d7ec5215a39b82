"""NUTS through nutpie's compiled core, without nutpie's Python layer (issue 20).

``import nutpie`` imports all of ArviZ (plots included) and, through arviz-stats, scipy.stats:
about 3 s of a 12 s command-line fit. The sampler itself lives in nutpie's extension module
``nutpie._lib`` (``PyModel``, ``PySampler.from_pyfunc``), which loads in milliseconds. This
module loads that extension on its own (registered under its own name, so a later
``import nutpie`` reuses it), hands it PyTensor's disk-cached numba kernels as Python callables,
and turns the Arrow trace into xarray Datasets itself.

The expand function (called once per draw) also returns the pointwise log-likelihood of every
observed variable, so a fit needs no second compilation by ``pm.compute_log_likelihood``.

``_lib`` is private API: :func:`load_lib` accepts only the nutpie versions in
:data:`SUPPORTED_NUTPIE` and returns None otherwise, and the caller then falls back to
``nutpie.sample`` (and, without nutpie, to PyMC's own NUTS).

Every law family goes through here: the kernels are built from the family's PyMC model, not
from anything family-specific.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["FastModel", "compile_fast", "load_lib", "sample_fast"]

#: nutpie releases whose private ``_lib`` interface this module was written against.
SUPPORTED_NUTPIE = ("0.16.",)
#: Prefix of the expand outputs that carry an observed variable's pointwise log-likelihood.
LOGLIK_PREFIX = "__loglik__"
#: Sampler statistics nutpie's own conversion leaves out unless asked to store them.
_SKIPPED_STATS = frozenset(
    {
        "gradient",
        "unconstrained_draw",
        "mass_matrix_inv",
        "mass_matrix_eigvals",
        "mass_matrix_stds",
        "divergence_start",
        "divergence_end",
        "divergence_momentum",
        "divergence_start_gradient",
        "transformed_position",
        "transformed_gradient",
        "transformation_mu",
    }
)

_LIB: list[Any] = []


def _installed_nutpie_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nutpie")
    except PackageNotFoundError:
        return None


def load_lib() -> Any | None:
    """The extension module of nutpie, loaded without its package; None when unusable.

    Unusable means: nutpie is not installed, its version is not in :data:`SUPPORTED_NUTPIE`,
    or the extension lacks the entry points used here.
    """
    if _LIB:
        return _LIB[0]
    lib = None
    ver = _installed_nutpie_version()
    if ver is not None and ver.startswith(SUPPORTED_NUTPIE):
        lib = sys.modules.get("nutpie._lib")
        if lib is None:
            lib = _load_extension()
        if lib is not None and not all(
            hasattr(lib, a) for a in ("PyModel", "PySampler", "PyVariable", "PyNutsSettings")
        ):
            lib = None
        if lib is not None and getattr(lib, "__version__", None) != ver:
            lib = None
    _LIB.append(lib)
    return lib


def _load_extension() -> Any | None:
    spec = importlib.util.find_spec("nutpie")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = f"{folder}/_lib{suffix}"
            try:
                loader = importlib.machinery.ExtensionFileLoader("nutpie._lib", path)
                ext_spec = importlib.util.spec_from_file_location(
                    "nutpie._lib", path, loader=loader
                )
                if ext_spec is None:
                    continue
                module = importlib.util.module_from_spec(ext_spec)
            except (ImportError, OSError):
                continue
            # registered before it runs, so that nutpie's own ``from nutpie import _lib``
            # later finds this one (a PyO3 module can be initialised only once)
            sys.modules["nutpie._lib"] = module
            try:
                loader.exec_module(module)
            except BaseException:
                sys.modules.pop("nutpie._lib", None)
                raise
            return module
    return None


@dataclass
class FastModel:
    """A model compiled for :func:`sample_fast`: kernels, layout and metadata."""

    n_dim: int
    logp_fn: Callable[..., Any]
    expand_fn: Callable[..., Any]
    logp_names: list[str]
    expand_names: list[str]
    out_names: list[str]
    out_shapes: list[tuple[int, ...]]
    dims: dict[str, tuple[str, ...]]
    coords: dict[str, Any]
    initial_point: Callable[[Any], np.ndarray]
    shared: dict[str, np.ndarray]
    loglik: dict[str, str] = field(default_factory=dict)  # output name -> observed name


def compile_fast(model: Any, point_fn: Callable[[Any], dict[str, np.ndarray]]) -> FastModel:
    """Compile ``model``'s log density (with gradient) and expand function for nutpie.

    ``point_fn`` maps a seed to a start point (transformed value-variable names), as
    :func:`bayescale.modeling.sampling.initial_point_function` returns.
    """
    import pytensor.tensor as pt
    from pymc.pytensorf import compile as compile_pymc
    from pytensor.graph import clone_replace, rewrite_graph

    free = list(model.free_RVs)
    values = [model.rvs_to_values[v] for v in free]
    start = point_fn(0)
    shapes = [tuple(int(s) for s in np.shape(start[v.name])) for v in values]
    sizes = [math.prod(s) for s in shapes]
    n_dim = int(sum(sizes))
    joined = pt.TensorType("float64", shape=(n_dim,))(name="_unconstrained_point")
    offsets = np.cumsum([0, *sizes])
    pieces = {
        value: joined[int(offsets[i]) : int(offsets[i + 1])].reshape(shapes[i]).astype(rv.dtype)
        for i, (rv, value) in enumerate(zip(free, values, strict=True))
    }

    logp: Any = model.logp()
    rewrites = ["canonicalize", "stabilize"]
    if not model.check_bounds:
        rewrites.append("local_remove_check_parameter")
    logp = rewrite_graph(logp, include=rewrites)
    grads: Any = pt.grad(logp, values)
    grad = pt.concatenate([pt.as_tensor(g).ravel() for g in grads])
    logp_j, grad_j = clone_replace([logp, grad], pieces)
    with model:
        logp_pt = compile_pymc((joined,), (logp_j, grad_j), mode="NUMBA")

    # the trace: free variables on their own (constrained) scale and deterministics (the
    # unconstrained values of transformed variables are not kept, as nutpie's own conversion
    # drops them), then each observed variable's pointwise log-likelihood
    unconstrained = {
        model.rvs_to_values[rv].name for rv in free if model.rvs_to_transforms.get(rv) is not None
    }
    trace_vars = [v for v in model.unobserved_value_vars if v.name not in unconstrained]
    observed = list(model.observed_RVs)
    pointwise = model.logp(vars=observed, sum=False) if observed else []
    loglik = {f"{LOGLIK_PREFIX}{rv.name}": rv.name for rv in observed}
    out_names = [v.name for v in trace_vars] + list(loglik)
    with model:
        expand_pt = compile_pymc(
            (joined,), [*trace_vars, *pointwise], givens=list(pieces.items()), mode="NUMBA"
        )
    logp_names = [v.name for v in logp_pt.get_shared()]
    expand_names = [v.name for v in expand_pt.get_shared()]

    def flat_start(seed: Any) -> np.ndarray:
        point = point_fn(seed)
        return np.concatenate([np.asarray(point[v.name], dtype="float64").ravel() for v in values])

    x0 = flat_start(0)
    shared = {v.name: v.get_value() for v in [*logp_pt.get_shared(), *expand_pt.get_shared()]}
    first = expand_pt.vm.jit_fn(x0, *[shared[n] for n in expand_names])
    out_shapes = [tuple(int(s) for s in np.shape(v)) for v in first]

    dims: dict[str, tuple[str, ...]] = {}
    for name, shape in zip(out_names, out_shapes, strict=True):
        src = loglik.get(name, name)
        d = tuple(model.named_vars_to_dims.get(src) or ())
        # a multivariate observation's log density sums its event dims: keep the batch dims
        d = d[: len(shape)] if name in loglik else d
        if d and len(d) == len(shape):
            dims[name] = d
    coords: dict[str, Any] = {}
    for name, vals in model.coords.items():
        if vals is None:
            vals = range(int(model.dim_lengths[name].eval()))
        coords[name] = list(vals)
    return FastModel(
        n_dim=n_dim,
        logp_fn=logp_pt.vm.jit_fn,
        expand_fn=expand_pt.vm.jit_fn,
        logp_names=logp_names,
        expand_names=expand_names,
        out_names=out_names,
        out_shapes=out_shapes,
        dims=dims,
        coords=coords,
        initial_point=flat_start,
        shared=shared,
        loglik=loglik,
    )


def _settings(lib: Any, adaptation: str, seed: int, updates: Mapping[str, Any]) -> Any:
    if adaptation == "low_rank":
        settings = lib.PyNutsSettings.LowRank(seed)
    else:
        settings = lib.PyNutsSettings.Diag(seed)
    settings.update(dict(updates))
    return settings


def sample_fast(
    lib: Any,
    fm: FastModel,
    data: Mapping[str, np.ndarray],
    *,
    draws: int,
    tune: int,
    chains: int,
    cores: int,
    seed: int,
    target_accept: float,
    adaptation: str,
    progress: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    """Sample and return ``{"posterior", "sample_stats", "log_likelihood"}`` Datasets.

    An interrupt (Ctrl-C, SIGTERM) aborts the sampler and propagates, never a short trace.
    """
    import pandas as pd

    unknown = set(data) - set(fm.shared)
    if unknown:
        raise ValueError(f"unknown data variables: {sorted(unknown)}")
    values = {**fm.shared, **data}
    logp_args = [np.asarray(values[n]) for n in fm.logp_names]
    expand_args = [np.asarray(values[n]) for n in fm.expand_names]
    logp_fn, expand_fn = fm.logp_fn, fm.expand_fn
    out_names, out_shapes = fm.out_names, fm.out_shapes

    def make_logp() -> Any:
        def logp(x: np.ndarray) -> tuple[float, np.ndarray]:
            value, grad = logp_fn(x, *logp_args)
            return float(value), np.asarray(grad, dtype="float64", order="C")

        return logp

    def make_expand(_seed1: int, _seed2: int, _chain: int) -> Any:
        def expand(x: np.ndarray) -> dict[str, np.ndarray]:
            outs = expand_fn(x, *expand_args)
            return {
                n: np.asarray(v, dtype="float64", order="C").reshape(s)
                for n, v, s in zip(out_names, outs, out_shapes, strict=True)
            }

        return expand

    coords = {k: pd.Index(v) for k, v in fm.coords.items()}
    dim_sizes = {k: len(v) for k, v in coords.items()}
    variables = lib.PyVariable.new_variables(
        out_names, ["float64"] * len(out_names), out_shapes, dim_sizes, fm.dims
    )
    model = lib.PyModel(
        make_logp,
        make_expand,
        variables,
        fm.n_dim,
        dim_sizes=dim_sizes,
        coords=coords,
        init_point_func=fm.initial_point,
        transform_adapter=None,
    )
    settings = _settings(
        lib,
        adaptation,
        seed,
        {
            "num_tune": tune,
            "num_draws": draws,
            "num_chains": chains,
            "target_accept": target_accept,
        },
    )
    sampler = lib.PySampler.from_pyfunc(
        settings,
        cores,
        model,
        lib.ProgressType.none(),
        progress,
        100,
        lib.PyStorage.arrow(),
    )
    try:
        sampler.wait(None)
    except BaseException:
        with contextlib.suppress(Exception):  # already stopped
            sampler.abort()
        raise
    results = sampler.take_results()
    draw_batches, stat_batches = results.get_arrow_trace()
    return _to_datasets(fm, draw_batches, stat_batches, settings, draws)


def _column(col: Any) -> tuple[np.ndarray, np.ndarray | None, list[str], list[int]]:
    import pyarrow

    meta = col.field.metadata or {}
    dims = meta.get(b"dims", b"").decode()
    shape = meta.get(b"shape", b"").decode()
    item_dims = dims.split(",") if dims else []
    item_shape = [int(s) for s in shape.split(",")] if shape else []
    arr = pyarrow.array(col)
    nulls = arr.is_null().to_numpy(zero_copy_only=False)
    if hasattr(arr, "flatten"):
        arr = arr.flatten()
    values = arr.to_numpy(zero_copy_only=False)
    return values, (nulls if nulls.any() else None), item_dims, item_shape


def _batches_to_arrays(
    batches: list[Any], keep: list[slice], skip: frozenset[str]
) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    out: dict[str, np.ndarray] = {}
    dims: dict[str, list[str]] = {}
    n_chains = len(batches)
    length = keep[0].stop - keep[0].start
    for chain, (batch, rows) in enumerate(zip(batches, keep, strict=True)):
        batch = batch.slice(rows.start, rows.stop - rows.start)
        for name in batch.column_names:
            if name in skip:
                continue
            values, nulls, item_dims, item_shape = _column(batch.column(name))
            if name not in out:
                shape = (n_chains, length, *item_shape)
                if values.dtype.kind == "f":
                    out[name] = np.full(shape, np.nan, dtype=values.dtype)
                elif values.dtype.kind == "O":
                    out[name] = np.full(shape, None, dtype=object)
                else:
                    out[name] = np.zeros(shape, dtype=values.dtype)
                dims[name] = item_dims
            target = out[name][chain]
            if nulls is None:
                target[:] = values.reshape((length, *item_shape))
            else:
                if values.shape[0] == length:
                    values = values[~nulls]
                target[~nulls] = values.reshape((int((~nulls).sum()), *item_shape))
    return out, dims


def _to_datasets(
    fm: FastModel, draw_batches: list[Any], stat_batches: list[Any], settings: Any, draws: int
) -> dict[str, Any]:
    import json

    import pyarrow
    import xarray as xr

    keep = []
    for draw, stat in zip(draw_batches, stat_batches, strict=True):
        n_tune = int(pyarrow.array(stat.column("tuning")).to_numpy(zero_copy_only=False).sum())
        n_post = draw.num_rows - n_tune
        keep.append(slice(n_tune, n_tune + n_post))
    lengths = {k.stop - k.start for k in keep}
    if len(lengths) != 1 or lengths != {draws}:
        got = min(lengths) if lengths else 0
        raise KeyboardInterrupt(f"sampling stopped early: {got} of {draws} draws in some chain")
    post, post_dims = _batches_to_arrays(draw_batches, keep, frozenset())
    stats, stats_dims = _batches_to_arrays(stat_batches, keep, _SKIPPED_STATS | {"chain", "draw"})
    n_chains = len(draw_batches)
    base = {"chain": np.arange(n_chains), "draw": np.arange(draws)}

    def dataset(arrays: dict[str, np.ndarray], dims: dict[str, list[str]]) -> xr.Dataset:
        variables = {}
        coords: dict[str, Any] = dict(base)
        for name, arr in arrays.items():
            d = list(fm.dims.get(name, ())) or dims.get(name) or []
            extra = [
                dd if dd else f"{name}_dim_{i}" for i, dd in enumerate(d or [""] * (arr.ndim - 2))
            ]
            variables[name] = (("chain", "draw", *extra), arr)
            for dd in extra:
                if dd in fm.coords:
                    coords[dd] = fm.coords[dd]
        return xr.Dataset(variables, coords=coords)

    loglik = {fm.loglik[k]: post.pop(k) for k in list(post) if k in fm.loglik}
    posterior = dataset(post, post_dims)
    sample_stats = dataset(stats, stats_dims)
    from importlib.metadata import version

    sample_stats.attrs.update(
        {
            "inference_library": "nutpie",
            "inference_library_version": version("nutpie"),
            "inference_library_settings": json.dumps(settings.as_dict()),
        }
    )
    ll_dims = {obs: list(fm.dims.get(key, ())) for key, obs in fm.loglik.items()}
    log_likelihood = dataset(loglik, ll_dims) if loglik else None
    return {"posterior": posterior, "sample_stats": sample_stats, "log_likelihood": log_likelihood}
