"""Denoising auto-encoder (C3 in LeCun's taxonomy) and its reading as an energy.

A reconstruction r_θ (any function ℝ^D → ℝ^D, ``reconstruct_fn(params, x)``) is trained to
undo Gaussian corruption:

    L(θ) = E_x E_z ‖r_θ(x + σz) − x‖²,   z ~ N(0, I).

Its minimiser over all functions is the posterior mean r*(x̃) = E[x | x̃], and by Tweedie's
formula E[x | x̃] = x̃ + σ² ∇ log p_σ(x̃), p_σ = p_data * N(0, σ²I) (Vincent 2011). Per sample,
with s(x̃) = (r(x̃) − x̃)/σ² and z/σ = (x̃ − x)/σ²,

    ½‖s(x̃) + z/σ‖² = ‖r(x̃) − x‖² / (2σ⁴),

so the DAE loss is denoising score matching's loss
([`denoising_score_matching`][physebm.objectives.score_matching.denoising_score_matching]) times
2σ⁴ on the same noise (`DenoisingAutoencoder.corrupt` draws it exactly as that objective does):
a trained DAE gives the score estimate s(x) = (r(x) − x)/σ² of the NOISED density.

Reading it as an energy: [`dae_energy`][] is the line integral
E(x) = −∫₀¹ s(x₀ + t(x − x₀))·(x − x₀) dt (Gauss–Legendre), so E(x₀) = 0. When the Jacobian
of r is symmetric (r conservative, e.g. linear r with symmetric A, or any r = x + σ²∇g),
∇E = −s exactly and exp(−E) ∝ p_σ at the optimum; otherwise E only sees the part of s along
rays from x₀, and [`dae_asymmetry`][] (‖J − Jᵀ‖_F/‖J‖_F) says how far r is from conservative.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from physebm.objectives.base import (
    Objective,
    check_count,
    check_float_data,
    check_real,
    num_examples,
    split_weights,
    weighted_mean,
)

__all__ = [
    "DenoisingAutoencoder",
    "dae_asymmetry",
    "dae_energy",
    "dae_score",
    "denoising_autoencoder",
]

DAE_NEEDS = "a denoising auto-encoder (it adds Gaussian noise to x)"


def _call_params(params, x):
    return params(x)


def _reconstruct(reconstruct_fn, params, x):
    r = reconstruct_fn(params, x)
    if jnp.shape(r) != jnp.shape(x):
        raise ValueError(
            "reconstruct_fn(params, x) must return an array of the shape of x "
            f"{jnp.shape(x)}, got {jnp.shape(r)}"
        )
    return r


class DenoisingAutoencoder(Objective):
    """L = wmean_i ‖r_θ(xᵢ + σzᵢ) − xᵢ‖² (squared error summed over coordinates)."""

    float_data: ClassVar[str] = DAE_NEEDS
    reconstruct_fn: Callable = eqx.field(static=True)
    sigma: jax.Array

    def corrupt(self, x, key) -> tuple[jax.Array, jax.Array]:
        """(x̃, z) with x̃ = x + σz: the noise that
        [`denoising_score_matching`][physebm.objectives.score_matching.denoising_score_matching]
        draws from ``key`` for the same batch (one ``normal`` per example from
        ``split(split(key)[1], n)``)."""
        _, key_noise = jax.random.split(key)
        keys = jax.random.split(key_noise, num_examples(x))

        def one(xi, k):
            flat, unravel = ravel_pytree(xi)
            z = jax.random.normal(k, flat.shape, flat.dtype)
            return unravel(flat + self.sigma * z), unravel(z)

        return jax.vmap(one)(x, keys)

    def loss(self, params, batch, key, state):
        x, w = split_weights(batch)
        if not eqx.is_array_like(x) or jnp.ndim(x) < 1:
            raise TypeError(
                "batch must be an array of examples, shape (num_examples, ...), for a denoising "
                f"auto-encoder, got {type(x).__name__}"
            )
        check_float_data(x, self.float_data)
        noisy, _ = self.corrupt(x, key)
        recon = jax.vmap(lambda xt: _reconstruct(self.reconstruct_fn, params, xt))(noisy)
        per = jnp.sum(jnp.reshape((recon - x) ** 2, (x.shape[0], -1)), axis=1)
        return weighted_mean(per, w), (state, {"reconstruction_error": jnp.mean(per)})


def denoising_autoencoder(reconstruct_fn: Callable | None = None, *, sigma) -> DenoisingAutoencoder:
    """Denoising auto-encoder objective, L = E ‖r_θ(x + σz) − x‖², z ~ N(0, I).

    Optimum over all r: r*(x̃) = E[x | x̃] = x̃ + σ²∇log p_σ(x̃) (Vincent 2011). Gaussian check:
    data N(μ, C) gives the linear r*(x̃) = μ + C(C + σ²I)⁻¹(x̃ − μ), whose score reading
    (r* − id)/σ² = −(C + σ²I)⁻¹(x̃ − μ) is denoising score matching's optimum.

    Args:
        reconstruct_fn: ``reconstruct_fn(params, x) -> x̂`` for ONE example (same shape as x);
            ``None`` calls ``params(x)``.
        sigma: corruption noise level σ > 0.
    """
    if reconstruct_fn is not None and not callable(reconstruct_fn):
        raise TypeError(
            "reconstruct_fn must be a callable reconstruct_fn(params, x) -> x_hat (or None), "
            f"got {type(reconstruct_fn).__name__}"
        )
    return DenoisingAutoencoder(
        _call_params if reconstruct_fn is None else reconstruct_fn,
        check_real(sigma, "sigma", positive=True),
    )


def dae_score(reconstruct_fn: Callable, params, x, *, sigma) -> jax.Array:
    """s(x) = (r(x) − x)/σ², the DAE's estimate of ∇log p_σ(x) (one example)."""
    sigma = check_real(sigma, "sigma", positive=True)
    return (_reconstruct(reconstruct_fn, params, x) - x) / sigma**2


