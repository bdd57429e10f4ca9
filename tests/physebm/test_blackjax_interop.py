"""blackjax algorithms in the estimators and in sample: ``samplers.Blackjax`` (an algorithm and
its kernel parameters, ``blackjax.rmh``'s proposal included) and factories
(``functools.partial(blackjax.rmh | blackjax.mala, ...)``) in AIS, TI and SMC against the exact
log Z of a 2-D Gaussian; a proposal's σ is a traced leaf (no recompilation); clear errors for a
missing or unknown parameter and for a SamplingAlgorithm already bound to one density.

Tolerances (``stats_helpers``): 6 ``within`` checks at α = 2e-5, fixed keys (AIS: normal
delta-method stderr, |z| ≤ 4.26; TI and SMC: sd over 16 chains/replicas, Student t₁₅,
|z| ≤ 6.11). The draw-for-draw equalities and compile counts are deterministic."""

import functools

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from stats_helpers import within
from test_compile_once import count_compilations

import physebm
import samplers
from physebm.partition import ais, smc, thermodynamic_integration

KEY = jax.random.key(20261201)


def walk(key, x, sigma):
    """rmh's proposal: a new position x + σ z, z ~ N(0, I)."""
    return x + sigma * jax.random.normal(key, x.shape, x.dtype)


def rmh_kernel(sigma=0.7):
    return samplers.Blackjax(blackjax.rmh, proposal_generator=functools.partial(walk, sigma=sigma))


@pytest.mark.slow  # default-suite time: with the slow tests (CI runs them)
def test_rmh_in_ais_ti_and_smc(gaussian):
    """3 checks at α = 2e-5: blackjax.rmh with a Gaussian random-walk proposal (σ = 0.7)."""
    model, beta, exact = gaussian
    kernel = rmh_kernel()
    a = ais(model, beta, key=KEY, num_temperatures=200, num_chains=256, kernel=kernel)
    within(a, exact)
    assert a.info["transition"] == "Blackjax"
    t = thermodynamic_integration(
        model, beta, key=KEY, num_temperatures=32, num_chains=16, num_samples=200,
        num_burnin=50, kernel=kernel,
    )  # fmt: skip
    within(t, exact)
    s = smc(model, beta, key=KEY, num_particles=256, num_replicas=16, kernel=kernel)
    within(s, exact)


def test_factories_in_ti_smc_and_rmh_in_ais(gaussian):
    """3 checks at α = 2e-5: functools.partial(blackjax.mala, step_size) in TI and SMC (AIS has
    its own test in partition/test_ais), functools.partial(blackjax.rmh, proposal_generator) in
    AIS, which is the Blackjax kernel's chain draw for draw."""
    model, beta, exact = gaussian
    mala = functools.partial(blackjax.mala, step_size=0.3)
    t = thermodynamic_integration(
        model, beta, key=KEY, num_temperatures=32, num_chains=16, num_samples=100,
        num_burnin=20, kernel=mala,
    )  # fmt: skip
    within(t, exact)
    s = smc(model, beta, key=KEY, num_particles=256, num_replicas=16, kernel=mala)
    within(s, exact)
    proposal = functools.partial(walk, sigma=0.7)
    factory = functools.partial(blackjax.rmh, proposal_generator=proposal)
    run = functools.partial(ais, model, beta, key=KEY, num_temperatures=200, num_chains=256)
    a = run(kernel=factory)
    within(a, exact)
    np.testing.assert_array_equal(
        a.info["log_weights"], run(kernel=rmh_kernel()).info["log_weights"]
    )


def test_sample_with_rmh_and_a_traced_sigma(gaussian):
    """physebm.sample with Blackjax(rmh) equals the factory draw for draw; another σ reuses
    the compiled code of ais and sample (σ is a leaf of the proposal's Partial)."""
    model, beta, _ = gaussian
    run = functools.partial(physebm.sample, model, key=KEY, num_chains=4, num_steps=50, beta=beta)
    given = run(sampler=rmh_kernel())
    factory = functools.partial(blackjax.rmh, proposal_generator=functools.partial(walk, sigma=0.7))
    np.testing.assert_array_equal(given.samples, run(sampler=factory).samples)
    assert isinstance(rmh_kernel().params["transition_generator"], jax.tree_util.Partial)
    estimate = functools.partial(ais, model, beta, num_temperatures=20, num_chains=16)
    estimate(key=KEY, kernel=rmh_kernel(0.5))
    with count_compilations() as names:
        jax.block_until_ready(estimate(key=jax.random.key(1), kernel=rmh_kernel(0.9)).log_z)
        jax.block_until_ready(run(sampler=rmh_kernel(0.3)).samples)
    assert names == [], names


def test_clear_errors(gaussian):
    model, beta, _ = gaussian
    with pytest.raises(TypeError, match=r"missing \['transition_generator'\].*proposal_generator"):
        samplers.Blackjax(blackjax.rmh)
    with pytest.raises(TypeError, match=r"unknown \['stepsize'\].*\['step_size'\]"):
        samplers.Blackjax(blackjax.mala, stepsize=0.1)
    with pytest.raises(TypeError, match="proposal_generator"):
        ais(model, beta, key=KEY, kernel=functools.partial(blackjax.rmh))
    bound = blackjax.mala(lambda x: -model.energy(x), step_size=0.1)
    for call in (
        lambda: ais(model, beta, key=KEY, kernel=bound),
        lambda: smc(model, beta, key=KEY, kernel=bound),
        lambda: thermodynamic_integration(model, beta, key=KEY, kernel=bound),
        lambda: physebm.sample(model, key=KEY, num_chains=2, num_steps=5, sampler=bound),
    ):
        with pytest.raises(TypeError, match=r"bound to one log density.*functools\.partial"):
            call()
    hmc = samplers.Blackjax(
        blackjax.hmc, step_size=0.1, inverse_mass_matrix=jnp.ones(2), num_integration_steps=3
    )
    assert set(hmc.params) == {"step_size", "inverse_mass_matrix", "num_integration_steps"}


def test_a_kernel_moves_blackjax_adaptive_tempered_smc():
    """A ``samplers.Kernel`` is the (mcmc_init_fn, mcmc_step_fn) pair of blackjax's own tempered
    SMC (its target log density given at call time): the tempering reaches λ = 1 and every
    particle moves (deterministic checks; no statistical one)."""
    from blackjax.smc import resampling

    kernel = samplers.MALA(0.3)

    def prior(x):
        return -0.5 * jnp.sum(x**2)

    def likelihood(x):
        return -2.0 * jnp.sum((x - 1.0) ** 2)

    algo = blackjax.adaptive_tempered_smc(
        prior,
        likelihood,
        lambda key, state, logdensity_fn, **_: kernel.step(key, state, logdensity_fn),
        lambda position, logdensity_fn: kernel.init(position, logdensity_fn),
        {},
        resampling.systematic,
        0.5,
        num_mcmc_steps=2,
    )
    x0 = jax.random.normal(jax.random.key(0), (64, 2))
    state, step = algo.init(x0), jax.jit(algo.step)
    for i in range(50):
        if float(state.tempering_param) >= 1.0:
            break
        state, info = step(jax.random.fold_in(KEY, i), state)
    assert float(state.tempering_param) == 1.0 and i > 1
    assert np.all(np.isfinite(np.asarray(state.particles)))
    assert 0.0 < float(jnp.mean(info.update_info.acceptance_rate)) <= 1.0
