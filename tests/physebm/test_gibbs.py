"""Gibbs distribution: definitions, β as a traced leaf, errors."""

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physebm import Gibbs
from physebm.models import Gaussian, Ising


def quadratic(x):
    return 0.5 * jnp.sum(x**2) + jnp.sum(x)


def test_definitions():
    g = Gibbs(quadratic, beta=2.5)
    x = jnp.array([0.3, -1.2, 2.0])
    e = float(quadratic(x))
    assert g.log_unnormalized(x) == pytest.approx(-2.5 * e, rel=1e-14)
    assert g.potential(x) == pytest.approx(2.5 * e, rel=1e-14)
    assert g.logdensity_fn(x) == pytest.approx(-2.5 * e, rel=1e-14)
    np.testing.assert_allclose(g.score(x), -2.5 * (x + 1.0), rtol=1e-14)
    g2 = g.with_beta(0.5)
    assert g2.log_unnormalized(x) == pytest.approx(-0.5 * e, rel=1e-14)
    assert float(g.beta) == 2.5  # with_beta does not mutate


def test_score_matches_finite_differences():
    model = Gaussian(jnp.array([1.0, -2.0]), jnp.array([[2.0, 0.5], [0.5, 1.0]]))
    g = Gibbs(model, beta=0.7)
    x = jnp.array([0.2, 0.4])
    eps = 1e-6
    fd = [
        (g.log_unnormalized(x + eps * e) - g.log_unnormalized(x - eps * e)) / (2 * eps)
        for e in jnp.eye(2)
    ]
    np.testing.assert_allclose(g.score(x), np.array(fd), rtol=1e-8)


def test_changing_beta_does_not_recompile():
    traces = []

    @jax.jit
    def f(g, x):
        traces.append(1)
        return g.log_unnormalized(x)

    g = Gibbs(Ising((3, 3)), beta=0.2)
    s = jnp.ones((3, 3))
    values = [float(f(g.with_beta(b), s)) for b in (0.1, 0.4, 1.3)]
    assert len(traces) == 1
    np.testing.assert_allclose(values, [0.1 * 18, 0.4 * 18, 1.3 * 18], rtol=1e-14)


def test_changing_energy_parameters_does_not_recompile():
    traces = []

    @eqx.filter_jit
    def f(g, s):
        traces.append(1)
        return g.log_unnormalized(s)

    s = jnp.ones((4,))
    for J in (0.5, 1.0, -1.0):
        f(Gibbs(Ising((4,), J=J, h=0.3), beta=1.0), s)
    assert len(traces) == 1


def test_gibbs_is_a_pytree_usable_under_vmap_over_beta():
    g = Gibbs(Ising((4,)), beta=1.0)
    betas = jnp.array([0.1, 0.2, 0.3])
    s = jnp.array([1.0, -1.0, 1.0, 1.0])
    out = jax.vmap(lambda b: g.with_beta(b).log_unnormalized(s))(betas)
    np.testing.assert_allclose(out, -betas * Ising((4,))(s), rtol=1e-14)


def test_enumerated_probabilities_sum_to_one_with_brute_force_z():
    model = Ising((4,), J=0.8, h=0.2)
    g = Gibbs(model, beta=0.9)
    states = jnp.array(list(itertools.product([-1.0, 1.0], repeat=4)))
    logp = jax.vmap(g.log_unnormalized)(states)
    log_z = jax.scipy.special.logsumexp(logp)
    assert float(jnp.sum(jnp.exp(logp - log_z))) == pytest.approx(1.0, abs=1e-14)


@pytest.mark.parametrize("beta", [0.0, -1.0, float("nan"), float("inf"), -float("inf")])
def test_bad_beta_value(beta):
    with pytest.raises(ValueError, match="beta"):
        Gibbs(quadratic, beta=beta)


@pytest.mark.parametrize("beta", ["1.0", None, True, 1 + 2j])
def test_bad_beta_type(beta):
    with pytest.raises(TypeError, match="beta"):
        Gibbs(quadratic, beta=beta)


def test_beta_array_with_a_nonpositive_entry():
    with pytest.raises(ValueError, match="beta"):
        Gibbs(quadratic, beta=jnp.array([1.0, 0.0]))


def test_energy_not_scalar():
    g = Gibbs(lambda x: x**2, beta=1.0)
    with pytest.raises(TypeError, match="energy must return a scalar"):
        g.log_unnormalized(jnp.ones(3))


def test_energy_not_callable():
    with pytest.raises(TypeError, match="energy must be callable"):
        Gibbs(3.0, beta=1.0)
