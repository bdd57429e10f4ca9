"""Bernoulli restricted Boltzmann machine."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp

import samplers
from physebm.models.base import EnergyModel
from physebm.models.capabilities import (
    PairwiseForm,
    analytic_free_energy,
    kernel_target,
    pairwise_form,
)
from physebm.validation import check_beta, check_parameter, check_shape


class RBM(EnergyModel):
    """Bernoulli RBM with visible bits v ∈ {0,1}^{n_v} and hidden bits h ∈ {0,1}^{n_h}:

        E(v, h) = −bᵀv − cᵀh − vᵀWh

    β multiplies the joint energy, p_β(v, h) ∝ exp(−β E(v, h)); summing out h gives
    p_β(v) ∝ exp(−β F_β(v)) with the visible free energy

        F_β(v) = −bᵀv − (1/β) Σ_j softplus(β (c_j + vᵀW_{:j})).

    A position is the pair x = (v, h) (``domain="bits"``), so ``event_shape`` is the pair of
    shapes ``((n_v,), (n_h,))`` and ``model((v, h))`` is E(v, h).

    Args:
        W: (n_v, n_h) weights.
        b: (n_v,) visible biases.
        c: (n_h,) hidden biases.
    """

    W: jax.Array
    b: jax.Array
    c: jax.Array
    domain: str = eqx.field(static=True, default="bits")

    def __init__(self, W, b=None, c=None):
        W = check_parameter(W, "W")
        if W.ndim != 2:
            raise ValueError(f"W must be a (n_visible, n_hidden) matrix, got shape {W.shape}")
        nv, nh = W.shape
        b = jnp.zeros(nv) if b is None else check_parameter(b, "b")
        c = jnp.zeros(nh) if c is None else check_parameter(c, "c")
        if b.shape != (nv,):
            raise ValueError(f"b must have shape ({nv},) (visible biases), got {b.shape}")
        if c.shape != (nh,):
            raise ValueError(f"c must have shape ({nh},) (hidden biases), got {c.shape}")
        self.W, self.b, self.c = W, b, c

    @property
    def num_visible(self) -> int:
        return self.W.shape[0]

    @property
    def num_hidden(self) -> int:
        return self.W.shape[1]

    @property
    def event_shape(self) -> tuple[tuple[int], tuple[int]]:
        """The shapes ``((n_v,), (n_h,))`` of the position (v, h)."""
        return ((self.num_visible,), (self.num_hidden,))

    def energy(self, x, h=None) -> jax.Array:
        """E(v, h) = −bᵀv − cᵀh − vᵀWh for one pair: ``energy((v, h))`` or ``energy(v, h)``."""
        v, h = x if h is None else (x, h)
        v = check_shape(v, (self.num_visible,), "v").astype(self.W.dtype)
        h = check_shape(h, (self.num_hidden,), "h").astype(self.W.dtype)
        if v.ndim != 1 or h.ndim != 1:
            raise ValueError("energy takes one configuration; vmap over batches")
        return -self.b @ v - self.c @ h - v @ self.W @ h

    def free_energy(self, v, beta=1.0) -> jax.Array:
        """F_β(v) = −bᵀv − (1/β) Σ_j softplus(β (c_j + vᵀW_{:j})), batched over leading axes."""
        beta = check_beta(beta)
        v = check_shape(v, (self.num_visible,), "v").astype(self.W.dtype)
        return -v @ self.b - jnp.sum(jax.nn.softplus(beta * (self.c + v @ self.W)), -1) / beta

    def free_energy_hidden(self, h, beta=1.0) -> jax.Array:
        """F_β(h) = −cᵀh − (1/β) Σ_i softplus(β (b_i + W_{i:}h)), batched over leading axes."""
        beta = check_beta(beta)
        h = check_shape(h, (self.num_hidden,), "h").astype(self.W.dtype)
        return -h @ self.c - jnp.sum(jax.nn.softplus(beta * (self.b + h @ self.W.T)), -1) / beta

    def hidden_probs(self, v, beta=1.0) -> jax.Array:
        """p_β(h_j = 1 | v) = σ(β (c_j + vᵀW_{:j}))."""
        return jax.nn.sigmoid(beta * (self.c + v @ self.W))

    def visible_probs(self, h, beta=1.0) -> jax.Array:
        """p_β(v_i = 1 | h) = σ(β (b_i + W_{i:}h))."""
        return jax.nn.sigmoid(beta * (self.b + h @ self.W.T))


@pairwise_form.register(RBM)
def _rbm_pairwise_form(model: RBM) -> PairwiseForm:
    """The bipartite form on x = (v, h): W = [[0, W], [Wᵀ, 0]], b = (b, c), bits."""
    nv, nh = model.W.shape
    W = jnp.zeros((nv + nh, nv + nh))
    W = W.at[:nv, nv:].set(model.W).at[nv:, :nv].set(model.W.T)
    return PairwiseForm(W, jnp.concatenate([model.b, model.c]), "bits")


@analytic_free_energy.register(RBM)
def _rbm_analytic_free_energy(model: RBM):
    """F_β(v) with the hidden layer summed out; F_∞(v) = −bᵀv − Σ_j max(0, c_j + vᵀW_{:j})."""

    def free_energy(v, beta):
        if isinstance(beta, float) and math.isinf(beta):
            # min_h E(v, h) = −bᵀv − Σ_j max(0, c_j + vᵀW_j)
            v = jnp.asarray(v, dtype=model.W.dtype)
            return -v @ model.b - jnp.sum(jax.nn.relu(model.c + v @ model.W), -1)
        return model.free_energy(v, beta)

    return free_energy


@kernel_target.register(RBM)
def _rbm_target(model: RBM, beta):
    """−βE(v, h) as a [`samplers.BernoulliRBM`][] with weights βW and biases βb, βc."""
    return samplers.BernoulliRBM(beta * model.W, beta * model.b, beta * model.c)
