"""Likelihood-family and binary-data objectives against exact answers.

* exact ML on a 5-spin Boltzmann machine: loss = NLL (enumeration), gradient = the moment
  difference −β(⟨xᵢxⱼ⟩_data − ⟨xᵢxⱼ⟩_model) (and finite differences); at its minimum the model
  moments equal the data moments (Newton to a gradient < 1e-12).
* ML, ratio matching and MPF recover a 4-spin machine's parameters from its exact distribution
  (a ``Weighted`` batch over the 16 states) to 1e-6; their gradients vanish at the truth.
* CD-1 on E = λx²/2: with an exactly invariant kernel the fixed point is the ML value 1/m₂; with
  one step of unadjusted Langevin it is λ* = (1 − √(1 − 2η/m₂))/η. Each replicate (fixed key)
  solves g(λ) = 0 for the realised CD update by bisection; over R = 16 replicates the mean root
  is tested with a t statistic (15 dof, |t| < the t₁₅ quantile at ALPHA = 2e-5, 6.11; 2 checks;
  the "bias is resolved" |t| > 20 is a power check).
"""

import functools
import itertools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
from blackjax.base import SamplingAlgorithm
from jax.flatten_util import ravel_pytree
from stats_helpers import ALPHA, critical_value

import samplers
from physebm import models, partition
from physebm import objectives as obj

BETA = 0.7


def pair_index(n):
    return np.array(list(itertools.combinations(range(n), 2)))


def bm_energy(p, x):
    """E = −Σ_{i<j} J_ij xᵢxⱼ − bᵀx with J a vector over pairs i < j."""
    pairs = pair_index(x.shape[0])
    return -jnp.sum(p["J"] * x[pairs[:, 0]] * x[pairs[:, 1]]) - p["b"] @ x


def moments(x, weights):
    weights = weights / weights.sum()
    pairs = pair_index(x.shape[1])
    return (weights @ x, weights @ (x[:, pairs[:, 0]] * x[:, pairs[:, 1]]))


def model_probs(p, states, beta):
    logits = -beta * np.array([float(bm_energy(p, s)) for s in states])
    logits -= logits.max()
    probs = np.exp(logits)
    return probs / probs.sum()


def minimise(loss_fn, start):
    """Trust-region Newton to convergence, then Newton polish: returns the minimiser."""
    flat0, unravel = ravel_pytree(start)
    f = jax.jit(lambda v: loss_fn(unravel(v)))
    g, h = jax.jit(jax.grad(f)), jax.jit(jax.hessian(f))
    res = scipy.optimize.minimize(
        lambda v: float(f(v)),
        np.asarray(flat0),
        jac=lambda v: np.asarray(g(v)),
        hess=lambda v: np.asarray(h(v)),
        method="trust-exact",
        options={"gtol": 1e-8},
    )
    v = jnp.asarray(res.x)
    for _ in range(3):
        v = v - jnp.linalg.solve(h(v), g(v))
    assert float(jnp.max(jnp.abs(g(v)))) < 1e-12
    return unravel(v)


N5 = 5
STATES5 = obj.enumerate_states(N5)
DATA5 = jnp.where(jax.random.bernoulli(jax.random.key(20), 0.65, (40, N5)), 1.0, -1.0)
PARAMS5 = {
    "J": 0.3 * jax.random.normal(jax.random.key(21), (10,)),
    "b": 0.2 * jax.random.normal(jax.random.key(22), (N5,)),
}