def dae_energy(
    reconstruct_fn: Callable, params, x, *, sigma, origin=None, num_nodes: int = 16
) -> jax.Array:
    """E(x) = −∫₀¹ s(x₀ + t(x − x₀))·(x − x₀) dt, s = (r − id)/σ², by ``num_nodes``-point
    Gauss–Legendre quadrature (exact for r polynomial of degree < 2·num_nodes − 1).

    E(x₀) = 0 with x₀ = ``origin`` (default 0). For a conservative r (symmetric Jacobian)
    ∇E = −s, so exp(−E) is the DAE's unnormalised estimate of p_σ; for linear r = Ax + b,
    E(x) = −[½(x − x₀)ᵀ(A − I)(x − x₀) + ((A − I)x₀ + b)·(x − x₀)]/σ², which only sees the
    symmetric part of A.
    """
    n = check_count(num_nodes, "num_nodes")
    x0 = jnp.zeros_like(x) if origin is None else jnp.asarray(origin, dtype=x.dtype)
    nodes, weights = np.polynomial.legendre.leggauss(n)
    t, w = jnp.asarray((nodes + 1) / 2, x.dtype), jnp.asarray(weights / 2, x.dtype)
    delta = x - x0
    scores = jax.vmap(lambda ti: dae_score(reconstruct_fn, params, x0 + ti * delta, sigma=sigma))(t)
    return -jnp.sum(w * jnp.sum(jnp.reshape(scores * delta, (n, -1)), axis=1))


def dae_asymmetry(reconstruct_fn: Callable, params, x) -> jax.Array:
    """‖J − Jᵀ‖_F / ‖J‖_F, J = ∂r/∂x at x (one flat example): 0 where r is locally
    conservative, so that [`dae_energy`][] is an exact potential of the DAE's score."""
    flat, unravel = ravel_pytree(x)
    jac = jax.jacfwd(lambda u: ravel_pytree(reconstruct_fn(params, unravel(u)))[0])(flat)
    return jnp.linalg.norm(jac - jac.T) / jnp.linalg.norm(jac)
