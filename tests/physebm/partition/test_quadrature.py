"""Quadrature log Z of low-dimensional continuous energies against closed forms."""

import jax
import jax.numpy as jnp
import pytest
from jax.scipy.special import logsumexp
from jax.scipy.stats import multivariate_normal

from physebm.models import Gaussian
from physebm.partition.quadrature import quadrature


@pytest.mark.parametrize("beta", [0.5, 1.0, 3.0])
def test_gaussian_2d(beta):
    model = Gaussian(jnp.array([0.5, -0.3]), jnp.array([[2.0, 0.7], [0.7, 1.5]]))
    res = quadrature(model, beta, [(-12, 12), (-12, 12)], num_points=301)
    assert abs(float(res.log_z) - float(model.log_z(beta))) < 1e-9
    assert float(res.info["boundary_density_ratio"]) < 1e-12
    assert res.reliable and not res.warnings and "Richardson" in res.info["stderr_source"]


def test_mixture_energy_is_normalised():
    """E = −log Σ_k π_k N(x; μ_k, Σ_k) has Z(1) = 1 exactly; at β = 2, Z = ∫ p² (closed form)."""
    means = jnp.array([[-2.0, 0.0], [2.0, 1.0], [0.0, -2.5]])
    covs = jnp.stack([0.5 * jnp.eye(2), jnp.array([[0.8, 0.3], [0.3, 0.6]]), 0.3 * jnp.eye(2)])
    w = jnp.array([0.3, 0.5, 0.2])

    def energy(x):
        logs = jnp.stack(
            [multivariate_normal.logpdf(x, m, c) for m, c in zip(means, covs, strict=True)]
        )
        return -logsumexp(logs, b=w)

    res = quadrature(energy, 1.0, [(-9, 9), (-9, 9)], num_points=401)
    assert abs(float(res.log_z)) < 1e-8
    # ∫ p² = Σ_jk π_j π_k N(μ_j; μ_k, Σ_j + Σ_k)
    z2 = sum(
        w[j] * w[k] * multivariate_normal.pdf(means[j], means[k], covs[j] + covs[k])
        for j in range(3)
        for k in range(3)
    )
    res2 = quadrature(energy, 2.0, [(-9, 9), (-9, 9)], num_points=401)
    assert abs(float(res2.log_z) - float(jnp.log(z2))) < 1e-8


def test_error_estimate_flags_a_coarse_grid():
    model = Gaussian(jnp.zeros(1), jnp.array([[50.0]]))
    coarse = quadrature(model, 1.0, [(-5, 5)], num_points=13)
    err = abs(float(coarse.log_z - model.log_z(1.0)))
    assert err > 1e-3  # the grid is far too coarse for this narrow peak ...
    assert float(coarse.stderr) > 1e-4  # ... and the Richardson estimate says so


def test_box_too_small_is_visible():
    model = Gaussian(jnp.zeros(1), jnp.array([[1.0]]))
    res = quadrature(model, 1.0, [(-1, 1)], num_points=101)
    assert float(res.info["boundary_density_ratio"]) > 0.5
    assert not res.reliable and "widen the bounds" in res.warnings[0]


def test_bad_input():
    f = jax.jit(lambda x: jnp.sum(x**2))
    with pytest.raises(ValueError, match="num_points must be 4k"):
        quadrature(f, 1.0, [(-1, 1)], num_points=10)
    with pytest.raises(ValueError, match="1 to 3 dimensions"):
        quadrature(f, 1.0, [(-1, 1)] * 4, num_points=5)
    with pytest.raises(ValueError, match="high > low"):
        quadrature(f, 1.0, [(1, -1)], num_points=5)
    with pytest.raises(ValueError, match="beta"):
        quadrature(f, 0.0, [(-1, 1)], num_points=5)
    with pytest.raises(ValueError, match="NaN"):
        quadrature(lambda x: jnp.log(x[0]), 1.0, [(-1, 1)], num_points=5)