def test_exact_ml_loss_is_nll_and_gradient_is_moment_difference():
    objective = obj.maximum_likelihood(bm_energy, support=STATES5, beta=BETA)
    loss, (_, aux) = objective.loss(PARAMS5, DATA5, jax.random.key(0), ())
    probs = model_probs(PARAMS5, np.asarray(STATES5), BETA)
    log_z = np.log(
        np.sum(np.exp(-BETA * np.array([float(bm_energy(PARAMS5, s)) for s in STATES5])))
    )
    nll = np.mean([BETA * float(bm_energy(PARAMS5, x)) for x in DATA5]) + log_z
    np.testing.assert_allclose(loss, nll, rtol=1e-12)
    np.testing.assert_allclose(aux["log_z"], log_z, rtol=1e-12)

    grad = jax.grad(lambda p: objective.loss(p, DATA5, jax.random.key(0), ())[0])(PARAMS5)
    m1_d, m2_d = moments(np.asarray(DATA5), np.ones(DATA5.shape[0]))
    m1_m, m2_m = moments(np.asarray(STATES5), probs)
    np.testing.assert_allclose(grad["J"], -BETA * (m2_d - m2_m), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(grad["b"], -BETA * (m1_d - m1_m), rtol=1e-10, atol=1e-13)

    flat, unravel = ravel_pytree(PARAMS5)
    f = jax.jit(lambda v: objective.loss(unravel(v), DATA5, jax.random.key(0), ())[0])
    h = 1e-5
    fd = np.array([(f(flat + h * e) - f(flat - h * e)) / (2 * h) for e in np.eye(flat.size)])
    np.testing.assert_allclose(fd, ravel_pytree(grad)[0], atol=1e-8)


def test_exact_ml_fixed_point_matches_data_moments():
    objective = obj.maximum_likelihood(bm_energy, support=STATES5, beta=BETA)
    fitted = minimise(lambda p: objective.loss(p, DATA5, jax.random.key(0), ())[0], PARAMS5)
    probs = model_probs(fitted, np.asarray(STATES5), BETA)
    for a, b in zip(
        moments(np.asarray(STATES5), probs),
        moments(np.asarray(DATA5), np.ones(DATA5.shape[0])),
        strict=True,
    ):
        np.testing.assert_allclose(a, b, atol=1e-10)


def test_exact_log_z_route_with_builtin_model():
    """energy_fn=None (the model is the params) with log Z from physebm.partition.exact gives
    the same loss and gradient as enumeration; ∂/∂W = −½β(⟨xxᵀ⟩_data − ⟨xxᵀ⟩_model)."""
    w = jnp.zeros((N5, N5)).at[tuple(pair_index(N5).T)].set(PARAMS5["J"])
    model = models.BoltzmannMachine(w + w.T, PARAMS5["b"])
    via_exact = obj.maximum_likelihood(
        log_z_fn=lambda m, beta: partition.exact(m, beta).log_z, beta=BETA
    )
    via_support = obj.maximum_likelihood(support=STATES5, beta=BETA)
    args = (DATA5, jax.random.key(0), ())
    la, ga = jax.value_and_grad(lambda m: via_exact.loss(m, *args)[0])(model)
    lb, gb = jax.value_and_grad(lambda m: via_support.loss(m, *args)[0])(model)
    np.testing.assert_allclose(la, lb, rtol=1e-12)
    np.testing.assert_allclose(ga.W, gb.W, atol=1e-12)
    probs = model_probs(PARAMS5, np.asarray(STATES5), BETA)
    s = np.asarray(STATES5)
    second_model = np.einsum("k,ki,kj->ij", probs, s, s)
    second_data = np.asarray(DATA5).T @ np.asarray(DATA5) / DATA5.shape[0]
    np.testing.assert_allclose(ga.W, -0.5 * BETA * (second_data - second_model), atol=1e-12)


# ---- ML, ratio matching and MPF recover a 4-spin machine from its exact distribution ----------

N4 = 4
STATES4 = obj.enumerate_states(N4)
TRUE4 = {"J": jnp.array([0.5, -0.3, 0.2, 0.4, -0.1, 0.3]), "b": jnp.array([0.1, -0.2, 0.3, 0.0])}
EXACT4 = obj.Weighted(STATES4, jnp.asarray(model_probs(TRUE4, np.asarray(STATES4), BETA)))
ZERO4 = jax.tree.map(jnp.zeros_like, TRUE4)


@pytest.mark.parametrize(
    "make",
    [
        lambda: obj.maximum_likelihood(bm_energy, support=STATES4, beta=BETA),
        lambda: obj.ratio_matching(bm_energy, domain="spin", beta=BETA),
        lambda: obj.minimum_probability_flow(bm_energy, domain="spin", beta=BETA),
    ],
    ids=["ml", "ratio_matching", "mpf"],
)
def test_recovers_four_spin_machine(make):
    objective = make()

    def loss(p):
        return objective.loss(p, EXACT4, jax.random.key(0), ())[0]

    at_truth = jax.grad(loss)(TRUE4)
    assert max(float(jnp.max(jnp.abs(g))) for g in jax.tree.leaves(at_truth)) < 1e-12
    fitted = minimise(loss, ZERO4)
    for a, b in zip(jax.tree.leaves(fitted), jax.tree.leaves(TRUE4), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_ratio_matching_bits_matches_formula():
    """Bits domain: flips are xⱼ → 1 − xⱼ; compare with a direct loop over units."""
    x = jnp.array([[0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 1.0]])
    loss = obj.ratio_matching(bm_energy, domain="bits", beta=BETA).loss(TRUE4, x, None, ())[0]
    mpf = obj.minimum_probability_flow(bm_energy, domain="bits", beta=BETA).loss(
        TRUE4, x, None, ()
    )[0]
    rm_terms, mpf_terms = [], []
    for xi in np.asarray(x):
        for j in range(N4):
            flipped = xi.copy()
            flipped[j] = 1 - flipped[j]
            delta = float(bm_energy(TRUE4, xi) - bm_energy(TRUE4, flipped))
            rm_terms.append(1 / (1 + np.exp(-BETA * delta)) ** 2)
            mpf_terms.append(np.exp(0.5 * BETA * delta))
    np.testing.assert_allclose(loss, np.sum(rm_terms) / 2, rtol=1e-12)
    np.testing.assert_allclose(mpf, np.sum(mpf_terms) / 2, rtol=1e-12)


# ---- CD-1 fixed points on E = λx²/2 ---------------------------------------------------------

ETA = 0.4
R = 16
X1 = jax.random.normal(jax.random.key(23), (4000, 1))
M2 = float(jnp.mean(X1**2))


def gaussian_energy(lam, x):
    return 0.5 * lam * jnp.sum(x**2)


class PositionState(NamedTuple):
    position: jax.Array


def exact_gaussian_kernel(logdensity_fn, rho=0.5):
    """AR(1) move that leaves a Gaussian log density exactly invariant: with precision
    P = −∂²log p and mode μ, x' = μ + ρ(x − μ) + √((1 − ρ²)/P) ξ."""

    def init(position, rng_key=None):
        return PositionState(position)

    def step(key, state):
        x = state.position
        precision = -jax.hessian(logdensity_fn)(x)[0, 0]
        mode = x + jax.grad(logdensity_fn)(x) / precision
        new = (
            mode
            + rho * (x - mode)
            + jnp.sqrt((1 - rho**2) / precision) * jax.random.normal(key, x.shape)
        )
        return init(new), ()

    return SamplingAlgorithm(init, step)


def cd_roots(kernel):
    """Root of the realised CD-1 update g(λ) = ∂L/∂λ for R fixed keys, by bisection."""
    objective = obj.contrastive_divergence(gaussian_energy, kernel=kernel, num_steps=1)

    def root(key):
        def g(lam):
            return jax.grad(lambda p: objective.loss(p, X1, key, ())[0])(lam)

        def bisect(_, bracket):
            lo, hi = bracket
            mid = 0.5 * (lo + hi)
            neg = g(mid) < 0  # loss still decreasing in λ: the root is above
            return jnp.where(neg, mid, lo), jnp.where(neg, hi, mid)

        lo, hi = jax.lax.fori_loop(0, 60, bisect, (jnp.asarray(0.1), jnp.asarray(2.45)))
        return 0.5 * (lo + hi)

    return np.asarray(jax.jit(jax.vmap(root))(jax.random.split(jax.random.key(24), R)))


def t_stat(samples, target):
    return (samples.mean() - target) / (samples.std(ddof=1) / np.sqrt(samples.size))


def test_cd1_exact_kernel_has_ml_fixed_point():
    roots = cd_roots(exact_gaussian_kernel)
    assert abs(t_stat(roots, 1 / M2)) < critical_value(ALPHA, R - 1), (roots.mean(), 1 / M2)


def test_cd1_unadjusted_langevin_bias_matches_theory():
    roots = cd_roots(functools.partial(samplers.ula, step_size=ETA))  # β = 1: ε = η
    predicted = (1 - np.sqrt(1 - 2 * ETA / M2)) / ETA
    assert abs(t_stat(roots, predicted)) < critical_value(ALPHA, R - 1), (roots.mean(), predicted)
    assert abs(t_stat(roots, 1 / M2)) > 20  # the bias is resolved, not noise
