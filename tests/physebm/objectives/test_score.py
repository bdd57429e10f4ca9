"""Score matching on Gaussian data: closed-form minimisers and the sign of the gradient.

The energy E(x) = ½xᵀMx − hᵀx is linear in its natural parameters θ = (M₀₀, M₀₁, M₁₁, h), so
every score-matching loss is an exact quadratic in θ and ONE Newton step from any point lands
on the minimiser of the (finite-sample) loss — no optimiser tolerance enters.

* exact SM: minimiser βM̂ = C⁻¹, M̂⁻¹ĥ = sample mean, minimum −½ tr C⁻¹ (deterministic: 1e-10);
* DSM / sliced SM: the minimiser depends on the drawn noise / projections. Over R = 16
  independent keys the minimisers scatter around (C + σ²I)⁻¹/β resp. C⁻¹/β; we test the mean
  with a t statistic (15 dof), |t| < T_MAX = 6.11 (the t₁₅ quantile at ALPHA = 2e-5 per entry;
  29 entries in this file). The bias of the realised minimiser (a ratio estimator) is O(1/n)
  ≈ 1e-4 relative, far below the standard error (≈ 1e-2 relative).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from stats_helpers import ALPHA, critical_value

from physebm import objectives as obj

D = 2
N = 400
R = 16
T_MAX = critical_value(ALPHA, R - 1)
BETA = 2.0


def gaussian_data():
    chol = jnp.array([[1.0, 0.0], [0.6, 0.5]])
    return jnp.array([0.5, -1.0]) + jax.random.normal(jax.random.key(10), (N, D)) @ chol.T


X = gaussian_data()
MEAN = X.mean(0)
COV = (X - MEAN).T @ (X - MEAN) / N  # 1/N sample covariance


def unpack(theta):
    m = jnp.array([[theta[0], theta[1]], [theta[1], theta[2]]])
    return m, theta[3:]


def quadratic(theta, x, *_):
    m, h = unpack(theta)
    return 0.5 * x @ m @ x - h @ x


def newton(loss_fn, theta0=None):
    """Minimiser of a quadratic loss in θ (one Newton step), with its residual gradient."""
    theta0 = jnp.array([1.0, 0.0, 1.0, 0.0, 0.0]) if theta0 is None else theta0
    g = jax.grad(loss_fn)(theta0)
    theta = theta0 - jnp.linalg.solve(jax.hessian(loss_fn)(theta0), g)
    return theta, jax.grad(loss_fn)(theta)


def replicate_minimisers(objective, data, conditional=False):
    keys = jax.random.split(jax.random.key(11), R)

    def one(key):
        theta, _ = newton(lambda t: objective.loss(t, data, key, ())[0])
        return theta

    return jax.jit(jax.vmap(one))(keys)


def assert_t(samples, target, what):
    samples, target = np.asarray(samples), np.asarray(target)
    mean = samples.mean(0)
    se = samples.std(0, ddof=1) / np.sqrt(samples.shape[0])
    t = (mean - target) / se
    assert np.all(np.abs(t) < T_MAX), f"{what}: mean {mean}, target {target}, t = {t}"


def precision_entries(a):
    return jnp.array([a[0, 0], a[0, 1], a[1, 1]])


def test_exact_score_matching_recovers_mean_and_precision():
    objective = obj.score_matching(quadratic, beta=BETA)
    loss_fn = jax.jit(lambda t: objective.loss(t, X, jax.random.key(0), ())[0])
    theta, residual = newton(loss_fn)
    m, h = unpack(theta)
    c_inv = jnp.linalg.inv(COV)
    np.testing.assert_allclose(BETA * m, c_inv, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(jnp.linalg.solve(m, h), MEAN, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(loss_fn(theta), -0.5 * jnp.trace(c_inv), rtol=1e-10)
    assert float(jnp.max(jnp.abs(residual))) < 1e-9


@pytest.mark.parametrize("sigma", [0.3, 1.0])
def test_denoising_score_matching_fits_noised_precision(sigma):
    data = jnp.tile(X, (10, 1))  # 10 noise draws per data point in each replicate
    thetas = replicate_minimisers(
        obj.denoising_score_matching(quadratic, sigma=sigma, beta=BETA), data
    )
    target = jnp.linalg.inv(COV + sigma**2 * jnp.eye(D)) / BETA
    assert_t(thetas[:, :3], precision_entries(target), "beta*A vs (C + s^2 I)^-1")
    means = jax.vmap(lambda t: jnp.linalg.solve(*unpack(t)))(thetas)
    assert_t(means, MEAN, "mean")
    # and it is NOT the data precision C^-1 (the bias is many standard errors away)
    far = np.abs(np.asarray(thetas[:, 0]).mean() - float(jnp.linalg.inv(COV)[0, 0] / BETA))
    assert far > 10 * np.asarray(thetas[:, 0]).std(ddof=1) / np.sqrt(R)


def test_multi_sigma_denoising_fits_each_level():
    sigmas = jnp.array([0.3, 1.0])

    def conditional(params, x, sigma):
        k = jnp.argmin(jnp.abs(sigmas - sigma))
        return quadratic(params[k], x)

    objective = obj.denoising_score_matching(conditional, sigmas=sigmas, beta=BETA)
    data = jnp.tile(X, (20, 1))
    keys = jax.random.split(jax.random.key(12), R)

    def one(key):
        def loss_fn(flat):
            return objective.loss(flat.reshape(2, 5), data, key, ())[0]

        start = jnp.tile(jnp.array([1.0, 0.0, 1.0, 0.0, 0.0]), 2)
        g = jax.grad(loss_fn)(start)
        return (start - jnp.linalg.solve(jax.hessian(loss_fn)(start), g)).reshape(2, 5)

    thetas = jax.jit(jax.vmap(one))(keys)
    for k, sigma in enumerate(np.asarray(sigmas)):
        target = jnp.linalg.inv(COV + sigma**2 * jnp.eye(D)) / BETA
        assert_t(thetas[:, k, :3], precision_entries(target), f"sigma={sigma}")


@pytest.mark.parametrize(
    ("projection", "variance_reduced"),
    [("rademacher", False), ("rademacher", True), ("gaussian", False)],
)
def test_sliced_score_matching_recovers_precision(projection, variance_reduced):
    objective = obj.sliced_score_matching(
        quadratic,
        num_projections=8,
        projection=projection,
        variance_reduced=variance_reduced,
        beta=BETA,
    )
    thetas = replicate_minimisers(objective, X)
    assert_t(thetas[:, :3], precision_entries(jnp.linalg.inv(COV) / BETA), "beta*M vs C^-1")
    means = jax.vmap(lambda t: jnp.linalg.solve(*unpack(t)))(thetas)
    if variance_reduced:  # ½‖s‖² is exact: the mean is recovered for any projections
        np.testing.assert_allclose(means, jnp.broadcast_to(MEAN, means.shape), atol=1e-9)
    else:
        assert_t(means, MEAN, "mean")


# ---- sign of the gradient (a classic bug): E = λ‖x‖²/2 at λ = 0 on N(0, I) data --------------

Z = jax.random.normal(jax.random.key(13), (4000, D))


def isotropic(lam, x, *_):
    return 0.5 * lam * jnp.sum(x**2)


@pytest.mark.parametrize(
    ("make", "weight"),
    [
        (lambda: obj.score_matching(isotropic, beta=BETA), 1.0),
        (lambda: obj.denoising_score_matching(isotropic, sigma=0.5, beta=BETA), 1.0),
        (
            lambda: obj.denoising_score_matching(isotropic, sigmas=[0.5, 1.0], beta=BETA),
            (0.25 + 1.0) / 2,
        ),
        (lambda: obj.sliced_score_matching(isotropic, beta=BETA), 1.0),
        (lambda: obj.sliced_score_matching(isotropic, variance_reduced=True, beta=BETA), 1.0),
        (lambda: obj.sliced_score_matching(isotropic, projection="gaussian", beta=BETA), 1.0),
    ],
    ids=["sm", "dsm", "dsm_multi", "ssm", "ssm_vr", "ssm_gauss"],
)
def test_score_losses_push_precision_up(make, weight):
    """∂J/∂λ at λ = 0 has expectation −βD·w (< 0): the loss asks for a confining energy
    (w = 1, or the mean σ² weight λ(σ) = σ² of multi-σ DSM).

    Per-example contributions are averaged over 4000 points; we require the mean to be negative
    by more than 6 standard errors (a power check) AND within 6 standard errors of −βD (Gaussian
    tails: false-failure rate 2e-9 per parameter, 6 checks)."""
    objective = make()

    def per_example(x, key):
        return jax.grad(lambda lam: objective.loss(lam, x[None], key, ())[0])(0.0)

    keys = jax.random.split(jax.random.key(14), Z.shape[0])
    grads = np.asarray(jax.jit(jax.vmap(per_example))(Z, keys))
    mean, se = grads.mean(), grads.std(ddof=1) / np.sqrt(grads.size)
    assert mean < -6 * se
    assert abs(mean + BETA * D * weight) < 6 * se + 1e-12, (mean, se)
    batch_grad = jax.grad(lambda lam: objective.loss(lam, Z, jax.random.key(1), ())[0])(0.0)
    assert float(batch_grad) < 0
