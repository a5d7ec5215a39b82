"""What a law is (:class:`Law`) and the registry of laws; imports no law module.

A law's loss function is the single source of truth: its positional arguments are the law's
``inputs`` (run-table columns) and its keyword-only arguments its ``params`` (posterior
variable names), read off the signature. A law also carries what is known about it in closed
form (``optimal``, ``optimal_exponent``, ``tokens_for_loss``); the analysis asks those, never a
law's name. Each law module registers its laws with :func:`register_law` when imported, and
``bayescale.laws`` imports every law module.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bayescale.exceptions import SpecError
from bayescale.laws import _math

__all__ = [
    "LAWS",
    "Law",
    "Prefactor",
    "call_with",
    "get_law",
    "lookup",
    "register_law",
    "signature_of",
]


@dataclass(frozen=True)
class Prefactor:
    """How a prefactor scales with an input's reference value.

    With reference input value ``x0``, the law evaluated on ``input / x0`` with the
    reference-scale prefactor ``P_ref`` equals the law on ``input`` with
    ``P = P_ref · x0^(power)``, where ``power`` is the value of the parameter named by
    ``exponent`` (or 1 when ``exponent`` is None).
    """

    input: str
    exponent: str | None = None


def signature_of(func: Callable[..., Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(inputs, params)`` of a law function: its positional and its keyword-only arguments.

    Examples
    --------
    >>> from bayescale.laws.chinchilla import chinchilla_loss
    >>> signature_of(chinchilla_loss)
    (('params', 'tokens'), ('E', 'A', 'B', 'alpha', 'beta'))
    """
    args = inspect.signature(func).parameters.values()
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    inputs = tuple(a.name for a in args if a.kind in positional)
    params = tuple(a.name for a in args if a.kind is inspect.Parameter.KEYWORD_ONLY)
    return inputs, params


def call_with(func: Callable[..., Any], values: Mapping[Any, Any], *args: Any) -> Any:
    """``func(*args, **kw)`` with every keyword-only argument of ``func`` found in ``values``.

    Keyword-only arguments with a default that ``values`` lacks keep their default.

    Examples
    --------
    >>> from bayescale.laws.chinchilla import chinchilla_optimal_exponent
    >>> call_with(chinchilla_optimal_exponent, {"alpha": 0.3, "beta": 0.3, "E": 1.7})
    0.5
    """
    kwargs = {}
    for a in inspect.signature(func).parameters.values():
        if a.kind is not inspect.Parameter.KEYWORD_ONLY:
            continue
        if a.name in values:
            kwargs[a.name] = values[a.name]
        elif a.default is inspect.Parameter.empty:
            raise SpecError(f"{func.__name__} needs {a.name!r}")
    return func(*args, **kwargs)


