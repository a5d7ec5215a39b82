"""Fit: a posterior with its spec, run table and provenance; summaries, diagnostics, save/load."""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayescale._version import __version__
from bayescale.constants import SAMPLE_DIMS
from bayescale.exceptions import ConvergenceWarning, FitFileError
from bayescale.intervals import check_ci, eti_dims
from bayescale.laws import Law, get_law
from bayescale.modeling import _container
from bayescale.modeling.build import ModelInfo, family_module
from bayescale.modeling.spec import ModelSpec

__all__ = ["Fit", "load_fit"]

#: Thresholds of the convergence warning.
RHAT_MAX = 1.01
ESS_MIN = 400
_FILE_FORMAT = "bayescale-fit-1"
#: What to do when the diagnostics fail (printed with every convergence warning).
CONVERGENCE_REMEDY = (
    "Sample longer (--draws 4000), raise target_accept (e.g. 0.95), or, on a small table whose "
    "E, A and alpha trade off along a ridge, narrow the priors (e.g. E's) in a spec file; do not "
    "quote its intervals until R-hat <= 1.01 and bulk ESS >= 400."
)
#: Pointwise log-likelihood values (chains x draws x observations) a fit keeps by default:
#: 40 MB of float64. Above that the group is left out (a 5,000-run table at 4 x 1,000 draws
#: would add 160 MB) and :meth:`Fit.ensure_log_likelihood` recomputes it when LOO needs it.
LOG_LIKELIHOOD_MAX_VALUES = 5_000_000


def _runs_digest(runs: pd.DataFrame) -> str:
    text = runs.to_csv(index=False, float_format="%.17g")
    return hashlib.sha256(text.encode()).hexdigest()


#: Root attribute holding the SHA-256 of every group and of the other root attributes.
_CHECKSUMS = "checksums_sha256"
#: Name under which :data:`_CHECKSUMS` records the root attributes.
_ATTRS_KEY = "attributes"


def _array_digest(h: Any, name: str, arr: xr.Variable) -> None:
    values = np.asarray(arr.values)
    h.update(f"{name}|{','.join(map(str, arr.dims))}|{values.shape}|".encode())
    kind = values.dtype.kind
    if kind == "b":
        values = values.astype("uint8")
    elif kind in "iu":
        values = values.astype("int64")
    elif kind == "f":
        values = values.astype("float64")
    elif kind in "mM":
        values = values.view("int64")
    else:  # strings and objects: their text (netCDF may change the string dtype)
        h.update("\x1f".join(str(v) for v in values.ravel()).encode())
        return
    h.update(np.ascontiguousarray(values).tobytes())


def dataset_digest(ds: xr.Dataset) -> str:
    """SHA-256 of a group's variables and coordinates (names, dims, shapes and values).

    Dtypes are normalised (booleans to uint8, integers to int64, floats to float64, strings
    to text) so that the digest survives a netCDF round trip.
    """
    h = hashlib.sha256()
    for name in sorted(map(str, ds.variables)):
        _array_digest(h, name, ds.variables[name])
    return h.hexdigest()


def _attrs_digest(attrs: dict[Any, Any]) -> str:
    items = {str(k): str(v) for k, v in attrs.items() if k != _CHECKSUMS}
    return hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()


def tree_checksums(tree: xr.DataTree) -> dict[str, str]:
    """SHA-256 of every group of a results tree and of its root attributes."""
    sums = {g: dataset_digest(_container.get_group(tree, g)) for g in _container.groups(tree)}
    sums[_ATTRS_KEY] = _attrs_digest(dict(tree.attrs))
    return sums


def verify_checksums(tree: xr.DataTree, path: str | Path) -> None:
    """Raise :class:`FitFileError` naming the first group whose checksum fails."""
    raw = tree.attrs.get(_CHECKSUMS)
    if raw is None:
        raise FitFileError(
            f"{path}: the fit carries no checksums (damaged, or written by an older bayescale); "
            "refit it"
        )
    try:
        recorded = json.loads(str(raw))
    except json.JSONDecodeError:
        raise FitFileError(f"{path}: its checksum record is unreadable") from None
    actual = tree_checksums(tree)
    for group in sorted(set(recorded) | set(actual)):
        if group not in actual:
            raise FitFileError(f"{path}: the {group!r} group is missing (truncated file?)")
        if group not in recorded:
            raise FitFileError(f"{path}: the {group!r} group was added after the fit was saved")
        if recorded[group] != actual[group]:
            what = "root attributes" if group == _ATTRS_KEY else f"{group!r} group"
            raise FitFileError(
                f"{path}: the {what} failed its checksum (edited or damaged file); refit it"
            )


