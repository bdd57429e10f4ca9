"""Maximum likelihood: exact (enumeration / exact log Z) or with negatives from a Markov kernel.

For p_θ(x) = exp(−β E_θ(x)) / Z_θ the negative log-likelihood and its gradient are

    NLL(θ) = β E_data[E_θ(x)] + log Z_θ,
    ∇_θ NLL = β (E_data[∇_θ E_θ(x)] − E_{p_θ}[∇_θ E_θ(x)]).

Exact route: log Z by enumerating a finite ``support`` (or any exact ``log_z_fn``), the loss IS
the NLL. Sampled route: the surrogate β(mean E(x⁺) − mean E(stop_gradient(x⁻))) whose gradient
is the ML gradient with the model expectation replaced by negatives x⁻ from a kernel.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp

import samplers
from physebm import enumeration
from physebm.objectives.base import (
    Objective,
    as_kernel,
    batch_energy,
    check_count,
    check_energy_fn,
    check_real,
    run_chains,
    split_weights,
    stop_gradient,
    weighted_mean,
)
from physebm.validation import check_beta, check_enumerable

__all__ = ["ExactLikelihood", "SampledLikelihood", "enumerate_states", "maximum_likelihood"]

ENUMERATION_LIMIT_LOG2 = 20


def enumerate_states(num_units: int, domain: str = "spin") -> jax.Array:
    """All 2ⁿ configurations of ``num_units`` spins (±1) or bits ({0, 1}), shape (2ⁿ, n).

    Row k is state k in the bit order of `physebm.enumeration` (unit 0 most significant):
    ``physebm.enumeration.states(num_units, domain)``, with a size limit.

    Raises:
        ValueError: ``domain`` is not ``"spin"``/``"bits"`` or 2ⁿ exceeds 2²⁰ states.
    """
    num_units = check_count(num_units, "num_units")
    check_enumerable(num_units, ENUMERATION_LIMIT_LOG2, f"{num_units} units", "a sampled kernel")
    return enumeration.states(num_units, domain)


def default_init_fn(key, batch):
    """Negatives start from N(0, I) with the shapes of the positive batch."""
    leaves, treedef = jax.tree.flatten(batch)
    keys = jax.random.split(key, len(leaves))
    return treedef.unflatten(
        [
            jax.random.normal(k, jnp.shape(a), dtype=jnp.result_type(float))
            for k, a in zip(keys, leaves, strict=True)
        ]
    )


def contrast(energy_fn, params, positives, weights, negatives, beta, alpha):
    """Surrogate β(wmean E(x⁺) − mean E(x⁻)) + α(wmean E(x⁺)² + mean E(x⁻)²), and aux."""
    negatives = jax.lax.stop_gradient(negatives)
    e_pos = batch_energy(energy_fn, params, positives)
    e_neg = batch_energy(energy_fn, params, negatives)
    mean_pos, mean_neg = weighted_mean(e_pos, weights), jnp.mean(e_neg)
    reg = weighted_mean(e_pos**2, weights) + jnp.mean(e_neg**2)
    loss = beta * (mean_pos - mean_neg) + alpha * reg
    return loss, {"energy_pos": mean_pos, "energy_neg": mean_neg}


def negative_logdensity(energy_fn, params, beta) -> Callable:
    """x ↦ −β E(stop_gradient(θ), x): the target of the negative-sampling chains."""
    frozen = stop_gradient(params)
    return lambda x: -beta * energy_fn(frozen, x)


class ExactLikelihood(Objective):
    """NLL(θ) = β wmean E_θ(x⁺) + log Z_θ (+ α wmean E_θ(x⁺)²), log Z exact.

    The gradient is exactly β(E_data[∇E] − E_{p_θ}[∇E]).
    """

    energy_fn: Callable = eqx.field(static=True)
    beta: jax.Array
    alpha: jax.Array
    support: jax.Array | None
    log_z_fn: Callable | None = eqx.field(static=True)

    def log_z(self, params) -> jax.Array:
        """log Z_θ(β) = log Σ_s exp(−β E_θ(s)) over the support, or ``log_z_fn(params, β)``."""
        if self.log_z_fn is not None:
            return self.log_z_fn(params, self.beta)
        return jax.nn.logsumexp(-self.beta * batch_energy(self.energy_fn, params, self.support))

    def loss(self, params, batch, key, state):
        x, w = split_weights(batch)
        e_pos = batch_energy(self.energy_fn, params, x)
        log_z = self.log_z(params)
        mean_pos = weighted_mean(e_pos, w)
        loss = self.beta * mean_pos + log_z + self.alpha * weighted_mean(e_pos**2, w)
        return loss, (state, {"energy_pos": mean_pos, "log_z": log_z})


class SampledLikelihood(Objective):
    """β(wmean E(x⁺) − mean E(x⁻)) + α(·)², x⁻ = ``num_steps`` kernel steps from ``init_fn``.

    With negatives drawn from p_θ the gradient is the ML gradient β(E_data∇E − E_p∇E); short
    chains from noise give the "short-run" estimate of it.
    """

    energy_fn: Callable = eqx.field(static=True)
    beta: jax.Array
    alpha: jax.Array
    kernel: samplers.Kernel
    init_fn: Callable = eqx.field(static=True)
    num_steps: int = eqx.field(static=True)

    def loss(self, params, batch, key, state):
        x, w = split_weights(batch)
        key_init, key_chain = jax.random.split(key)
        start = self.init_fn(key_init, x)
        logdensity_fn = negative_logdensity(self.energy_fn, params, self.beta)
        negatives, acceptance = run_chains(
            self.kernel, logdensity_fn, start, key_chain, self.num_steps
        )
        loss, aux = contrast(self.energy_fn, params, x, w, negatives, self.beta, self.alpha)
        return loss, (state, {**aux, "acceptance_rate": acceptance})


def maximum_likelihood(
    energy_fn: Callable | None = None,
    *,
    beta=1.0,
    support=None,
    log_z_fn: Callable | None = None,
    kernel: Callable | None = None,
    num_steps: int = 20,
    init_fn: Callable | None = None,
    alpha=0.0,
) -> Objective:
    """Maximum likelihood, exact or with sampled negatives (exactly one route must be chosen).

    Exact (``support`` or ``log_z_fn``): loss = β wmean E(x⁺) + log Z_θ, the true NLL; gradient
    β(E_data[∇_θE] − E_{p_θ}[∇_θE]) exactly. Sampled (``kernel``): loss =
    β(wmean E(x⁺) − mean E(sg(x⁻))) + α(wmean E(x⁺)² + mean E(x⁻)²), x⁻ after ``num_steps`` of
    ``kernel`` started at ``init_fn(key, batch)``; gradient ≈ the ML gradient (+ 2α(E⁺∇E⁺ + E⁻∇E⁻)).

    Args:
        energy_fn: ``energy_fn(params, x) -> scalar``; ``None`` calls ``params(x)``.
        beta: inverse temperature β > 0.
        support: (S, ...) every configuration of a finite state space (e.g.
            [`enumerate_states`][]); log Z = logsumexp(−β E(s)).
        log_z_fn: ``log_z_fn(params, beta) -> log Z`` from any exact route (transfer matrix,
            RBM summed over a layer, ...).
        kernel: factory ``logdensity_fn -> SamplingAlgorithm`` (blackjax or ``samplers``).
        num_steps: kernel steps per loss evaluation (sampled route).
        init_fn: ``init_fn(key, batch) -> positions`` where chains start; default N(0, I) shaped
            like the batch (pass e.g. random bits/spins for discrete data).
        alpha: weight α ≥ 0 of the energy-magnitude regulariser α·E².

    Raises:
        ValueError: none or more than one of ``support``/``log_z_fn``/``kernel`` is given.
    """
    energy_fn = check_energy_fn(energy_fn)
    beta = check_beta(beta, scalar=True)
    alpha = check_real(alpha, "alpha", nonnegative=True)
    routes = [
        r
        for r, v in (("support", support), ("log_z_fn", log_z_fn), ("kernel", kernel))
        if v is not None
    ]
    if len(routes) != 1:
        raise ValueError(
            "maximum_likelihood needs exactly one of support= (enumeration), log_z_fn= (exact "
            f"log Z) or kernel= (sampled negatives), got {routes or 'none'}"
        )
    if kernel is not None:
        if init_fn is not None and not callable(init_fn):
            raise TypeError(f"init_fn must be callable (key, batch) -> positions, got {init_fn!r}")
        return SampledLikelihood(
            energy_fn,
            beta,
            alpha,
            as_kernel(kernel),
            init_fn or default_init_fn,
            check_count(num_steps, "num_steps", 0),
        )
    if support is not None:
        support = jnp.asarray(support)
        if support.ndim < 1 or support.shape[0] < 1:
            raise ValueError(f"support must be a (num_states, ...) array, got {support.shape}")
    elif not callable(log_z_fn):
        raise TypeError(f"log_z_fn must be callable (params, beta) -> log Z, got {log_z_fn!r}")
    return ExactLikelihood(energy_fn, beta, alpha, support, log_z_fn)
