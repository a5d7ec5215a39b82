"""Model specs: a law, priors as data, the likelihood, optional pooling and sampler defaults.

Specs live as TOML files in the top-level ``models/`` folder; a spec never names a Python
import path. Every prior is a PyMC distribution name plus keyword arguments.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import math
import tomllib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from bayescale._paths import resource_dir
from bayescale.exceptions import SpecError
from bayescale.laws import get_law
from bayescale.modeling.build import family_module

__all__ = [
    "NOISE_FORMS",
    "Discrepancy",
    "Likelihood",
    "ModelSpec",
    "NoiseForm",
    "Pooling",
    "Prior",
    "list_specs",
    "load_spec",
    "register_noise",
]

#: Distributions a prior may name, with the keyword arguments each accepts.
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "Normal": ("mu", "sigma"),
    "LogNormal": ("mu", "sigma"),
    "HalfNormal": ("sigma",),
    "TruncatedNormal": ("mu", "sigma", "lower", "upper"),
    "Beta": ("alpha", "beta"),
    "Gamma": ("alpha", "beta"),
    "Exponential": ("lam",),
    "Uniform": ("lower", "upper"),
    "StudentT": ("nu", "mu", "sigma"),
    "HalfStudentT": ("nu", "sigma"),
}


@dataclass(frozen=True)
class Prior:
    """A prior distribution: a PyMC distribution name and its arguments.

    Parameters
    ----------
    dist : str
        Name of a PyMC distribution (see :data:`DISTRIBUTIONS`).
    kwargs : mapping of str to float
        Its arguments.
    citation : str, optional
        Where the centre of the prior comes from.

    Examples
    --------
    >>> p = Prior("TruncatedNormal", {"mu": 0.34, "sigma": 0.1, "lower": 0.0})
    >>> Prior.from_dict(p.to_dict()) == p
    True
    """

    dist: str
    kwargs: Mapping[str, float] = field(default_factory=dict)
    citation: str = ""

    def __post_init__(self) -> None:
        allowed = DISTRIBUTIONS.get(self.dist)
        if allowed is None:
            close = difflib.get_close_matches(self.dist, DISTRIBUTIONS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise SpecError(f"unknown prior distribution {self.dist!r}{hint}")
        for key, value in self.kwargs.items():
            if key not in allowed:
                raise SpecError(f"prior {self.dist} takes {', '.join(allowed)}, not {key!r}")
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise SpecError(f"prior {self.dist} argument {key!r} must be a finite number")
        object.__setattr__(self, "kwargs", {k: float(v) for k, v in self.kwargs.items()})

    def to_dict(self) -> dict[str, Any]:
        """Serialise as ``{"dist": ..., **kwargs, "citation": ...}``."""
        out: dict[str, Any] = {"dist": self.dist, **self.kwargs}
        if self.citation:
            out["citation"] = self.citation
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Prior:
        """Build a prior from the dict form used in spec files."""
        if not isinstance(data, Mapping) or "dist" not in data:
            raise SpecError(f"a prior needs a 'dist' entry, got {data!r}")
        kwargs = {k: v for k, v in data.items() if k not in {"dist", "citation"}}
        return cls(str(data["dist"]), kwargs, str(data.get("citation", "")))

    def create(self, name: str, **extra: Any) -> Any:
        """Create the PyMC random variable ``name`` in the current model context."""
        import pymc as pm

        return getattr(pm, self.dist)(name, **self.kwargs, **extra)


class NoiseForm(ABC):
    """The distribution of one observation of log loss around its mean, scale ``sigma``.

    One subclass per form, registered under the name a spec's ``[likelihood] dist`` uses
    (:func:`register_noise`). Every place that needs the noise (the PyMC builders, predictive
    bands, held-out scores, the prior predictive) goes through :class:`Likelihood`, which
    dispatches here: a new form is one class plus its name in a spec's TOML.
    """

    @abstractmethod
    def observe(
        self, like: Likelihood, name: str, *, mu: Any, sigma: Any, observed: Any, dims: str
    ) -> Any:
        """Create the observed PyMC variable ``name`` in the current model context."""

    @abstractmethod
    def sample_noise(
        self, like: Likelihood, rng: np.random.Generator, shape: tuple[int, ...]
    ) -> np.ndarray:
        """Standardised noise ``eps`` of the given shape (an observation is ``mu + sigma·eps``)."""

    @abstractmethod
    def logpdf(self, like: Likelihood, y: Any, *, mu: Any, sigma: Any) -> np.ndarray:
        """Log density of observations ``y`` given ``mu`` and ``sigma`` (numpy, broadcast)."""


#: Registered noise forms by the name a spec uses (``[likelihood] dist``).
NOISE_FORMS: dict[str, NoiseForm] = {}


def register_noise(name: str) -> Callable[[type[NoiseForm]], type[NoiseForm]]:
    """Class decorator: register a :class:`NoiseForm` under ``name``."""

    def add(cls: type[NoiseForm]) -> type[NoiseForm]:
        NOISE_FORMS[name] = cls()
        return cls

    return add


@register_noise("StudentT")
class StudentTNoise(NoiseForm):
    """Student-t with the spec's ``nu`` degrees of freedom (robust to odd runs; the default)."""

    def observe(
        self, like: Likelihood, name: str, *, mu: Any, sigma: Any, observed: Any, dims: str
    ) -> Any:
        """``pm.StudentT(name, nu, mu, sigma)``, observed."""
        import pymc as pm

        return pm.StudentT(name, nu=like.nu, mu=mu, sigma=sigma, observed=observed, dims=dims)

    def sample_noise(
        self, like: Likelihood, rng: np.random.Generator, shape: tuple[int, ...]
    ) -> np.ndarray:
        """Standard Student-t draws."""
        return rng.standard_t(like.nu, size=shape)

    def logpdf(self, like: Likelihood, y: Any, *, mu: Any, sigma: Any) -> np.ndarray:
        """Student-t log density."""
        from scipy import stats

        return np.asarray(stats.t.logpdf(y, df=like.nu, loc=mu, scale=sigma))