def _runs_to_dataset(runs: pd.DataFrame, run_ids: tuple[str, ...]) -> xr.Dataset:
    data: dict[str, Any] = {}
    for col in runs.columns:
        values = runs[col].to_numpy()
        if runs[col].dtype == bool:
            values = values.astype("int8")
        elif not np.issubdtype(values.dtype, np.number):
            values = np.array([str(v) for v in values], dtype=object)
        data[col] = ("run", values)
    ds = xr.Dataset(data, coords={"run": list(run_ids)})
    ds.attrs["bool_columns"] = json.dumps([c for c in runs.columns if runs[c].dtype == bool])
    ds.attrs["column_order"] = json.dumps([str(c) for c in runs.columns])
    return ds


def _dataset_to_runs(ds: xr.Dataset, attrs: dict[Any, Any]) -> pd.DataFrame:
    order = json.loads(ds.attrs.get("column_order", "[]")) or list(ds.data_vars)
    bools = set(json.loads(ds.attrs.get("bool_columns", "[]")))
    frame = pd.DataFrame({c: ds[c].values for c in order})
    for c in order:
        if c in bools:
            frame[c] = frame[c].astype(bool)
        elif frame[c].dtype == object:
            frame[c] = frame[c].astype(str).astype(object)
    frame.attrs = attrs
    return frame


def _observed(model: Any) -> xr.Dataset:
    """Observed values of every observed variable of a PyMC model, with their dims."""
    data = {}
    coords: dict[str, Any] = {}
    for rv in model.observed_RVs:
        value = model.rvs_to_values[rv]
        arr = value.get_value() if hasattr(value, "get_value") else value.data
        dims = model.named_vars_to_dims.get(rv.name) or tuple(
            f"{rv.name}_dim_{i}" for i in range(np.ndim(arr))
        )
        data[rv.name] = (dims, np.asarray(arr))
        for d in dims:
            if d in model.coords and model.coords[d] is not None:
                coords[d] = list(model.coords[d])
    return xr.Dataset(data, coords=coords)


def _family_initial_values(
    spec: ModelSpec, runs: pd.DataFrame, model: Any
) -> dict[str, np.ndarray] | None:
    """Data-based starting values from the law's model family, when it offers them."""
    hook = family_module(get_law(spec.law).family).initial_values
    if hook is None:
        return None
    values: dict[str, np.ndarray] = hook(spec, runs)
    names = {v.name for v in model.free_RVs}
    return {k: v for k, v in values.items() if k in names}


