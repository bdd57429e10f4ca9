"""Gaussian energy with closed-form partition function."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from physebm.models.base import EnergyModel
from physebm.models.capabilities import ExactSampler, exact_sampler
from physebm.validation import (
    check_beta,
    check_parameter,
    check_positive_definite,
    check_shape,
    check_square_symmetric,
)


class Gaussian(EnergyModel):
    """Quadratic energy E(x) = ½ (x − μ)ᵀ A (x − μ) with A symmetric positive definite.

    At inverse temperature β, p_β = N(μ, (βA)⁻¹) and

        log Z(β) = (d/2) log(2π/β) − ½ log det A.

    Args:
        mean: μ, shape (d,).
        precision: A, shape (d, d), symmetric (checked at construction) and positive definite
            (an indefinite A is a valid energy, but [`log_z`][], [`covariance`][] and
            [`sample`][] refuse it: Z(β) diverges).
    """

    mean: jax.Array
    precision: jax.Array
    domain: str = eqx.field(static=True, default="real")

    def __init__(self, mean, precision):
        mean = jnp.atleast_1d(check_parameter(mean, "mean"))
        if mean.ndim != 1:
            raise ValueError(f"mean must be a vector of shape (d,), got shape {mean.shape}")
        precision = check_square_symmetric(check_parameter(precision, "precision"), "precision")
        if precision.shape[0] != mean.shape[0]:
            raise ValueError(
                f"precision must have shape ({mean.shape[0]}, {mean.shape[0]}) to match mean, "
                f"got {precision.shape}"
            )
        self.mean = mean
        self.precision = precision

    @property
    def dim(self) -> int:
        return self.mean.shape[0]

    @property
    def event_shape(self) -> tuple[int, ...]:
        return (self.dim,)

    def energy(self, x) -> jax.Array:
        """E(x) = ½ (x − μ)ᵀ A (x − μ) for one point of shape (d,)."""
        x = check_shape(x, (self.dim,), "x")
        if x.ndim != 1:
            raise ValueError(f"x must be one configuration of shape ({self.dim},), got {x.shape}")
        d = x - self.mean
        return 0.5 * d @ self.precision @ d

    def log_z(self, beta) -> jax.Array:
        """log Z(β) = (d/2) log(2π/β) − ½ log det A, log det A = 2 Σ_i log L_ii (A = LLᵀ).

        Raises:
            ValueError: a concrete A that is not positive definite (Z(β) diverges); a traced
                one gives NaN (its Cholesky factor is NaN).
        """
        beta = check_beta(beta)
        precision = check_positive_definite(self.precision, "precision", why=": Z(β) diverges")
        chol = jnp.linalg.cholesky(precision)
        logdet = 2 * jnp.sum(jnp.log(jnp.diagonal(chol)))
        return 0.5 * self.dim * jnp.log(2 * jnp.pi / beta) - 0.5 * logdet

    def covariance(self, beta=1.0) -> jax.Array:
        """Cov_β[x] = (βA)⁻¹ (A positive definite: checked when concrete)."""
        beta = check_beta(beta)
        precision = check_positive_definite(self.precision, "precision", why=": Z(β) diverges")
        return jnp.linalg.inv(precision) / beta

    def sample(self, key, beta=1.0, num_samples: int = 1) -> jax.Array:
        """Exact samples x ~ N(μ, (βA)⁻¹), shape (num_samples, d)."""
        cov = self.covariance(beta)
        return jax.random.multivariate_normal(key, self.mean, cov, shape=(num_samples,))


@exact_sampler.register(Gaussian)
def _gaussian_exact_sampler(model: Gaussian) -> ExactSampler:
    """Closed form: x ~ N(μ, (βA)⁻¹) ([`Gaussian.sample`][])."""
    return ExactSampler("closed_form", lambda key, beta, num: model.sample(key, beta, num))
