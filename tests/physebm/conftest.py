"""Small models with exact log Z (independent numpy references from ``ground_truth``) shared by
the partition-function and free-energy tests; session-scoped so that jitted estimators compile
once per shape."""

import ground_truth as gt
import jax.numpy as jnp
import numpy as np
import pytest

from physebm.models import RBM, BoltzmannMachine, CurieWeiss, Gaussian, Ising


@pytest.fixture(scope="session")
def gaussian():
    mean = jnp.array([1.0, -0.5])
    prec = jnp.array([[2.0, 0.3], [0.3, 1.0]])
    beta = 1.5
    exact = gt.gaussian_log_z_quadrature(np.asarray(mean), np.asarray(prec), beta)
    return Gaussian(mean, prec), beta, exact


@pytest.fixture(scope="session")
def small_rbm():
    rng = np.random.default_rng(0)
    W, b, c = rng.normal(0, 0.5, (10, 6)), rng.normal(0, 0.5, 10), rng.normal(0, 0.5, 6)
    return RBM(W, b, c), 1.0, gt.rbm_joint_log_z(W, b, c, 1.0)


@pytest.fixture(scope="session")
def small_ising():
    beta = 0.44
    return Ising((4, 4)), beta, gt.ising_log_z_brute((4, 4), beta)


@pytest.fixture(scope="session")
def small_bm():
    """Bits Boltzmann machine with a non-zero diagonal (not multilinear: generic flips)."""
    rng = np.random.default_rng(1)
    W = rng.normal(0, 0.4, (8, 8))
    W = W + W.T
    b = rng.normal(0, 0.3, 8)
    energies = gt.boltzmann_energies(W, b, "bits")
    return BoltzmannMachine(W, b, domain="bits"), 1.0, gt.log_z_from_energies(energies, 1.0)


@pytest.fixture(scope="session")
def curie_weiss():
    return CurieWeiss(12, J=1.2, h=0.1), 1.0, gt.curie_weiss_log_z_brute(12, 1.0, 1.2, 0.1)