class Fit:
    """A fitted scaling-law model.

    Attributes
    ----------
    spec : ModelSpec
        The spec the model was built from.
    runs : pandas.DataFrame
        The run table that was fitted (outliers excluded).
    info : ModelInfo
        Reference scales and grouping decided by the model builder.
    tree : xarray.DataTree
        The results: ``posterior``, ``sample_stats``, ``log_likelihood``, ``observed_data``
        and ``fit_data`` groups.
    """

    def __init__(
        self,
        tree: xr.DataTree,
        spec: ModelSpec,
        runs: pd.DataFrame,
        info: ModelInfo,
    ) -> None:
        self.tree = tree
        self.spec = spec
        self.runs = runs
        self.info = info

    # ----------------------------------------------------------------- construction
    @classmethod
    def sample(
        cls,
        spec: ModelSpec,
        runs: pd.DataFrame,
        *,
        random_seed: int | None = None,
        progressbar: bool = False,
        cores: int | None = None,
        progress_every: float | None = None,
        log_likelihood: bool | None = None,
    ) -> Fit:
        """Build the model of ``spec`` on validated ``runs``, sample it and wrap the result.

        ``progress_every`` (seconds) prints a plain progress line that often on stderr (for
        logs, where a progress bar does not work); None prints none. ``log_likelihood``
        keeps (True) or leaves out (False) the pointwise log-likelihood group; None keeps it
        up to :data:`LOG_LIKELIHOOD_MAX_VALUES` values.
        """
        import pymc as pm

        from bayescale.modeling.build import build_model
        from bayescale.modeling.sampling import resolve_sampler, run_nuts

        model, info = build_model(spec, runs)
        initvals = _family_initial_values(spec, runs, model)
        sampler = resolve_sampler(str(spec.sampler["sampler"]))
        progress = None
        if progress_every is not None:
            from bayescale._progress import Progress

            total = int(spec.sampler["chains"]) * (
                int(spec.sampler["draws"]) + int(spec.sampler["tune"])
            )
            progress = Progress("fit", total, unit="draws", every=progress_every)
        raw = run_nuts(
            model,
            cache_key=(spec.spec_id, info.groups, info.pooled),
            draws=int(spec.sampler["draws"]),
            tune=int(spec.sampler["tune"]),
            chains=int(spec.sampler["chains"]),
            target_accept=float(spec.sampler["target_accept"]),
            sampler=sampler,
            random_seed=random_seed,
            progressbar=progressbar,
            cores=cores or spec.sampler.get("cores"),
            adaptation=str(spec.sampler.get("adaptation", "auto")),
            initvals=initvals,
            progress=progress,
        )
        posterior = _container.get_group(raw, "posterior")
        stats = _container.get_group(raw, "sample_stats")
        tree = _container.make_tree({"posterior": posterior, "sample_stats": stats})
        observed = _observed(model)
        if log_likelihood is None:
            n_obs = sum(int(v.size) for v in observed.data_vars.values())
            n_samples = int(posterior.sizes["chain"]) * int(posterior.sizes["draw"])
            log_likelihood = n_obs * n_samples <= LOG_LIKELIHOOD_MAX_VALUES
        if log_likelihood and "log_likelihood" in _container.groups(raw):
            # the fast sampler's expand function computed it with the draws
            _container.add_group(
                tree, "log_likelihood", _container.get_group(raw, "log_likelihood")
            )
        elif log_likelihood:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                pm.compute_log_likelihood(tree, model=model, progressbar=False)
        _container.add_group(tree, "observed_data", observed)
        attrs = {
            "sampler": sampler,
            "random_seed": "" if random_seed is None else str(random_seed),
        }
        fit = cls(tree, spec, runs, info)
        fit._set_attrs(extra=attrs)
        fit.check_convergence()
        return fit

    def _set_attrs(self, extra: dict[str, str] | None = None) -> None:
        attrs = self.tree.attrs
        attrs.update(extra or {})
        attrs["file_format"] = _FILE_FORMAT
        attrs["bayescale_version"] = __version__
        attrs["spec"] = self.spec.to_json()
        attrs["spec_id"] = self.spec.spec_id
        attrs["law"] = self.spec.law
        attrs["info"] = json.dumps(asdict(self.info))
        attrs["dataset"] = str(self.runs.attrs.get("dataset", ""))
        attrs["dataset_sha256"] = str(self.runs.attrs.get("sha256", ""))
        attrs["source"] = str(self.runs.attrs.get("source", ""))
        attrs["params_kind"] = str(self.runs.attrs.get("params_kind", ""))
        attrs["loss_unit"] = str(self.runs.attrs.get("loss_unit", ""))
        attrs["outliers_excluded"] = int(self.runs.attrs.get("outliers_excluded", 0))
        attrs["runs_sha256"] = _runs_digest(self.runs)
        attrs.setdefault("created_utc", datetime.now(UTC).isoformat(timespec="seconds"))

    # ----------------------------------------------------------------- accessors
    @property
    def law(self) -> Law:
        """The fitted law."""
        return get_law(self.spec.law)

    @property
    def posterior(self) -> xr.Dataset:
        """Posterior draws as a Dataset with dims ``chain``, ``draw`` (and the group dim)."""
        return _container.get_group(self.tree, "posterior")

    @property
    def sample_stats(self) -> xr.Dataset:
        """Sampler statistics (``diverging``, ...)."""
        return _container.get_group(self.tree, "sample_stats")

    @property
    def group(self) -> str | None:
        """The pooling group column, if any."""
        return self.info.group

    def param_names(self) -> list[str]:
        """Variables reported by :meth:`summary`: the law's parameters, then the noise scale."""
        names = [*self.law.params, self.law.noise]
        for p in self.info.pooled:
            names += [f"{p}_pop", f"{p}_tau"]
        return [n for n in names if n and n in self.posterior]

    # ----------------------------------------------------------------- diagnostics
    def diagnostics(self) -> dict[str, float]:
        """Worst R-hat, smallest bulk and tail ESS, and the number of divergences."""
        table = self.summary()
        div = self.sample_stats.get("diverging")
        return {
            "r_hat_max": float(table["r_hat"].max()),
            "ess_bulk_min": float(table["ess_bulk"].min()),
            "ess_tail_min": float(table["ess_tail"].min()),
            "divergences": int(div.sum()) if div is not None else 0,
            "draws": int(self.posterior.sizes["draw"]),
            "chains": int(self.posterior.sizes["chain"]),
        }

    def check_convergence(self, *, warn: bool = True) -> list[str]:
        """Return (and by default warn about) every convergence problem found."""
        d = self.diagnostics()
        problems = []
        if d["chains"] < 2:
            problems.append("R-hat cannot be computed from one chain (run two or more)")
        elif not np.isfinite(d["r_hat_max"]):
            problems.append("R-hat could not be computed")
        if d["r_hat_max"] > RHAT_MAX:
            problems.append(f"R-hat up to {d['r_hat_max']:.3f} (> {RHAT_MAX})")
        if d["ess_bulk_min"] < ESS_MIN:
            problems.append(f"bulk ESS as low as {d['ess_bulk_min']:.0f} (< {ESS_MIN})")
        if d["ess_tail_min"] < ESS_MIN:
            problems.append(f"tail ESS as low as {d['ess_tail_min']:.0f} (< {ESS_MIN})")
        if d["divergences"]:
            problems.append(f"{d['divergences']} divergent transition(s)")
        if problems and warn:
            warnings.warn(
                "the posterior may not be trustworthy: "
                + "; ".join(problems)
                + ". "
                + CONVERGENCE_REMEDY,
                ConvergenceWarning,
                stacklevel=3,
            )
        return problems

    def summary(
        self, *, ci_prob: float | None = None, var_names: list[str] | None = None
    ) -> pd.DataFrame:
        """Tidy posterior summary: median, equal-tailed interval, mean, sd, R-hat, ESS.

        Group-level values are rows named ``name[group]``.

        Parameters
        ----------
        ci_prob : float, optional
            Mass of the equal-tailed interval (columns ``lower`` and ``upper``). Default
            :data:`~bayescale.constants.DEFAULT_CI_PROB`.
        var_names : list of str, optional
            Variables to include (default :meth:`param_names`).

        Returns
        -------
        pandas.DataFrame
            One row per scalar quantity.
        """
        ci_prob = check_ci(ci_prob)
        names = var_names or self.param_names()
        post = self.posterior[names]
        q = {name: eti_dims(post[name], ci_prob, skipna=True) for name in names}
        mean = post.mean(dim=list(SAMPLE_DIMS))
        sd = post.std(dim=list(SAMPLE_DIMS))
        rows = []
        for name in names:
            extra_dims = [d for d in post[name].dims if d not in SAMPLE_DIMS]
            labels: list[tuple[str, dict[Any, Any]]] = [(name, {})]
            if extra_dims:
                dim = extra_dims[0]
                labels = [(f"{name}[{v}]", {dim: v}) for v in post[name][dim].values]
            for label, sel in labels:

                def get(ds: xr.Dataset, _n: str = name, _s: dict[Any, Any] = sel) -> float:
                    return float(ds[_n].sel(_s).values)

                r_hat, e_bulk, e_tail = self._convergence(name, label, post[name].sel(sel))
                rows.append(
                    {
                        "param": label,
                        "median": get(q[name], "median"),
                        "lower": get(q[name], "lower"),
                        "upper": get(q[name], "upper"),
                        "mean": get(mean),
                        "sd": get(sd),
                        "r_hat": r_hat,
                        "ess_bulk": e_bulk,
                        "ess_tail": e_tail,
                    }
                )
        table = pd.DataFrame(rows).set_index("param")
        table.attrs["ci_prob"] = ci_prob
        return table

    def _convergence(self, name: str, label: str, draws: xr.DataArray) -> tuple[float, ...]:
        """R-hat, bulk ESS and tail ESS of one scalar quantity, computed once per posterior.

        numpy estimators of :mod:`bayescale.modeling.diagnostics` (arviz-stats' rank R-hat and
        bulk ESS exactly; tail ESS at the 5 % and 95 % quantiles).
        """
        from bayescale.modeling import diagnostics

        cache: dict[Any, tuple[float, ...]] = self.__dict__.setdefault("_convergence_cache", {})
        arr = np.ascontiguousarray(draws.transpose(*SAMPLE_DIMS).values, dtype="float64")
        key = (label, arr.shape, hashlib.sha256(arr.tobytes()).hexdigest())
        if key not in cache:
            cache[key] = (
                diagnostics.rhat(arr),
                diagnostics.ess_bulk(arr),
                diagnostics.ess_tail(arr),
            )
        return cache[key]

    def ensure_log_likelihood(self) -> xr.Dataset:
        """The pointwise log-likelihood group, computed from the posterior when not stored.

        Large fits leave it out of the file (see :data:`LOG_LIKELIHOOD_MAX_VALUES`); this
        rebuilds the model from the stored spec and run table and evaluates it at every draw.
        """
        if "log_likelihood" not in _container.groups(self.tree):
            import pymc as pm

            from bayescale.modeling.build import build_model

            model, _ = build_model(self.spec, self.runs)
            missing = [rv.name for rv in model.free_RVs if rv.name not in self.posterior]
            if missing:
                raise FitFileError(
                    "the fit stores no log_likelihood group, and it cannot be recomputed: the "
                    f"posterior lacks {', '.join(missing)}"
                )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                pm.compute_log_likelihood(self.tree, model=model, progressbar=False)
        return _container.get_group(self.tree, "log_likelihood")

    # ----------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Write the fit, with its spec, run table and provenance, to netCDF (atomically)."""
        tree = self.tree.copy()
        _container.add_group(tree, "fit_data", _runs_to_dataset(self.runs, self.info.run_ids))
        tree.attrs.pop(_CHECKSUMS, None)

        def seal(written: xr.DataTree) -> dict[str, str]:
            return {_CHECKSUMS: json.dumps(tree_checksums(written), sort_keys=True)}

        return _container.save_tree(tree, path, seal=seal)

    def __repr__(self) -> str:
        p = self.posterior
        return (
            f"Fit(law={self.spec.law!r}, runs={len(self.runs)}, chains={p.sizes['chain']}, "
            f"draws={p.sizes['draw']})"
        )