@register_noise("Normal")
class NormalNoise(NoiseForm):
    """Normal noise on log loss."""

    def observe(
        self, like: Likelihood, name: str, *, mu: Any, sigma: Any, observed: Any, dims: str
    ) -> Any:
        """``pm.Normal(name, mu, sigma)``, observed."""
        import pymc as pm

        return pm.Normal(name, mu=mu, sigma=sigma, observed=observed, dims=dims)

    def sample_noise(
        self, like: Likelihood, rng: np.random.Generator, shape: tuple[int, ...]
    ) -> np.ndarray:
        """Standard normal draws."""
        return rng.standard_normal(size=shape)

    def logpdf(self, like: Likelihood, y: Any, *, mu: Any, sigma: Any) -> np.ndarray:
        """Normal log density."""
        from scipy import stats

        return np.asarray(stats.norm.logpdf(y, loc=mu, scale=sigma))


@dataclass(frozen=True)
class Discrepancy:
    """Uncertainty about the law itself, growing with the distance from the fitted range.

    A prediction at a point ``x`` outside the fitted runs' range gets, on log loss,
    ``delta(x) = sum_k tau_k·z_k·d_k(x)`` with ``z_k ~ Normal(0, 1)`` drawn once per posterior
    draw (a random slope of the log-loss error beyond the data, so neighbouring points share
    it). The directions ``k`` and their scales ``tau_k`` (sd of log loss per decade):

    - ``compute``: decades of training compute C = 6·N·D (for one-input laws, of that input)
      outside the fitted range;
    - ``ratio``: decades of tokens per parameter D/N outside the fitted range;
    - ``params``, ``tokens``: decades of N, and of D, outside the fitted range of each (errors
      in the exponents past the data; these move compute-optimal allocations).

    Each scale is ``tau_k = sqrt(a_k² + (b_k·sigma)²)``: ``a_k`` (the fields named as the
    directions) in log loss per decade, plus ``b_k`` (``<direction>_per_sigma``) times the
    posterior draw's noise scale ``sigma``, the scatter of the fitted runs around the law: a
    table the law follows loosely (noise, or a misfit the law cannot follow) is given a wider
    band past its data than one it follows closely. Every distance is 0 inside its range; the
    standard deviation at ``x`` is ``sqrt(sum_k (tau_k·d_k)²)``. All zero (the default)
    switches the term off. Predictive bands,
    ``allocate`` and ``decide`` apply it (:mod:`bayescale.analysis.discrepancy`). The bundled
    specs carry values calibrated by back-tests across published tables, each table left out in
    turn (``benchmarks/backtest.py``).
    """

    compute: float = 0.0
    ratio: float = 0.0
    params: float = 0.0
    tokens: float = 0.0
    compute_per_sigma: float = 0.0
    ratio_per_sigma: float = 0.0
    params_per_sigma: float = 0.0
    tokens_per_sigma: float = 0.0
    citation: str = ""

    #: The directions, in the order of :data:`bayescale.analysis.discrepancy.DIRECTIONS`.
    DIRECTIONS: ClassVar[tuple[str, ...]] = ("compute", "ratio", "params", "tokens")
    #: Every scale field: the absolute ones, then those per unit of sigma.
    FIELDS: ClassVar[tuple[str, ...]] = (
        *DIRECTIONS,
        *(f"{k}_per_sigma" for k in DIRECTIONS),
    )

    def __post_init__(self) -> None:
        for name in self.FIELDS:
            value = getattr(self, name)
            if not (isinstance(value, int | float) and value >= 0 and value == value):
                raise SpecError(f"discrepancy {name} must be a non-negative number, got {value!r}")

    @property
    def active(self) -> bool:
        """Whether the term adds anything."""
        return any(getattr(self, name) > 0 for name in self.FIELDS)

    def absolute(self, direction: str) -> float:
        """``a_k`` of a direction (log loss per decade)."""
        return float(getattr(self, direction))

    def per_sigma(self, direction: str) -> float:
        """``b_k`` of a direction (per decade, in units of the noise scale sigma)."""
        return float(getattr(self, f"{direction}_per_sigma"))

    def to_dict(self) -> dict[str, Any]:
        """Serialise for spec files (fields other than ``compute``/``ratio`` only when set)."""
        out: dict[str, Any] = {"compute": self.compute, "ratio": self.ratio}
        for name in self.FIELDS[2:]:
            if getattr(self, name) > 0:
                out[name] = getattr(self, name)
        if self.citation:
            out["citation"] = self.citation
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Discrepancy:
        """Build from the dict form used in spec files."""
        unknown = set(data) - {*cls.FIELDS, "citation"}
        if unknown:
            names = ", ".join(sorted(unknown))
            raise SpecError(f"[likelihood.discrepancy]: unknown key(s) {names}")
        try:
            values = {name: float(data.get(name, 0.0)) for name in cls.FIELDS}
        except (TypeError, ValueError):
            fields = ", ".join(cls.FIELDS)
            raise SpecError(f"[likelihood.discrepancy]: {fields} must be numbers") from None
        return cls(**values, citation=str(data.get("citation", "")))


