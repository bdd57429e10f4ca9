"""Free energy over discrete latents against brute force."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physebm import free_energy, responsibilities, soft_min
from physebm.models import RBM, KMeansEnergy


def all_bits(n):
    return np.array(list(itertools.product([0.0, 1.0], repeat=n)))


@pytest.fixture
def rbm():
    rng = np.random.default_rng(7)
    return RBM(rng.normal(size=(4, 3)), rng.normal(size=4), rng.normal(size=3))


@pytest.mark.parametrize("beta", [0.3, 1.0, 4.0])
def test_rbm_analytic_equals_enumeration_over_hidden(rbm, beta):
    hs = jnp.asarray(all_bits(3))
    for v in all_bits(4):
        v = jnp.asarray(v)
        exact = free_energy(rbm.energy, v, beta, latents=hs)
        E = np.array([float(rbm.energy(v, h)) for h in hs])
        brute = -np.log(np.sum(np.exp(-beta * E))) / beta
        assert float(exact) == pytest.approx(brute, rel=1e-12)
        assert float(free_energy(rbm, v, beta)) == pytest.approx(brute, rel=1e-12)


def test_rbm_zero_temperature_is_min_over_hidden(rbm):
    hs = jnp.asarray(all_bits(3))
    vs = jnp.asarray(all_bits(4))
    brute = [min(float(rbm.energy(v, h)) for h in hs) for v in vs]
    np.testing.assert_allclose(free_energy(rbm, vs, math.inf), brute, rtol=1e-12)
    np.testing.assert_allclose(
        [free_energy(rbm.energy, v, math.inf, latents=hs) for v in vs], brute, rtol=1e-12
    )
    # F_β → min as β → ∞, from below: F_β ≤ min_z E and the gap is at most log(#z)/β.
    F = free_energy(rbm, vs, 200.0)
    assert np.all(np.asarray(F) <= np.asarray(brute) + 1e-12)
    assert np.all(np.asarray(brute) - np.asarray(F) <= np.log(8) / 200.0 + 1e-12)


def test_kmeans_soft_and_hard_minimum():
    centers = jnp.array([[0.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    km = KMeansEnergy(centers)
    y = jnp.array([[1.0, 0.5], [2.5, 0.2], [-1.0, 3.0]])
    d2 = np.sum((np.asarray(y)[:, None] - np.asarray(centers)) ** 2, -1)
    np.testing.assert_allclose(free_energy(km, y, math.inf), d2.min(1), rtol=1e-14)
    beta = 1.3
    soft = -np.log(np.exp(-beta * d2).sum(1)) / beta
    np.testing.assert_allclose(free_energy(km, y, beta), soft, rtol=1e-12)
    q = responsibilities(km.energies(y), beta)
    np.testing.assert_allclose(q.sum(-1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(responsibilities(km.energies(y), math.inf), np.eye(3)[d2.argmin(1)])


def test_soft_kmeans_gradient():
    """∇_{w_k} F_β(y) = −2 q_β(k|y) (y − w_k): soft K-means / EM."""
    centers = jnp.array([[0.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    y = jnp.array([1.0, 0.5])
    beta = 0.8
    grad = jax.grad(lambda w: free_energy(KMeansEnergy(w), y, beta))(centers)
    q = responsibilities(KMeansEnergy(centers).energies(y), beta)
    np.testing.assert_allclose(grad, -2 * q[:, None] * (y - centers), rtol=1e-12)


def test_soft_min_is_stable_for_large_energies():
    e = jnp.array([1e4, 1e4 + 1.0])
    assert np.isfinite(float(soft_min(e, 10.0)))
    assert float(soft_min(e, 10.0)) == pytest.approx(1e4 - np.log1p(np.exp(-10.0)) / 10, rel=1e-14)


def test_errors(rbm):
    with pytest.raises(ValueError, match="latents is required"):
        free_energy(lambda x, z: x + z, jnp.ones(()), 1.0)
    with pytest.raises(ValueError, match="method must be one of"):
        free_energy(rbm, jnp.ones(4), 1.0, method="magic")
    with pytest.raises(ValueError, match="beta must be > 0"):
        free_energy(rbm, jnp.ones(4), -1.0)
    with pytest.raises(ValueError, match="v must have trailing shape"):
        free_energy(rbm, jnp.ones(5), 1.0)
    with pytest.raises(TypeError, match="must return a scalar"):
        free_energy(lambda x, z: x * z, jnp.ones(3), 1.0, latents=jnp.arange(2.0))
    with pytest.raises(TypeError, match="model must be"):
        free_energy(3.0, jnp.ones(3), 1.0)
