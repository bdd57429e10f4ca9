"""General (fully visible) Boltzmann machine on any graph."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

import samplers
from physebm.models.base import EnergyModel
from physebm.models.capabilities import PairwiseForm, kernel_target, pairwise_form
from physebm.validation import check_parameter, check_shape, check_square_symmetric

DOMAINS = ("spin", "bits")


class BoltzmannMachine(EnergyModel):
    """Pairwise energy on a symmetric coupling matrix:

        E(x) = −½ xᵀ W x − bᵀ x

    with x ∈ {−1, +1}ⁿ (``domain="spin"``) or x ∈ {0, 1}ⁿ (``domain="bits"``). W must be
    symmetric; its diagonal is allowed (a constant for spins, an extra bias ½W_ii for bits).
    A zero entry W_ij means no edge: any graph is a sparsity pattern of W.

    Args:
        W: (n, n) symmetric couplings.
        b: (n,) biases (fields).
        domain: ``"spin"`` or ``"bits"``.
    """

    W: jax.Array
    b: jax.Array
    domain: str = eqx.field(static=True, default="spin")

    def __init__(self, W, b=None, domain: str = "spin"):
        W = check_square_symmetric(check_parameter(W, "W"), "W")
        n = W.shape[0]
        b = jnp.zeros(n) if b is None else check_parameter(b, "b")
        if b.shape != (n,):
            raise ValueError(f"b must have shape ({n},) to match W, got {b.shape}")
        if domain not in DOMAINS:
            raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r}")
        self.W, self.b, self.domain = W, b, domain

    @property
    def num_units(self) -> int:
        return self.W.shape[0]

    @property
    def event_shape(self) -> tuple[int, ...]:
        return (self.num_units,)

    def energy(self, x) -> jax.Array:
        """E(x) = −½ xᵀ W x − bᵀ x for one configuration of shape (n,)."""
        x = check_shape(x, (self.num_units,), "x")
        if x.ndim != 1:
            raise ValueError(f"x must be one configuration of shape ({self.num_units},)")
        x = x.astype(jnp.result_type(float))
        return -0.5 * x @ self.W @ x - self.b @ x

    def local_field(self, x) -> jax.Array:
        """Field φ_i that sets the Gibbs conditional of unit i given the others.

        spins: φ_i = Σ_{j≠i} W_ij x_j + b_i, so p(x_i = +1 | rest) = σ(2βφ_i);
        bits:  φ_i = Σ_{j≠i} W_ij x_j + b_i + ½W_ii, so p(x_i = 1 | rest) = σ(βφ_i).
        """
        x = x.astype(jnp.result_type(float))
        diag = jnp.diag(self.W)
        phi = self.W @ x - diag * x + self.b
        return phi + 0.5 * diag if self.domain == "bits" else phi


@pairwise_form.register(BoltzmannMachine)
def _boltzmann_pairwise_form(model: BoltzmannMachine) -> PairwiseForm:
    """The model's own (W, b, domain)."""
    return PairwiseForm(model.W, model.b, model.domain)


@kernel_target.register(BoltzmannMachine)
def _boltzmann_target(model: BoltzmannMachine, beta):
    """−βE as a [`samplers.PairwiseBinary`][] with couplings βW and fields βb."""
    return samplers.PairwiseBinary(beta * model.W, beta * model.b, model.domain)