@dataclass(frozen=True)
class Likelihood:
    """Observation model for log loss (or log steps): a noise form and the noise scale's prior.

    ``dist`` names a registered :class:`NoiseForm` (``"StudentT"``, robust, the default; or
    ``"Normal"``); ``nu`` is the Student-t degrees of freedom (fixed); ``sigma`` the prior of
    the noise scale. The model builders call :meth:`observe`, predictive bands and the prior
    predictive :meth:`sample_noise`, held-out scores :meth:`logpdf`. ``discrepancy`` is the
    predictive uncertainty about the law beyond the fitted range (:class:`Discrepancy`; it does
    not enter the fit).

    Examples
    --------
    >>> import numpy as np
    >>> like = Likelihood("Normal")
    >>> float(like.logpdf(0.0, mu=0.0, sigma=1.0)) == -0.5 * float(np.log(2 * np.pi))
    True
    """

    dist: str = "StudentT"
    nu: float = 4.0
    sigma: Prior = field(default_factory=lambda: Prior("HalfNormal", {"sigma": 0.1}))
    discrepancy: Discrepancy = field(default_factory=Discrepancy)

    def __post_init__(self) -> None:
        if self.dist not in NOISE_FORMS:
            known = " or ".join(repr(k) for k in NOISE_FORMS)
            raise SpecError(f"likelihood must be {known}, not {self.dist!r}")
        if not self.nu > 0:
            raise SpecError("likelihood nu must be positive")

    @property
    def form(self) -> NoiseForm:
        """The registered noise form named by ``dist``."""
        return NOISE_FORMS[self.dist]

    def observe(self, name: str, *, mu: Any, sigma: Any, observed: Any, dims: str = "run") -> Any:
        """Create the observed variable ``name`` (on log scale) in the current model context."""
        return self.form.observe(self, name, mu=mu, sigma=sigma, observed=observed, dims=dims)

    def sample_noise(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        """Standardised noise draws: a new observation is ``mu + sigma·eps``."""
        return self.form.sample_noise(self, rng, tuple(shape))

    def logpdf(self, y: Any, *, mu: Any, sigma: Any) -> np.ndarray:
        """Log density of observations ``y`` (log scale) given ``mu`` and ``sigma``."""
        return self.form.logpdf(self, y, mu=mu, sigma=sigma)

    def to_dict(self) -> dict[str, Any]:
        """Serialise for spec files."""
        out: dict[str, Any] = {"dist": self.dist, "nu": self.nu, "sigma": self.sigma.to_dict()}
        if self.discrepancy.active:  # omitted when off, so older fit files keep their spec id
            out["discrepancy"] = self.discrepancy.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Likelihood:
        """Build from the dict form used in spec files."""
        sigma = data.get("sigma")
        return cls(
            dist=str(data.get("dist", "StudentT")),
            nu=float(data.get("nu", 4.0)),
            sigma=Prior.from_dict(sigma) if sigma is not None else Likelihood().sigma,
            discrepancy=Discrepancy.from_dict(data.get("discrepancy", {})),
        )


@dataclass(frozen=True)
class Pooling:
    """Partial pooling: which parameters vary by the values of a group column.

    Group values are drawn around a population value on the log scale,
    ``log θ_g = log θ + τ·z_g`` with ``z_g ~ Normal(0, 1)`` (non-centred), ``τ ~ HalfNormal(tau)``.
    """

    group: str
    params: tuple[str, ...]
    tau: float = 0.2

    def to_dict(self) -> dict[str, Any]:
        """Serialise for spec files."""
        return {"group": self.group, "params": list(self.params), "tau": self.tau}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Pooling:
        """Build from the dict form used in spec files."""
        if "group" not in data or "params" not in data:
            raise SpecError("[pooling] needs 'group' and 'params'")
        return cls(str(data["group"]), tuple(data["params"]), float(data.get("tau", 0.2)))


DEFAULT_SAMPLER: dict[str, Any] = {
    "draws": 1000,
    "tune": 1000,
    "chains": 4,
    "target_accept": 0.9,
    "sampler": "auto",
    # nutpie's mass-matrix adaptation: "auto" (low-rank for small models, else diagonal),
    # "low_rank" or "diag"
    "adaptation": "auto",
}


@dataclass(frozen=True)
class ModelSpec:
    """A declarative model: law, priors, likelihood, optional pooling, sampler defaults.

    ``options`` (the ``[options]`` table of a spec file) are settings of the law's model family,
    such as the IsoFLOP family's ``window``; each family lists what it accepts in its
    ``options`` table (:class:`~bayescale.modeling.families.base.Family`), and a saved fit keeps
    them with the rest of the spec.

    Examples
    --------
    >>> spec = load_spec("chinchilla")
    >>> spec.law, sorted(spec.priors)
    ('chinchilla', ['A', 'B', 'E', 'alpha', 'beta'])
    >>> new = spec.with_priors({"alpha": Prior("Normal", {"mu": 0.3, "sigma": 0.05})})
    >>> new.priors["alpha"].dist
    'Normal'
    """

    name: str
    law: str
    priors: Mapping[str, Prior]
    likelihood: Likelihood = field(default_factory=Likelihood)
    pooling: Pooling | None = None
    sampler: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_SAMPLER))
    description: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    nuisance: Mapping[str, Prior] = field(default_factory=dict)

    def __post_init__(self) -> None:
        law = get_law(self.law)
        missing = [p for p in law.params if p not in self.priors]
        if missing:
            raise SpecError(f"spec {self.name!r}: no prior for {', '.join(missing)}")
        extra = [p for p in self.priors if p not in law.params]
        if extra:
            raise SpecError(
                f"spec {self.name!r}: {', '.join(extra)} is not a parameter of law {self.law!r} "
                f"({', '.join(law.params)})"
            )
        for p in law.prefactors:
            if self.priors[p].dist != "LogNormal":
                raise SpecError(
                    f"spec {self.name!r}: prefactor {p!r} needs a LogNormal prior "
                    "(it is sampled at the data's reference scale)"
                )
        if self.pooling is not None:
            bad = [p for p in self.pooling.params if p not in law.params]
            if bad:
                raise SpecError(
                    f"spec {self.name!r}: pooled {', '.join(bad)} not in law {self.law!r}"
                )
        _check_options(self.name, law.family, self.options)
        object.__setattr__(self, "nuisance", _check_nuisance(self, law.family))
        unknown = set(self.sampler) - set(DEFAULT_SAMPLER) - {"cores"}
        if unknown:
            raise SpecError(f"spec {self.name!r}: unknown sampler option(s) {sorted(unknown)}")
        object.__setattr__(self, "sampler", {**DEFAULT_SAMPLER, **self.sampler})

    def to_dict(self) -> dict[str, Any]:
        """Serialise to plain data (the TOML structure)."""
        out: dict[str, Any] = {
            "name": self.name,
            "law": self.law,
            "description": self.description,
            "priors": {k: v.to_dict() for k, v in self.priors.items()},
            "likelihood": self.likelihood.to_dict(),
            "sampler": dict(self.sampler),
        }
        if self.pooling is not None:
            out["pooling"] = self.pooling.to_dict()
        if self.options:
            out["options"] = dict(self.options)
        if self.nuisance:
            out["nuisance"] = {k: v.to_dict() for k, v in self.nuisance.items()}
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSpec:
        """Build a spec from plain data, with errors naming what is wrong."""
        data = copy.deepcopy(dict(data))
        for key in ("name", "law", "priors"):
            if key not in data:
                raise SpecError(f"spec is missing {key!r}")
        known = {
            "name",
            "law",
            "description",
            "priors",
            "likelihood",
            "sampler",
            "pooling",
            "options",
            "nuisance",
        }
        unknown = set(data) - known
        if unknown:
            raise SpecError(f"spec has unknown section(s) {sorted(unknown)}")
        return cls(
            name=str(data["name"]),
            law=str(data["law"]),
            description=str(data.get("description", "")),
            priors={str(k): Prior.from_dict(v) for k, v in data["priors"].items()},
            likelihood=Likelihood.from_dict(data.get("likelihood", {})),
            pooling=Pooling.from_dict(data["pooling"]) if data.get("pooling") else None,
            sampler=dict(data.get("sampler", {})),
            options=dict(data.get("options", {})),
            nuisance={str(k): Prior.from_dict(v) for k, v in data.get("nuisance", {}).items()},
        )

    def to_json(self) -> str:
        """Canonical JSON (sorted keys), stored in saved fits."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @property
    def spec_id(self) -> str:
        """First 16 hex digits of the SHA-256 of the canonical JSON."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    def with_priors(self, priors: Mapping[str, Prior | Mapping[str, Any]]) -> ModelSpec:
        """Return a copy with some priors replaced (user > spec)."""
        merged = dict(self.priors)
        for k, v in priors.items():
            merged[k] = v if isinstance(v, Prior) else Prior.from_dict(v)
        return replace(self, priors=merged)

    def with_pooling(self, group: str | None, params: tuple[str, ...] | None = None) -> ModelSpec:
        """Return a copy pooled over ``group`` (all non-prefactor exponents by default)."""
        if group is None:
            return replace(self, pooling=None)
        law = get_law(self.law)
        if params is None:
            params = self.pooling.params if self.pooling else _default_pooled(law.params)
        tau = self.pooling.tau if self.pooling else 0.2
        return replace(self, pooling=Pooling(group, tuple(params), tau))

    def with_options(self, **options: Any) -> ModelSpec:
        """Return a copy with model-family options set (see the family's ``options``).

        An option given as None is removed, so the family's default applies.

        Examples
        --------
        >>> spec = load_spec("isoflop").with_options(window=0.1, neighbours=None)
        >>> spec.options["window"], "neighbours" in spec.options
        (0.1, False)
        """
        merged = {**self.options, **options}
        return replace(self, options={k: v for k, v in merged.items() if v is not None})

    def option(self, name: str, default: Any) -> Any:
        """The value of a model-family option, or ``default`` when the spec does not set it."""
        return self.options.get(name, default)

    def with_sampler(self, **options: Any) -> ModelSpec:
        """Return a copy with sampler options overridden (None values are ignored)."""
        return replace(
            self, sampler={**self.sampler, **{k: v for k, v in options.items() if v is not None}}
        )


