"""Simple importance sampling of log Z from a normalised base.

    Z(β) = E_{x~q}[exp(−β E(x)) / q(x)],   log Ẑ = log (1/N) Σ_i exp(−β E(x_i) − log q(x_i))

log Ẑ is a stochastic lower bound (E[log Ẑ] ≤ log Z by Jensen); its delta-method standard
error is sd(w)/(√N mean(w)) and the effective sample size ESS = (Σw)²/Σw² is reported. Only
useful when q is close to p_β (e.g. a Laplace/Gaussian base for a near-Gaussian energy);
otherwise the ESS collapses, which the diagnostics say.

The delta-method stderr rests on the central limit theorem, i.e. on weights of finite
variance, which is a Pareto tail index k < 1/2 (Vehtari et al. 2024, §3). Simple importance
sampling is therefore flagged unreliable from k̂ > `MAX_PARETO_K` = 0.5 (AIS, which has
tens of chains where k̂ cannot resolve 0.5 from 0.7 and has its own schedule and BDMC checks,
keeps 0.7). Measured on the calibration problems (``benchmarks/bench_calibration.py``): runs
with k̂ in (0.5, 0.7] came back 1–2 stderrs low on average on the 10-D Gaussian (whose weights
have k = 1/2 exactly: the target is wider than N(0, I) along its softest direction) and on the
RBM, while on the double well (k̂ < 0.3) no run is affected. And because k̂ is itself noisy
(its sd is about (1 + k)/√M over the M largest weights), a threshold on k̂ passes, among runs
whose true k is above ½, those whose sample tail looks light, which are low (RBM, 1000
samples: 54 of 500 runs passed, mean z −3.0). The check therefore asks for evidence: the
one-sided upper confidence bound k̂ + 3.09 (1 + k̂)/√M must be ≤ ½ (see
[`assemble.weight_checks`][physebm.partition.assemble.weight_checks]).
"""

from __future__ import annotations

import equinox as eqx
import jax

from physebm.partition import assemble
from physebm.partition._target import check_base, check_energy_output, default_base, resolve
from physebm.partition.result import LogZ
from physebm.validation import check_key
from samplers.base import check_count

__all__ = ["MAX_PARETO_K", "importance", "importance_core", "log_z_from_log_weights"]

MAX_PARETO_K = 0.5
"""Pareto k̂ above which simple importance sampling is flagged: the weights' variance is then
estimated infinite, and the delta-method stderr has no basis."""


def log_z_from_log_weights(log_w, method: str = "importance", **extra) -> LogZ:
    """A [`LogZ`][] from i.i.d. unbiased log-weights (E[w] = Z): log-mean-exp, delta-method
    stderr, ESS, Pareto k̂ and batch-agreement checks (see
    [`physebm.partition.assemble.from_log_weights`][]; ``extra`` goes to ``info``, an
    ``extra["warnings"]`` tuple to the result's notes, ``extra["checks"]`` to its checks;
    ``extra["annealed"]`` selects the AIS stderr, ``extra["predicted_variance"]`` the ESS
    check of an independent run)."""
    notes = tuple(extra.pop("warnings", ()))
    checks = list(extra.pop("checks", ()))
    annealed = bool(extra.pop("annealed", False))
    predicted = extra.pop("predicted_variance", None)
    return assemble.from_log_weights(
        log_w,
        method,
        notes=notes,
        checks=checks,
        info=extra,
        annealed=annealed,
        predicted_variance=predicted,
    )


@eqx.filter_jit
def importance_core(key, beta, energy, base, num_samples: int) -> jax.Array:
    """The pure core: N log-weights log w_i = −βE(x_i) − log q(x_i), x_i ~ q (jit/vmap-able)."""
    x = base.sample(key, num_samples)
    return jax.vmap(lambda xi: -beta * energy(xi) - base.log_prob(xi))(x)


def importance(model_or_gibbs, beta=None, *, key, num_samples: int = 10_000, base=None) -> LogZ:
    """log Z(β) by simple importance sampling from ``base``.

    Args:
        model_or_gibbs: a physebm model, a [`Gibbs`][], or an energy callable.
        beta: inverse temperature (defaults to the Gibbs' β).
        key: PRNG key.
        num_samples: number of base samples N.
        base: a normalised [`bases`][] distribution (default: uniform
            spins/bits for discrete models, N(0, I) for a Gaussian model).

    Returns:
        [`LogZ`][] (method ``"importance"``) with ``lower`` = log Ẑ (stochastic lower bound)
        and diagnostics ``ess``, ``pareto_k``, ``log_weight_variance``, ``num_dropped``,
        ``warnings``; ``reliable`` is False when a weight was dropped, ESS < 10, the upper
        confidence bound k̂ + 3.09 (1 + k̂)/√M exceeds `MAX_PARETO_K` (M the PSIS tail
        length ⌈min(N/5, 3√N)⌉) or the 4 batches of weights disagree.
    """
    key = check_key(key)
    target = resolve(model_or_gibbs, beta)
    base = default_base(target.energy) if base is None else check_base(base)
    check_energy_output(target.energy, base)
    num_samples = check_count(num_samples, "num_samples", 2)
    log_w = importance_core(key, target.beta, target.energy, base, num_samples)
    info = dict(num_energy_evaluations=num_samples, stderr_source="delta method")
    return assemble.from_log_weights(
        log_w, "importance", info=info, max_pareto_k=MAX_PARETO_K, pareto_k_bound=True
    )