@dataclass(frozen=True, kw_only=True)
class Law:
    """A scaling law: its loss function, what it is known to imply, and its published values.

    Attributes
    ----------
    name : str
        Registry name (specs name it in ``law =``).
    loss : callable
        The law: ``loss(*inputs, **params)``, valid on numpy, xarray and pytensor alike.
    description, params_kind, citation : str
        What it is; the parameter-count convention of its published values; the source.
    inputs, params : tuple of str
        Read off ``loss``'s signature (positional, keyword-only); when given they must match.
    prefactors : mapping of str to Prefactor
        Parameters tied to an input's scale (sampled at the data's reference scale).
    published_fits : tuple of str
        Names of the published fits (``datasets/published_fits.toml``) whose values, merged in
        order, are the law's published parameters (:attr:`published`). No numbers live in code.
    family : str
        The model family that builds the law's PyMC model (default ``"loss"``).
    noise : str
        Name of the noise-scale variable reported by summaries ("" when the family has none).
    optimal : callable, optional
        Closed-form compute-optimal allocation, ``optimal(flops, **params)`` returning
        ``params_opt``, ``tokens_opt``, ``tokens_per_param`` (and ``loss_opt``), under
        C = 6·N·D without inference demand or a data cap.
    optimal_exponent : callable, optional
        Closed-form exponent ``a`` of ``N_opt ∝ C^a``, ``optimal_exponent(**params)``.
    log_loss : callable, optional
        The law's logarithm with ``loss``'s signature, for graphs on log loss where
        ``log(loss(...))`` would overflow; :meth:`log_of` falls back to that.
    tokens_for_loss : callable, optional
        Closed-form inverse in D, ``tokens_for_loss(target, params, **params)``: the tokens at
        which a model of ``params`` parameters reaches loss ``target`` (NaN where it cannot).
    """

    name: str
    loss: Callable[..., Any]
    description: str
    params_kind: str
    inputs: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    prefactors: Mapping[str, Prefactor] = field(default_factory=dict)
    published_fits: tuple[str, ...] = ()
    citation: str = ""
    family: str = "loss"
    noise: str = "sigma"
    optimal: Callable[..., Mapping[str, Any]] | None = None
    optimal_exponent: Callable[..., Any] | None = None
    tokens_for_loss: Callable[..., Any] | None = None
    log_loss: Callable[..., Any] | None = None

    def __post_init__(self) -> None:
        inputs, params = signature_of(self.loss)
        checks = (("inputs", self.inputs, inputs), ("params", self.params, params))
        for what, given, derived in checks:
            if given and tuple(given) != derived:
                raise SpecError(
                    f"law {self.name!r}: {what} {tuple(given)} differ from the signature of "
                    f"{getattr(self.loss, '__name__', 'its loss')} {derived}"
                )
        object.__setattr__(self, "inputs", inputs)
        object.__setattr__(self, "params", params)
        if self.log_loss is not None and signature_of(self.log_loss) != (inputs, params):
            raise SpecError(f"law {self.name!r}: log_loss must take the arguments of loss")
        unknown = [p for p in self.prefactors if p not in params]
        if unknown:
            raise SpecError(f"law {self.name!r}: prefactor {', '.join(unknown)} is not a parameter")

    def log_of(self, *inputs: Any, **params: Any) -> Any:
        """``log(loss(*inputs, **params))``, through :attr:`log_loss` when the law has one.

        Examples
        --------
        >>> import bayescale.laws  # fills the registry
        >>> import math
        >>> law = get_law("isoflop")
        >>> v = dict(a=0.5, G=0.1, curvature=0.05, loss_opt=2.5)
        >>> bool(abs(law.log_of(2e9, 1e21, **v) - math.log(law.loss(2e9, 1e21, **v))) < 1e-12)
        True
        """
        if self.log_loss is not None:
            return self.log_loss(*inputs, **params)
        return _math.log(self.loss(*inputs, **params))

    @property
    def published(self) -> dict[str, float]:
        """The law's published parameter values, read from :attr:`published_fits`.

        Only the law's own parameters are kept; a law without published fits gives ``{}``.

        Examples
        --------
        >>> import bayescale.laws  # fills the registry
        >>> get_law("chinchilla").published["alpha"]
        0.33917
        """
        from bayescale.data.published import published_fit

        merged: dict[str, float] = {}
        for name in self.published_fits:
            merged.update(published_fit(name).values)
        return {p: float(merged[p]) for p in self.params if p in merged}

    def __call__(self, **kwargs: Any) -> Any:
        """Evaluate the law with inputs and parameters given by name."""
        missing = [k for k in (*self.inputs, *self.params) if k not in kwargs]
        if missing:
            raise SpecError(f"law {self.name!r} needs {', '.join(missing)}")
        return self.loss(*(kwargs[k] for k in self.inputs), **{p: kwargs[p] for p in self.params})


#: Every registered law by name, in registration order.
LAWS: dict[str, Law] = {}


def register_law(law: Law) -> Law:
    """Add a law to the registry (each law module registers its laws when imported).

    A law registered again under the same name replaces the earlier one.
    """
    LAWS[law.name] = law
    return law


def get_law(name: str) -> Law:
    """Look a law up by name, suggesting the closest name when unknown.

    Examples
    --------
    >>> import bayescale.laws  # fills the registry
    >>> get_law("chinchilla").params
    ('E', 'A', 'B', 'alpha', 'beta')
    """
    return lookup(LAWS, name, what="law")


def lookup[T](registry: Mapping[str, T], name: str, *, what: str) -> T:
    """``registry[name]``, or a :class:`SpecError` suggesting the closest name.

    Examples
    --------
    >>> lookup({"chinchilla": 1}, "chinchilla", what="law")
    1
    """
    try:
        return registry[name]
    except KeyError:
        close = difflib.get_close_matches(name, registry, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        known = ", ".join(sorted(registry))
        raise SpecError(f"unknown {what} {name!r}{hint} (known: {known})") from None
