"""Latent-variable energies E(y, k) over a discrete latent k ∈ {0, …, K−1}.

The free energy over k at inverse temperature β is the soft minimum

    F_β(y) = −(1/β) log Σ_k exp(−β E(y, k)),

which tends to the hard minimum min_k E(y, k) as β → ∞ (the K-means distortion for
E(y, k) = ‖y − w_k‖²).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from physebm.models.base import LatentEnergyModel
from physebm.validation import (
    check_distribution,
    check_parameter,
    check_positive_definite,
    check_shape,
)


class KMeansEnergy(LatentEnergyModel):
    """E(y, k) = ‖y − w_k‖² with centres w, shape (K, d).

    Responsibilities q_β(k | y) = softmax_k(−β‖y − w_k‖²) and ∇_{w_k} F_β(y) = −2 q_β(k|y)(y − w_k)
    (soft K-means; hard K-means at β = ∞).
    """

    centers: jax.Array

    def __init__(self, centers):
        centers = check_parameter(centers, "centers")
        if centers.ndim != 2:
            raise ValueError(f"centers must have shape (K, d), got {centers.shape}")
        self.centers = centers

    @property
    def num_latent(self) -> int:
        return self.centers.shape[0]

    def energies(self, y) -> jax.Array:
        """Vector (E(y, k))_k, shape (..., K)."""
        y = check_shape(y, (self.centers.shape[1],), "y")
        return jnp.sum((y[..., None, :] - self.centers) ** 2, axis=-1)


class GMMEnergy(LatentEnergyModel):
    """Gaussian-mixture joint energy with E(y, k) = −log[π_k N(y; μ_k, Σ_k)]:

        E(y, k) = ½ (y − μ_k)ᵀ Σ_k⁻¹ (y − μ_k) + ½ log det(2π Σ_k) − log π_k

    so that F₁(y) = −log p_GMM(y).

    Args:
        means: (K, d) component means.
        covariances: (K, d, d) symmetric positive definite covariances.
        weights: (K,) mixture weights, non-negative and summing to one within 1e-6
            (`physebm.validation.WEIGHT_SUM_ATOL`; default uniform); not normalised for
            you: pass ``w / w.sum()``.

    Raises:
        ValueError: shapes disagree, non-finite entries, covariances not symmetric positive
            definite, or weights that are not a distribution (all checked when concrete).
    """

    means: jax.Array
    covariances: jax.Array
    log_weights: jax.Array

    def __init__(self, means, covariances, weights=None):
        means = check_parameter(means, "means")
        covariances = check_parameter(covariances, "covariances")
        if means.ndim != 2:
            raise ValueError(f"means must have shape (K, d), got {means.shape}")
        K, d = means.shape
        if covariances.shape != (K, d, d):
            raise ValueError(
                f"covariances must have shape ({K}, {d}, {d}), got {covariances.shape}"
            )
        w = jnp.full((K,), 1.0 / K) if weights is None else check_parameter(weights, "weights")
        if w.shape != (K,):
            raise ValueError(f"weights must have shape ({K},), got {w.shape}")
        check_positive_definite(covariances, "covariances")
        check_distribution(w, "weights")
        self.means, self.covariances, self.log_weights = means, covariances, jnp.log(w)

    @property
    def num_latent(self) -> int:
        return self.means.shape[0]

    def energies(self, y) -> jax.Array:
        """Vector (E(y, k))_k, shape (..., K)."""
        d = self.means.shape[1]
        y = check_shape(y, (d,), "y")
        if y.ndim > 1:
            return jax.vmap(self.energies)(y.reshape(-1, d)).reshape(*y.shape[:-1], -1)
        chol = jnp.linalg.cholesky(self.covariances)  # (K, d, d)
        sol = jax.scipy.linalg.solve_triangular(chol, (y - self.means)[..., None], lower=True)
        maha = jnp.sum(sol[..., 0] ** 2, axis=-1)
        logdet = 2 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
        return 0.5 * maha + 0.5 * (d * jnp.log(2 * jnp.pi) + logdet) - self.log_weights
