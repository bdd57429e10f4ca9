"""Simple importance sampling of log Z from a normalised base.

    Z(β) = E_{x~q}[exp(−β E(x)) / q(x)],   log Ẑ = log (1/N) Σ_i exp(−β E(x_i) − log q(x_i))

log Ẑ is a stochastic lower bound (E[log Ẑ] ≤ log Z by Jensen); its delta-method standard
error is sd(w)/(√N mean(w)) and the effective sample size ESS = (Σw)²/Σw² is reported. Only
useful when q is close to p_β (e.g. a Laplace/Gaussian base for a near-Gaussian energy);
otherwise the ESS collapses, which the diagnostics say.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from physebm.partition import weights as _stats
from physebm.partition._target import check_base, default_base, resolve
from physebm.partition.result import LogZ
from samplers.base import check_count

__all__ = ["importance", "log_z_from_log_weights"]


def log_z_from_log_weights(
    log_w, method: str = "importance", *, lognormal_floor: bool = False, **extra
) -> LogZ:
    """A :class:`LogZ` from i.i.d. unbiased log-weights (E[w] = Z), with ESS and warnings.

    ``lower`` is log Ẑ itself: E[log Ẑ] ≤ log Z (Jensen), a stochastic lower bound.
    NaN/+∞ log-weights are dropped and counted (and a warning is raised). The Pareto k̂ of the
    weights' tail (``pareto_k``) and the ESS flag estimates whose stderr cannot be trusted.

    With ``lognormal_floor`` (AIS, whose log-weight is a sum of many small increments and so
    nearly Gaussian) the stderr is max(delta method, √((e^{σ²} − 1)/N)): the second is the
    delta-method stderr of exactly log-normal weights, which the sample estimate understates when
    σ² ≳ 1 (the largest weights are rarely seen). σ is measured on the upper tail only
    (97.72th − 84.13th percentile of the log-weights, = sd for a Gaussian), so that a long
    left tail or a mode of negligible weights does not inflate it. Both are in the diagnostics
    (``stderr_delta``, ``stderr_lognormal``).
    """
    stats = dict(_stats.weight_statistics(log_w))
    stats["pareto_k"] = _stats.pareto_k(log_w)
    stats["stderr_delta"] = stats["stderr"]
    n_valid = max(int(stats["num_valid"]), 1)
    stats["stderr_lognormal"] = jnp.sqrt(jnp.expm1(_upper_sigma(log_w) ** 2) / n_valid)
    if lognormal_floor:
        stats["stderr"] = jnp.maximum(stats["stderr"], stats["stderr_lognormal"])
    n = int(log_w.shape[0])
    warns = _stats.reliability_warnings(stats, n)
    _stats.emit(warns, stats)
    diagnostics = _stats.to_float_dict(
        {k: v for k, v in stats.items() if k not in ("log_z", "stderr")}
    )
    diagnostics.update(extra)
    diagnostics["num_samples"] = n
    diagnostics["warnings"] = tuple(warns) + tuple(extra.get("warnings", ()))
    diagnostics["reliable"] = not diagnostics["warnings"]
    diagnostics["log_weights"] = log_w
    return LogZ(
        log_z=stats["log_z"],
        stderr=stats["stderr"],
        lower=stats["log_z"],
        method=method,
        diagnostics=diagnostics,
    )


def _upper_sigma(log_w) -> jax.Array:
    """q_{0.9772} − q_{0.8413} of the valid log-weights (the sd for Gaussian log-weights),
    measured on the upper tail only: the large weights that dominate the estimate."""
    lw = jnp.asarray(log_w)
    lw = jnp.where(jnp.isfinite(lw), lw, jnp.nan)
    q = jnp.nanquantile(lw, jnp.array([0.841344746, 0.977249868]))
    return jnp.maximum(q[1] - q[0], 0.0)


@eqx.filter_jit
def _importance_log_weights(energy, beta, base, key, num_samples: int):
    x = base.sample(key, num_samples)
    return jax.vmap(lambda xi: -beta * energy(xi) - base.log_prob(xi))(x)


def importance(model_or_gibbs, beta=None, *, key, num_samples: int = 10_000, base=None) -> LogZ:
    """log Z(β) by simple importance sampling from ``base``.

    Args:
        model_or_gibbs: a physebm model, a :class:`~physebm.Gibbs`, or an energy callable.
        beta: inverse temperature (defaults to the Gibbs' β).
        key: PRNG key.
        num_samples: number of base samples N.
        base: a normalised :mod:`~physebm.partition.bases` distribution (default: uniform
            spins/bits for discrete models, N(0, I) for a Gaussian model).

    Returns:
        :class:`LogZ` (method ``"importance"``) with ``lower`` = log Ẑ (stochastic lower bound)
        and diagnostics ``ess``, ``pareto_k``, ``log_weight_variance``, ``num_dropped``,
        ``warnings``.
    """
    target = resolve(model_or_gibbs, beta)
    base = default_base(target.energy) if base is None else check_base(base)
    num_samples = _check_count(num_samples, "num_samples", 2)
    log_w = _importance_log_weights(target.energy, target.beta, base, key, num_samples)
    return log_z_from_log_weights(log_w, "importance", num_energy_evaluations=num_samples)


_check_count = check_count  # one count check for the whole library (samplers.base)
