"""Replica exchange mixes a bimodal target that a single chain at the cold β does not.

z-tests at |z| < Z_CRIT (false-failure rate ALPHA = 2e-5 per check; 3 checks). The swap-rate
floor (> 0.05) and the single chain staying in its well (< 5 % crossing) are allowances/power
checks against a 10-nat barrier, not z-tests."""

import jax
import jax.numpy as jnp
import numpy as np
from stats_helpers import Z_CRIT

import samplers


def double_well(x):
    """E = 10 (x² − 1)²: modes ±1, barrier of 10 energy units (10 nats at β = 1)."""
    return 10.0 * (x[0] ** 2 - 1.0) ** 2


def family(beta):
    return lambda x: -beta * double_well(x)


def test_replica_exchange_mixes_double_well():
    c = 512
    betas = jnp.geomspace(0.05, 1.0, 6)
    inner = lambda beta: samplers.mala(family(beta), 0.04 / beta)  # noqa: E731
    pt = samplers.replica_exchange(family, betas, inner)
    x0 = jnp.ones((c, 6, 1))  # every replica of every chain starts in the right well
    res = samplers.run(
        jax.random.key(0), pt, x0, num_steps=300, keep_trace=False, trace_fn=lambda s: ()
    )
    cold = np.asarray(res.state.position[:, -1, 0])
    frac_left = np.mean(cold < 0)
    # symmetric target: P(x < 0) = 1/2; independent chains ⇒ binomial standard error
    assert abs(frac_left - 0.5) < Z_CRIT * np.sqrt(0.25 / c), frac_left

    # swap rates: per pair, mean acceptance over the steps where the pair was attempted
    info = res.info  # means over steps, (chains, K − 1)
    rates = np.asarray(info["swap_acceptance"].mean(0) / info["swap_attempted"].mean(0))
    assert rates.shape == (5,) and np.all((rates > 0.05) & (rates <= 1.0)), rates

    # the same MALA alone at β = 1 stays in its well
    single = samplers.run(
        jax.random.key(0),
        samplers.mala(family(1.0), 0.04),
        jnp.ones((c, 1)),
        num_steps=300,
        keep_trace=False,
        trace_fn=lambda s: (),
    )
    assert np.mean(np.asarray(single.state.position[:, 0]) < 0) < 0.05


def test_swap_rule_is_exact_on_two_gaussians():
    """Two replicas of N(0, 1/β): PT with a do-nothing inner kernel still samples each β
    exactly when started from the exact product law (swaps preserve it)."""
    c = 20_000
    betas = jnp.array([0.25, 1.0])
    fam = lambda beta: lambda x: -0.5 * beta * jnp.sum(x**2)  # noqa: E731
    inner = lambda beta: samplers.mala(fam(beta), 1e-12)  # noqa: E731  (essentially frozen)
    pt = samplers.replica_exchange(fam, betas, inner)
    x0 = jax.random.normal(jax.random.key(1), (c, 2, 1)) / jnp.sqrt(betas)[None, :, None]
    res = samplers.run(
        jax.random.key(2), pt, x0, num_steps=2, keep_trace=False, trace_fn=lambda s: ()
    )
    x = np.asarray(res.state.position[..., 0])
    assert np.mean(np.asarray(res.info["is_swapped"])) > 0.1
    for k, beta in enumerate(np.asarray(betas)):
        v = 1.0 / beta
        assert abs(np.mean(x[:, k] ** 2) - v) < Z_CRIT * v * np.sqrt(2.0 / c)
