"""ScalingModel: configure a spec, then ``fit(runs)`` samples and returns a :class:`Fit`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pandas as pd

from bayescale.exceptions import SpecError
from bayescale.laws import get_law
from bayescale.modeling.build import family_module
from bayescale.modeling.spec import Likelihood, ModelSpec, Prior, load_spec

__all__ = ["DEFAULT_SPEC", "ScalingModel"]

#: The spec used when neither a spec nor a law is given.
DEFAULT_SPEC = "chinchilla"


class ScalingModel:
    """A Bayesian scaling-law model. Constructing it configures; :meth:`fit` samples.

    Parameters
    ----------
    spec : ModelSpec or str, optional
        A spec object, a bundled spec name or a TOML path. Defaults to the spec named by
        ``law`` (or ``"chinchilla"``).
    law : str, optional
        Shortcut for ``spec=load_spec(law)``.
    group : str, optional
        Group column for partial pooling (overrides the spec's pooling group).
    pooled : tuple of str, optional
        Which parameters vary by group (default: the spec's, else E and the exponents).
    priors : mapping, optional
        Priors replacing the spec's, by parameter name (user > spec).
    likelihood : {"StudentT", "Normal"}, optional
        Observation model on log loss.

    Examples
    --------
    >>> import bayescale as bs
    >>> model = bs.ScalingModel(law="chinchilla", priors={"alpha": {"dist": "Normal",
    ...                                                            "mu": 0.3, "sigma": 0.1}})
    >>> model.spec.priors["alpha"].kwargs["mu"]
    0.3
    """

    def __init__(
        self,
        spec: ModelSpec | str | None = None,
        *,
        law: str | None = None,
        group: str | None = None,
        pooled: tuple[str, ...] | None = None,
        priors: Mapping[str, Prior | Mapping[str, Any]] | None = None,
        likelihood: str | None = None,
    ) -> None:
        if spec is None:
            spec = law or DEFAULT_SPEC
        if isinstance(spec, str):
            spec = load_spec(spec)
        if law is not None and spec.law != law:
            raise SpecError(
                f"law {law!r} conflicts with spec {spec.name!r}, which fits the {spec.law!r} law: "
                f"give one of them (--law {law} alone uses the bundled {law!r} spec)"
            )
        if priors:
            spec = spec.with_priors(priors)
        if group is not None:
            spec = spec.with_pooling(group, pooled)
        if likelihood is not None:
            spec = replace(spec, likelihood=replace(spec.likelihood, dist=likelihood))
            Likelihood.__post_init__(spec.likelihood)
        self.spec: ModelSpec = spec

    def __repr__(self) -> str:
        return f"ScalingModel(spec={self.spec.name!r}, law={self.spec.law!r})"

    def prepare(self, runs: pd.DataFrame, *, exclude_outliers: bool = True) -> pd.DataFrame:
        """Validate ``runs`` as the law's model family needs; drop flagged outliers (logged).

        Outliers are dropped by families that read the ``outlier`` column (the loss and
        IsoFLOP families); ``exclude_outliers=False`` keeps them.
        """
        law = get_law(self.spec.law)
        family = family_module(law.family)
        prepared = family.prepare_runs(runs, self.spec, exclude_outliers=exclude_outliers)
        if "params" in law.inputs:
            _warn_params_kind(law.name, law.params_kind, prepared)
        return prepared

    def build(self, runs: pd.DataFrame, *, exclude_outliers: bool = True) -> Any:
        """Build (but do not sample) the PyMC model on ``runs``."""
        from bayescale.modeling.build import build_model

        model, _ = build_model(self.spec, self.prepare(runs, exclude_outliers=exclude_outliers))
        return model

    def fit(
        self,
        runs: pd.DataFrame,
        *,
        draws: int | None = None,
        tune: int | None = None,
        chains: int | None = None,
        target_accept: float | None = None,
        sampler: str | None = None,
        random_seed: int | None = None,
        progressbar: bool = False,
        exclude_outliers: bool = True,
        cores: int | None = None,
        progress_every: float | None = None,
        log_likelihood: bool | None = None,
    ) -> Any:
        """Sample the posterior on ``runs`` and return a :class:`~bayescale.modeling.fit.Fit`.

        Sampler settings default to the spec's ``[sampler]`` table. ``progress_every``
        (seconds) prints a plain progress line that often on stderr (None: none).
        ``log_likelihood`` keeps or leaves out the pointwise log-likelihood (None: kept when
        small, see :data:`bayescale.modeling.fit.LOG_LIKELIHOOD_MAX_VALUES`).
        """
        from bayescale.modeling.fit import Fit

        spec = self.spec.with_sampler(
            draws=draws, tune=tune, chains=chains, target_accept=target_accept, sampler=sampler
        )
        prepared = self.prepare(runs, exclude_outliers=exclude_outliers)
        return Fit.sample(
            spec,
            prepared,
            random_seed=random_seed,
            progressbar=progressbar,
            cores=cores,
            progress_every=progress_every,
            log_likelihood=log_likelihood,
        )


def _warn_params_kind(law: str, law_kind: str, runs: pd.DataFrame) -> None:
    """Warn when a law defined on one parameter count meets a table counting the other."""
    import warnings

    from bayescale.exceptions import ConventionWarning

    if law_kind == "non_embedding" and runs.attrs.get("params_kind") == "total":
        warnings.warn(
            f"the {law} law is defined on non-embedding parameters but this table counts "
            "total parameters, which moves the fitted exponents (docs/explanation/conventions.md)"
            ": give non-embedding counts with params_kind='non_embedding' (CSV: "
            "'# params_kind: non_embedding'), or fit a law defined on total counts (chinchilla)",
            ConventionWarning,
            stacklevel=4,
        )
