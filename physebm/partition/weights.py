"""Weight statistics shared by the estimators: log-mean-exp with its delta-method error, ESS.

For N i.i.d. importance (or AIS) log-weights ``log_w`` with E[w] = Z,

    log Ẑ = log((1/N) Σ_i w_i),
    stderr(log Ẑ) ≈ sd(w) / (√N · mean(w))        (delta method),
    ESS = (Σ w)² / Σ w².

NaN and +∞ log-weights are invalid: they are dropped and counted (``num_dropped``), never
averaged. A log-weight of −∞ is a valid zero weight.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

MIN_RELIABLE_ESS = 10.0
"""Below this effective sample size the delta-method stderr is not trusted (flagged)."""
MAX_RELIABLE_PARETO_K = 0.7
"""Above this Pareto k̂ of the weights' tail the variance is (nearly) infinite: flagged."""


class EstimatorWarning(UserWarning):
    """An estimate is returned but should not be trusted as is (dropped weights, ...)."""


def weight_statistics(log_w) -> dict:
    """Log-mean-exp estimate of log E[w] with its standard error, from log-weights.

    Args:
        log_w: log-weights, shape (N,) (any float dtype; NaN/+∞ entries are dropped).

    Returns:
        A dict of arrays: ``log_z`` (log-mean-exp of the valid weights), ``stderr`` (delta
        method, with the N − 1 sample variance), ``ess``, ``num_valid``, ``num_dropped``,
        ``mean_log_weight`` (E[log w] ≤ log Z by Jensen), ``log_weight_variance`` (over the
        finite weights) and ``max_normalized_weight``.
    """
    log_w = jnp.asarray(log_w)
    if log_w.ndim != 1:
        raise ValueError(f"log_w must be a 1-D array of log-weights, got shape {log_w.shape}")
    return _weight_statistics(log_w)


@jax.jit
def _weight_statistics(log_w) -> dict:
    valid = ~(jnp.isnan(log_w) | (log_w == jnp.inf))
    finite = jnp.isfinite(log_w)
    n = jnp.sum(valid)
    lw = jnp.where(valid, log_w, -jnp.inf)
    lse = logsumexp(lw)
    log_z = lse - jnp.log(n)
    r = jnp.where(valid, jnp.exp(lw - log_z), 0.0)  # w_i / mean(w), mean(r) = 1
    var_r = jnp.sum(jnp.where(valid, (r - 1.0) ** 2, 0.0)) / jnp.maximum(n - 1, 1)
    stderr = jnp.sqrt(var_r / n)
    ess = jnp.exp(2 * lse - logsumexp(2 * lw))
    nf = jnp.maximum(jnp.sum(finite), 1)
    mean_lw = jnp.sum(jnp.where(finite, log_w, 0.0)) / nf
    var_lw = jnp.sum(jnp.where(finite, (log_w - mean_lw) ** 2, 0.0)) / jnp.maximum(nf - 1, 1)
    return {
        "log_z": log_z,
        "stderr": stderr,
        "ess": ess,
        "num_valid": n,
        "num_dropped": log_w.shape[0] - n,
        "mean_log_weight": mean_lw,
        "log_weight_variance": var_lw,
        "max_normalized_weight": jnp.exp(jnp.max(lw) - lse),
    }


def pareto_k(log_w):
    """Pareto k̂ of the upper tail of the weights (PSIS; Vehtari et al. 2024), via arviz.

    k̂ < 0.5: finite variance, the CLT stderr is fine; 0.5–0.7: slow convergence; > 0.7: the
    weights are so heavy-tailed that log Ẑ and its stderr are unreliable however large the ESS
    looks. NaN when there are too few (< 20) valid weights.

    Returns a Python float; under ``jit``/``vmap`` a scalar array computed on the host by
    ``jax.pure_callback`` (the same numbers).
    """
    if isinstance(log_w, jax.core.Tracer):
        dtype = jnp.result_type(float)
        return jax.pure_callback(
            lambda lw: np.asarray(_pareto_k(lw), dtype=dtype),
            jax.ShapeDtypeStruct((), dtype),
            log_w,
            vmap_method="sequential",
        )
    return _pareto_k(log_w)


def _pareto_k(log_w) -> float:
    lw = np.asarray(log_w, dtype=float)
    lw = lw[np.isfinite(lw)]
    if lw.size < 20 or np.ptp(lw) == 0:
        return float("nan") if lw.size < 20 else 0.0
    from arviz_stats.base.array import array_stats

    levels, inverse = np.unique(lw, return_inverse=True)
    if levels.size < lw.size and levels.size > 1:
        # discrete models give tied weights, on which the generalised-Pareto fit fails:
        # dequantise, spreading each level uniformly over half the gaps to its neighbours
        # (fixed seed: the diagnostic is deterministic)
        gaps = np.diff(levels)
        below, above = np.r_[gaps[:1], gaps] / 2, np.r_[gaps, gaps[-1:]] / 2
        r = np.random.default_rng(0).uniform(-1.0, 1.0, lw.size)
        lw = lw + np.where(r < 0, r * below[inverse], r * above[inverse])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            _, k = array_stats.psislw(-(lw - lw.max()))  # arviz takes minus the log-weights
        except (ValueError, FloatingPointError, np.linalg.LinAlgError):
            return float("nan")  # e.g. a flat tail: no tail shape to estimate
    return float(k)


def to_float_dict(d: dict) -> dict:
    """Concrete scalars as Python floats/ints where possible (readable diagnostics)."""
    out = {}
    for k, v in d.items():
        if hasattr(v, "shape") and np.shape(v) == ():
            a = np.asarray(v)
            out[k] = int(a) if np.issubdtype(a.dtype, np.integer) else float(a)
        else:
            out[k] = v
    return out
