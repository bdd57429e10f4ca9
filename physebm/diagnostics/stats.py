"""Convergence statistics of chains and importance weights.

Chain statistics delegate to ArviZ (``arviz_stats``): rank-normalised split R-hat and bulk/tail
ESS (Vehtari, Gelman, Simpson, Carpenter & Bürkner 2021), and the Monte Carlo standard error.
Arrays are ``(num_chains, num_draws, *event_shape)``; every statistic is returned per event site
with shape ``event_shape``. A site whose draws are all equal has an undefined R-hat/ESS: NaN.

The importance-weight statistics are those of `physebm.partition.weights.weight_statistics`
(the one implementation the estimators use), applied along an axis; they work in log space and
under ``jit``.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import arviz_stats
import jax
import jax.numpy as jnp
import numpy as np

from physebm.partition import weights
from physebm.validation import is_concrete

__all__ = [
    "AcceptanceSummary",
    "acceptance_summary",
    "ess",
    "log_mean_exp_stderr",
    "mcse",
    "rhat",
    "weight_ess",
]

TAIL_PROB = (0.05, 0.95)
MIN_DRAWS = 4


def _chains(x, name: str, chain_axis: int) -> np.ndarray:
    if isinstance(chain_axis, bool) or chain_axis not in (0, 1):
        raise ValueError(f"chain_axis must be 0 or 1, got {chain_axis!r}")
    a = np.asarray(x)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
        raise TypeError(f"{name} must be a numeric array, got dtype {a.dtype}")
    if a.ndim < 2:
        raise ValueError(f"{name} must have shape (num_chains, num_draws, ...), got {a.shape}")
    if chain_axis == 1:
        a = np.swapaxes(a, 0, 1)
    if a.size == 0:
        raise ValueError(f"{name} is empty (shape {a.shape}): no draws to diagnose")
    if a.shape[1] < MIN_DRAWS:
        raise ValueError(
            f"{name} needs at least {MIN_DRAWS} draws per chain for split-chain diagnostics, "
            f"got {a.shape[1]}"
        )
    if np.any(np.isnan(a.astype(float))):
        raise ValueError(f"{name} contains NaN; drop or repair the diverged draws first")
    return a.astype(float)


def _quiet(fn, *args, **kwargs) -> np.ndarray:
    # Constant sites give 0/0 inside ArviZ; the NaN result is the documented answer.
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(fn(*args, **kwargs), dtype=float)


def rhat(x, *, chain_axis: int = 0) -> np.ndarray:
    """Rank-normalised split R-hat per site (Vehtari et al. 2021).

    R̂ = max(R̂_bulk, R̂_folded), each ``sqrt(((n−1)/n · W + B/n) / W)`` on rank-normalised
    split chains, with W the mean within-chain and B/n the between-chain variance. R̂ ≈ 1 for
    chains that sample the same distribution; R̂ > 1.01 signals chains that have not mixed.

    Args:
        x: draws, ``(num_chains, num_draws, *event_shape)`` (``chain_axis=1``: draws first).
        chain_axis: 0 or 1, the axis indexing chains.

    Returns:
        Array of shape ``event_shape`` (NaN where a site never changes).

    Raises:
        ValueError: fewer than 2 chains (R-hat compares chains), fewer than 4 draws, an empty
            array, or NaN draws.
    """
    a = _chains(x, "x", chain_axis)
    if a.shape[0] < 2:
        raise ValueError(
            f"x must hold at least 2 chains for R-hat (it compares chains), got {a.shape[0]} "
            f"(shape {np.shape(x)}, chain_axis={chain_axis}); run more chains"
        )
    return _quiet(arviz_stats.rhat, a, method="rank", chain_axis=0, draw_axis=1)


def ess(x, *, method: str = "bulk", chain_axis: int = 0, prob=None) -> np.ndarray:
    """Effective sample size per site.

    ``ESS = M·N / τ`` with τ = 1 + 2 Σ_t ρ_t the integrated autocorrelation time estimated with
    Geyer's initial monotone sequence over all M chains of N draws. ``"bulk"`` applies it to
    rank-normalised split chains (ESS of the centre of the distribution); ``"tail"`` is the
    minimum ESS of the 5% and 95% quantile indicators; ``"mean"`` the classic ESS of the mean.
    For an AR(1) chain with coefficient ρ the ESS of the mean is ``M·N·(1−ρ)/(1+ρ)``.

    Args:
        x: draws, ``(num_chains, num_draws, *event_shape)``.
        method: any ArviZ ESS method (``"bulk"``, ``"tail"``, ``"mean"``, ``"sd"``, ...).
        chain_axis: 0 or 1, the axis indexing chains.
        prob: quantiles for ``"tail"``/``"quantile"``; default (0.05, 0.95) for ``"tail"``.

    Returns:
        Array of shape ``event_shape``.
    """
    if not isinstance(method, str):
        raise TypeError(f"method must be a string such as 'bulk' or 'tail', got {method!r}")
    a = _chains(x, "x", chain_axis)
    if method == "tail" and prob is None:
        prob = TAIL_PROB
    try:
        return _quiet(arviz_stats.ess, a, method=method, prob=prob, chain_axis=0, draw_axis=1)
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise ValueError(f"method={method!r} is not an ArviZ ESS method ({err})") from err


def mcse(x, *, method: str = "mean", chain_axis: int = 0) -> np.ndarray:
    """Monte Carlo standard error of the chain average per site: ``sd / sqrt(ESS_mean)``.

    Args:
        x: draws, ``(num_chains, num_draws, *event_shape)``.
        method: ``"mean"``, ``"sd"``, ``"median"`` (ArviZ methods).
        chain_axis: 0 or 1, the axis indexing chains.

    Returns:
        Array of shape ``event_shape``.
    """
    a = _chains(x, "x", chain_axis)
    return _quiet(arviz_stats.mcse, a, method=method, chain_axis=0, draw_axis=1)


def _check_log_weights(log_weights):
    lw = jnp.asarray(log_weights)
    if is_concrete(lw):
        a = np.asarray(lw)
        if a.size == 0:
            raise ValueError("log_weights must not be empty")
        if np.any(np.isnan(a)):
            raise ValueError(f"log_weights contains {int(np.isnan(a).sum())} NaN value(s)")
        if np.any(np.isposinf(a)):
            raise ValueError("log_weights contains +inf; a weight must be finite")
    return lw


def _weight_statistics_along(log_weights, axis: int) -> dict:
    """`physebm.partition.weights.weight_statistics` of every slice along ``axis``."""
    lw = jnp.moveaxis(_check_log_weights(log_weights), axis, -1)
    batch = lw.shape[:-1]
    stats = jax.vmap(weights.weight_statistics)(lw.reshape((-1, lw.shape[-1])))
    return {k: v.reshape(batch) for k, v in stats.items()}


def weight_ess(log_weights, axis: int = -1):
    """Importance-sampling effective sample size from log-weights.

    ``ESS = (Σ w)² / Σ w² = exp(2·logsumexp(log w) − logsumexp(2·log w))``, computed in log
    space (any common offset of the log-weights cancels) by
    `physebm.partition.weights.weight_statistics`. It lies in [1, n]: n for equal
    weights, 1 when one weight dominates. ``-inf`` log-weights (zero weights) are allowed.

    Args:
        log_weights: array of log importance weights; ``axis`` indexes the samples.
        axis: axis to reduce.

    Returns:
        ESS with ``axis`` removed (0 where all weights are zero).

    Raises:
        ValueError: on NaN or +inf log-weights (checked when the input is concrete).
    """
    ess = _weight_statistics_along(log_weights, axis)["ess"]
    return jnp.where(jnp.isfinite(ess), ess, 0.0)


def log_mean_exp_stderr(log_weights, axis: int = -1):
    """Delta-method standard error of ``log Ẑ = log((1/n) Σ w_i)``.

    ``se(log Ẑ) = sd(w) / (sqrt(n)·mean(w)) = sqrt((n/ESS − 1) / (n − 1))`` with the sample
    standard deviation (divisor n−1), from `physebm.partition.weights.weight_statistics`.
    Only as reliable as the ESS is large: with heavy-tailed weights it underestimates the
    error (the AIS estimator floors it; its ``LogZ.stderr`` is the number to report).

    Args:
        log_weights: array of log importance weights (n ≥ 2 along ``axis``).
        axis: axis to reduce.

    Returns:
        The stderr with ``axis`` removed (+inf where all weights are zero).
    """
    n = jnp.shape(log_weights)[axis]
    if n < 2:
        raise ValueError(f"log_weights needs at least 2 samples along axis {axis}, got {n}")
    stats = _weight_statistics_along(log_weights, axis)
    return jnp.where(stats["ess"] > 0, stats["stderr"], jnp.inf)


class AcceptanceSummary(NamedTuple):
    """Acceptance and divergence statistics of a multi-chain run.

    Attributes:
        mean: acceptance rate averaged over chains and draws (NaN if not recorded).
        per_chain: mean acceptance rate of each chain, shape ``(num_chains,)``.
        min_chain: the lowest per-chain mean (a chain stuck at 0 shows here).
        num_divergent: total divergent transitions.
        divergence_rate: ``num_divergent / (num_chains · num_draws)``.
    """

    mean: float
    per_chain: np.ndarray
    min_chain: float
    num_divergent: int
    divergence_rate: float


def acceptance_summary(acceptance_rate=None, diverging=None, *, chain_axis: int = 0):
    """Summarise per-step acceptance probabilities and divergence flags.

    Args:
        acceptance_rate: ``(num_chains, num_draws)`` acceptance probabilities in [0, 1], or None.
        diverging: ``(num_chains, num_draws)`` booleans, or None.
        chain_axis: 0 or 1, the axis indexing chains.

    Returns:
        [`AcceptanceSummary`][].
    """
    if acceptance_rate is None and diverging is None:
        raise ValueError("give acceptance_rate, diverging, or both")
    if acceptance_rate is not None:
        acc = _chains(acceptance_rate, "acceptance_rate", chain_axis)
        if acc.ndim != 2:
            raise ValueError(f"acceptance_rate must be (num_chains, num_draws), got {acc.shape}")
        if np.any((acc < 0) | (acc > 1)):
            raise ValueError("acceptance_rate must lie in [0, 1]")
        per_chain = acc.mean(axis=1)
        mean, min_chain = float(acc.mean()), float(per_chain.min())
    else:
        per_chain, mean, min_chain = np.array([]), float("nan"), float("nan")
    num_div, rate = 0, 0.0
    if diverging is not None:
        div = _chains(diverging, "diverging", chain_axis)
        num_div, rate = int(div.astype(bool).sum()), float(div.astype(bool).mean())
    return AcceptanceSummary(mean, per_chain, min_chain, num_div, rate)
