"""Free energy over a continuous latent, estimated: Laplace, importance sampling, variational bound.

For a joint energy E(x, z) with a continuous latent z ∈ ℝ^d and β multiplying the joint energy,

    F_β(x) = −(1/β) log Z_x(β),   Z_x(β) = ∫ exp(−β E(x, z)) dz.

Every function returns a [`LogZ`][] for log Z_x(β) = −β F_β(x): ``log_z``, its
``stderr``, bounds on log Z, and ``info["free_energy"]`` (F, also ``result.free_energy(beta)``)
and ``info["beta"]``. An upper bound on F is a lower bound on log Z.

* Laplace: with z* = argmin_z E(x, z) and H = ∇²_z E(x, z*),
  log Z_x ≈ −βE(x, z*) + (d/2) log 2π − ½ log det(βH), i.e.
  F ≈ E(x, z*) − (d/2β) log 2π + (1/2β) log det(βH). Exact for E quadratic in z; no bound.
* Importance sampling from q (default the Laplace Gaussian N(z*, (βH)⁻¹)):
  log Ẑ_x = log mean exp(−βE(x, z_i) − log q(z_i)), a stochastic LOWER bound on log Z_x
  (E[log Ẑ] ≤ log Z by Jensen; F̂ = −log Ẑ_x/β an upper bound on F), with the delta-method
  stderr of `physebm.partition.weights.weight_statistics`.
* Variational: for any q, F ≤ ⟨E⟩_q − S(q)/β (Gibbs–Bogoliubov), i.e.
  log Z_x ≥ −β⟨E⟩_q + S(q); q = N(μ, LLᵀ) is fitted by reparameterised gradient steps from the
  Laplace solution and the bound is estimated with fresh samples (S(q) = ½ log det(2πe LLᵀ) in
  closed form): a stochastic LOWER bound on log Z_x.

All functions take ONE x (vmap over a batch: the results are then batched [`LogZ`][]) and
``energy_fn(x, z) -> scalar``. The reliability checks run under ``jit``/``vmap`` too (there
``reliable`` is a traced boolean and only value-independent warnings are written; see
[`physebm.partition.assemble`][]).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from physebm.partition.assemble import Check, finish, from_log_weights
from physebm.partition.bases import GaussianBase, minimize_energy
from physebm.partition.result import LogZ

__all__ = [
    "importance_free_energy",
    "laplace_free_energy",
    "minimize_energy",
    "variational_free_energy",
]

LAPLACE_NO_ERROR = (
    "Laplace approximation: no error estimate (stderr 0); exact only for an energy quadratic in z"
)
VARIATIONAL_BOUND = (
    "variational bound: log Z >= this estimate (within stderr); the gap KL(q || p) is not estimated"
)


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


def _with_free_energy(res: LogZ, beta) -> LogZ:
    """``res`` with F = −log Z/β and β in ``info``."""
    return res.replace(info={"free_energy": -res.log_z / beta, "beta": beta})


def _not_finite(log_z, method: str) -> Check:
    return Check(~jnp.all(jnp.isfinite(log_z)), f"the {method} estimate is not finite")


def laplace_free_energy(energy_fn: Callable, x, beta=1.0, *, z0, num_iterations: int = 200) -> LogZ:
    """Laplace approximation of log Z_x(β) = −β F_β(x) (module docstring).

    log Z_x ≈ −βE(x, z*) + (d/2) log 2π − ½ log det(βH), z* = argmin_z E(x, z) found from
    ``z0`` by [`minimize_energy`][], H = ∇²_z E(x, z*).

    Returns:
        [`LogZ`][] (method ``"laplace"``): ``stderr`` 0, no bounds, ``reliable=False``
        (an approximation without an error estimate); ``info``: ``free_energy``, ``beta``,
        ``mode``, ``energy_at_mode``, ``log_det_beta_hessian``, ``positive_definite``. NaN
        (and ``positive_definite = False``, with a warning) when H is not positive definite.
    """
    beta = jnp.asarray(beta, dtype=jnp.result_type(float))
    e_min, mode, _, log_det = _laplace_gaussian(energy_fn, x, beta, z0, num_iterations)
    d = mode.shape[0]
    log_z = -beta * e_min + 0.5 * d * jnp.log(2 * jnp.pi) - 0.5 * log_det
    pd = jnp.isfinite(log_det)
    res = finish(
        log_z,
        jnp.zeros_like(log_z),
        method="laplace",
        checks=[Check(~pd, "the Hessian of E in z is not positive definite at the mode found")],
        notes=[LAPLACE_NO_ERROR],
        info={
            "mode": mode,
            "energy_at_mode": e_min,
            "log_det_beta_hessian": log_det,
            "positive_definite": pd,
            "stderr_source": "none (a deterministic approximation)",
        },
    )
    return _with_free_energy(res, beta)


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
) -> LogZ:
    """log Z_x(β) by importance sampling over z (module docstring): a stochastic lower bound.

    log Ẑ_x = log (1/N) Σ_i w_i, log w_i = −βE(x, z_i) − log q(z_i), z_i ~ q, with the
    delta-method stderr sd(w)/(√N mean(w)) (`physebm.partition.weights.weight_statistics`).

    Args:
        energy_fn: ``(x, z) -> E(x, z)``.
        x: one observed configuration.
        beta: inverse temperature.
        key: PRNG key.
        z0: start of the mode search for the default Laplace proposal.
        proposal: a [`GaussianBase`][] over z (default Laplace).
        num_samples: number of proposal draws.

    Returns:
        [`LogZ`][] (method ``"importance"``, assembled by
        [`physebm.partition.assemble.from_log_weights`][]): ``lower`` = ``log_z`` (so
        F̂ = −log_z/β is a stochastic upper bound on F); ``info``: ``free_energy``, ``beta``,
        ``ess``, ``pareto_k``, ``num_dropped``, ``log_weight_variance``, ``mean_log_weight``,
        ``log_weights``, .... ``warnings`` flag a small ESS, a heavy tail or dropped weights.
    """
    beta = jnp.asarray(beta, dtype=jnp.result_type(float))
    if proposal is None:
        if z0 is None:
            raise ValueError("give z0 (start of the mode search) or a proposal")
        _, mode, scale_tril, _ = _laplace_gaussian(energy_fn, x, beta, z0, num_iterations)
        proposal = GaussianBase(mode, scale_tril)
    z = proposal.sample(key, num_samples)
    log_w = jax.vmap(lambda zi: -beta * energy_fn(x, zi) - proposal.log_prob(zi))(z)
    res = from_log_weights(
        log_w, "importance", info={"stderr_source": "delta method on the importance weights"}
    )
    return _with_free_energy(res, beta)


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
) -> LogZ:
    """Gaussian variational lower bound log Z_x ≥ −β(⟨E⟩_q − S(q)/β), i.e. F ≤ ⟨E⟩_q − S(q)/β.

    q = N(μ, LLᵀ) starts at the Laplace solution and is refined by Adam on the reparameterised
    bound averaged over ``num_particles`` fixed draws, whitened to exact zero mean and unit
    covariance (a deterministic sample-average objective, exact for quadratic E); the refined q
    is kept only if it beats the Laplace q on independent draws. The bound is then estimated
    from ``num_samples`` fresh draws (stderr from their spread): an unbiased estimate of a
    valid bound.

    Returns:
        [`LogZ`][] (method ``"variational"``): ``log_z`` = ``lower`` = −β(⟨E⟩_q − S(q)/β)
        estimated from the draws, ``stderr`` = β sd(E)/√num_samples, ``reliable=False`` (a
        bound whose gap KL(q‖p) is unknown); ``info``: ``free_energy`` (the upper bound on F),
        ``beta``, ``mean``, ``scale_tril``, ``entropy``, ``refined`` (whether the Adam
        refinement beat the Laplace q and was kept).
    """
    beta = jnp.asarray(beta, dtype=jnp.result_type(float))
    _, mode, scale_tril, _ = _laplace_gaussian(energy_fn, x, beta, z0, num_iterations)
    d = mode.shape[0]
    scale_tril = jnp.where(jnp.isfinite(scale_tril), scale_tril, jnp.eye(d))
    init = (mode, jnp.tril(scale_tril, -1), jnp.log(jnp.diag(scale_tril)))
    k_fit, k_select, k_eval = jax.random.split(key, 3)
    eps_fit = _standardized_normal(k_fit, num_particles, d)  # common random numbers
    raw = _adam_refine(energy_fn, x, beta, init, eps_fit, num_steps, learning_rate)
    eps_select = _standardized_normal(k_select, num_particles, d)
    raw, better = _keep_better(energy_fn, x, beta, raw, init, eps_select)
    mu, L = _unpack(raw)
    log_z, se = _bound_estimate(energy_fn, x, beta, mu, L, k_eval, num_samples)
    info = {
        "mean": mu,
        "scale_tril": L,
        "entropy": _gaussian_entropy(L),
        "refined": better,
        "stderr_source": "sample spread of the energies over the fresh draws",
    }
    res = finish(
        log_z,
        se,
        method="variational",
        lower=log_z,
        checks=[_not_finite(log_z, "variational")],
        notes=[VARIATIONAL_BOUND],
        info=info,
    )
    return _with_free_energy(res, beta)


def _unpack(p):
    """(μ, L) from the unconstrained parameters (μ, strict lower triangle, log diag L)."""
    mu, off, log_diag = p
    return mu, jnp.tril(off, -1) + jnp.diag(jnp.exp(log_diag))


def _gaussian_entropy(L):
    """S(N(μ, LLᵀ)) = (d/2)(1 + log 2π) + Σ_i log |L_ii|."""
    d = L.shape[0]
    return 0.5 * d * (1.0 + jnp.log(2 * jnp.pi)) + jnp.sum(jnp.log(jnp.abs(jnp.diag(L))))


def _negative_bound(energy_fn, x, beta, p, eps):
    """⟨E⟩_q − S(q)/β averaged over the draws z = μ + L ε (the F upper bound to minimise)."""
    mu, L = _unpack(p)
    z = mu + eps @ L.T
    return jnp.mean(jax.vmap(lambda zi: energy_fn(x, zi))(z)) - _gaussian_entropy(L) / beta


def _adam_refine(energy_fn, x, beta, init, eps_fit, num_steps, learning_rate):
    """``num_steps`` Adam steps on the sample-average bound over the fixed draws ``eps_fit``."""
    opt = optax.adam(learning_rate)

    def step(carry, _):
        p, state = carry
        g = jax.grad(_negative_bound, argnums=3)(energy_fn, x, beta, p, eps_fit)
        updates, state = opt.update(g, state, p)
        return (optax.apply_updates(p, updates), state), None

    (raw, _), _ = jax.lax.scan(step, (init, opt.init(init)), None, length=num_steps)
    return raw


def _keep_better(energy_fn, x, beta, raw, init, eps_select):
    """The refined parameters if their bound beats the Laplace ones on independent draws
    ``eps_select`` (or the Laplace bound is not finite), else the Laplace ones; and which."""
    better = _negative_bound(energy_fn, x, beta, raw, eps_select) < _negative_bound(
        energy_fn, x, beta, init, eps_select
    )
    better = better | ~jnp.isfinite(_negative_bound(energy_fn, x, beta, init, eps_select))
    return jax.tree.map(lambda a, b: jnp.where(better, a, b), raw, init), better


def _bound_estimate(energy_fn, x, beta, mu, L, key, num_samples):
    """log Z ≥ −β mean E(x, z_i) + S(q) on fresh z_i ~ N(μ, LLᵀ); stderr β sd(E)/√n."""
    eps = jax.random.normal(key, (num_samples, mu.shape[0]))
    energies = jax.vmap(lambda zi: energy_fn(x, zi))(mu + eps @ L.T)
    log_z = -beta * jnp.mean(energies) + _gaussian_entropy(L)
    se = beta * jnp.std(energies, ddof=1) / jnp.sqrt(num_samples)
    return log_z, se
