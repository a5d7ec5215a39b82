"""Run NUTS on a built model: nutpie when installed (the default), else PyMC's own NUTS.

The default sampler was chosen by ``benchmarks/fit_speed.py``: nutpie with its low-rank mass
matrix adaptation handles the remaining correlation between E, the prefactors and the exponents
(ESS ≈ 3,500–4,200 of 4,000 draws on Epoch's Chinchilla table). ``adaptation="auto"`` uses it up
to :data:`LOW_RANK_MAX_DIM` unconstrained dimensions and nutpie's diagonal adaptation above
(hierarchical and grid models with many parameters, where low-rank adaptation is far slower).

Compilation is the cold-start cost. nutpie's own ``compile_pymc_model`` wraps PyTensor's numba
kernel in two numba C callbacks that close over run-time objects, so numba cannot cache them and
every fresh process recompiles them (about 5 s here). bayescale instead hands nutpie the PyTensor
numba function itself as a Python callable (nutpie's ``from_pyfunc``, as nutpie does for its JAX
backend): PyTensor caches that kernel on disk, so a fresh process only loads it. The price is a
little per-call overhead in sampling. If nutpie's internals this relies on change, bayescale falls
back to ``nutpie.compile_pymc_model``.

When the installed nutpie is a version whose compiled core bayescale was written against,
the chains run through :mod:`bayescale.modeling._fastnuts` instead: the same kernels and
sampler, without ``import nutpie`` (which imports all of ArviZ and scipy.stats), with the
pointwise log-likelihood emitted by the expand function alongside the draws. Any other version
uses ``nutpie.sample`` as above; without nutpie, PyMC's own NUTS runs.

Compiled models are also cached in-process by model structure (spec, data shapes and a hash of
every constant in the graph), so a second fit of the same spec on a table of the same shape skips
compilation (data are swapped in with ``with_data``).
"""

from __future__ import annotations

import importlib.util
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from bayescale._progress import Progress

__all__ = ["available_samplers", "resolve_sampler", "run_nuts"]

_COMPILED: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_CACHE_SIZE = 8


def available_samplers() -> list[str]:
    """Samplers usable here, fastest first."""
    out = []
    if importlib.util.find_spec("nutpie") is not None:
        out.append("nutpie")
    out.append("pymc")
    return out


def resolve_sampler(name: str) -> str:
    """Map ``"auto"`` to the fastest installed sampler and check explicit names."""
    from bayescale.exceptions import SpecError

    if name == "auto":
        return available_samplers()[0]
    if name not in {"nutpie", "pymc"}:
        raise SpecError(f"unknown sampler {name!r} (use 'auto', 'nutpie' or 'pymc')")
    if name == "nutpie" and "nutpie" not in available_samplers():
        raise SpecError('sampler "nutpie" is not installed: pip install "bayescale[fast]"')
    return name


#: Half-width of the uniform jitter (on the unconstrained scale) around data-based initial values;
#: PyMC's default jitter of ±1 around its support points would throw a chain far from them.
INIT_JITTER = 0.1


def initial_point_function(
    model: Any, initvals: Mapping[str, Any] | None = None
) -> Callable[[Any], dict[str, np.ndarray]]:
    """A thread-safe function ``seed -> {transformed name: value}`` giving each chain's start.

    Without ``initvals`` this is PyMC's default (support points jittered by ±1 on the
    unconstrained scale). With ``initvals`` (constrained values of free variables, by name, e.g.
    from a family's ``initial_values``) the chains start at those values, each jittered by
    ±:data:`INIT_JITTER` on the unconstrained scale with its own seed.
    """
    import pymc as pm

    if initvals:
        base = pm.initial_point.make_initial_point_fn(
            model=model, overrides=dict(initvals), jitter_rvs=set(), return_transformed=True
        )

        def unsafe_point_fn(seed: Any) -> dict[str, np.ndarray]:
            rng = np.random.default_rng(seed)
            point = base(seed)
            return {
                k: np.asarray(v + rng.uniform(-INIT_JITTER, INIT_JITTER, np.shape(v)), v.dtype)
                for k, v in point.items()
            }

    else:
        unsafe_point_fn = pm.initial_point.make_initial_point_fn(
            model=model, jitter_rvs=set(model.free_RVs), return_transformed=True
        )
    lock = threading.Lock()

    def point_fn(seed: Any) -> dict[str, np.ndarray]:
        # nutpie initialises its chains from several threads; PyMC's function is not thread-safe
        with lock:
            return unsafe_point_fn(seed)

    return point_fn


