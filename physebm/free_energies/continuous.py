"""Free energy over a continuous latent, estimated: Laplace, importance sampling, variational bound.

For a joint energy E(x, z) with a continuous latent z ∈ ℝ^d and β multiplying the joint energy,

    F_β(x) = −(1/β) log Z_x(β),   Z_x(β) = ∫ exp(−β E(x, z)) dz.

* Laplace: with z* = argmin_z E(x, z) and H = ∇²_z E(x, z*),
  log Z_x ≈ −βE(x, z*) + (d/2) log 2π − ½ log det(βH), i.e.
  F ≈ E(x, z*) − (d/2β) log 2π + (1/2β) log det(βH). Exact for E quadratic in z; no bound.
* Importance sampling from q (default the Laplace Gaussian N(z*, (βH)⁻¹)):
  log Ẑ_x = log mean exp(−βE(x, z_i) − log q(z_i)); F̂ = −log Ẑ_x/β is a stochastic UPPER
  bound on F (E[log Ẑ] ≤ log Z by Jensen), with delta-method stderr.
* Variational: for any q, F ≤ ⟨E⟩_q − S(q)/β (Gibbs–Bogoliubov); q = N(μ, LLᵀ) is fitted by
  reparameterised gradient steps from the Laplace solution and the bound is estimated with
  fresh samples (S(q) = ½ log det(2πe LLᵀ) in closed form): a stochastic UPPER bound on F.

All functions take ONE x (vmap over a batch) and ``energy_fn(x, z) -> scalar``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from physebm.partition.bases import GaussianBase, minimize_energy
from physebm.partition.weights import weight_statistics

__all__ = [
    "FreeEnergyEstimate",
    "importance_free_energy",
    "laplace_free_energy",
    "minimize_energy",
    "variational_free_energy",
]


class FreeEnergyEstimate(eqx.Module):
    """F_β(x) with its uncertainty and the side it bounds.

    Attributes:
        free_energy: the estimate of F.
        stderr: its standard error (0 for deterministic approximations).
        lower, upper: bounds on F where the method gives one (±∞ otherwise).
        method: ``"laplace"``, ``"importance"`` or ``"variational"``.
        diagnostics: method-specific arrays (mode, log det, ESS, ...).
    """

    free_energy: Any
    stderr: Any
    lower: Any
    upper: Any
    method: str = eqx.field(static=True)
    diagnostics: dict


def _laplace_gaussian(energy_fn, x, beta, z0, num_iterations):
    def e(z):
        return energy_fn(x, z)

    mode, hess = minimize_energy(e, z0, num_iterations=num_iterations)
    chol_prec = jnp.linalg.cholesky(beta * hess)  # NaN if not positive definite
    d = mode.shape[0]
    inv = jax.scipy.linalg.solve_triangular(chol_prec, jnp.eye(d), lower=True)
    cov = inv.T @ inv
    log_det_beta_h = 2 * jnp.sum(jnp.log(jnp.diag(chol_prec)))
    return e(mode), mode, jnp.linalg.cholesky(0.5 * (cov + cov.T)), log_det_beta_h


def laplace_free_energy(
    energy_fn: Callable, x, beta=1.0, *, z0, num_iterations: int = 200
) -> FreeEnergyEstimate:
    """Laplace approximation of F_β(x) (module docstring). No bound; NaN (and
    ``diagnostics["positive_definite"] = False``) when ∇²E is not positive definite at z*."""
    beta = jnp.asarray(beta, dtype=jnp.result_type(float))
    e_min, mode, _, log_det = _laplace_gaussian(energy_fn, x, beta, z0, num_iterations)
    d = mode.shape[0]
    log_z = -beta * e_min + 0.5 * d * jnp.log(2 * jnp.pi) - 0.5 * log_det
    f = -log_z / beta
    return FreeEnergyEstimate(
        free_energy=f,
        stderr=jnp.zeros_like(f),
        lower=-jnp.inf * jnp.ones_like(f),
        upper=jnp.inf * jnp.ones_like(f),
        method="laplace",
        diagnostics={
            "mode": mode,
            "energy_at_mode": e_min,
            "log_det_beta_hessian": log_det,
            "positive_definite": jnp.isfinite(log_det),
        },
    )


def importance_free_energy(
    energy_fn: Callable,
    x,
    beta=1.0,
    *,
    key,
    z0=None,
    proposal: GaussianBase | None = None,
    num_samples: int = 1000,
    num_iterations: int = 200,
) -> FreeEnergyEstimate:
    """F_β(x) by importance sampling over z (module docstring): a stochastic upper bound.

    Args:
        energy_fn: ``(x, z) -> E(x, z)``.
        x: one observed configuration.
        beta: inverse temperature.
        key: PRNG key.
        z0: start of the mode search for the default Laplace proposal.
        proposal: a :class:`~physebm.partition.bases.GaussianBase` over z (default Laplace).
        num_samples: number of proposal draws.
    """
    beta = jnp.asarray(beta, dtype=jnp.result_type(float))
    if proposal is None:
        if z0 is None:
            raise ValueError("give z0 (start of the mode search) or a proposal")
        _, mode, scale_tril, _ = _laplace_gaussian(energy_fn, x, beta, z0, num_iterations)
        proposal = GaussianBase(mode, scale_tril)
    z = proposal.sample(key, num_samples)
    log_w = jax.vmap(lambda zi: -beta * energy_fn(x, zi) - proposal.log_prob(zi))(z)
    stats = weight_statistics(log_w)
    f = -stats["log_z"] / beta
    return FreeEnergyEstimate(
        free_energy=f,
        stderr=stats["stderr"] / beta,
        lower=-jnp.inf * jnp.ones_like(f),
        upper=f,
        method="importance",
        diagnostics={
            "ess": stats["ess"],
            "num_dropped": stats["num_dropped"],
            "log_weight_variance": stats["log_weight_variance"],
        },
    )


def _standardized_normal(key, num, d):
    """Normal draws shifted and whitened to sample mean 0 and sample covariance I exactly, so
    that the sample-average objective is exact for an energy quadratic in z."""
    eps = jax.random.normal(key, (num, d))
    eps = eps - eps.mean(0)
    chol = jnp.linalg.cholesky(eps.T @ eps / num)
    return jax.scipy.linalg.solve_triangular(chol, eps.T, lower=True).T


def variational_free_energy(
    energy_fn: Callable,
    x,
    beta=1.0,
    *,
    key,
    z0,
    num_steps: int = 500,
    learning_rate: float = 0.02,
    num_particles: int = 256,
    num_samples: int = 1000,
    num_iterations: int = 200,
) -> FreeEnergyEstimate:
    """Gaussian variational upper bound F ≤ ⟨E⟩_q − S(q)/β (module docstring).

    q = N(μ, LLᵀ) starts at the Laplace solution and is refined by Adam on the reparameterised
    bound averaged over ``num_particles`` fixed draws, whitened to exact zero mean and unit
    covariance (a deterministic sample-average objective, exact for quadratic E); the refined q
    is kept only if it beats the Laplace q on independent draws. The bound is then estimated
    from ``num_samples`` fresh draws (stderr from their spread): an unbiased estimate of a
    valid upper bound.
    """
    beta = jnp.asarray(beta, dtype=jnp.result_type(float))
    _, mode, scale_tril, _ = _laplace_gaussian(energy_fn, x, beta, z0, num_iterations)
    d = mode.shape[0]
    scale_tril = jnp.where(jnp.isfinite(scale_tril), scale_tril, jnp.eye(d))
    raw = (mode, jnp.tril(scale_tril, -1), jnp.log(jnp.diag(scale_tril)))

    def unpack(p):
        mu, off, log_diag = p
        return mu, jnp.tril(off, -1) + jnp.diag(jnp.exp(log_diag))

    def entropy(L):
        return 0.5 * d * (1.0 + jnp.log(2 * jnp.pi)) + jnp.sum(jnp.log(jnp.abs(jnp.diag(L))))

    def bound(p, eps):  # ⟨E⟩_q − S(q)/β on the draws mu + L eps
        mu, L = unpack(p)
        z = mu + eps @ L.T
        return jnp.mean(jax.vmap(lambda zi: energy_fn(x, zi))(z)) - entropy(L) / beta

    opt = optax.adam(learning_rate)
    k_fit, k_select, k_eval = jax.random.split(key, 3)

    eps_fit = _standardized_normal(k_fit, num_particles, d)  # common random numbers

    def step(carry, _):
        p, state = carry
        g = jax.grad(bound)(p, eps_fit)
        updates, state = opt.update(g, state, p)
        return (optax.apply_updates(p, updates), state), None

    init = raw
    (raw, _), _ = jax.lax.scan(step, (raw, opt.init(raw)), None, length=num_steps)
    # keep the refinement only if it is better on independent draws (never worse than Laplace)
    eps_select = _standardized_normal(k_select, num_particles, d)
    better = bound(raw, eps_select) < bound(init, eps_select)
    raw = jax.tree.map(
        lambda a, b: jnp.where(better | ~jnp.isfinite(bound(init, eps_select)), a, b), raw, init
    )
    mu, L = unpack(raw)
    eps = jax.random.normal(k_eval, (num_samples, d))
    energies = jax.vmap(lambda zi: energy_fn(x, zi))(mu + eps @ L.T)
    f = jnp.mean(energies) - entropy(L) / beta
    se = jnp.std(energies, ddof=1) / jnp.sqrt(num_samples)
    return FreeEnergyEstimate(
        free_energy=f,
        stderr=se,
        lower=-jnp.inf * jnp.ones_like(f),
        upper=f,
        method="variational",
        diagnostics={"mean": mu, "scale_tril": L, "entropy": entropy(L)},
    )
