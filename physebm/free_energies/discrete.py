"""Free energy of an energy E(x, z) marginalised over a discrete latent z.

β multiplies the *joint* energy, p_β(x, z) ∝ exp(−β E(x, z)), so the marginal of x is
p_β(x) ∝ exp(−β F_β(x)) with

    F_β(x) = −(1/β) log Σ_z exp(−β E(x, z))

(not exp(−β F₁(x)): the latent sum is itself done at temperature 1/β). As β → ∞,
F_β(x) → min_z E(x, z).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp

from physebm.models.capabilities import analytic_free_energy, latent_energies
from physebm.validation import check_beta

METHODS = ("auto", "analytic", "enumerate", "min")


def soft_min(energies, beta, axis: int = -1) -> jax.Array:
    """F = −(1/β) logsumexp(−β E) over ``axis``; the hard minimum when β = +∞."""
    energies = jnp.asarray(energies)
    if _is_inf(beta):
        return jnp.min(energies, axis=axis)
    beta = check_beta(beta)
    return -logsumexp(-beta * energies, axis=axis) / beta


def responsibilities(energies, beta, axis: int = -1) -> jax.Array:
    """Posterior over the latent, q_β(z | x) = softmax_z(−β E(x, z)); one-hot argmin at β = ∞."""
    energies = jnp.asarray(energies)
    if _is_inf(beta):
        return jax.nn.one_hot(jnp.argmin(energies, axis=axis), energies.shape[axis], axis=axis)
    beta = check_beta(beta)
    return jax.nn.softmax(-beta * energies, axis=axis)


def free_energy(
    model: Any,
    x,
    beta=1.0,
    *,
    latents=None,
    method: str = "auto",
) -> jax.Array:
    """F_β(x) = −(1/β) log Σ_z exp(−β E(x, z)), batched over the leading axes of ``x``.

    Which sum applies is looked up by type: a model registering
    [`analytic_free_energy`][] (the RBM), then one registering
    [`latent_energies`][] (every
    [`LatentEnergyModel`][physebm.models.LatentEnergyModel]), then a plain ``energy_fn``.

    Args:
        model: an [`RBM`][physebm.models.RBM] (hidden units summed out analytically),
            a latent-variable energy with ``energies(x) -> (..., K)``
            ([`KMeansEnergy`][physebm.models.KMeansEnergy],
            [`GMMEnergy`][physebm.models.GMMEnergy]), or a function ``energy_fn(x, z) -> scalar``
            together with ``latents``.
        x: one configuration or a batch of them.
        beta: inverse temperature β > 0, or ``math.inf`` for the zero-temperature limit
            F_∞(x) = min_z E(x, z).
        latents: for a plain ``energy_fn``, all latent values stacked on axis 0 (shape (K, ...)).
        method: ``"auto"``; ``"analytic"`` (RBM), ``"enumerate"`` (logsumexp over the listed
            latents), or ``"min"`` (the β → ∞ limit, whatever β is).

    Returns:
        Array of free energies with the batch shape of ``x`` (a scalar for a plain
        ``energy_fn``, which takes one x: vmap over a batch).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    zero_temperature = method == "min" or _is_inf(beta)
    if not zero_temperature:
        beta = check_beta(beta)

    analytic = analytic_free_energy(model)
    if analytic is not None:
        if method == "enumerate":
            raise ValueError(
                "method='enumerate' needs an energy_fn and latents; for an RBM pass "
                "energy_fn=lambda v, h: rbm.energy(v, h) and latents=all hidden states"
            )
        return analytic(x, math.inf if zero_temperature else beta)

    energies_fn = latent_energies(model)
    if energies_fn is not None:
        if method == "analytic":
            raise ValueError(f"method='analytic' is only for RBM, got {type(model).__name__}")
        energies = energies_fn(x)
        return jnp.min(energies, -1) if zero_temperature else soft_min(energies, beta)

    if callable(model):
        if latents is None:
            raise ValueError(
                "latents is required for a plain energy_fn(x, z): pass all latent values "
                "stacked on axis 0"
            )
        if method == "analytic":
            raise ValueError("method='analytic' is only available for RBM")
        energies = _energies_over_latents(model, jnp.asarray(x), latents)
        return jnp.min(energies, -1) if zero_temperature else soft_min(energies, beta)

    raise TypeError(
        f"model must be an RBM, KMeansEnergy, GMMEnergy or a callable energy_fn(x, z), "
        f"got {type(model).__name__}"
    )


def _energies_over_latents(energy_fn, x, latents) -> jax.Array:
    """Matrix E(x, z_k) with the latent index last, for one x (shape (K,))."""
    latents = jax.tree_util.tree_map(jnp.asarray, latents)
    values = jax.vmap(lambda z: energy_fn(x, z))(latents)
    if values.ndim != 1:
        raise TypeError(
            "energy_fn(x, z) must return a scalar for one x and one z, got shape "
            f"{values.shape[1:]}; vmap over a batch of x outside free_energy"
        )
    return values


def _is_inf(beta) -> bool:
    return isinstance(beta, int | float) and math.isinf(beta) and beta > 0