def _compile_pyfunc(model: Any, initvals: Mapping[str, Any] | None = None) -> Any:
    """Build a nutpie model whose log density is PyTensor's (disk-cached) numba function."""
    from nutpie import compile_pymc as ncp
    from nutpie.compiled_pyfunc import from_pyfunc

    point_fn = initial_point_function(model, initvals)

    n_dim, _, logp_pt, expand_pt, initial_point_fn, shape_info, reparam = ncp._make_functions(
        model,
        mode="NUMBA",
        compute_grad=True,
        join_expanded=False,
        pymc_initial_point_fn=point_fn,
        var_names=None,
    )
    logp_fn = logp_pt.vm.jit_fn
    expand_fn = expand_pt.vm.jit_fn
    logp_names = [v.name for v in logp_pt.get_shared()]
    expand_names = [v.name for v in expand_pt.get_shared()]
    shared = {
        v.name: np.asarray(v.get_value()) for v in [*logp_pt.get_shared(), *expand_pt.get_shared()]
    }
    names, _, shapes = shape_info

    def make_logp() -> Any:
        def logp(x: np.ndarray, **data: np.ndarray) -> tuple[float, np.ndarray]:
            value, grad = logp_fn(x, *[data[n] for n in logp_names])
            return float(value), np.asarray(grad, dtype="float64", order="C")

        return logp

    def make_expand(_seed1: int, _seed2: int, _chain: int) -> Any:
        def expand(x: np.ndarray, **data: np.ndarray) -> dict[str, np.ndarray]:
            values = expand_fn(x, *[data[n] for n in expand_names])
            return {
                n: np.asarray(v, dtype="float64", order="C").reshape(shape)
                for n, v, shape in zip(names, values, shapes, strict=True)
            }

        return expand

    dims, coords = ncp._prepare_dims_and_coords(model, shape_info, reparam)
    return from_pyfunc(
        ndim=n_dim,
        make_logp_fn=make_logp,
        make_expand_fn=make_expand,
        make_initial_point_fn=initial_point_fn,
        expanded_dtypes=[np.dtype("float64")] * len(names),
        expanded_shapes=shapes,
        expanded_names=names,
        shared_data=shared,
        dims=dims,
        coords=coords,
        reparameterized_names=reparam,
    )


def compile_nutpie(model: Any, initvals: Mapping[str, Any] | None = None) -> tuple[Any, bool]:
    """Compile ``model`` for nutpie (disk-cacheable path first, nutpie's own as fallback).

    Returns the compiled model and whether its log density holds the GIL (the Python-callable
    path), in which case chains cannot run in parallel.
    """
    try:
        return _compile_pyfunc(model, initvals), True
    except (ImportError, AttributeError, TypeError, ValueError):  # nutpie internals moved
        import nutpie

        if not initvals:
            return nutpie.compile_pymc_model(model), False
        return nutpie.compile_pymc_model(model, initial_points=dict(initvals)), False


def _initvals_digest(initvals: Mapping[str, Any] | None) -> str:
    import hashlib

    h = hashlib.sha256()
    for name in sorted(initvals or {}):
        h.update(name.encode())
        h.update(np.asarray(initvals[name], dtype="float64").tobytes())  # type: ignore[index]
    return h.hexdigest()


def _constants_digest(model: Any) -> str:
    """Hash of every constant in the model's random-variable and deterministic graphs.

    Families may write data-dependent numbers into the graph as constants rather than as
    ``pm.Data``; two such models then differ although their shapes agree, and must not share a
    compiled kernel. The log density is built from these graphs and the variables' transforms
    (whose bounds are read off the variables' own inputs; numeric attributes of a transform
    are hashed too), so hashing them, not ``model.logp()``, is enough and avoids building the
    log-density graph (about 0.3-0.6 s) on every refit.
    """
    import hashlib

    from pytensor.graph.basic import Constant

    try:
        from pytensor.graph.traversal import ancestors
    except ImportError:  # pytensor < 3.3
        from pytensor.graph.basic import ancestors  # type: ignore[no-redef]

    h = hashlib.sha256()
    roots = [*model.basic_RVs, *model.deterministics, *model.potentials]
    for var in ancestors(roots):
        if isinstance(var, Constant):
            h.update(str(var.type).encode())
            h.update(np.asarray(var.data).tobytes())
    for rv in model.free_RVs:
        transform = model.rvs_to_transforms.get(rv)
        h.update(f"{rv.name}|{type(transform).__qualname__}".encode())
        for attr, value in sorted(vars(transform).items()) if transform is not None else []:
            if isinstance(value, int | float | np.ndarray | np.number):
                h.update(attr.encode())
                h.update(np.asarray(value, dtype="float64").tobytes())
    return h.hexdigest()


