"""The shared part of the linear-decoder energies E(y, z) with a (d, k) matrix W (PCA, sparse
coding): a position is the pair x = (y, z), y ∈ ℝᵈ, z ∈ ℝᵏ."""

from __future__ import annotations

import jax

from physebm.models.base import EnergyModel
from physebm.validation import check_parameter, check_shape


def check_matrix(W, what: str) -> jax.Array:
    """W as a finite (d, k) float matrix; ``what`` names its role in the error."""
    W = check_parameter(W, "W")
    if W.ndim != 2:
        raise ValueError(f"W must be a (d, k) {what}, got shape {W.shape}")
    return W


class LinearDecoderEnergy(EnergyModel):
    """Base of E(y, z) with a (d, k) decoder W (a field of the subclass): ``dim`` d,
    ``num_latent`` k, ``event_shape`` ``((d,), (k,))`` of the pair (y, z)."""

    W: jax.Array

    @property
    def dim(self) -> int:
        """d, the data dimension."""
        return self.W.shape[0]

    @property
    def num_latent(self) -> int:
        """k, the latent (code) dimension."""
        return self.W.shape[1]

    @property
    def event_shape(self) -> tuple[tuple[int], tuple[int]]:
        """The shapes ``((d,), (k,))`` of the position (y, z)."""
        return ((self.dim,), (self.num_latent,))

    def pair(self, x, z=None) -> tuple[jax.Array, jax.Array]:
        """(y, z) from ``x = (y, z)`` or from ``(x, z)``, shapes checked (batched is fine)."""
        y, z = x if z is None else (x, z)
        return check_shape(y, (self.dim,), "y"), check_shape(z, (self.num_latent,), "z")
