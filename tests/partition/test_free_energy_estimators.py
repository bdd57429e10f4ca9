"""Continuous-latent free energies F_β(x) = −(1/β) log ∫ exp(−βE(x, z)) dz: Laplace (exact for a
quadratic latent), importance sampling (stochastic upper bound, 3 stderr), the variational bound
F ≤ ⟨E⟩_q − S(q)/β (above the exact value up to 3 stderr), against closed forms and numpy
quadrature."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physebm.free_energies.continuous import (
    importance_free_energy,
    laplace_free_energy,
    variational_free_energy,
)

KEY = jax.random.key(5)
P = jnp.array([[2.0, 0.5], [0.5, 1.0]])
A = jnp.array([[1.0, 0.0], [0.3, -1.0]])


def quadratic(x, z):
    d = z - A @ x
    return 0.5 * d @ P @ d + 0.5 * x @ x


def quadratic_exact(x, beta):
    """F = ½|x|² − (1/β)[log(2π/β) − ½ log det P] for the quadratic latent (d = 2)."""
    x = np.asarray(x)
    return 0.5 * x @ x - (np.log(2 * np.pi / beta) - 0.5 * np.log(np.linalg.det(P))) / beta


def quartic(x, z):
    return 0.25 * z[0] ** 4 + 0.5 * z[0] ** 2 - x[0] * z[0]


def quartic_exact(x, beta):
    z = np.linspace(-10, 10, 400001)
    dens = np.exp(-beta * (0.25 * z**4 + 0.5 * z**2 - x * z))
    return -np.log(np.trapezoid(dens, z)) / beta


def test_quadratic_latent_is_exact_for_laplace_and_the_variational_optimum():
    x, beta = jnp.array([0.7, -0.2]), 2.0
    exact = quadratic_exact(x, beta)
    lap = laplace_free_energy(quadratic, x, beta, z0=jnp.zeros(2))
    assert float(lap.free_energy) == pytest.approx(exact, abs=1e-9)
    assert bool(lap.diagnostics["positive_definite"])
    np.testing.assert_allclose(lap.diagnostics["mode"], A @ x, atol=1e-8)
    var = variational_free_energy(quadratic, x, beta, key=KEY, z0=jnp.zeros(2), num_samples=4000)
    np.testing.assert_allclose(var.diagnostics["mean"], A @ x, atol=1e-6)
    assert abs(float(var.free_energy) - exact) <= 3 * float(var.stderr)
    imp = importance_free_energy(quadratic, x, beta, key=KEY, z0=jnp.zeros(2), num_samples=500)
    assert float(imp.free_energy) == pytest.approx(exact, abs=1e-8)  # exact proposal: w const


@pytest.mark.parametrize("beta", [0.5, 2.0])
def test_quartic_latent(beta):
    x = jnp.array([1.3])
    exact = quartic_exact(1.3, beta)
    imp = importance_free_energy(quartic, x, beta, key=KEY, z0=jnp.zeros(1), num_samples=20000)
    assert abs(float(imp.free_energy) - exact) <= 3 * float(imp.stderr)
    assert imp.upper == imp.free_energy and np.isneginf(float(imp.lower))
    var = variational_free_energy(quartic, x, beta, key=KEY, z0=jnp.zeros(1), num_samples=20000)
    assert float(var.free_energy) >= exact - 3 * float(var.stderr)  # an upper bound on F
    lap = laplace_free_energy(quartic, x, beta, z0=jnp.zeros(1))
    assert abs(float(lap.free_energy) - exact) < 0.1  # an approximation, no bound claimed
    assert np.isinf(float(lap.upper)) and np.isneginf(float(lap.lower))


def test_vmap_over_a_batch_of_x():
    xs = jnp.array([[0.7, -0.2], [0.0, 1.0], [-1.0, 0.5]])
    f = jax.vmap(lambda x: laplace_free_energy(quadratic, x, 1.5, z0=jnp.zeros(2)).free_energy)
    np.testing.assert_allclose(f(xs), [quadratic_exact(x, 1.5) for x in np.asarray(xs)], atol=1e-8)


def test_bad_inputs():
    with pytest.raises(ValueError, match="z0"):
        importance_free_energy(quadratic, jnp.zeros(2), 1.0, key=KEY)