def _check_options(spec_name: str, family: str, options: Mapping[str, Any]) -> None:
    """Check ``[options]`` against the ``options`` table (name -> type) of the law's family."""
    if not options:
        return
    allowed = family_module(family).options
    for name, value in options.items():
        if name not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise SpecError(
                f"spec {spec_name!r}: unknown option {name!r} for the {family} model family "
                f"(options: {known})"
            )
        kind = allowed[name]
        ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
        if kind is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok:
            raise SpecError(
                f"spec {spec_name!r}: option {name!r} must be {kind.__name__}, got {value!r}"
            )


def _check_nuisance(spec: ModelSpec, family: str) -> dict[str, Prior]:
    """Check ``[nuisance]`` priors against what the family declares; fill them when absent.

    A family lists its nuisance variables (per-run or per-budget latents, noise shapes) with
    the prior arguments it supplies from the data (``Family.nuisance``). A spec without a
    ``[nuisance]`` table (a user's spec that sets only the law's priors, or a fit saved before
    nuisance priors were spec data) takes those of the bundled spec named after its law.
    """
    wanted = family_module(family).nuisance
    given = dict(spec.nuisance)
    if not given and wanted and spec.name != spec.law:
        given = dict(load_spec(spec.law).nuisance)
    missing = [n for n in wanted if n not in given]
    if missing:
        raise SpecError(
            f"spec {spec.name!r}: no [nuisance] prior for {', '.join(missing)} "
            f"(the {family} model family needs them)"
        )
    extra = [n for n in given if n not in wanted]
    if extra:
        known = ", ".join(wanted) or "none"
        raise SpecError(
            f"spec {spec.name!r}: [nuisance] {', '.join(extra)} is not a variable of the "
            f"{family} model family (nuisance: {known})"
        )
    for name, supplied in wanted.items():
        clash = [a for a in supplied if a in given[name].kwargs]
        if clash:
            raise SpecError(
                f"spec {spec.name!r}: [nuisance.{name}] sets {', '.join(clash)}, which the "
                f"{family} model family takes from the data"
            )
    return given


def _default_pooled(params: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(p for p in params if p.startswith("alpha") or p.startswith("beta") or p == "E")


def list_specs() -> list[str]:
    """Names of the specs bundled in ``models/``.

    Examples
    --------
    >>> "chinchilla" in list_specs()
    True
    """
    return sorted(p.stem for p in resource_dir("models").glob("*.toml"))


def load_spec(name_or_path: str | Path) -> ModelSpec:
    """Load a spec by bundled name (``"chinchilla"``) or from a TOML file path.

    Examples
    --------
    >>> load_spec("kaplan").law
    'kaplan'
    """
    path = Path(name_or_path)
    if path.suffix != ".toml":
        candidate = resource_dir("models") / f"{name_or_path}.toml"
        if not candidate.exists():
            names = list_specs()
            close = difflib.get_close_matches(str(name_or_path), names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise SpecError(
                f"unknown spec {str(name_or_path)!r}{hint} (bundled: {', '.join(names)})"
            )
        path = candidate
    if not path.exists():
        raise SpecError(f"{path}: no such spec file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: not valid TOML ({exc})") from None
    try:
        return ModelSpec.from_dict(data)
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None
