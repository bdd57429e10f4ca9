"""Normalised base distributions q₀ for importance sampling, AIS, TI and SMC.

Every base is an ``equinox.Module`` with

* ``sample(key, num) -> x`` — a batch (leading axis ``num``) of exact samples;
* ``log_prob(x) -> scalar`` — the normalised log density of ONE configuration;
* ``domain`` — ``"spin"`` (±1), ``"bits"`` ({0, 1}) or ``"real"``.

Discrete samples are floats (±1.0 or 0.0/1.0) so that energies and gradients apply directly.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.optimize import minimize

__all__ = [
    "Base",
    "GaussianBase",
    "IndependentBits",
    "IndependentSpins",
    "ProductBase",
    "gaussian",
    "independent_bits",
    "independent_spins",
    "laplace",
    "minimize_energy",
    "product",
    "rbm_base_rate",
    "uniform_bits",
    "uniform_spins",
]


class Base(eqx.Module):
    """Interface of a normalised base distribution (see the module docstring)."""

    def sample(self, key, num: int):
        raise NotImplementedError

    def log_prob(self, x) -> jax.Array:
        raise NotImplementedError

    @property
    def domain(self) -> str:
        raise NotImplementedError


class IndependentSpins(Base):
    """q(s) = Π_i exp(h_i s_i) / (2 cosh h_i) on s ∈ {−1, +1}^shape (h = 0: uniform)."""

    field: jax.Array

    def sample(self, key, num: int):
        p_up = jax.nn.sigmoid(2.0 * self.field)
        up = jax.random.uniform(key, (num, *self.field.shape), dtype=self.field.dtype) < p_up
        return jnp.where(up, 1.0, -1.0).astype(self.field.dtype)

    def log_prob(self, x) -> jax.Array:
        h = self.field
        log_norm = jnp.abs(h) + jnp.log1p(jnp.exp(-2.0 * jnp.abs(h)))  # log(2 cosh h)
        return jnp.sum(h * x - log_norm)

    @property
    def domain(self) -> str:
        return "spin"


class IndependentBits(Base):
    """q(x) = Π_i σ(a_i)^{x_i} (1 − σ(a_i))^{1 − x_i} on x ∈ {0, 1}^shape (a = logits)."""

    logits: jax.Array

    def sample(self, key, num: int):
        p = jax.nn.sigmoid(self.logits)
        u = jax.random.uniform(key, (num, *self.logits.shape), dtype=self.logits.dtype)
        return (u < p).astype(self.logits.dtype)

    def log_prob(self, x) -> jax.Array:
        return jnp.sum(self.logits * x - jax.nn.softplus(self.logits))

    @property
    def domain(self) -> str:
        return "bits"


class GaussianBase(Base):
    """q(x) = N(μ, L Lᵀ) on ℝ^d with L lower triangular (positive diagonal)."""

    mean: jax.Array
    scale_tril: jax.Array

    def sample(self, key, num: int):
        eps = jax.random.normal(key, (num, *self.mean.shape), dtype=self.mean.dtype)
        return self.mean + eps @ self.scale_tril.T

    def log_prob(self, x) -> jax.Array:
        d = self.mean.shape[0]
        z = jax.scipy.linalg.solve_triangular(self.scale_tril, x - self.mean, lower=True)
        log_det = jnp.sum(jnp.log(jnp.diag(self.scale_tril)))
        return -0.5 * z @ z - log_det - 0.5 * d * jnp.log(2 * jnp.pi)

    @property
    def domain(self) -> str:
        return "real"

    @property
    def covariance(self) -> jax.Array:
        return self.scale_tril @ self.scale_tril.T


class ProductBase(Base):
    """Independent product of bases over a tuple position ``x = (x_1, x_2, ...)``."""

    parts: tuple

    def sample(self, key, num: int):
        keys = jax.random.split(key, len(self.parts))
        return tuple(p.sample(k, num) for p, k in zip(self.parts, keys, strict=True))

    def log_prob(self, x) -> jax.Array:
        if not isinstance(x, tuple | list) or len(x) != len(self.parts):
            raise ValueError(f"x must be a tuple of {len(self.parts)} parts for a ProductBase")
        return sum(p.log_prob(xi) for p, xi in zip(self.parts, x, strict=True))

    @property
    def domain(self) -> str:
        domains = {p.domain for p in self.parts}
        return domains.pop() if len(domains) == 1 else "mixed"


def _shape(shape) -> tuple[int, ...]:
    shape = (shape,) if isinstance(shape, int | np.integer) else tuple(int(s) for s in shape)
    if any(s < 1 for s in shape):
        raise ValueError(f"shape must have positive sides, got {shape}")
    return shape


def uniform_spins(shape) -> IndependentSpins:
    """Uniform distribution over ±1 spins of ``shape``: log q = −n log 2."""
    return IndependentSpins(np.zeros(_shape(shape), jnp.result_type(float)))


def uniform_bits(shape) -> IndependentBits:
    """Uniform distribution over {0, 1} bits of ``shape``: log q = −n log 2."""
    return IndependentBits(np.zeros(_shape(shape), jnp.result_type(float)))


def independent_spins(field) -> IndependentSpins:
    """Independent spins with p(s_i = +1) = σ(2 h_i) for the given fields h."""
    field = jnp.asarray(field, dtype=float)
    if not bool(jnp.all(jnp.isfinite(field))):
        raise ValueError("field must be finite")
    return IndependentSpins(field)


def independent_bits(logits) -> IndependentBits:
    """Independent bits with p(x_i = 1) = σ(a_i) for the given logits a."""
    logits = jnp.asarray(logits, dtype=float)
    if not bool(jnp.all(jnp.isfinite(logits))):
        raise ValueError("logits must be finite")
    return IndependentBits(logits)


def gaussian(mean, cov=None, *, scale=None) -> GaussianBase:
    """N(mean, cov); or N(mean, scale² I) with a scalar/vector ``scale`` (default 1).

    Raises:
        ValueError: shapes disagree or ``cov`` is not symmetric positive definite.
    """
    mean = jnp.atleast_1d(jnp.asarray(mean, dtype=float))
    if mean.ndim != 1:
        raise ValueError(f"mean must have shape (d,), got {mean.shape}")
    d = mean.shape[0]
    if cov is not None and scale is not None:
        raise ValueError("give cov or scale, not both")
    if cov is None:
        scale = jnp.broadcast_to(jnp.asarray(1.0 if scale is None else scale, dtype=float), (d,))
        if not bool(jnp.all(scale > 0)):
            raise ValueError(f"scale must be > 0, got {scale}")
        return GaussianBase(mean, jnp.diag(scale))
    cov = jnp.asarray(cov, dtype=float)
    if cov.shape != (d, d):
        raise ValueError(f"cov must have shape ({d}, {d}), got {cov.shape}")
    chol = jnp.linalg.cholesky(0.5 * (cov + cov.T))
    if not bool(jnp.all(jnp.isfinite(chol))):
        raise ValueError("cov must be symmetric positive definite")
    return GaussianBase(mean, chol)


def product(*parts: Base) -> ProductBase:
    """Independent product base over a tuple position (e.g. an RBM's ``(v, h)``)."""
    if not parts or not all(isinstance(p, Base) for p in parts):
        raise TypeError("product takes one or more Base instances")
    return ProductBase(tuple(parts))


def rbm_base_rate(rbm, data, *, smoothing: float = 1.0) -> ProductBase:
    """The "data base-rate" base for an RBM's ``(v, h)`` (Salakhutdinov & Murray 2008).

    Independent visible bits with p(v_i = 1) the smoothed data frequency
    (Σ_n v_ni + smoothing) / (N + 2·smoothing), times uniform hidden bits. Much closer to a
    trained RBM than the uniform base, hence far fewer temperatures for the same accuracy.

    Args:
        rbm: an [`RBM`][physebm.models.RBM].
        data: (N, n_visible) binary data.
        smoothing: pseudo-count added to both outcomes (> 0 keeps the logits finite).
    """
    data = jnp.asarray(data, dtype=float)
    if data.ndim != 2 or data.shape[1] != rbm.num_visible:
        raise ValueError(f"data must have shape (N, {rbm.num_visible}), got {data.shape}")
    if not smoothing > 0:
        raise ValueError(f"smoothing must be > 0, got {smoothing}")
    p = (data.sum(0) + smoothing) / (data.shape[0] + 2 * smoothing)
    return product(IndependentBits(jnp.log(p) - jnp.log1p(-p)), uniform_bits(rbm.num_hidden))


def laplace(energy_fn, beta, x0, *, num_iterations: int = 200) -> GaussianBase:
    """Gaussian at the minimum of E with covariance (β ∇²E)⁻¹ (Laplace approximation).

    The minimum is found by BFGS from ``x0``; the result is exact for a quadratic energy.

    Raises:
        ValueError: the Hessian at the minimum is not positive definite.
    """
    x0 = jnp.atleast_1d(jnp.asarray(x0, dtype=float))
    mode, hess = minimize_energy(energy_fn, x0, num_iterations=num_iterations)
    chol = jnp.linalg.cholesky(jnp.asarray(beta) * 0.5 * (hess + hess.T))
    if not bool(jnp.all(jnp.isfinite(chol))):
        raise ValueError("the Hessian of the energy at its minimum is not positive definite")
    inv = jax.scipy.linalg.solve_triangular(chol, jnp.eye(mode.shape[0]), lower=True)
    cov = inv.T @ inv
    return GaussianBase(mode, jnp.linalg.cholesky(0.5 * (cov + cov.T)))


def minimize_energy(energy_fn: Callable, z0, *, num_iterations: int = 200):
    """(z*, ∇²E(z*)) for ``energy_fn(z) -> scalar``: BFGS from ``z0``, then two Newton steps
    where the Hessian is positive definite (exact for a quadratic E)."""
    z0 = jnp.atleast_1d(jnp.asarray(z0, dtype=jnp.result_type(float)))
    res = minimize(energy_fn, z0, method="BFGS", options={"maxiter": num_iterations, "gtol": 1e-9})
    z = res.x
    hess_fn, grad_fn = jax.hessian(energy_fn), jax.grad(energy_fn)
    for _ in range(2):
        chol = jnp.linalg.cholesky(hess_fn(z))  # NaN unless positive definite: then no step
        step = jax.scipy.linalg.cho_solve((chol, True), grad_fn(z))
        z = jnp.where(jnp.all(jnp.isfinite(step)), z - step, z)
    hess = hess_fn(z)
    return z, 0.5 * (hess + hess.T)
