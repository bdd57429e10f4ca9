"""Base distributions: normalisation by enumeration / quadrature, sampling moments, the RBM
data base-rate and the Laplace base."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import multivariate_normal

from physebm.models import RBM, Gaussian
from physebm.partition import bases as B


def _all(n, domain):
    vals = (-1.0, 1.0) if domain == "spin" else (0.0, 1.0)
    return jnp.asarray(list(itertools.product(vals, repeat=n)))


@pytest.mark.parametrize("domain", ["spin", "bits"])
def test_independent_bases_are_normalised_and_sample_their_means(domain):
    params = jnp.array([0.7, -1.3, 0.0, 2.5])
    base = B.independent_spins(params) if domain == "spin" else B.independent_bits(params)
    states = _all(4, domain)
    logp = jax.vmap(base.log_prob)(states)
    assert float(jax.scipy.special.logsumexp(logp)) == pytest.approx(0.0, abs=1e-12)
    x = base.sample(jax.random.key(0), 20000)
    mean = np.asarray(x.mean(0))
    expect = (
        np.tanh(np.asarray(params)) if domain == "spin" else 1 / (1 + np.exp(-np.asarray(params)))
    )
    sd = np.sqrt((1 - expect**2) if domain == "spin" else expect * (1 - expect))
    assert np.all(np.abs(mean - expect) <= 4 * sd / np.sqrt(20000))  # 4σ: 6e-5 per unit
    uni = B.uniform_spins((2, 3)) if domain == "spin" else B.uniform_bits((2, 3))
    assert float(uni.log_prob(uni.sample(jax.random.key(1), 1)[0])) == pytest.approx(-6 * np.log(2))


def test_gaussian_base_matches_scipy():
    cov = np.array([[1.5, 0.4], [0.4, 0.8]])
    base = B.gaussian(jnp.array([0.3, -1.0]), jnp.asarray(cov))
    x = np.array([0.1, 0.2])
    ref = multivariate_normal([0.3, -1.0], cov).logpdf(x)
    assert float(base.log_prob(jnp.asarray(x))) == pytest.approx(ref, rel=1e-12)
    s = base.sample(jax.random.key(2), 40000)
    np.testing.assert_allclose(np.cov(np.asarray(s).T), cov, atol=0.04)
    iso = B.gaussian(jnp.zeros(3), scale=2.0)
    assert float(iso.log_prob(jnp.zeros(3))) == pytest.approx(
        multivariate_normal(np.zeros(3), 4 * np.eye(3)).logpdf(np.zeros(3))
    )


def test_product_rbm_base_rate_and_laplace():
    rbm = RBM(jnp.zeros((3, 2)))
    data = jnp.array([[1, 0, 1], [1, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=float)
    base = B.rbm_base_rate(rbm, data, smoothing=1.0)
    np.testing.assert_allclose(
        np.asarray(jax.nn.sigmoid(base.parts[0].logits)), [4 / 6, 2 / 6, 2 / 6], rtol=1e-12
    )
    total = jax.scipy.special.logsumexp(
        jnp.asarray([base.log_prob((v, h)) for v in _all(3, "bits") for h in _all(2, "bits")])
    )
    assert float(total) == pytest.approx(0.0, abs=1e-12)
    g = Gaussian(jnp.array([1.0, 2.0]), jnp.array([[2.0, 0.5], [0.5, 1.0]]))
    lap = B.laplace(g, 3.0, jnp.zeros(2))
    np.testing.assert_allclose(np.asarray(lap.mean), [1.0, 2.0], atol=1e-6)
    np.testing.assert_allclose(np.asarray(lap.covariance), np.asarray(g.covariance(3.0)), atol=1e-8)


def test_bad_inputs():
    with pytest.raises(ValueError, match="cov must have shape"):
        B.gaussian(jnp.zeros(2), jnp.eye(3))
    with pytest.raises(ValueError, match="positive definite"):
        B.gaussian(jnp.zeros(2), -jnp.eye(2))
    with pytest.raises(ValueError, match="scale"):
        B.gaussian(jnp.zeros(2), scale=-1.0)
    with pytest.raises(ValueError, match="data must have shape"):
        B.rbm_base_rate(RBM(jnp.zeros((3, 2))), jnp.zeros((4, 5)))
    with pytest.raises(ValueError, match="logits"):
        B.independent_bits(jnp.array([jnp.inf]))
    with pytest.raises(TypeError, match="Base"):
        B.product(1.0)
    with pytest.raises(ValueError, match="shape"):
        B.uniform_spins((0, 2))
