"""The estimates that came back wrong with ``reliable=True`` in 0.1 are now flagged, each with
a warning that says why. These are deterministic checks of the verdict on fixed keys (the
estimates themselves are 5–6 stderr off, or Z is infinite)."""

import jax
import jax.numpy as jnp
import pytest

from physebm.models import RBM, Ising
from physebm.partition import bases, reverse_ais, smc, thermodynamic_integration


def test_smc_with_disagreeing_replicas_is_unreliable():
    res = smc(Ising((8, 8)), 0.6, key=jax.random.key(0), num_particles=16)
    assert not res.reliable
    assert any("replicas disagree" in w for w in res.warnings)


def test_ti_with_too_coarse_a_grid_and_no_burn_in_is_unreliable():
    res = thermodynamic_integration(
        Ising((8, 8)),
        0.6,
        key=jax.random.key(0),
        num_temperatures=2,
        num_chains=8,
        num_samples=5,
        num_burnin=0,
    )
    assert not res.reliable
    assert any("temperature intervals" in w for w in res.warnings)
    assert any("no burn-in" in w for w in res.warnings)


def test_ti_of_an_infinite_partition_function_is_unreliable():
    res = thermodynamic_integration(
        lambda x: -jnp.sum(x**2), 1.0, key=jax.random.key(0), base=bases.gaussian(jnp.zeros(2))
    )
    assert not res.reliable
    assert any("Z may be infinite" in w for w in res.warnings)


def test_reverse_ais_needs_both_layers_when_the_hidden_one_is_carried():
    rbm = RBM(0.1 * jnp.ones((6, 3)))  # 3 < 6: the marginal path carries h
    with pytest.raises(ValueError, match=r"\(v, h\)"):
        reverse_ais(rbm, 1.0, key=jax.random.key(0), samples=jnp.zeros((8, 6)))
