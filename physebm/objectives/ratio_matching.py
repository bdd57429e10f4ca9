"""Objectives for binary data that never touch Z: ratio matching and minimum probability flow.

x̄ⱼ is x with unit j flipped (spins x ∈ {−1, +1}: xⱼ → −xⱼ; bits x ∈ {0, 1}: xⱼ → 1 − xⱼ);
only energy differences E(x) − E(x̄ⱼ) appear, so the normaliser cancels.

* Ratio matching (Hyvärinen 2007): J(θ) = E_data Σⱼ σ(β(E_θ(x) − E_θ(x̄ⱼ)))² — the squared
  g(p(x)/p(x̄ⱼ)) with g(u) = 1/(1 + u).
* Minimum probability flow (Sohl-Dickstein et al. 2011), single-flip connectivity:
  K(θ) = E_data Σⱼ exp(½β(E_θ(x) − E_θ(x̄ⱼ))), the initial probability flow out of the data
  states. Weighted by the exact distribution over distinct states its gradient vanishes exactly
  at the true parameters (detailed balance of the flow).
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp

from physebm.objectives.base import (
    Objective,
    batch_energy,
    check_choice,
    check_energy_fn,
    split_weights,
    weighted_mean,
)
from physebm.validation import check_beta

__all__ = [
    "MinimumProbabilityFlow",
    "RatioMatching",
    "flip_differences",
    "minimum_probability_flow",
    "ratio_matching",
]

DOMAINS = ("spin", "bits")


def single_flips(x, domain: str) -> jax.Array:
    """All single-unit flips of one configuration: shape (num_units, *x.shape)."""
    flat = jnp.ravel(x)
    n = flat.shape[0]
    flipped = -flat if domain == "spin" else (1 - flat).astype(flat.dtype)
    eye = jnp.eye(n, dtype=bool)
    return jnp.where(eye, flipped[None, :], flat[None, :]).reshape((n,) + jnp.shape(x))


def flip_differences(energy_fn: Callable, params, x, domain: str) -> jax.Array:
    """E(x) − E(x̄ⱼ) for every example (rows) and unit j (columns)."""

    def per_example(xi):
        neighbours = single_flips(xi, domain)
        return energy_fn(params, xi) - batch_energy(energy_fn, params, neighbours)

    return jax.vmap(per_example)(x)


class RatioMatching(Objective):
    """J = wmean Σⱼ σ(β(E(x) − E(x̄ⱼ)))² over single flips x̄ⱼ (Hyvärinen 2007)."""

    energy_fn: Callable = eqx.field(static=True)
    beta: jax.Array
    domain: str = eqx.field(static=True)

    def loss(self, params, batch, key, state):
        x, w = split_weights(batch)
        diff = flip_differences(self.energy_fn, params, x, self.domain)
        per = jnp.sum(jax.nn.sigmoid(self.beta * diff) ** 2, axis=1)
        return weighted_mean(per, w), (state, {})


def ratio_matching(
    energy_fn: Callable | None = None, *, domain: str = "spin", beta=1.0
) -> RatioMatching:
    """Ratio matching for spins/bits: J = E_data Σⱼ σ(β(E_θ(x) − E_θ(x̄ⱼ)))².

    Gradient: E_data Σⱼ 2σ(βΔⱼ)²(1 − σ(βΔⱼ)) β ∇_θΔⱼ, Δⱼ = E_θ(x) − E_θ(x̄ⱼ). Consistent:
    with the exact data distribution of a model in the family its minimiser is the truth.

    Args:
        energy_fn: ``energy_fn(params, x) -> scalar``; ``None`` calls ``params(x)``.
        domain: ``"spin"`` (±1) or ``"bits"`` ({0, 1}).
        beta: inverse temperature β > 0.
    """
    return RatioMatching(
        check_energy_fn(energy_fn),
        check_beta(beta, scalar=True),
        check_choice(domain, "domain", DOMAINS),
    )


class MinimumProbabilityFlow(Objective):
    """K = wmean Σⱼ exp(½β(E(x) − E(x̄ⱼ))) over single flips (Sohl-Dickstein et al. 2011)."""

    energy_fn: Callable = eqx.field(static=True)
    beta: jax.Array
    domain: str = eqx.field(static=True)

    def loss(self, params, batch, key, state):
        x, w = split_weights(batch)
        diff = flip_differences(self.energy_fn, params, x, self.domain)
        per = jnp.sum(jnp.exp(0.5 * self.beta * diff), axis=1)
        return weighted_mean(per, w), (state, {})


def minimum_probability_flow(
    energy_fn: Callable | None = None, *, domain: str = "spin", beta=1.0
) -> MinimumProbabilityFlow:
    """Minimum probability flow with single-flip connectivity: K = E_data Σⱼ e^{½βΔⱼ}.

    Δⱼ = E_θ(x) − E_θ(x̄ⱼ); gradient E_data Σⱼ ½β e^{½βΔⱼ} ∇_θΔⱼ, exactly zero at the true
    parameters when the batch is the exact distribution (weights p(x) on distinct states).

    Args:
        energy_fn: ``energy_fn(params, x) -> scalar``; ``None`` calls ``params(x)``.
        domain: ``"spin"`` (±1) or ``"bits"`` ({0, 1}).
        beta: inverse temperature β > 0.
    """
    return MinimumProbabilityFlow(
        check_energy_fn(energy_fn),
        check_beta(beta, scalar=True),
        check_choice(domain, "domain", DOMAINS),
    )
