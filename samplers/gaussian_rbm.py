"""Structured target of a Gaussian–Bernoulli RBM: real visible units, binary hidden units.

    log p(v, h) = −Σ_i (v_i − b_i)² / (2σ_i²) + cᵀh + Σ_ij (v_i / σ_i) W_ij h_j   (+ const)

on v ∈ ℝ^{n_v}, h ∈ {0, 1}^{n_h}, position ``(v, h)``. Its two conditionals are exact draws:

    p(h_j = 1 | v) = σ(c_j + Σ_i (v_i / σ_i) W_ij),   p(v | h) = N(b + σ ⊙ (W h), diag σ²),

so [`samplers.BlockGibbs`][] runs on it (h | v, then v | h) as on a
[`samplers.BernoulliRBM`][]. β is absorbed as for every structured target: an energy
E(v, h) = Σ (v − b)²/(2σ²) − cᵀh − (v/σ)ᵀWh at inverse temperature β is this target with
(√β W, b, β c, σ / √β), since −βE is then exactly the log density above.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from samplers.targets import _float, bernoulli_from_logit

__all__ = ["GaussianBernoulliRBM"]


class GaussianBernoulliRBM(eqx.Module):
    """log p(v, h) = −Σ_i (v_i − b_i)²/(2σ_i²) + cᵀh + (v/σ)ᵀWh, v real, h bits; position (v, h).

    Conditionals: p(h_j = 1 | v) = sigmoid(c_j + (v/σ)ᵀW_{:j}) and
    p(v | h) = N(b + σ ⊙ (Wh), diag σ²).

    Args:
        W: (n_visible, n_hidden) weights.
        b: (n_visible,) visible means.
        c: (n_hidden,) hidden biases.
        sigma: (n_visible,) visible standard deviations σ_i > 0 (checked when concrete).
    """

    W: jax.Array
    b: jax.Array
    c: jax.Array
    sigma: jax.Array

    def __init__(self, W, b, c, sigma):
        W, b, c = _float(W, "W", 2), _float(b, "b", 1), _float(c, "c", 1)
        sigma = _float(sigma, "sigma", 1)
        nv, nh = W.shape
        if b.shape != (nv,) or c.shape != (nh,) or sigma.shape != (nv,):
            raise ValueError(
                f"W must be (n_visible, n_hidden) with b (n_visible,), c (n_hidden,) and sigma "
                f"(n_visible,), got W {W.shape}, b {b.shape}, c {c.shape}, sigma {sigma.shape}"
            )
        if not isinstance(sigma, jax.core.Tracer) and not bool(jnp.all(sigma > 0)):
            raise ValueError(f"sigma must be > 0 (standard deviations), got {sigma}")
        self.W, self.b, self.c, self.sigma = W, b, c, sigma

    def __call__(self, position) -> jax.Array:
        v, h = (jnp.asarray(a).astype(self.W.dtype) for a in position)
        z = (v - self.b) / self.sigma
        return -0.5 * z @ z + self.c @ h + (v / self.sigma) @ self.W @ h

    def sample_h_given_v(self, key, v) -> jax.Array:
        """h ~ p(h | v), bits in the dtype of ``v``."""
        return bernoulli_from_logit(key, self.c + (v / self.sigma) @ self.W, "bits", v.dtype)

    def sample_v_given_h(self, key, h) -> jax.Array:
        """v ~ N(b + σ ⊙ (Wh), diag σ²), in the dtype of ``h`` (of ``W`` for integer bits)."""
        h = jnp.asarray(h)
        dtype = h.dtype if jnp.issubdtype(h.dtype, jnp.inexact) else self.W.dtype
        noise = jax.random.normal(key, self.b.shape, dtype)
        return (self.b + self.sigma * (self.W @ h + noise)).astype(dtype)
