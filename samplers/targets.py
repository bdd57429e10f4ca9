"""Structured targets: log densities (β already absorbed) that carry the structure some kernels
need. Each is an equinox Module and a callable ``x -> log p(x)`` (up to a constant), so generic
kernels (Metropolis, heat-bath flips, MALA on a relaxation) accept them like any function, while
the specialised kernels read their parameters:

* [`PeriodicIsing2D`][] for [`samplers.Checkerboard`][] and [`samplers.SwendsenWang`][]
  ([`ising_target`][] builds one from β, J and h);
* [`PairwiseBinary`][] (its [`local_field`][PairwiseBinary.local_field]) for
  [`samplers.ColoredGibbs`][] and [`samplers.ColoredMetropolis`][];
* [`BernoulliRBM`][] (its two conditional samplers) for [`samplers.BlockGibbs`][].

For an energy at inverse temperature β the parameters are β times the energy's (coupling = βJ,
W = βW_E, ...). Parameters are array leaves: a new β never recompiles.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from samplers.base import check_beta, check_domain

__all__ = [
    "BernoulliRBM",
    "PairwiseBinary",
    "PeriodicIsing2D",
    "bernoulli_from_logit",
    "ising_target",
]


def bernoulli_from_logit(key, logit, domain: str, dtype):
    """x = +1/1 with probability σ(logit), else −1/0, drawn as [logit + Logistic > 0]
    (exactly Bernoulli(σ(logit)), and no overflow for large |logit|)."""
    up = jnp.asarray(logit) + jax.random.logistic(key, jnp.shape(logit), jnp.result_type(logit)) > 0
    if domain == "spin":
        return jnp.where(up, 1, -1).astype(dtype)
    return up.astype(dtype)


def _float(x, name: str, ndim: int):
    x = jnp.asarray(x)
    dtype = x.dtype if jnp.issubdtype(x.dtype, jnp.inexact) else jnp.result_type(float)
    x = jnp.asarray(x, dtype=dtype)  # an explicit dtype drops weak typing (no recompilation)
    if x.ndim != ndim:
        kind = {0: "a scalar", 1: "a vector", 2: "a matrix"}[ndim]
        raise ValueError(f"{name} must be {kind}, got shape {x.shape}")
    return x


def require_target(target, cls, kernel: str, hint: str):
    """Raise a TypeError unless ``target`` is a ``cls`` instance (a structured target)."""
    if not isinstance(target, cls):
        raise TypeError(
            f"{kernel} needs a samplers.targets.{cls.__name__} target, got "
            f"{type(target).__name__}; {hint}"
        )
    return target


class PeriodicIsing2D(eqx.Module):
    """log p(s) = coupling Σ_⟨ij⟩ s_i s_j + field Σ_i s_i on an M×N torus, s ∈ {−1, +1}.

    The sum is over nearest-neighbour bonds (i, i + down) and (i, i + right) with periodic wrap,
    so on a side of length 2 the two bonds between a pair are both counted. coupling = βJ,
    field = βh for E(s) = −J Σ s_i s_j − h Σ s_i.
    """

    coupling: jax.Array
    field: jax.Array

    def __init__(self, coupling, field=0.0):
        self.coupling = _float(coupling, "coupling", 0)
        self.field = _float(field, "field", 0)

    def __call__(self, s) -> jax.Array:
        s = jnp.asarray(s).astype(self.coupling.dtype)
        if s.ndim != 2:
            raise ValueError(f"position must be an (M, N) lattice of ±1 spins, got {s.shape}")
        bonds = s * (jnp.roll(s, -1, axis=0) + jnp.roll(s, -1, axis=1))
        return self.coupling * jnp.sum(bonds) + self.field * jnp.sum(s)


def ising_target(beta, J=1.0, h=0.0) -> PeriodicIsing2D:
    """``PeriodicIsing2D(β J, β h)`` for E(s) = −J Σ s_i s_j − h Σ s_i at β (β > 0; J and h
    scalars), the target of the lattice samplers' constructors."""
    beta = check_beta(beta)
    J, h = jnp.asarray(J, jnp.result_type(float)), jnp.asarray(h, jnp.result_type(float))
    if J.shape != () or h.shape != ():
        raise ValueError(f"J and h must be scalars, got shapes {J.shape} and {h.shape}")
    return PeriodicIsing2D(beta * J, beta * h)


class PairwiseBinary(eqx.Module):
    """log p(x) = ½ xᵀWx + bᵀx for ±1 spins (``domain="spin"``) or {0,1} bits (``"bits"``).

    A position may have any shape with W.shape[0] entries (it is raveled). Local field φ
    ([`local_field`][]): spins φ_i = Σ_{j≠i} W_ij x_j + b_i with p(x_i = +1 | rest) = σ(2φ_i);
    bits φ_i = Σ_{j≠i} W_ij x_j + b_i + ½W_ii with p(x_i = 1 | rest) = σ(φ_i).
    """

    W: jax.Array
    b: jax.Array
    domain: str = eqx.field(static=True)

    def __init__(self, W, b, domain: str):
        W, b = _float(W, "W", 2), _float(b, "b", 1)
        if W.shape != (b.shape[0], b.shape[0]):
            raise ValueError(f"W must be (n, n) with b (n,), got W {W.shape} and b {b.shape}")
        self.W, self.b, self.domain = W, b, check_domain(domain)

    def __call__(self, x) -> jax.Array:
        xf = jnp.asarray(x).reshape(-1).astype(self.W.dtype)
        return 0.5 * xf @ self.W @ xf + self.b @ xf

    def local_field(self, x) -> jax.Array:
        """φ of every unit (class docstring), in the shape of ``x``."""
        x = jnp.asarray(x)
        xf = x.reshape(-1).astype(self.W.dtype)
        diag = jnp.diag(self.W)
        phi = self.W @ xf - diag * xf + self.b
        if self.domain == "bits":
            phi = phi + 0.5 * diag
        return phi.reshape(x.shape)


class BernoulliRBM(eqx.Module):
    """log p(v, h) = bᵀv + cᵀh + vᵀWh on bits v ∈ {0,1}^n_v, h ∈ {0,1}^n_h; position (v, h).

    Conditionals: p(h_j = 1 | v) = σ(c_j + vᵀW_{:j}), p(v_i = 1 | h) = σ(b_i + W_{i:}h).
    """

    W: jax.Array
    b: jax.Array
    c: jax.Array

    def __init__(self, W, b, c):
        W, b, c = _float(W, "W", 2), _float(b, "b", 1), _float(c, "c", 1)
        if b.shape != (W.shape[0],) or c.shape != (W.shape[1],):
            raise ValueError(
                f"W must be (n_visible, n_hidden) with b (n_visible,) and c (n_hidden,), got "
                f"W {W.shape}, b {b.shape}, c {c.shape}"
            )
        self.W, self.b, self.c = W, b, c

    def __call__(self, position) -> jax.Array:
        v, h = (jnp.asarray(a).astype(self.W.dtype) for a in position)
        return self.b @ v + self.c @ h + v @ self.W @ h

    def sample_h_given_v(self, key, v) -> jax.Array:
        """h ~ p(h | v), bits in the dtype of ``v``."""
        return bernoulli_from_logit(key, self.c + v @ self.W, "bits", v.dtype)

    def sample_v_given_h(self, key, h) -> jax.Array:
        """v ~ p(v | h), bits in the dtype of ``h``."""
        return bernoulli_from_logit(key, self.b + self.W @ h, "bits", h.dtype)