#: Largest number of unconstrained dimensions for which ``adaptation="auto"`` picks nutpie's
#: low-rank mass matrix (it removes the prefactor/exponent correlations of the small law models;
#: for models with many group-level parameters the diagonal one is much faster).
LOW_RANK_MAX_DIM = 32


def _shared_values(model: Any) -> dict[str, np.ndarray]:
    return {v.name: v.get_value() for v in model.data_vars}


def _adaptation(name: str, n_dim: int) -> str:
    from bayescale.exceptions import SpecError

    if name == "auto":
        return "low_rank" if n_dim <= LOW_RANK_MAX_DIM else "diag"
    if name not in {"diag", "low_rank"}:
        raise SpecError(f"unknown adaptation {name!r} (use 'auto', 'diag' or 'low_rank')")
    return name


def run_nuts(
    model: Any,
    *,
    cache_key: tuple[Any, ...],
    draws: int,
    tune: int,
    chains: int,
    target_accept: float,
    sampler: str,
    random_seed: int | None,
    progressbar: bool,
    cores: int | None = None,
    adaptation: str = "auto",
    initvals: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> Any:
    """Sample ``model`` and return the results tree (posterior + sample_stats).

    ``initvals`` (constrained values by free-variable name) start the chains near them (see
    :func:`initial_point_function`); None keeps PyMC's default starts. ``progress`` receives
    the draws done (tuning included) and the divergences so far.

    An interrupted run (Ctrl-C, SIGTERM) raises :class:`KeyboardInterrupt` rather than
    returning the draws made so far: both samplers would otherwise hand back a shorter trace,
    which must never be mistaken for the requested fit.
    """
    raw = _run_nuts(
        model,
        cache_key=cache_key,
        draws=draws,
        tune=tune,
        chains=chains,
        target_accept=target_accept,
        sampler=sampler,
        random_seed=random_seed,
        progressbar=progressbar,
        cores=cores,
        adaptation=adaptation,
        initvals=initvals,
        progress=progress,
    )
    from bayescale.modeling import _container

    post = _container.get_group(raw, "posterior")
    got = (int(post.sizes.get("chain", 0)), int(post.sizes.get("draw", 0)))
    if got != (chains, draws):
        raise KeyboardInterrupt(
            f"sampling stopped early: {got[0]} chains x {got[1]} draws of {chains} x {draws}"
        )
    return raw


def _compiled_key(
    model: Any, cache_key: tuple[Any, ...], initvals: Mapping[str, Any] | None
) -> tuple[Any, ...]:
    shapes = tuple(sorted((k, v.shape) for k, v in _shared_values(model).items()))
    return (*cache_key, shapes, _constants_digest(model), _initvals_digest(initvals))


def _cached(key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
    entry = _COMPILED.get(key)
    if entry is None:
        entry = make()
        _COMPILED[key] = entry
        while len(_COMPILED) > _CACHE_SIZE:
            _COMPILED.popitem(last=False)
    else:
        _COMPILED.move_to_end(key)
    return entry


def _progress_callback(progress: Progress | None) -> Callable[[Any], None] | None:
    if progress is None:
        return None

    def report(states: Any) -> None:
        progress.update(
            sum(int(s.finished_draws) for s in states),
            divergences=sum(int(s.divergences) for s in states),
        )

    return report


def _run_fast(
    lib: Any,
    model: Any,
    *,
    cache_key: tuple[Any, ...],
    draws: int,
    tune: int,
    chains: int,
    target_accept: float,
    random_seed: int | None,
    cores: int | None,
    adaptation: str,
    initvals: Mapping[str, Any] | None,
    progress: Progress | None,
) -> Any:
    """NUTS in nutpie's compiled core, without its Python layer (see :mod:`._fastnuts`)."""
    from bayescale.modeling import _fastnuts

    key = ("fast", *_compiled_key(model, cache_key, initvals))
    fm = _cached(
        key, lambda: _fastnuts.compile_fast(model, initial_point_function(model, initvals))
    )
    # the Python-callable log density holds the GIL: one sampler thread (see _run_nuts)
    cores = cores or 1
    seed = int(np.random.default_rng(random_seed).integers(2**31))
    groups = _fastnuts.sample_fast(
        lib,
        fm,
        _shared_values(model),
        draws=draws,
        tune=tune,
        chains=chains,
        cores=cores,
        seed=seed,
        target_accept=target_accept,
        adaptation=_adaptation(adaptation, fm.n_dim),
        progress=_progress_callback(progress),
    )
    from bayescale.modeling import _container

    return _container.make_tree({k: v for k, v in groups.items() if v is not None})


def _run_nuts(
    model: Any,
    *,
    cache_key: tuple[Any, ...],
    draws: int,
    tune: int,
    chains: int,
    target_accept: float,
    sampler: str,
    random_seed: int | None,
    progressbar: bool,
    cores: int | None,
    adaptation: str,
    initvals: Mapping[str, Any] | None,
    progress: Progress | None,
) -> Any:
    sampler = resolve_sampler(sampler)
    if sampler == "nutpie":
        from bayescale.modeling import _fastnuts

        lib = _fastnuts.load_lib()
        if lib is not None:
            return _run_fast(
                lib,
                model,
                cache_key=cache_key,
                draws=draws,
                tune=tune,
                chains=chains,
                target_accept=target_accept,
                random_seed=random_seed,
                cores=cores,
                adaptation=adaptation,
                initvals=initvals,
                progress=progress,
            )
        import nutpie

        shapes = tuple(sorted((k, v.shape) for k, v in _shared_values(model).items()))
        key = (*cache_key, shapes, _constants_digest(model), _initvals_digest(initvals))
        entry = _COMPILED.get(key)
        if entry is None:
            entry = compile_nutpie(model, initvals)
            _COMPILED[key] = entry
            while len(_COMPILED) > _CACHE_SIZE:
                _COMPILED.popitem(last=False)
        else:
            _COMPILED.move_to_end(key)
        compiled, gil_bound = entry
        # The Python-callable log density serialises the chains on the GIL; extra sampler
        # threads then only contend for it (benchmarks/fit_speed.py: warm Chinchilla fit 2.3 s
        # with one thread, 2.7 s with two, 2.9 s with four).
        cores = cores or (1 if gil_bound else min(chains, os.cpu_count() or 1))
        compiled = compiled.with_data(**_shared_values(model))
        seed = int(np.random.default_rng(random_seed).integers(2**31))

        def report(states: Any) -> None:
            if progress is not None:
                progress.update(
                    sum(int(s.finished_draws) for s in states),
                    divergences=sum(int(s.divergences) for s in states),
                )

        running = nutpie.sample(
            compiled,
            draws=draws,
            tune=tune,
            chains=chains,
            cores=cores,
            seed=seed,
            target_accept=target_accept,
            adaptation=_adaptation(adaptation, compiled.n_dim),
            progress_bar=progressbar,
            progress_callback=report if progress is not None else None,
            save_warmup=False,
            blocking=False,
        )
        try:
            return running.wait()
        except BaseException:  # nutpie's blocking mode would return the partial trace
            running.cancel()
            raise
    import pymc as pm

    cores = cores or min(chains, os.cpu_count() or 1)
    done = [0, 0]  # draws, divergences

    def callback(trace: Any, draw: Any) -> None:
        done[0] += 1
        done[1] += bool(draw.stats and draw.stats[0].get("diverging"))
        if progress is not None:
            progress.update(done[0], divergences=done[1])

    with warnings.catch_warnings():
        # PyMC's own NUTS forks worker processes; see notes in pyproject's filterwarnings.
        warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
        return pm.sample(
            model=model,
            draws=draws,
            tune=tune,
            chains=chains,
            cores=cores,
            nuts_sampler="pymc",
            random_seed=random_seed,
            progressbar=progressbar,
            nuts={"target_accept": target_accept},
            compute_convergence_checks=False,
            callback=callback if progress is not None else None,
            **({"initvals": dict(initvals), "init": "adapt_diag"} if initvals else {}),
        )
