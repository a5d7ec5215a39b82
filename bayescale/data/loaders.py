"""Transforms from upstream files to bayescale tables, one per registry ``loader`` name.

A loader takes the checksum-verified local paths of an entry's files (in registry order) and the
entry, and returns a DataFrame in the run-table schema (for ``kind = "runs"``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bayescale.constants import FLOPS_PER_PARAM_TOKEN
from bayescale.exceptions import DatasetError

if TYPE_CHECKING:  # the registry calls the loaders; they only read its entries
    from bayescale.data.registry import DatasetEntry

__all__ = ["LOADERS", "get_loader", "porian_config", "register_loader"]

Loader = Callable[[list[Path], "DatasetEntry"], pd.DataFrame]
LOADERS: dict[str, Loader] = {}


def register_loader(name: str) -> Callable[[Loader], Loader]:
    """Register a loader under ``name`` (used by the registry's ``loader`` field)."""

    def deco(fn: Loader) -> Loader:
        LOADERS[name] = fn
        return fn

    return deco


def get_loader(name: str) -> Loader:
    """Return the loader registered as ``name``."""
    try:
        return LOADERS[name]
    except KeyError:
        raise DatasetError(f"no loader named {name!r} (known: {', '.join(LOADERS)})") from None


def _read_csv(path: Path, **kwargs: object) -> pd.DataFrame:
    try:
        return pd.read_csv(path, **kwargs)  # type: ignore[call-overload]
    except (ValueError, OSError) as exc:
        raise DatasetError(f"{path}: cannot be read as CSV ({exc})") from None


@register_loader("epoch_chinchilla")
def _epoch_chinchilla(paths: list[Path], entry: DatasetEntry) -> pd.DataFrame:
    """Epoch AI's digitisation: D = C/(6N); Epoch's 5 excluded highest-loss points flagged."""
    raw = _read_csv(paths[0])
    params = raw["Model Size"].astype(float)
    flops = raw["Training FLOP"].astype(float)
    out = pd.DataFrame(
        {
            "run_id": [f"chinchilla-{i:03d}" for i in range(len(raw))],
            "params": params,
            "tokens": flops / (FLOPS_PER_PARAM_TOKEN * params),
            "flops": flops,
            "loss": raw["loss"].astype(float),
        }
    )
    worst = np.argsort(-out["loss"].to_numpy(), kind="stable")[:5]
    out["outlier"] = False
    out.loc[out.index[worst], "outlier"] = True
    out["outlier_reason"] = ""
    out.loc[out.index[worst], "outlier_reason"] = (
        "one of the 5 highest-loss points Epoch AI exclude (C ~ 1e19, D/N < 0.5)"
    )
    return out


# ---------------------------------------------------------------------------------------------
# Porian et al. 2024: four pandas pickles -> one tidy isoFLOP table


#: Set-up columns of a Porian configuration, in the order that forms its ``config`` name.
PORIAN_SETUP: tuple[str, ...] = (
    "dataset",
    "hparams",
    "warmup",
    "decay",
    "param_count",
    "loss_type",
)
#: Porian's ``param_count`` -> the run-table ``params_kind`` of those rows.
PORIAN_PARAMS_KIND: dict[str, str] = {
    "kaplan": "non_embedding",
    "standard": "total",
    "attention": "total",
}


def _porian_frames(path: Path, sha256: str) -> pd.DataFrame:
    from bayescale.data.pickle_safe import load_pickle

    obj = load_pickle(path, sha256=sha256)
    if not isinstance(obj, pd.DataFrame):
        raise DatasetError(f"{path}: expected a pickled DataFrame, got {type(obj).__name__}")
    needed = {"dataset", "hparams", "warmup", "decay", "param_count", "val", "data"}
    missing = needed - set(map(str, obj.columns))
    if missing:
        raise DatasetError(f"{path}: summary table lacks column(s) {sorted(missing)}")
    return obj


def _porian_rows(
    path: Path, summary: pd.DataFrame, labels: dict[str, str]
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    source = f"data/{path.name}"
    for i in range(len(summary)):
        cfg = summary.iloc[i]
        setup = {
            "dataset": str(cfg["dataset"]),
            "hparams": str(cfg["hparams"]),
            "warmup": str(cfg["warmup"]),
            "decay": str(cfg["decay"]),
            "param_count": str(cfg["param_count"]),
            "loss_type": str(cfg["val"]),
        }
        name = "-".join(setup[k] for k in PORIAN_SETUP)
        if name not in labels:
            raise DatasetError(
                f"{path}: configuration {name!r} is not listed in the registry entry's "
                "'configurations' (the upstream file changed?)"
            )
        if setup["param_count"] not in PORIAN_PARAMS_KIND:
            raise DatasetError(f"{path}: unknown param_count {setup['param_count']!r}")
        budgets = cfg["data"]
        if not isinstance(budgets, pd.DataFrame) or not {
            "flops",
            "orig_n",
            "orig_t",
            "orig_loss",
        } <= set(budgets.columns):
            raise DatasetError(f"{path}: configuration {name!r} has no per-budget data table")
        for j in range(len(budgets)):
            b = budgets.iloc[j]
            n, t, loss = b["orig_n"], b["orig_t"], b["orig_loss"]
            if not isinstance(n, pd.Series):
                # a budget without any run (stored as a NaN scalar upstream): nothing to explode
                if pd.isna(n) and pd.isna(t) and pd.isna(loss):
                    continue
                raise DatasetError(f"{path}: {name!r}, budget {j}: malformed orig_n {n!r}")
            n_arr = np.asarray(n, dtype=float)
            t_arr = np.asarray(t, dtype=float)
            l_arr = np.asarray(loss, dtype=float)
            if not (len(n_arr) == len(t_arr) == len(l_arr)):
                raise DatasetError(f"{path}: {name!r}, budget {j}: orig_n/orig_t/orig_loss differ")
            flops = float(b["flops"])
            for k in range(len(n_arr)):
                rows.append(
                    {
                        "run_id": f"{name}:C{flops:.4g}:N{n_arr[k]:.0f}",
                        "params": n_arr[k],
                        "tokens": t_arr[k],
                        "loss": l_arr[k],
                        "flops": flops,
                        "config": name,
                        **setup,
                        "experiment": labels[name],
                        "params_kind": PORIAN_PARAMS_KIND[setup["param_count"]],
                        "source_file": source,
                    }
                )
    return rows


@register_loader("porian2024")
def _porian2024(paths: list[Path], entry: DatasetEntry) -> pd.DataFrame:
    """Porian et al.'s summary pickles, checksum-verified and safely unpickled, made tidy."""
    configs = entry.extra.get("configurations", [])
    labels = {str(c["config"]): str(c["experiment"]) for c in configs}
    rows: list[dict[str, object]] = []
    for path, f in zip(paths, entry.files, strict=True):
        rows.extend(_porian_rows(path, _porian_frames(path, f.sha256), labels))
    out = pd.DataFrame(rows)
    seen = set(out["config"])
    absent = [c for c in labels if c not in seen]
    if absent:
        raise DatasetError(f"porian2024: configuration(s) {absent} not found in the pickles")
    return out


def porian_config(runs: pd.DataFrame, config: str) -> pd.DataFrame:
    """Select one Porian et al. configuration, with ``attrs['params_kind']`` set from its rows.

    The ``porian2024`` table mixes parameter-count conventions across configurations (its
    ``params_kind`` column says which per row); one configuration never mixes them.

    Parameters
    ----------
    runs : pandas.DataFrame
        The table returned by ``load_dataset("porian2024")``.
    config : str
        A value of its ``config`` column, e.g. ``"rw-base-long-kaplan-kaplan-train"``.

    Returns
    -------
    pandas.DataFrame
        The configuration's rows, validated, with matching conventions in ``attrs``.

    Examples
    --------
    >>> import bayescale as bs
    >>> runs = bs.load_dataset("porian2024")  # doctest: +SKIP
    >>> sub = porian_config(runs, "rw-base-long-kaplan-kaplan-train")  # doctest: +SKIP
    >>> len(sub), sub.attrs["params_kind"]  # doctest: +SKIP
    (107, 'non_embedding')
    """
    from bayescale.data.schema import validate_runs

    if "config" not in runs.columns or "params_kind" not in runs.columns:
        raise DatasetError("porian_config needs the porian2024 table (columns config, params_kind)")
    sub = runs.loc[runs["config"] == config]
    if sub.empty:
        known = ", ".join(sorted(set(runs["config"])))
        raise DatasetError(f"no porian2024 configuration {config!r} (known: {known})")
    kinds = set(sub["params_kind"])
    if len(kinds) != 1:  # pragma: no cover - guarded by the loader
        raise DatasetError(f"configuration {config!r} mixes params_kind {sorted(kinds)}")
    out = sub.reset_index(drop=True)
    out.attrs = {**runs.attrs, "source": f"{runs.attrs.get('source', 'porian2024')}[{config}]"}
    return validate_runs(out, params_kind=kinds.pop(), group="config")


# ---------------------------------------------------------------------------------------------
# (Mis)Fitting Scaling Laws (Li, Kudugunta & Zettlemoyer 2025)

_MISFITTING_COLUMNS = (
    "loss",
    "N",
    "N_no_emb",
    "D",
    "C",
    "model",
    "train_tokens",
    "total_steps",
    "current_steps",
    "peak_lr",
    "sweep",
)


def _require(raw: pd.DataFrame, path: Path, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in raw.columns]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {missing} (found: {list(raw.columns)})")


def _misfitting_common(raw: pd.DataFrame) -> pd.DataFrame:
    # batch = tokens seen / steps elapsed (1,048,576 for every row); a run's setting is its
    # model, scheduled tokens (total_steps x batch) and peak lr. In the all-checkpoints file
    # `train_tokens` is the checkpoint's D, not the scheduled total, so it is not used.
    batch = raw["D"].astype(float) / raw["current_steps"].astype(float)
    scheduled = raw["total_steps"].astype(float) * batch
    setting = (
        raw["model"].astype(str)
        + "-D"
        + scheduled.map(lambda v: f"{v:.0f}")
        + "-lr"
        + raw["peak_lr"].map(lambda v: f"{float(v):g}")
    )
    return pd.DataFrame(
        {
            "params": raw["N"].astype(float),
            "params_nonembedding": raw["N_no_emb"].astype(float),
            "tokens": raw["D"].astype(float),
            "loss": raw["loss"].astype(float),
            "flops": raw["C"].astype(float),
            "steps": raw["total_steps"].astype(float),
            "learning_rate": raw["peak_lr"].astype(float),
            "batch_size": batch,
            "model": raw["model"].astype(str),
            "peak_lr": raw["peak_lr"].astype(float),
            "sweep": raw["sweep"].astype(str),
            "run": setting,
        }
    )


@register_loader("misfitting2025")
def _misfitting2025(paths: list[Path], entry: DatasetEntry) -> pd.DataFrame:
    """Final checkpoints: one row per run; repeats of a setting numbered by ``repeat``."""
    raw = _read_csv(paths[0])
    _require(raw, paths[0], _MISFITTING_COLUMNS)
    out = _misfitting_common(raw)
    out["repeat"] = out.groupby("run", sort=False).cumcount()
    out.insert(0, "run_id", out["run"] + "-r" + out["repeat"].astype(str))
    return out


@register_loader("misfitting2025_curves")
def _misfitting2025_curves(paths: list[Path], entry: DatasetEntry) -> pd.DataFrame:
    """All checkpoints: one row per (run, checkpoint) with ``step`` = optimizer steps elapsed."""
    raw = _read_csv(paths[0])
    _require(raw, paths[0], _MISFITTING_COLUMNS)
    out = _misfitting_common(raw)
    out["step"] = raw["current_steps"].astype(float)
    out["portion_steps_elapsed"] = raw.get("portion_steps_elapsed", np.nan)
    out.insert(0, "run_id", [f"ckpt-{i:04d}" for i in range(len(out))])
    return out


# ---------------------------------------------------------------------------------------------
# Step Law (Li et al. 2025)

#: Tokens per sequence in the Step Law runs (their ``bs`` counts sequences).
STEPLAW_SEQ_LEN: int = 2048
#: Final training losses above this are diverged or far-too-high-lr runs (flagged, not dropped).
STEPLAW_DIVERGED_LOSS: float = 5.0


@register_loader("steplaw2025")
def _steplaw2025(paths: list[Path], entry: DatasetEntry) -> pd.DataFrame:
    """The dense lr x batch-size grid; batch size converted from sequences to tokens."""
    raw = _read_csv(paths[0])
    cols = ("h", "ffnh", "numh", "numl", "lr", "bs", "ti", "loss", "smooth loss", "exp_name", "D")
    _require(raw, paths[0], (*cols, "N"))
    params = raw["N"].astype(float)
    tokens = raw["D"].astype(float)
    out = pd.DataFrame(
        {
            "run_id": raw["exp_name"].astype(str),
            "params": params,
            "tokens": tokens,
            "loss": raw["loss"].astype(float),
            "smooth_loss": raw["smooth loss"].astype(float),
            "learning_rate": raw["lr"].astype(float),
            "batch_size": raw["bs"].astype(float) * STEPLAW_SEQ_LEN,
            "batch_sequences": raw["bs"].astype(float),
            "steps": raw["ti"].astype(float),
            "d_model": raw["h"].astype(float),
            "d_ff": raw["ffnh"].astype(float),
            "n_heads": raw["numh"].astype(float),
            "n_layers": raw["numl"].astype(float),
            "cell": [f"N{n:.3g}-D{d:.3g}" for n, d in zip(params, tokens, strict=True)],
        }
    )
    bad = out["loss"] > STEPLAW_DIVERGED_LOSS
    out["outlier"] = bad
    out["outlier_reason"] = ""
    out.loc[bad, "outlier_reason"] = (
        f"final loss > {STEPLAW_DIVERGED_LOSS:g} (diverged or lr far too high)"
    )
    return out


@register_loader("steplaw2025_bootstrap")
def _steplaw2025_bootstrap(paths: list[Path], entry: DatasetEntry) -> pd.DataFrame:
    """The authors' bootstrap fits of the optimal-lr and optimal-batch-size laws."""
    raw = _read_csv(paths[0])
    cols = ("lr_intercept", "lr_coefN", "lr_coefD", "bs_intercept", "bs_coefD")
    _require(raw, paths[0], cols)
    out = raw.loc[:, list(cols)].astype(float)
    out.insert(0, "bootstrap", np.arange(len(out)))
    return out


@register_loader("csv")
def _plain_csv(paths: list[Path], entry: DatasetEntry) -> pd.DataFrame:
    """A table stored in the run-table layout already (e.g. bayescale's own runner output)."""
    return _read_csv(paths[0], comment="#")
