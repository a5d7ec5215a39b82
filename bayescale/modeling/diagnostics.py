"""Rank-normalised split R-hat and bulk/tail ESS in numpy (Vehtari et al. 2021).

The same estimators as arviz-stats (``rhat(method="rank")``, ``ess(method="bulk")`` and
``ess(method="tail")`` with probabilities 0.05 and 0.95), written so that a fit's summary does
not import arviz-stats and, through it, scipy.stats (about a second of every command-line
fit). ``tests/modeling/test_diagnostics.py`` checks them against arviz-stats on random and
degenerate chains.

Examples
--------
>>> import numpy as np
>>> x = np.random.default_rng(0).normal(size=(4, 500))
>>> bool(abs(rhat(x) - 1) < 0.01), bool(ess_bulk(x) > 1500)
(True, True)
"""

from __future__ import annotations

import numpy as np

__all__ = ["ess_bulk", "ess_tail", "rhat"]

#: Blom's offset for the back-transformation of ranks to normal scores.
_BLOM = 3 / 8


def _invalid(ary: np.ndarray, min_chains: int) -> bool:
    """Too few chains or draws, or NaN values: the estimators answer NaN (as arviz-stats)."""
    return bool(
        np.isnan(ary).any() or ary.ndim != 2 or ary.shape[0] < min_chains or ary.shape[1] < 4
    )


def _rank_average(flat: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties given their average rank (scipy's ``rankdata(method="average")``)."""
    order = np.argsort(flat, kind="mergesort")
    ranks = np.empty(flat.size, dtype="float64")
    ranks[order] = np.arange(1, flat.size + 1, dtype="float64")
    sorted_vals = flat[order]
    if flat.size > 1 and np.any(sorted_vals[1:] == sorted_vals[:-1]):
        starts = np.flatnonzero(np.r_[True, sorted_vals[1:] != sorted_vals[:-1]])
        ends = np.r_[starts[1:], flat.size]
        mean_rank = (starts + ends + 1) / 2.0  # average of ranks starts+1 .. ends
        ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def _z_scale(ary: np.ndarray) -> np.ndarray:
    from scipy.special import ndtri

    rank = _rank_average(ary.ravel())
    return np.asarray(ndtri((rank - _BLOM) / (rank.size - 2 * _BLOM + 1))).reshape(ary.shape)


def _split_chains(ary: np.ndarray) -> np.ndarray:
    half = ary.shape[1] // 2
    return np.vstack((ary[:, :half], ary[:, -half:]))


def _rhat_plain(ary: np.ndarray) -> float:
    n = ary.shape[1]
    between = n * np.var(ary.mean(axis=1), ddof=1)
    within = np.mean(np.var(ary, axis=1, ddof=1))
    return float(np.sqrt((between / within + n - 1) / n))


def _autocov(ary: np.ndarray) -> np.ndarray:
    from scipy.fft import next_fast_len

    n = ary.shape[1]
    m = next_fast_len(2 * n)
    centred = ary - ary.mean(axis=1, keepdims=True)
    f = np.fft.rfft(centred, n=m, axis=1)
    f *= np.conjugate(f)
    return np.fft.irfft(f, n=m, axis=1)[:, :n] / n


def _ess(ary: np.ndarray) -> float:
    """ESS of (chain, draw) values with Geyer's initial monotone sequence."""
    ary = np.asarray(ary, dtype="float64")
    if (np.max(ary) - np.min(ary)) < np.finfo(float).resolution:
        return float(ary.size)
    n_chain, n_draw = ary.shape
    acov = _autocov(ary)
    mean_var = np.mean(acov[:, 0]) * n_draw / (n_draw - 1.0)
    var_plus = mean_var * (n_draw - 1.0) / n_draw
    if n_chain > 1:
        var_plus += np.var(ary.mean(axis=1), ddof=1)
    acov_mean = acov.mean(axis=0)
    rho = np.zeros(n_draw)
    rho_even = 1.0
    rho[0] = rho_even
    rho_odd = 1.0 - (mean_var - acov_mean[1]) / var_plus
    rho[1] = rho_odd
    t = 1
    while t < n_draw - 3 and rho_even + rho_odd > 0.0:
        rho_even = 1.0 - (mean_var - acov_mean[t + 1]) / var_plus
        rho_odd = 1.0 - (mean_var - acov_mean[t + 2]) / var_plus
        if rho_even + rho_odd >= 0:
            rho[t + 1] = rho_even
            rho[t + 2] = rho_odd
        t += 2
    max_t = t - 2
    if rho_even > 0:
        rho[max_t + 1] = rho_even
    t = 1
    while t <= max_t - 2:
        if rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t]:
            rho[t + 1] = (rho[t - 1] + rho[t]) / 2.0
            rho[t + 2] = rho[t + 1]
        t += 2
    total = n_chain * n_draw
    tau = -1.0 + 2.0 * np.sum(rho[: max_t + 1]) + np.sum(rho[max_t + 1 : max_t + 2])
    tau = max(tau, 1 / np.log10(total))
    if np.isnan(rho).any():
        return float("nan")
    return float(total / tau)


def rhat(ary: np.ndarray) -> float:
    """Rank-normalised split R-hat of (chain, draw) draws: the larger of bulk and folded.

    NaN with fewer than 2 chains or 4 draws, or with NaN draws.
    """
    ary = np.asarray(ary, dtype="float64")
    if _invalid(ary, min_chains=2):
        return float("nan")
    split = _split_chains(ary)
    bulk = _rhat_plain(_z_scale(split))
    tail = _rhat_plain(_z_scale(np.abs(split - np.median(split))))
    return max(bulk, tail)


def ess_bulk(ary: np.ndarray) -> float:
    """Bulk ESS of (chain, draw) draws (rank-normalised split chains)."""
    ary = np.asarray(ary, dtype="float64")
    if _invalid(ary, min_chains=1):
        return float("nan")
    return _ess(_z_scale(_split_chains(ary)))


def ess_tail(ary: np.ndarray, prob: float = 0.05) -> float:
    """Tail ESS: the smaller ESS of the indicators of the ``prob`` and ``1 - prob`` quantiles."""
    ary = np.asarray(ary, dtype="float64")
    if _invalid(ary, min_chains=1):
        return float("nan")
    low, high = sorted((prob, 1 - prob))
    out = []
    for p in (low, high):
        q = np.quantile(ary, p)
        out.append(_ess(_split_chains((ary <= q).astype("float64"))))
    return min(out)
