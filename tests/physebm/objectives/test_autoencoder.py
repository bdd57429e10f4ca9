"""Denoising auto-encoder: the Vincent (2011) equivalence with denoising score matching on a
Gaussian, where the optimal reconstruction r*(x̃) = μ + C(C + σ²I)⁻¹(x̃ − μ) = x̃ + σ²∇log p_σ(x̃)
is closed form, and the DAE read as an energy.

Statistical checks (fixed key, α = 2e-5 each, |z| ≤ 4.26): the 6 coefficients of the exact
least-squares minimiser of the objective's loss (one Newton step on a quadratic) against r*,
with the exact standard errors of a Gaussian linear regression (x | x̃ is linear-Gaussian with
known residual covariance): 6 checks. The fit run is an allowance (0.01 on each coefficient
against the sample-moment optimum; measured in the test's comment).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree
from stats_helpers import assert_z

from physebm.objectives.autoencoder import (
    dae_asymmetry,
    dae_energy,
    dae_score,
    denoising_autoencoder,
)
from physebm.objectives.score_matching import denoising_score_matching
from physebm.training import fit

KEY = jax.random.key(3)
MU = np.array([1.0, -0.5])
C = np.array([[1.0, 0.6], [0.6, 0.8]])
SIGMA = 0.5
A_STAR = C @ np.linalg.inv(C + SIGMA**2 * np.eye(2))
B_STAR = MU - A_STAR @ MU
DATA = jnp.asarray(
    np.random.default_rng(1).multivariate_normal(MU, C, size=4000), dtype=jnp.float64
)


def linear(p, x):
    return p["A"] @ x + p["b"]


def test_tweedie_closed_form():
    """Deterministic: μ + C(C+σ²I)⁻¹(x̃ − μ) = x̃ + σ²∇log N(x̃; μ, C + σ²I) (autodiff), and its
    score reading (r* − x̃)/σ² is DSM's optimum −(C + σ²I)⁻¹(x̃ − μ)."""
    cov = jnp.asarray(C + SIGMA**2 * np.eye(2))

    def log_p_sigma(x):
        return jax.scipy.stats.multivariate_normal.logpdf(x, jnp.asarray(MU), cov)

    params = {"A": jnp.asarray(A_STAR), "b": jnp.asarray(B_STAR)}
    x = jnp.asarray(np.random.default_rng(2).normal(size=(3, 2)))
    tweedie, score = jax.jit(
        jax.vmap(
            lambda xi: (
                xi + SIGMA**2 * jax.grad(log_p_sigma)(xi),
                dae_score(linear, params, xi, sigma=SIGMA),
            )
        )
    )(x)
    np.testing.assert_allclose(np.asarray(x) @ A_STAR.T + B_STAR, tweedie, atol=1e-12)
    dsm_optimum = -(np.asarray(x) - MU) @ np.linalg.inv(C + SIGMA**2 * np.eye(2))
    np.testing.assert_allclose(score, dsm_optimum, atol=1e-12)


def test_loss_is_dsm_loss_times_two_sigma_to_the_fourth():
    """Deterministic: on the same key, DSM with the energy read from the DAE (dae_energy, whose
    gradient is −s for a symmetric A) equals the DAE loss / (2σ⁴), example by example."""
    dae = denoising_autoencoder(linear, sigma=SIGMA)
    dsm = denoising_score_matching(
        lambda p, x: dae_energy(linear, p, x, sigma=SIGMA, num_nodes=2), sigma=SIGMA
    )
    m = np.array([[0.3, 0.2], [0.2, 0.5]])
    params = {"A": jnp.asarray(m), "b": jnp.array([0.1, -0.3])}
    x = DATA[:16]
    (l_dae, (_, aux)), (l_dsm, _) = jax.jit(
        lambda p: (dae.loss(p, x, KEY, ()), dsm.loss(p, x, KEY, ()))
    )(params)
    np.testing.assert_allclose(l_dsm, l_dae / (2 * SIGMA**4), rtol=1e-12)
    assert aux["reconstruction_error"] == l_dae
    noisy, z = dae.corrupt(x, KEY)
    np.testing.assert_allclose(noisy, x + SIGMA * z, atol=1e-15)


def test_minimiser_of_the_loss_is_the_closed_form_optimum():
    """Statistical: the loss on a fixed key is quadratic in (A, b); one Newton step gives its
    exact minimiser (least squares of x on x̃), compared with r* using the regression's exact
    standard errors."""
    dae = denoising_autoencoder(linear, sigma=SIGMA)
    p0 = {"A": jnp.zeros((2, 2)), "b": jnp.zeros(2)}
    flat0, unravel = ravel_pytree(p0)

    def f(u):
        return dae.loss(unravel(u), DATA, KEY, ())[0]

    @jax.jit
    def newton(u):
        return u - jnp.linalg.solve(jax.hessian(f)(u), jax.grad(f)(u))

    u = newton(flat0)
    np.testing.assert_allclose(newton(u), u, atol=1e-10)  # deterministic: a quadratic
    est = unravel(u)
    noisy, _ = dae.corrupt(DATA, KEY)
    design = np.column_stack([np.asarray(noisy), np.ones(len(DATA))])
    xtx_inv = np.diag(np.linalg.inv(design.T @ design))
    resid_var = np.diag(C - C @ np.linalg.inv(C + SIGMA**2 * np.eye(2)) @ C)
    se = np.sqrt(np.outer(resid_var, xtx_inv))  # row j = output j, columns A_j·, b_j
    err = np.column_stack([np.asarray(est["A"]) - A_STAR, np.asarray(est["b"]) - B_STAR])
    assert_z(err, se, what="least-squares DAE vs r*")


