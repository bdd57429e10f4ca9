"""NCE with a learned normaliser on a 1-D Gaussian (OBJECTIVES.md check), by quadrature.

Data N(1, 0.5²), noise N(0, 2²), energy (x − μ)²/(2s²) with free c. The NCE population loss is
an integral; we evaluate it deterministically: the data expectation by 80-point Gauss–Hermite
(a ``Weighted`` batch) and the noise expectation by the midpoint rule in probability space
(a ``Noise`` whose "samples" are the quantiles 2Φ⁻¹((k − ½)/n)). Minimising it by trust-region
Newton (polished to a gradient < 1e-12) must give μ̂ = 1, ŝ = 0.5, ĉ = −log(√(2π)·0.5) = −0.2258
(NCE is consistent). Tolerance 1e-6: the optimiser error is negligible and the quadrature error
is measured, not assumed (doubling n moves the optimum by < 1e-7).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
import scipy.stats
from jax.flatten_util import ravel_pytree

from physebm import objectives as obj


def energy(p, x):
    return (x[0] - p["mu"]) ** 2 / (2 * jnp.exp(2 * p["log_s"]))


def quantile_noise(num_nodes):
    u = (np.arange(num_nodes) + 0.5) / num_nodes
    nodes = jnp.asarray(2.0 * scipy.stats.norm.ppf(u))[:, None]

    def sample_fn(key, num):
        assert num == num_nodes, "noise_ratio * batch must equal the number of nodes"
        return nodes

    def log_prob_fn(y):
        return jax.scipy.stats.norm.logpdf(y[0], 0.0, 2.0)

    return obj.Noise(sample_fn, log_prob_fn)


def data_quadrature(num_nodes=80):
    t, w = np.polynomial.hermite.hermgauss(num_nodes)
    return obj.Weighted(jnp.asarray(1.0 + 0.5 * np.sqrt(2.0) * t)[:, None], jnp.asarray(w))


def fit_population_nce(num_noise_nodes):
    data = data_quadrature()
    ratio = num_noise_nodes / 80
    objective = obj.nce(energy, noise=quantile_noise(num_noise_nodes), noise_ratio=ratio)
    start = obj.nce_params({"mu": jnp.asarray(0.5), "log_s": jnp.asarray(np.log(0.8))}, c=0.0)
    flat0, unravel = ravel_pytree(start)

    def loss(flat):
        return objective.loss(unravel(flat), data, jax.random.key(0), ())[0]

    loss = jax.jit(loss)
    grad, hess = jax.jit(jax.grad(loss)), jax.jit(jax.hessian(loss))
    res = scipy.optimize.minimize(
        lambda f: float(loss(f)),
        np.asarray(flat0),
        jac=lambda f: np.asarray(grad(f)),
        hess=lambda f: np.asarray(hess(f)),
        method="trust-exact",
        options={"gtol": 1e-8},
    )
    assert res.success, res.message
    flat = jnp.asarray(res.x)
    for _ in range(3):  # Newton polish: quadratic convergence to machine precision
        flat = flat - jnp.linalg.solve(hess(flat), grad(flat))
    assert float(jnp.max(jnp.abs(grad(flat)))) < 1e-12
    return unravel(flat)


def test_nce_recovers_mean_variance_and_log_z():
    fitted = fit_population_nce(4000)
    finer = fit_population_nce(8000)
    quadrature_error = max(
        abs(float(a) - float(b))
        for a, b in zip(jax.tree.leaves(fitted), jax.tree.leaves(finer), strict=True)
    )
    assert quadrature_error < 1e-7
    np.testing.assert_allclose(float(fitted.energy["mu"]), 1.0, atol=1e-6)
    np.testing.assert_allclose(float(jnp.exp(fitted.energy["log_s"])), 0.5, atol=1e-6)
    np.testing.assert_allclose(float(fitted.c), -np.log(np.sqrt(2 * np.pi) * 0.5), atol=1e-6)
    np.testing.assert_allclose(float(fitted.c), -0.2258, atol=5e-5)


def test_nce_gradient_sign_at_wrong_normaliser():
    """With the model right but c too small, NCE pushes c up (∂L/∂c < 0), and vice versa."""
    data = data_quadrature()
    objective = obj.nce(energy, noise=quantile_noise(4000), noise_ratio=50.0)
    truth = {"mu": jnp.asarray(1.0), "log_s": jnp.asarray(np.log(0.5))}
    c_star = -np.log(np.sqrt(2 * np.pi) * 0.5)

    def dl_dc(c):
        p = obj.nce_params(truth, c)
        return jax.grad(lambda q: objective.loss(q, data, jax.random.key(0), ())[0])(p).c

    assert float(dl_dc(c_star - 0.5)) < 0 < float(dl_dc(c_star + 0.5))
    assert abs(float(dl_dc(c_star))) < 1e-6


def test_gaussian_noise_fitted_to_data_is_normalised():
    x = jax.random.normal(jax.random.key(1), (500, 2)) @ jnp.array([[1.0, 0.0], [0.5, 2.0]])
    noise = obj.gaussian_noise(data=x)
    mean, cov = x.mean(0), jnp.cov(x.T, bias=True)
    y = jnp.array([0.3, -1.2])
    want = scipy.stats.multivariate_normal(np.asarray(mean), np.asarray(cov) + 1e-6 * np.eye(2))
    np.testing.assert_allclose(noise.log_prob_fn(y), want.logpdf(np.asarray(y)), rtol=1e-10)
    draws = noise.sample_fn(jax.random.key(2), 20000)
    # sample mean within 6 standard errors of μ (false-failure rate ~ 1e-8 per coordinate)
    se = jnp.sqrt(jnp.diag(cov) / draws.shape[0])
    assert bool(jnp.all(jnp.abs(draws.mean(0) - mean) < 6 * se))


def test_ranking_nce_does_not_depend_on_c():
    """The ranking loss is invariant to adding a constant to the energy (log Z not learned)."""
    x = jax.random.normal(jax.random.key(3), (16, 1))
    objective = obj.ranking_nce(energy, data=jnp.concatenate([x, x + 1.0]), num_noise=4)
    p = {"mu": jnp.asarray(0.2), "log_s": jnp.asarray(0.1)}
    shifted = obj.ranking_nce(lambda q, u: energy(q, u) + 3.7, noise=objective.noise, num_noise=4)
    a = objective.loss(p, x, jax.random.key(4), ())[0]
    b = shifted.loss(p, x, jax.random.key(4), ())[0]
    np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("beta", [0.5, 2.0])
def test_info_nce_two_answers_is_logistic(beta):
    """InfoNCE with a batch of two pairs is the two-class logistic loss of the energy gap."""

    def e(p, x, y):
        return -p * x[0] * y[0]

    x = jnp.array([[1.0], [-0.5]])
    y = jnp.array([[0.3], [2.0]])
    loss = obj.info_nce(e, beta=beta).loss(0.8, (x, y), jax.random.key(0), ())[0]
    energies = jnp.array([[e(0.8, xi, yj) for yj in y] for xi in x])
    gaps = jnp.array([energies[0, 0] - energies[0, 1], energies[1, 1] - energies[1, 0]])
    np.testing.assert_allclose(loss, jnp.mean(jax.nn.softplus(beta * gaps)), rtol=1e-12)