def load_fit(path: str | Path) -> Fit:
    """Load a saved fit, checking its format, version, spec id and run-table checksum.

    Raises
    ------
    FitFileError
        When the file is missing, unreadable, not a bayescale fit, from an incompatible
        version, or its contents do not match their recorded checksums.
    """
    path = Path(path)
    if not path.exists():
        raise FitFileError(f"{path}: no such fit file")
    try:
        tree = _container.open_tree(path)
    except Exception as exc:  # any reader failure means a corrupt or foreign file
        raise FitFileError(f"{path}: cannot be read as a fit file ({type(exc).__name__})") from None
    attrs = dict(tree.attrs)
    if attrs.get("file_format") != _FILE_FORMAT:
        raise FitFileError(f"{path}: not a bayescale fit file")
    major = str(attrs.get("bayescale_version", "")).split(".")[0]
    if major != __version__.split(".")[0]:
        raise FitFileError(
            f"{path}: written by bayescale {attrs.get('bayescale_version')}, "
            f"incompatible with {__version__}"
        )
    for group in ("posterior", "sample_stats", "fit_data"):
        if group not in _container.groups(tree):
            raise FitFileError(f"{path}: the {group!r} group is missing")
    try:
        spec = ModelSpec.from_dict(json.loads(attrs["spec"]))
    except Exception as exc:
        raise FitFileError(f"{path}: the stored spec is unreadable ({exc})") from None
    if spec.spec_id != attrs.get("spec_id"):
        raise FitFileError(f"{path}: the stored spec does not match its id {attrs.get('spec_id')}")
    verify_checksums(tree, path)
    info_raw = json.loads(attrs["info"])
    info = ModelInfo(
        law=info_raw["law"],
        scales={k: float(v) for k, v in info_raw["scales"].items()},
        group=info_raw["group"],
        groups=tuple(info_raw["groups"]),
        pooled=tuple(info_raw["pooled"]),
        run_ids=tuple(info_raw["run_ids"]),
    )
    run_attrs = {
        "params_kind": attrs.get("params_kind"),
        "loss_unit": attrs.get("loss_unit"),
        "source": attrs.get("source"),
        "dataset": attrs.get("dataset"),
        "sha256": attrs.get("dataset_sha256"),
        "outliers_excluded": int(attrs.get("outliers_excluded", 0)),
    }
    runs = _dataset_to_runs(_container.get_group(tree, "fit_data"), run_attrs)
    if _runs_digest(runs) != attrs.get("runs_sha256"):
        raise FitFileError(f"{path}: the stored run table does not match its checksum")
    del tree["fit_data"]
    tree.attrs.pop(_CHECKSUMS, None)
    return Fit(tree, spec, runs, info)
