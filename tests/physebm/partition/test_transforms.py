"""The estimators are pure JAX: ``jit`` and ``vmap`` over keys and over β, one compilation each.

Every check is exact (a transformed call must give the same numbers as the eager call with the
same key, to float64 round-off), so none has a false-failure rate.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physebm.models import Gaussian, Ising
from physebm.partition import ais, importance, smc, thermodynamic_integration

ISING = Ising((4, 4))
GAUSS = Gaussian(jnp.array([0.5, -1.0]), jnp.array([[2.0, 0.4], [0.4, 1.0]]))
NUM_KEYS = 64

ESTIMATORS = {
    "ais": lambda m, b, k: ais(m, b, key=k, num_temperatures=40, num_chains=16),
    "importance": lambda m, b, k: importance(m, b, key=k, num_samples=256),
    "ti": lambda m, b, k: thermodynamic_integration(
        m, b, key=k, num_temperatures=6, num_chains=8, num_samples=10, num_burnin=5
    ),
    "smc": lambda m, b, k: smc(
        m, b, key=k, num_particles=32, num_replicas=8, num_mcmc_steps=1, max_steps=60
    ),
}


@pytest.mark.parametrize(
    "name",
    [
        "ais",
        "importance",
        pytest.param("ti", marks=pytest.mark.slow),
        pytest.param("smc", marks=pytest.mark.slow),
    ],
)
def test_jit_matches_eager(name):
    run = ESTIMATORS[name]
    key = jax.random.key(11)
    eager = run(ISING, 0.3, key)
    jitted = jax.jit(lambda k: run(ISING, 0.3, k).log_z)(key)
    np.testing.assert_allclose(jitted, eager.log_z, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["ais", "importance", "ti", "smc"])
def test_vmap_over_keys_compiles_once(name):
    run = ESTIMATORS[name]
    batched = jax.jit(jax.vmap(lambda k: run(ISING, 0.3, k)))
    keys = jax.random.split(jax.random.key(3), NUM_KEYS)
    res = batched(keys)
    batched(jax.random.split(jax.random.key(4), NUM_KEYS))
    assert batched._cache_size() == 1
    assert res.log_z.shape == res.stderr.shape == res.reliable.shape == (NUM_KEYS,)
    assert res.reliable.dtype == jnp.bool_
    for i in (0, NUM_KEYS - 1):
        one = run(ISING, 0.3, keys[i])
        np.testing.assert_allclose(res.log_z[i], one.log_z, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(res.stderr[i], one.stderr, rtol=1e-9, atol=1e-12)
        assert bool(res.reliable[i]) == one.reliable


@pytest.mark.parametrize("name", ["ais", "importance", "ti", "smc"])
def test_vmap_over_beta_compiles_once(name):
    run = ESTIMATORS[name]
    key = jax.random.key(5)
    batched = jax.jit(jax.vmap(lambda b: run(ISING, b, key).log_z))
    betas = jnp.array([0.1, 0.25, 0.4])
    out = batched(betas)
    batched(betas + 0.05)
    assert batched._cache_size() == 1
    for i, b in enumerate(np.asarray(betas)):
        np.testing.assert_allclose(out[i], run(ISING, float(b), key).log_z, rtol=1e-12)


def test_vmap_continuous_ais():
    keys = jax.random.split(jax.random.key(8), 4)
    res = jax.vmap(lambda k: ESTIMATORS["ais"](GAUSS, 1.5, k))(keys)
    assert np.all(np.isfinite(np.asarray(res.log_z)))
    np.testing.assert_allclose(res.log_z[1], ESTIMATORS["ais"](GAUSS, 1.5, keys[1]).log_z)


def test_traced_result_keeps_static_notes_and_array_info():
    res = jax.jit(
        lambda k: ais(ISING, 0.3, key=k, num_temperatures=10, num_chains=4), static_argnums=()
    )(jax.random.key(0))
    assert res.warnings == ("only 4 chains: the stderr itself is very uncertain",)
    assert not bool(res.reliable)
    assert "transition" not in res.info  # a string cannot leave a jitted function
    assert res.info["log_weights"].shape == (4,)


@pytest.mark.slow  # default-suite time: with the slow tests (CI runs them)
def test_real_valued_defaults_under_jit():
    """The default base N(0, I) and the default MALA step of a real-valued model are built from
    concrete values, so the estimators jit and vmap with their defaults (exact comparison)."""
    keys = jax.random.split(jax.random.key(9), 3)
    for name in ("ais", "importance", "ti"):
        run = ESTIMATORS[name]
        res = jax.jit(jax.vmap(lambda k, run=run: run(GAUSS, 1.5, k)))(keys)
        np.testing.assert_allclose(res.log_z[2], run(GAUSS, 1.5, keys[2]).log_z, rtol=1e-12)


def test_bdmc_vmaps_over_keys():
    """Bidirectional MC under jit/vmap equals the eager call key by key, reliability verdict
    included (no non-finite works here, so the traced BAR sees the same works)."""
    from physebm.partition import bidirectional_ais

    def run(k):
        return bidirectional_ais(ISING, 0.3, key=k, num_temperatures=30, num_chains=16)

    keys = jax.random.split(jax.random.key(12), 3)
    res = jax.jit(jax.vmap(run))(keys)
    assert res.reliable.shape == (3,)
    for i in (0, 2):
        one = run(keys[i])
        np.testing.assert_allclose(res.log_z[i], one.log_z, rtol=1e-12)
        np.testing.assert_allclose(res.stderr[i], one.stderr, rtol=1e-9)
        np.testing.assert_allclose(res.upper[i], one.upper, rtol=1e-12)
        assert bool(res.reliable[i]) == one.reliable, one.warnings  # the same checks
