"""Continuous-latent free energies F_β(x) = −(1/β) log ∫ exp(−βE(x, z)) dz: Laplace (exact for a
quadratic latent), importance sampling (stochastic upper bound), the variational bound
F ≤ ⟨E⟩_q − S(q)/β, against closed forms and numpy quadrature.

Statistical checks use a fixed key and a false-failure rate α = 2e-5 each (``assert_z``: two-sided
|z| ≤ 4.26, one-sided bound checks z ≤ 4.11, normal stderr); 10 checks in this file. The
``imp.reliable`` assertions inherit the library's batch-agreement check (1e-3 false alarms each);
the Laplace 0.1 bound and the ESS bound are allowances, not z-tests."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from stats_helpers import assert_z

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
    assert float(lap.free_energy(beta)) == pytest.approx(exact, abs=1e-9)
    assert bool(lap.info["positive_definite"])
    np.testing.assert_allclose(lap.info["mode"], A @ x, atol=1e-8)
    var = variational_free_energy(quadratic, x, beta, key=KEY, z0=jnp.zeros(2), num_samples=4000)
    np.testing.assert_allclose(var.info["mean"], A @ x, atol=1e-6)
    # stderr is on log Z = −βF: the stderr of F is stderr / β
    assert_z(float(var.free_energy(beta)) - exact, float(var.stderr) / beta, what="variational F")
    imp = importance_free_energy(quadratic, x, beta, key=KEY, z0=jnp.zeros(2), num_samples=500)
    assert float(imp.free_energy(beta)) == pytest.approx(exact, abs=1e-8)  # exact proposal


@pytest.mark.parametrize("beta", [0.5, 2.0])
def test_quartic_latent(beta):
    x = jnp.array([1.3])
    exact = quartic_exact(1.3, beta)
    imp = importance_free_energy(quartic, x, beta, key=KEY, z0=jnp.zeros(1), num_samples=20000)
    assert_z(float(imp.free_energy(beta)) - exact, float(imp.stderr) / beta, what="importance F")
    # an upper bound on F is a lower bound on log Z = −βF
    assert imp.lower == imp.log_z and np.isposinf(float(imp.upper))
    var = variational_free_energy(quartic, x, beta, key=KEY, z0=jnp.zeros(1), num_samples=20000)
    # F upper bound: exact − F̂ ≤ 4.11 stderr (one-sided)
    f_var = float(var.free_energy(beta))
    assert_z(exact - f_var, float(var.stderr) / beta, sides=1, what="variational F bound")
    lap = laplace_free_energy(quartic, x, beta, z0=jnp.zeros(1))
    assert abs(float(lap.free_energy(beta)) - exact) < 0.1  # an approximation, no bound claimed
    assert np.isinf(float(lap.upper)) and np.isneginf(float(lap.lower))


def test_vmap_over_a_batch_of_x():
    xs = jnp.array([[0.7, -0.2], [0.0, 1.0], [-1.0, 0.5]])
    f = jax.vmap(lambda x: laplace_free_energy(quadratic, x, 1.5, z0=jnp.zeros(2)).free_energy(1.5))
    np.testing.assert_allclose(f(xs), [quadratic_exact(x, 1.5) for x in np.asarray(xs)], atol=1e-8)


def test_bad_inputs():
    with pytest.raises(ValueError, match="z0"):
        importance_free_energy(quadratic, jnp.zeros(2), 1.0, key=KEY)


@pytest.mark.parametrize("beta", [0.5, 2.0])
def test_results_are_logz_with_bounds_on_the_right_side(beta):
    """log Z_x = −βF: the importance and variational estimates are lower bounds on log Z
    (upper bounds on F), checked against the closed form of the quadratic latent and numpy
    quadrature of the quartic one; Laplace gives no bound."""
    x = jnp.array([1.3])
    log_z_exact = -beta * quartic_exact(1.3, beta)
    imp = importance_free_energy(quartic, x, beta, key=KEY, z0=jnp.zeros(1), num_samples=20000)
    var = variational_free_energy(quartic, x, beta, key=KEY, z0=jnp.zeros(1), num_samples=20000)
    lap = laplace_free_energy(quartic, x, beta, z0=jnp.zeros(1))
    for res, method in ((imp, "importance"), (var, "variational"), (lap, "laplace")):
        assert res.method == method
        assert float(res.info["free_energy"]) == pytest.approx(-float(res.log_z) / beta)
        assert float(res.free_energy(beta)) == float(res.info["free_energy"])
        assert float(res.info["beta"]) == beta
        assert np.isposinf(float(res.upper))
    # stochastic lower bounds on log Z: log Ẑ − log Z ≤ 4.11 stderr (one-sided, α = 2e-5 each)
    assert float(imp.lower) == float(imp.log_z) and float(var.lower) == float(var.log_z)
    assert_z(float(imp.log_z) - log_z_exact, float(imp.stderr), sides=1, what="importance bound")
    assert_z(float(var.log_z) - log_z_exact, float(var.stderr), sides=1, what="variational bound")
    # the Gaussian q has a gap on a quartic: 0.02–0.03, 4–6 stderr, at both β (a power check)
    assert float(var.log_z) < log_z_exact
    assert imp.reliable and not imp.warnings and float(imp.info["ess"]) > 1000
    assert not var.reliable and "variational bound" in var.warnings[0]
    assert not lap.reliable and float(lap.stderr) == 0.0 and np.isneginf(float(lap.lower))


def test_quadratic_bound_sides_against_the_closed_form():
    x, beta = jnp.array([0.7, -0.2]), 2.0
    log_z_exact = -beta * quadratic_exact(x, beta)
    var = variational_free_energy(quadratic, x, beta, key=KEY, z0=jnp.zeros(2), num_samples=4000)
    # F ≤ ⟨E⟩_q − S/β is tight at the optimum: a two-sided z-test (α = 2e-5)
    assert_z(float(var.log_z) - log_z_exact, float(var.stderr), what="variational log Z")
    lap = laplace_free_energy(quadratic, x, beta, z0=jnp.zeros(2))
    assert float(lap.log_z) == pytest.approx(log_z_exact, abs=1e-9)


def test_vmap_returns_a_batched_logz():
    xs = jnp.array([[0.7, -0.2], [0.0, 1.0], [-1.0, 0.5]])
    lap = jax.vmap(lambda x: laplace_free_energy(quadratic, x, 1.5, z0=jnp.zeros(2)))(xs)
    assert lap.log_z.shape == (3,) and lap.method == "laplace"
    np.testing.assert_allclose(
        lap.free_energy(1.5), [quadratic_exact(x, 1.5) for x in np.asarray(xs)], atol=1e-8
    )
    keys = jax.random.split(KEY, 3)
    imp = jax.vmap(lambda x, k: importance_free_energy(quadratic, x, 1.5, key=k, z0=jnp.zeros(2)))(
        xs, keys
    )
    assert imp.log_z.shape == (3,) and np.asarray(imp.reliable).shape == (3,)
    assert np.all(np.asarray(imp.reliable))  # the exact proposal: equal weights, ESS = N
