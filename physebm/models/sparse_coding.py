"""Sparse coding as an energy-based model: E(y, z) = ½‖y − Wz‖² + λ‖z‖₁, z ∈ ℝᵏ.

* F_∞(y) = min_z E(y, z), the Lasso, solved by [`sparse_code`][]: ISTA or FISTA (Beck &
  Teboulle 2009, with O'Donoghue & Candès' gradient restart) with step 1/L, L = ‖W‖₂² (the
  Lipschitz constant of ∇_z ½‖y − Wz‖²),

      z ← S_{λ/L}(z − Wᵀ(Wz − y)/L),   S_τ(v) = sign(v) max(|v| − τ, 0),

  stopped when the gradient mapping G(z) = L(z − S_{λ/L}(z − ∇f(z)/L)) (zero exactly at the
  minimiser) has ‖G‖₂ ≤ tol·(1 + ‖Wᵀy‖₂), jitted and vmapped over y.
* Dictionary learning: minimise mean F_∞ over W with unit-norm columns, W = V/‖V‖_col
  ([`unit_columns`][], [`dictionary_learning_loss`][]); with the code held fixed,
  ∇_W F_∞(y) = −(y − Wz*)z*ᵀ exactly (Danskin), so the solver is never differentiated.
* LISTA (Gregor & LeCun 2010): T layers z₁ = S_θ(By), z_{t+1} = S_θ(By + Sz_t), initialised
  at B = Wᵀ/L, S = I − WᵀW/L, θ = λ/L (then exactly T ISTA steps from z = 0) and trained to
  amortise the minimisation by minimising mean E(y, z_T(y)) ≥ mean F_∞(y) ([`lista_loss`][]).
* Finite β: F_β(y) = −(1/β) log ∫ exp(−βE(y, z)) dz has no closed form (the L1 kink);
  [`sparse_coding_free_energy`][] estimates it with the continuous-latent estimators of
  [`physebm.free_energies.continuous`][] around the Lasso solution.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp

from physebm.free_energies.continuous import (
    importance_free_energy,
    laplace_free_energy,
    variational_free_energy,
)
from physebm.models._linear import LinearDecoderEnergy, check_matrix
from physebm.models.capabilities import analytic_free_energy
from physebm.objectives.free_energy import FreeEnergyLoss, free_energy_loss
from physebm.partition.bases import GaussianBase
from physebm.partition.result import LogZ
from physebm.validation import check_beta, check_parameter, check_shape, is_concrete
from samplers.base import check_count

__all__ = [
    "LISTA",
    "METHODS",
    "SparseCodeResult",
    "SparseCodingEnergy",
    "dictionary_learning_loss",
    "lista_loss",
    "soft_threshold",
    "sparse_code",
    "sparse_coding_free_energy",
    "unit_columns",
]

METHODS = ("fista", "ista")
"""The solvers of [`sparse_code`][]."""

ESTIMATORS = ("importance", "laplace", "variational")
"""The finite-β estimators of [`sparse_coding_free_energy`][]."""


def soft_threshold(v, tau) -> jax.Array:
    """S_τ(v) = sign(v) max(|v| − τ, 0), the proximal map of τ‖·‖₁."""
    return jnp.sign(v) * jnp.maximum(jnp.abs(v) - tau, 0.0)


def unit_columns(V) -> jax.Array:
    """W = V / ‖V‖_col: every column scaled to unit Euclidean norm (a parametrisation)."""
    return V / jnp.linalg.norm(V, axis=0, keepdims=True)


def _check_dictionary(W) -> jax.Array:
    return check_matrix(W, "dictionary (d data dims, k atoms)")


def _check_penalty(lam) -> jax.Array:
    lam = check_parameter(lam, "lam")
    if lam.shape != ():
        raise ValueError(f"lam must be a scalar L1 penalty, got shape {lam.shape}")
    if is_concrete(lam) and float(lam) < 0:
        raise ValueError(f"lam must be >= 0 (the L1 penalty), got {float(lam)}")
    return lam


class SparseCodeResult(NamedTuple):
    """Outcome of [`sparse_code`][], batched like y.

    Attributes:
        code: z*(y), shape (..., k).
        energy: E(y, z*) = F_∞(y) up to the solver's tolerance, shape (...).
        iterations: proximal-gradient steps taken.
        residual: ‖G(z*)‖₂, the gradient-mapping norm at the returned code (0 at the minimum).
        converged: the stopping test ‖G‖₂ ≤ tol·(1 + ‖Wᵀy‖₂) was met within
            ``max_iterations`` (at the point the last step started from).
    """

    code: jax.Array
    energy: jax.Array
    iterations: jax.Array
    residual: jax.Array
    converged: jax.Array


def sparse_code(
    W,
    y,
    lam,
    *,
    method: str = "fista",
    max_iterations: int = 1000,
    tol=None,
    z0=None,
) -> SparseCodeResult:
    """F_∞(y) = min_z ½‖y − Wz‖² + λ‖z‖₁ by ISTA/FISTA (module docstring), batched over y.

    Args:
        W: (d, k) dictionary.
        y: data, shape (..., d).
        lam: λ ≥ 0.
        method: ``"fista"`` (accelerated, O(1/t²)) or ``"ista"`` (O(1/t)).
        max_iterations: most proximal-gradient steps.
        tol: relative tolerance on the gradient mapping (module docstring); default
            max(1e-8, 10ε) for the dtype's ε (1e-8 in float64, ~1.2e-6 in float32).
        z0: starting codes, shape (..., k) (default 0).

    Returns:
        [`SparseCodeResult`][] (code, energy, iterations, residual, converged).

    Raises:
        ValueError: bad shapes, a negative or non-scalar ``lam``, a negative ``tol``, an
            unknown ``method`` or a ``max_iterations`` below 1.
    """
    W = _check_dictionary(W)
    d, k = W.shape
    y = check_shape(check_parameter(y, "y"), (d,), "y")
    lam = _check_penalty(lam)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    check_count(max_iterations, "max_iterations", minimum=1)
    if tol is None:
        tol = max(1e-8, 10 * float(jnp.finfo(W.dtype).eps))
    tol = check_parameter(tol, "tol")
    if tol.shape != () or (is_concrete(tol) and float(tol) < 0):
        raise ValueError(f"tol must be a scalar >= 0, got {tol}")
    batch = y.shape[:-1]
    z0 = jnp.zeros((*batch, k), W.dtype) if z0 is None else check_parameter(z0, "z0")
    if z0.shape != (*batch, k):
        raise ValueError(f"z0 must have shape {(*batch, k)} (one code per y), got {z0.shape}")
    res = _solve(
        W, y.reshape(-1, d), lam, z0.reshape(-1, k), tol, method, jnp.asarray(max_iterations)
    )
    return jax.tree.map(lambda a: a.reshape(*batch, *a.shape[1:]), res)


@functools.partial(jax.jit, static_argnums=(5,))
def _solve(W, y, lam, z0, tol, method, max_iterations) -> SparseCodeResult:
    """ISTA/FISTA on every row of y (vmapped ``while_loop``s); ``tol`` and ``max_iterations``
    are traced, so changing them does not recompile."""
    gram = W.T @ W
    lipschitz = jnp.maximum(jnp.linalg.norm(W, ord=2) ** 2, jnp.finfo(W.dtype).tiny)
    step = 1.0 / lipschitz

    def prox_step(v, wty):
        """(S_{λ/L}(v − ∇f(v)/L), ‖G(v)‖₂) with ∇f(v) = WᵀWv − Wᵀy."""
        new = soft_threshold(v - step * (gram @ v - wty), step * lam)
        return new, jnp.linalg.norm(v - new) * lipschitz

    def one(yi, z_start):
        wty = W.T @ yi
        threshold = tol * (1.0 + jnp.linalg.norm(wty))

        def cond(c):
            return (c[0] < max_iterations) & (c[4] > threshold)

        def body(c):
            t, z, v, mom, _ = c
            new, res = prox_step(v, wty)
            if method == "fista":
                # gradient restart (O'Donoghue & Candès 2015): drop the momentum when the
                # step new − z points uphill, (v − new)·(new − z) > 0
                mom = jnp.where(jnp.dot(v - new, new - z) > 0, 1.0, mom)
                mom_new = 0.5 * (1.0 + jnp.sqrt(1.0 + 4.0 * mom**2))
                v = new + ((mom - 1.0) / mom_new) * (new - z)
            else:
                mom_new, v = mom, new
            return t + 1, new, v, mom_new, res

        inf = jnp.asarray(jnp.inf, W.dtype)
        init = (jnp.asarray(0), z_start, z_start, jnp.asarray(1.0, W.dtype), inf)
        t, z, _, _, last = jax.lax.while_loop(cond, body, init)
        _, res = prox_step(z, wty)
        return SparseCodeResult(z, _energy(W, lam, yi, z), t, res, last <= threshold)

    return jax.vmap(one)(y, z0.astype(W.dtype))


def _energy(W, lam, y, z):
    """½‖y − Wz‖² + λ‖z‖₁ over the leading axes."""
    return 0.5 * jnp.sum((y - z @ W.T) ** 2, axis=-1) + lam * jnp.sum(jnp.abs(z), axis=-1)


class SparseCodingEnergy(LinearDecoderEnergy):
    """E(y, z) = ½‖y − Wz‖² + λ‖z‖₁ with a (d, k) dictionary W and penalty λ ≥ 0.

    A position is the pair x = (y, z) (``domain="real"``, ``event_shape`` ``((d,), (k,))``);
    ``model((y, z))`` and ``model.energy(y, z)`` are E(y, z). For dictionary learning, λ is a
    hyperparameter: train the dictionary alone ([`dictionary_learning_loss`][]); mean F_∞
    trained over λ too would only drive λ to 0.

    Args:
        W: (d, k) dictionary, finite (k > d, overcomplete, is fine for F_∞).
        lam: λ ≥ 0, a scalar.

    Raises:
        ValueError: W not a finite (d, k) matrix, or λ negative or not a scalar.
    """

    lam: jax.Array
    domain: str = eqx.field(static=True, default="real")

    def __init__(self, W, lam):
        self.W = _check_dictionary(W)
        self.lam = _check_penalty(lam)

    def energy(self, x, z=None) -> jax.Array:
        """E(y, z) = ½‖y − Wz‖² + λ‖z‖₁: ``energy((y, z))`` or ``energy(y, z)``, batched."""
        return _energy(self.W, self.lam, *self.pair(x, z))

    def encode(self, y, **solver_options) -> SparseCodeResult:
        """The Lasso codes z*(y) by [`sparse_code`][] (options: method, max_iterations, tol)."""
        return sparse_code(self.W, y, self.lam, **solver_options)

    def free_energy(self, y, beta=math.inf, **solver_options) -> jax.Array:
        """F_∞(y) = E(y, z*(y)) with the code z* from [`sparse_code`][] held fixed, so that
        ∇_W F_∞ = −(y − Wz*)z*ᵀ and ∇_λ F_∞ = ‖z*‖₁ exactly (Danskin); batched over y.

        Raises:
            ValueError: a finite ``beta`` (no closed form: use
                [`sparse_coding_free_energy`][]).
        """
        if not (isinstance(beta, int | float) and math.isinf(beta) and beta > 0):
            raise ValueError(
                "beta must be math.inf here (F_inf = min_z E, the Lasso); for a finite beta "
                "use sparse_coding_free_energy(model, y, beta, key=...) (importance sampling, "
                f"Laplace or a variational bound), got beta={beta!r}"
            )
        y = check_shape(check_parameter(y, "y"), (self.dim,), "y")
        stopped = jax.lax.stop_gradient((self.W, y, self.lam))
        code = sparse_code(*stopped, **solver_options).code
        return self.energy(y, jax.lax.stop_gradient(code))


@analytic_free_energy.register(SparseCodingEnergy)
def _sparse_coding_free_energy_fn(model: SparseCodingEnergy):
    """F_∞(y) by FISTA (``beta = math.inf`` only; a finite β raises, pointing to
    [`sparse_coding_free_energy`][])."""
    return model.free_energy


def sparse_coding_free_energy(
    model: SparseCodingEnergy,
    y,
    beta=1.0,
    *,
    method: str = "importance",
    key=None,
    num_samples: int = 4000,
    **estimator_options,
) -> LogZ:
    """F_β(y) = −(1/β) log ∫ exp(−βE(y, z)) dz for ONE y, by a continuous-latent estimator.

    All three start from the Lasso code z* = argmin_z E(y, z) ([`sparse_code`][]) and the
    Gaussian N(z*, (βWᵀW)⁻¹) (WᵀW is the Hessian of E away from the kink; it must be positive
    definite, k ≤ d with W of full column rank):

    * ``"importance"``: [`importance_free_energy`][] with that Gaussian as proposal — the
      weights exp(−βE) / q are exp(linear − βλ‖z‖₁) in z, of finite variance: an unbiased
      estimate of Z with a delta-method stderr (F̂ a stochastic upper bound on F);
    * ``"laplace"``: [`laplace_free_energy`][] from z*: exact at λ = 0, biased for λ > 0
      (the L1 kink is not quadratic), no error estimate;
    * ``"variational"``: [`variational_free_energy`][]: F ≤ ⟨E⟩_q − S(q)/β, a bound.

    Args:
        model: the sparse-coding energy.
        y: one data vector, shape (d,).
        beta: inverse temperature β > 0.
        method: one of `ESTIMATORS`.
        key: PRNG key (importance, variational).
        num_samples: proposal (or bound-estimate) draws.
        **estimator_options: passed on to the estimator (e.g. ``num_steps`` for variational).

    Returns:
        [`LogZ`][] of log Z_y(β) = −β F_β(y); ``result.info["free_energy"]`` is F̂_β(y).

    Raises:
        ValueError: y not one (d,) vector, β not > 0 and finite, an unknown ``method``, no
            ``key`` for a sampling method, or an overcomplete W (k > d) for importance sampling.
    """
    if not isinstance(model, SparseCodingEnergy):
        raise TypeError(f"model must be a SparseCodingEnergy, got {type(model).__name__}")
    if method not in ESTIMATORS:
        raise ValueError(f"method must be one of {ESTIMATORS}, got {method!r}")
    y = check_parameter(y, "y")
    if y.shape != (model.dim,):
        raise ValueError(f"y must be one data vector of shape ({model.dim},), got {y.shape}")
    beta = check_beta(beta, scalar=True)
    if method != "laplace" and key is None:
        raise ValueError(f"key is required for method={method!r} (a PRNG key)")
    check_count(num_samples, "num_samples", minimum=2)
    if method == "importance" and model.num_latent > model.dim:
        raise ValueError(
            f"W must have at most as many atoms as data dims for method='importance' (its "
            f"Gaussian proposal needs W^T W positive definite), got W of shape {model.W.shape}"
        )
    options = tuple(sorted(estimator_options.items()))
    return _estimate(model, y, beta, key, method, num_samples, options)


@eqx.filter_jit
def _estimate(model, y, beta, key, method, num_samples, options) -> LogZ:
    """The estimate of [`sparse_coding_free_energy`][], compiled once per method and options."""
    options = dict(options)
    tight = max(1e-12, 10 * float(jnp.finfo(model.W.dtype).eps))
    mode = sparse_code(model.W, y, model.lam, max_iterations=10_000, tol=tight).code
    if method == "laplace":
        return laplace_free_energy(model.energy, y, beta, z0=mode, **options)
    if method == "variational":
        return variational_free_energy(
            model.energy, y, beta, key=key, z0=mode, num_samples=num_samples, **options
        )
    prec_chol = jnp.linalg.cholesky(beta * model.W.T @ model.W)
    k = model.num_latent
    inv = jax.scipy.linalg.solve_triangular(prec_chol, jnp.eye(k), lower=True)
    proposal = GaussianBase(mode, jnp.linalg.cholesky(inv.T @ inv))
    return importance_free_energy(
        model.energy, y, beta, key=key, proposal=proposal, num_samples=num_samples
    )


class LISTA(eqx.Module):
    """Learned ISTA (Gregor & LeCun 2010): T layers z₁ = S_θ(By), z_{t+1} = S_θ(By + Sz_t).

    Attributes:
        B: (k, d) filter matrix (Wᵀ/L at initialisation).
        S: (k, k) mutual-inhibition matrix (I − WᵀW/L).
        theta: (k,) thresholds (λ/L).
        num_layers: T, the number of soft thresholdings (static).
    """

    B: jax.Array
    S: jax.Array
    theta: jax.Array
    num_layers: int = eqx.field(static=True)

    @classmethod
    def from_dictionary(cls, W, lam, num_layers: int) -> LISTA:
        """The encoder equal to ``num_layers`` ISTA steps from z = 0 (step 1/L, L = ‖W‖₂²)."""
        W, lam = _check_dictionary(W), _check_penalty(lam)
        check_count(num_layers, "num_layers", minimum=1)
        L = jnp.linalg.norm(W, ord=2) ** 2
        k = W.shape[1]
        return cls(W.T / L, jnp.eye(k) - W.T @ W / L, jnp.full((k,), lam / L), num_layers)

    def __call__(self, y) -> jax.Array:
        """z_T(y), batched over the leading axes of y, shape (..., k)."""
        y = check_shape(y, (self.B.shape[1],), "y")
        by = y @ self.B.T
        z = soft_threshold(by, self.theta)
        for _ in range(self.num_layers - 1):
            z = soft_threshold(by + z @ self.S.T, self.theta)
        return z


def dictionary_learning_loss(lam, **solver_options) -> FreeEnergyLoss:
    """Mean F_∞(y) of the dictionary W = [`unit_columns`][](V) over the parameters V.

    ``fit(dictionary_learning_loss(lam), V0, data, optimizer, ...)``; read the dictionary as
    ``unit_columns(result.params)``. λ stays fixed (a hyperparameter).
    """
    lam = _check_penalty(lam)

    def free_energy_fn(V, y):
        return SparseCodingEnergy(unit_columns(V), lam).free_energy(y, **solver_options)

    return free_energy_loss(free_energy_fn)


def lista_loss(model: SparseCodingEnergy) -> FreeEnergyLoss:
    """Amortised F_∞: mean E(y, z_T(y)) over a [`LISTA`][] encoder's parameters.

    E(y, z_T(y)) ≥ F_∞(y) for every encoder, with equality iff z_T(y) is a minimiser, so
    this trains the encoder unsupervised towards the Lasso codes of ``model`` (held fixed).
    """
    if not isinstance(model, SparseCodingEnergy):
        raise TypeError(f"model must be a SparseCodingEnergy, got {type(model).__name__}")
    fixed = jax.lax.stop_gradient(model)

    def free_energy_fn(encoder, y):
        return fixed.energy(y, encoder(y))

    return free_energy_loss(free_energy_fn)
