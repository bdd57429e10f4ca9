"""Score matching: exact (Hessian trace), denoising (single and multi-σ), sliced.

Model score s_θ(x) = ∇ₓ log p_θ(x) = −β ∇ₓE_θ(x); none of these needs Z.

* Exact (Hyvärinen 2005): J(θ) = E_data[tr ∇ₓs_θ(x) + ½‖s_θ(x)‖²]
  = E_data[−β ΔE_θ(x) + (β²/2)‖∇ₓE_θ(x)‖²]; D extra passes for the Hessian trace.
* Denoising (Vincent 2011): x̃ = x + σz, z ~ N(0, I), J = E ½‖s_θ(x̃) + z/σ‖². It fits the
  score of the noised density p_σ = p_data * N(0, σ²I), not of the data.
  Multi-σ (Song & Ermon 2019): σ drawn uniformly from a list per example, a noise-conditional
  energy E_θ(x, σ) and weight λ(σ) = σ².
* Sliced (Song et al. 2019): J = E_data E_v[vᵀ∇ₓs_θ(x) v + ½(vᵀs_θ(x))²] with E[vvᵀ] = I
  (Rademacher or Gaussian v); variance-reduced: ½(vᵀs)² → ½‖s‖². One jvp per projection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from physebm.objectives.base import (
    Objective,
    check_choice,
    check_count,
    check_energy_fn,
    check_float_data,
    num_examples,
    split_weights,
    weighted_mean,
)
from physebm.validation import check_beta

__all__ = [
    "DenoisingScoreMatching",
    "ScoreMatching",
    "SlicedScoreMatching",
    "denoising_score_matching",
    "score_matching",
    "sliced_score_matching",
]

PROJECTIONS = ("rademacher", "gaussian")
SCORE_NEEDS = "score matching (it differentiates the energy with respect to x)"


def _flat_energy(energy_fn, params, x, *rest):
    """E as a function of the flattened configuration, and the flat point."""
    flat, unravel = ravel_pytree(x)
    return (lambda u: energy_fn(params, unravel(u), *rest)), flat


class ScoreMatching(Objective):
    """J = wmean[−β ΔₓE_θ(x) + (β²/2)‖∇ₓE_θ(x)‖²] (Hyvärinen 2005, exact Hessian trace).

    Its gradient is the exact gradient of the Fisher divergence ½E‖s_θ − s_data‖² (up to a
    θ-independent constant).
    """

    float_data: ClassVar[str] = SCORE_NEEDS
    energy_fn: Callable = eqx.field(static=True)
    beta: jax.Array

    def loss(self, params, batch, key, state):
        x, w = split_weights(batch)
        check_float_data(x, self.float_data)

        def per_example(xi):
            f, u = _flat_energy(self.energy_fn, params, xi)
            grad = jax.grad(f)(u)
            laplacian = jnp.trace(jax.jacfwd(jax.grad(f))(u))
            return -self.beta * laplacian + 0.5 * self.beta**2 * jnp.sum(grad**2)

        return weighted_mean(jax.vmap(per_example)(x), w), (state, {})


def score_matching(energy_fn: Callable | None = None, *, beta=1.0) -> ScoreMatching:
    """Exact score matching, J = E_data[−β ΔE + (β²/2)‖∇ₓE‖²] (see `ScoreMatching`).

    Gradient: ∇_θ J, an unbiased estimate of the gradient of the Fisher divergence
    ½E_data‖s_θ − ∇log p_data‖². Cost: D forward-over-reverse passes per example (D = dim x).
    Gaussian check: for E = ½(x−μ)ᵀM(x−μ) the minimiser is μ̂ = mean, M̂ = C⁻¹/β.
    """
    return ScoreMatching(check_energy_fn(energy_fn), check_beta(beta, scalar=True))


class DenoisingScoreMatching(Objective):
    """J = wmean λ(σ)·½‖−β∇ₓE_θ(x̃[, σ]) + z/σ‖², x̃ = x + σz (λ = 1 single σ, σ² multi-σ)."""

    float_data: ClassVar[str] = SCORE_NEEDS
    energy_fn: Callable = eqx.field(static=True)
    beta: jax.Array
    sigmas: jax.Array
    conditional: bool = eqx.field(static=True)

    def loss(self, params, batch, key, state):
        x, w = split_weights(batch)
        check_float_data(x, self.float_data)
        key_sigma, key_noise = jax.random.split(key)
        size = num_examples(x)
        which = jax.random.randint(key_sigma, (size,), 0, self.sigmas.shape[0])
        sigma = self.sigmas[which]
        keys = jax.random.split(key_noise, size)

        def per_example(xi, s, k):
            rest = (s,) if self.conditional else ()
            f, u = _flat_energy(self.energy_fn, params, xi, *rest)
            z = jax.random.normal(k, u.shape, u.dtype)
            score = -self.beta * jax.grad(f)(jax.lax.stop_gradient(u + s * z))
            weight = s**2 if self.conditional else 1.0
            return weight * 0.5 * jnp.sum((score + z / s) ** 2)

        return weighted_mean(jax.vmap(per_example)(x, sigma, keys), w), (state, {})


def denoising_score_matching(
    energy_fn: Callable | None = None, *, sigma=None, sigmas=None, beta=1.0
) -> DenoisingScoreMatching:
    """Denoising score matching with one noise level ``sigma`` or several ``sigmas``.

    Single σ: J = E ½‖−β∇ₓE_θ(x̃) + z/σ‖², x̃ = x + σz, ``energy_fn(params, x)``. Its gradient is
    that of ½E‖s_θ(x̃) − ∇log p_σ(x̃)‖² (Vincent 2011): it fits the noised data's score. Gaussian
    check: E = ½(x−μ)ᵀA(x−μ) gives A = (C + σ²I)⁻¹/β.
    Multi-σ: σ uniform over ``sigmas`` per example, noise-conditional ``energy_fn(params, x,
    sigma)``, J = E σ²·½‖−β∇ₓE_θ(x̃, σ) + z/σ‖² (Song & Ermon 2019 weighting).

    Raises:
        ValueError: not exactly one of ``sigma``/``sigmas``, or a noise level ≤ 0.
    """
    if (sigma is None) == (sigmas is None):
        raise ValueError("give exactly one of sigma= (one noise level) or sigmas= (several)")
    values = jnp.atleast_1d(jnp.asarray(sigma if sigmas is None else sigmas, dtype=float))
    if values.ndim != 1 or values.shape[0] < 1:
        raise ValueError(f"sigmas must be a 1-D array of noise levels, got shape {values.shape}")
    if not bool(jnp.all(jnp.isfinite(values) & (values > 0))):
        raise ValueError(f"sigma(s) must be finite and > 0, got {values}")
    if sigmas is not None and values.shape[0] < 2:
        raise ValueError("sigmas= needs at least two noise levels; use sigma= for one")
    return DenoisingScoreMatching(
        check_energy_fn(energy_fn), check_beta(beta, scalar=True), values, sigmas is not None
    )


class SlicedScoreMatching(Objective):
    """J = wmean mean_v[vᵀ∇ₓs_θ(x)v + ½(vᵀs_θ(x))²] (or ½‖s_θ‖², variance-reduced)."""

    float_data: ClassVar[str] = SCORE_NEEDS
    energy_fn: Callable = eqx.field(static=True)
    beta: jax.Array
    num_projections: int = eqx.field(static=True)
    projection: str = eqx.field(static=True)
    variance_reduced: bool = eqx.field(static=True)

    def loss(self, params, batch, key, state):
        x, w = split_weights(batch)
        check_float_data(x, self.float_data)
        keys = jax.random.split(key, num_examples(x))

        def per_example(xi, k):
            f, u = _flat_energy(self.energy_fn, params, xi)
            shape = (self.num_projections, u.shape[0])
            if self.projection == "rademacher":
                v = jax.random.rademacher(k, shape, u.dtype)
            else:
                v = jax.random.normal(k, shape, u.dtype)

            def score_fn(point):
                return -self.beta * jax.grad(f)(point)

            def per_projection(vj):
                score, jvp = jax.jvp(score_fn, (u,), (vj,))
                second = jnp.sum(score**2) if self.variance_reduced else jnp.dot(vj, score) ** 2
                return jnp.dot(vj, jvp) + 0.5 * second

            return jnp.mean(jax.vmap(per_projection)(v))

        return weighted_mean(jax.vmap(per_example)(x, keys), w), (state, {})


def sliced_score_matching(
    energy_fn: Callable | None = None,
    *,
    num_projections: int = 1,
    projection: str = "rademacher",
    variance_reduced: bool = False,
    beta=1.0,
) -> SlicedScoreMatching:
    """Sliced score matching: J = E_x E_v[vᵀ∇ₓs v + ½(vᵀs)²], s = −β∇ₓE_θ, E[vvᵀ] = I.

    Unbiased for exact score matching's J (and its gradient) for any number of projections;
    ``variance_reduced=True`` uses ½‖s‖² (exact) in place of ½(vᵀs)². Cost: one extra
    forward-over-reverse pass (jvp of the score) per projection.

    Args:
        energy_fn: ``energy_fn(params, x) -> scalar``; ``None`` calls ``params(x)``.
        num_projections: projections v per example.
        projection: ``"rademacher"`` (±1 entries) or ``"gaussian"``.
        variance_reduced: use ½‖s‖² (SSM-VR).
        beta: inverse temperature β > 0.
    """
    return SlicedScoreMatching(
        check_energy_fn(energy_fn),
        check_beta(beta, scalar=True),
        check_count(num_projections, "num_projections"),
        check_choice(projection, "projection", PROJECTIONS),
        bool(variance_reduced),
    )
