"""Amortised variational free energy: an encoder q_φ(z | y) bounds F_β(y) for every y at once.

For a joint energy E(y, z) with a continuous latent z ∈ ℝ^d,

    F_β(y) = −(1/β) log ∫ exp(−β E(y, z)) dz.

Any density q(z | y) gives the Gibbs–Bogoliubov (negative-ELBO) upper bound

    F_β(y) ≤ E_q[E(y, z)] − H[q(· | y)]/β            (β = 1: F₁(y) ≤ E_q[E] − H[q]),

whose gap is KL(q ‖ p_β(z | y))/β, and the importance-weighted (IWAE) bound with K draws
z_k ~ q(· | y),

    F_K(y) = −(1/β) log (1/K) Σ_k exp(−β E(y, z_k)) / q(z_k | y),

an upper bound in expectation, E[F_K] ≥ E[F_{K+1}] ≥ F_β (Burda et al. 2016), with E[F_1] the
variational bound above and F_K → F_β as K → ∞. When q is the exact posterior
p_β(z | y) ∝ exp(−βE(y, z)) every weight equals Z_y, so F_K = F_β for every draw and every K.

Here q is a Gaussian [`GaussianBase`][physebm.partition.bases.GaussianBase] N(μ_φ(y), L_φ(y)
L_φ(y)ᵀ), drawn by reparameterisation z = μ + Lε, so both bounds are differentiable in the
encoder's and the energy's parameters (the training objective is
[`amortized_variational`][physebm.objectives.amortized.amortized_variational]). With
E(y, z) = −log p(y, z) (a VAE's decoder plus prior), F₁(y) = −log p(y) and the bounds are the
negative ELBO and the negative IWAE bound.

The functions take ONE y (vmap over a batch) and return plain arrays, so they can be
differentiated; [`amortized_free_energy`][] wraps the IWAE bound into a [`LogZ`][] with a
standard error over independent groups.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from physebm.partition.assemble import finish
from physebm.partition.bases import GaussianBase
from physebm.partition.result import LogZ
from samplers.base import check_count

__all__ = [
    "GaussianEncoder",
    "LinearGaussianEncoder",
    "amortized_free_energy",
    "gaussian_entropy",
    "iwae_free_energy",
    "linear_encoder",
    "variational_free_energy_bound",
]

IWAE_BOUND = (
    "amortised IWAE bound: log Z >= this estimate in expectation (F <= -estimate/beta); the gap "
    "is not estimated"
)


class LinearGaussianEncoder(eqx.Module):
    """q(z | y) = N(A y + b, L Lᵀ), L = tril(offdiag, −1) + diag(exp(log_diag)) (y-independent).

    The family holds the exact posterior of every linear-Gaussian model (probabilistic PCA,
    factor analysis), whose covariance does not depend on y.
    """

    weight: jax.Array
    bias: jax.Array
    offdiag: jax.Array
    log_diag: jax.Array

    def __call__(self, y) -> GaussianBase:
        d = self.bias.shape[0]
        scale = jnp.tril(self.offdiag, -1) + jnp.diag(jnp.exp(self.log_diag))
        return GaussianBase(self.weight @ jnp.reshape(y, (-1,)) + self.bias, scale.reshape(d, d))


def linear_encoder(data_dim: int, latent_dim: int, *, key, scale: float = 0.1):
    """A [`LinearGaussianEncoder`][] with A ~ N(0, scale²), b = 0, L = I."""
    data_dim = check_count(data_dim, "data_dim")
    latent_dim = check_count(latent_dim, "latent_dim")
    weight = scale * jax.random.normal(key, (latent_dim, data_dim))
    zeros = jnp.zeros(latent_dim)
    return LinearGaussianEncoder(weight, zeros, jnp.zeros((latent_dim, latent_dim)), zeros)


class GaussianEncoder(eqx.Module):
    """q(z | y) = N(μ(y), diag σ(y)²) with (μ, log σ) = split(net(y)), ``net`` any callable module
    returning 2d numbers (e.g. ``eqx.nn.MLP(D, 2 * d, ...)``)."""

    net: Callable

    def __call__(self, y) -> GaussianBase:
        out = self.net(y)
        d = out.shape[0] // 2
        return GaussianBase(out[:d], jnp.diag(jnp.exp(out[d:])))


def gaussian_entropy(q: GaussianBase) -> jax.Array:
    """H[N(μ, LLᵀ)] = (d/2)(1 + log 2π) + Σ_i log |L_ii|."""
    d = q.mean.shape[0]
    return 0.5 * d * (1.0 + np.log(2 * np.pi)) + jnp.sum(jnp.log(jnp.abs(jnp.diag(q.scale_tril))))


def _posterior(encoder, y, name="encoder") -> GaussianBase:
    q = encoder(y)
    if not isinstance(q, GaussianBase):
        raise TypeError(
            f"{name}(y) must return a GaussianBase(mean, scale_tril) for q(z | y), got "
            f"{type(q).__name__}"
        )
    return q


def variational_free_energy_bound(
    energy_fn: Callable, encoder: Callable, y, beta=1.0, *, key, num_samples: int = 1
):
    """F_β(y) ≤ (1/K) Σ_k E(y, z_k) − H[q(· | y)]/β, z_k = μ(y) + L(y) ε_k (negative ELBO).

    An unbiased estimate of the bound E_q[E(y, z)] − H[q]/β (the entropy in closed form);
    its gap is KL(q ‖ p_β(z | y))/β ≥ 0.

    Args:
        energy_fn: ``(y, z) -> E(y, z)``, the joint energy of one configuration.
        encoder: ``y -> GaussianBase`` for q(z | y) (e.g. [`LinearGaussianEncoder`][]).
        y: one observed configuration.
        beta: inverse temperature β.
        key: PRNG key.
        num_samples: K, draws averaged (static).
    """
    q = _posterior(encoder, y)
    z = q.sample(key, check_count(num_samples, "num_samples"))
    energies = jax.vmap(lambda zk: energy_fn(y, zk))(z)
    return jnp.mean(energies) - gaussian_entropy(q) / beta


def iwae_free_energy(
    energy_fn: Callable, encoder: Callable, y, beta=1.0, *, key, num_samples: int = 1
):
    """F_K(y) = −(1/β) log (1/K) Σ_k exp(−βE(y, z_k) − log q(z_k | y)), z_k ~ q(· | y).

    E[F_K] decreases in K towards F_β(y) from above; F_K = F_β for every draw when q is the exact
    posterior. Arguments as [`variational_free_energy_bound`][] (here ``num_samples`` = K).
    """
    beta = jnp.asarray(beta, dtype=jnp.result_type(float))
    return -_log_mean_weight(energy_fn, encoder, y, beta, key, num_samples) / beta


def _log_mean_weight(energy_fn, encoder, y, beta, key, num_samples):
    q = _posterior(encoder, y)
    k = check_count(num_samples, "num_samples")
    z = q.sample(key, k)
    log_w = jax.vmap(lambda zk: -beta * energy_fn(y, zk) - q.log_prob(zk))(z)
    return jax.nn.logsumexp(log_w) - np.log(k)


def amortized_free_energy(
    energy_fn: Callable,
    encoder: Callable,
    y,
    beta=1.0,
    *,
    key,
    num_samples: int = 1,
    num_groups: int = 256,
) -> LogZ:
    """The IWAE bound for one y as a [`LogZ`][] of log Z_y(β) = −βF_β(y), with a standard error.

    ``num_groups`` independent groups of K = ``num_samples`` draws give
    ℓ_g = log (1/K) Σ_k w_gk, w = exp(−βE(y, z))/q(z | y); the estimate is mean_g ℓ_g
    (E ≤ log Z_y: a lower bound on log Z in expectation) with stderr sd(ℓ)/√G.

    Returns:
        [`LogZ`][] (method ``"amortized_iwae"``): ``log_z`` = ``lower``; ``reliable=False`` (a
        bound with unknown gap); ``info``: ``free_energy`` = −log_z/β (the upper bound on F),
        ``beta``, ``num_samples``, ``num_groups``.
    """
    beta = jnp.asarray(beta, dtype=jnp.result_type(float))
    groups = check_count(num_groups, "num_groups", 2)
    per_group = jax.vmap(lambda k: _log_mean_weight(energy_fn, encoder, y, beta, k, num_samples))(
        jax.random.split(key, groups)
    )
    log_z = jnp.mean(per_group)
    se = jnp.std(per_group, ddof=1) / np.sqrt(groups)
    res = finish(
        log_z,
        se,
        method="amortized_iwae",
        lower=log_z,
        notes=[IWAE_BOUND],
        info={"num_samples": num_samples, "num_groups": groups},
    )
    return res.replace(info={**res.info, "free_energy": -log_z / beta, "beta": beta})