def test_fit_reaches_the_optimum_and_reads_as_dsm_precision():
    """A linear r trained by fit (fresh noise each step) reaches the sample-moment optimum
    Ĉ(Ĉ + σ²I)⁻¹ (allowance 0.01); its score reading (I − A)/σ² is then DSM's precision
    (Ĉ + σ²I)⁻¹ (the same matrix identity)."""
    x = np.asarray(DATA)
    c_hat = np.cov(x.T, bias=True)
    a_hat = c_hat @ np.linalg.inv(c_hat + SIGMA**2 * np.eye(2))
    dae = denoising_autoencoder(linear, sigma=SIGMA)
    p0 = {"A": jnp.zeros((2, 2)), "b": jnp.zeros(2)}
    opt = optax.adam(optax.cosine_decay_schedule(0.05, 300, alpha=0.02))
    res = fit(dae, p0, DATA, opt, key=KEY, num_steps=300, batch_size=500, steps_per_call=300)
    a = np.asarray(res.params["A"])
    np.testing.assert_allclose(a, a_hat, atol=0.01)  # measured max error 0.0024
    np.testing.assert_allclose(
        (np.eye(2) - a) / SIGMA**2,
        np.linalg.inv(c_hat + SIGMA**2 * np.eye(2)),
        atol=0.01 / SIGMA**2,
    )
    np.testing.assert_allclose(
        (np.eye(2) - a_hat) / SIGMA**2, np.linalg.inv(c_hat + SIGMA**2 * np.eye(2)), atol=1e-12
    )


def test_reading_a_dae_as_an_energy():
    """Deterministic: the linear closed form; ∇E = −s for a symmetric A (not for an asymmetric
    one, which dae_asymmetry flags); for a non-linear conservative r = x − σ²∇U, E = U − U(x₀)."""
    x = jnp.array([0.7, -1.2])

    @jax.jit
    def readout(params, x):
        energy, grad = jax.value_and_grad(lambda y: dae_energy(linear, params, y, sigma=SIGMA))(x)
        return (
            energy,
            grad,
            dae_score(linear, params, x, sigma=SIGMA),
            dae_asymmetry(linear, params, x),
        )

    for m, sym in (
        (np.array([[0.3, 0.2], [0.2, 0.5]]), True),
        (np.array([[0.3, 0.4], [0.0, 0.5]]), False),
    ):
        energy, grad, score, asym = readout({"A": jnp.asarray(m), "b": jnp.array([0.1, -0.3])}, x)
        d = np.asarray(x)
        closed = -(0.5 * d @ (m - np.eye(2)) @ d + np.array([0.1, -0.3]) @ d) / SIGMA**2
        np.testing.assert_allclose(energy, closed, rtol=1e-12)
        if sym:
            np.testing.assert_allclose(grad, -score, atol=1e-12)
            assert asym == 0
        else:
            assert np.max(np.abs(grad + score)) > 0.1 and asym > 0.1

    def potential(y):
        return jnp.sum(jnp.log(jnp.cosh(2 * y))) + 0.25 * jnp.sum(y**4)

    def nonlinear(p, y):
        return y - SIGMA**2 * jax.grad(potential)(y)

    x0 = jnp.array([0.2, 0.1])
    e, asym = jax.jit(
        lambda x: (
            dae_energy(nonlinear, {}, x, sigma=SIGMA, origin=x0, num_nodes=24),
            dae_asymmetry(nonlinear, {}, x),
        )
    )(x)
    np.testing.assert_allclose(e, potential(x) - potential(x0), rtol=1e-9)
    assert asym < 1e-12


def test_bad_input():
    with pytest.raises(ValueError, match="sigma"):
        denoising_autoencoder(linear, sigma=0.0)
    with pytest.raises(TypeError, match="reconstruct_fn"):
        denoising_autoencoder(3, sigma=0.1)
    dae = denoising_autoencoder(lambda p, x: x[:1], sigma=0.1)
    with pytest.raises(ValueError, match="shape of x"):
        dae.loss({}, DATA[:4], KEY, ())
    with pytest.raises(TypeError, match="array of examples"):
        dae.loss({}, (DATA[:4], DATA[:4]), KEY, ())
    with pytest.raises(TypeError, match="floating point"):
        dae.loss({}, jnp.ones((4, 2), int), KEY, ())
    with pytest.raises(ValueError, match="num_nodes"):
        dae_energy(linear, {}, DATA[0], sigma=0.1, num_nodes=0)
