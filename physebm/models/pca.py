"""PCA as an energy-based model: the linear auto-encoder E(y, z) = ‖y − Wz‖², z ∈ ℝᵏ.

With W of shape (d, k) and full column rank (k ≤ d), A = WᵀW positive definite,
z*(y) = A⁻¹Wᵀy (least squares) and ‖y − Wz‖² = ‖y − Wz*‖² + (z − z*)ᵀA(z − z*), so

    F_∞(y) = min_z E(y, z) = ‖y − Wz*‖² = ‖(I − P_W) y‖²   (squared distance to span W)
    F_β(y) = −(1/β) log ∫ exp(−β E(y, z)) dz
           = F_∞(y) + (k/2β) log(β/π) + (1/2β) log det WᵀW        (a Gaussian integral).

The volume of low energy is bounded by the architecture (a k-dimensional subspace, k < d),
so minimising mean F_∞ over W needs no negative samples: its minimisers span the top-k
principal subspace of the second-moment matrix of the data (Baldi & Hornik 1989; centre the
data for PCA). (Mean F_β is unbounded below in W: W → cW, c → 0, keeps the distance and sends
(1/2β) log det WᵀW to −∞; train on F_∞.) F_∞ is minimised through [`physebm.fit`][] with
[`physebm.objectives.free_energy.free_energy_loss`][].
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp

from physebm.models._linear import LinearDecoderEnergy, check_matrix
from physebm.models.capabilities import analytic_free_energy
from physebm.validation import check_beta, check_shape

__all__ = ["PCAEnergy"]


class PCAEnergy(LinearDecoderEnergy):
    """Linear auto-encoder energy E(y, z) = ‖y − Wz‖² with W of shape (d, k).

    A position is the pair x = (y, z) (``domain="real"``, ``event_shape`` ``((d,), (k,))``);
    ``model((y, z))`` and ``model.energy(y, z)`` are E(y, z). The joint Gibbs density
    exp(−βE) is not normalisable over (y, z) (E is flat along span W); the marginal free
    energy [`free_energy`][] is what the model defines.

    Args:
        W: (d, k) decoder ("loading") matrix, finite; F_β needs full column rank (k ≤ d).

    Raises:
        ValueError: W is not a finite (d, k) matrix.
    """

    domain: str = eqx.field(static=True, default="real")

    def __init__(self, W):
        self.W = check_matrix(W, "decoder matrix (d data dims, k latents)")

    def energy(self, x, z=None) -> jax.Array:
        """E(y, z) = ‖y − Wz‖²: ``energy((y, z))`` or ``energy(y, z)``, batched over y and z."""
        y, z = self.pair(x, z)
        return jnp.sum((y - z @ self.W.T) ** 2, axis=-1)

    def encode(self, y) -> jax.Array:
        """z*(y) = argmin_z ‖y − Wz‖² (least squares; the minimum-norm one if W is rank
        deficient), batched over leading axes, shape (..., k)."""
        return _least_squares(self.W, check_shape(y, (self.dim,), "y"))

    def reconstruct(self, y) -> jax.Array:
        """W z*(y) = P_W y, the orthogonal projection of y on span W."""
        return self.encode(y) @ self.W.T

    def free_energy(self, y, beta=math.inf) -> jax.Array:
        """F_β(y) in closed form (module docstring), batched over the leading axes of y.

        F_∞(y) = ‖y − Wz*‖² with z* held fixed, so that ∇_W F_∞ = −2(y − Wz*)z*ᵀ exactly
        (Danskin); for finite β, log det WᵀW = 2 Σ log L_ii with WᵀW = LLᵀ (Cholesky). A
        rank-deficient W gives F_β = −∞ (the integral over z diverges) or NaN.

        Args:
            y: data, shape (..., d).
            beta: inverse temperature β > 0, or ``math.inf``.
        """
        y = check_shape(y, (self.dim,), "y")
        z = _least_squares(jax.lax.stop_gradient(self.W), jax.lax.stop_gradient(y))
        distance = self.energy(y, z)
        if isinstance(beta, int | float) and math.isinf(beta) and beta > 0:
            return distance
        beta = check_beta(beta)
        k = self.num_latent
        chol = jnp.linalg.cholesky(self.W.T @ self.W)
        log_det = 2 * jnp.sum(jnp.log(jnp.diagonal(chol)))
        return distance + (0.5 * k * jnp.log(beta / jnp.pi) + 0.5 * log_det) / beta


def _least_squares(W, y):
    """argmin_z ‖y − Wz‖² for every y on the leading axes (``jnp.linalg.lstsq``, via SVD)."""
    d, k = W.shape
    z, *_ = jnp.linalg.lstsq(W, y.reshape(-1, d).T)
    return z.T.reshape(*y.shape[:-1], k)


@analytic_free_energy.register(PCAEnergy)
def _pca_analytic_free_energy(model: PCAEnergy):
    """F_β(y) with z integrated out in closed form; F_∞(y) the squared distance to span W."""
    return model.free_energy
