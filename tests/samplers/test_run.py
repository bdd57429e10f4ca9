"""The driver: shapes, burn-in/thinning, reduced traces, non-finite guard, no recompilation,
sharding, persistent buffers, and clear errors on bad input."""

import logging
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import samplers


def gauss(x):
    return -0.5 * jnp.sum(x**2)


def test_shapes_burnin_thinning_and_reduced_trace():
    alg = samplers.mala(gauss, 0.3)
    x0 = jnp.zeros((3, 2))
    key = jax.random.key(0)
    full = samplers.run(key, alg, x0, num_steps=10)
    assert full.trace.shape == (3, 10, 2)
    assert full.info["acceptance_rate"].shape == (3, 10)
    thinned = samplers.run(key, alg, x0, num_steps=6, num_burnin=4, thin=2)
    # same total number of steps ⇒ same keys: draws are the states after steps 6, 8, 10
    np.testing.assert_array_equal(thinned.trace, full.trace[:, [5, 7, 9]])
    reduced = samplers.run(key, alg, x0, num_steps=10, keep_trace=False)
    assert reduced.trace is None
    np.testing.assert_allclose(reduced.mean, full.trace.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(
        reduced.info["acceptance_rate"], full.info["acceptance_rate"].mean(axis=1), rtol=1e-12
    )
    np.testing.assert_array_equal(reduced.state.position, full.state.position)


def test_integer_trace_mean_and_custom_trace_fn():
    alg = samplers.ising_checkerboard(0.2)
    res = samplers.run(
        jax.random.key(1),
        alg,
        jnp.ones((2, 4, 4)),
        num_steps=5,
        trace_fn=lambda s: {"m": jnp.mean(s.position)},
        mean=True,
    )
    assert res.trace["m"].shape == (2, 5)
    np.testing.assert_allclose(res.mean["m"], res.trace["m"].mean(axis=1))


def test_nan_is_counted_and_never_reaches_the_samples():
    def bad(x):
        return jnp.where(x[0] > 1.0, jnp.nan, -0.5 * jnp.sum(x**2))

    res = samplers.run(jax.random.key(2), samplers.ula(bad, 0.5), jnp.zeros((8, 2)), num_steps=200)
    assert int(res.num_nonfinite.sum()) > 0
    assert np.all(np.isfinite(res.trace))
    assert np.all(res.trace[..., 0] <= 1.0)


def test_no_recompilation_when_beta_or_parameters_change():
    traces = []

    @jax.jit
    def sample(key, beta, params):
        traces.append(1)
        alg = samplers.mala(lambda x: -beta * jnp.sum(params["a"] * x**2), params["eps"])
        return samplers.run(key, alg, jnp.zeros((4, 3)), num_steps=20, mean=True).mean

    key = jax.random.key(0)
    f = jnp.asarray  # same dtypes/weak types each call: only values change
    m1 = sample(key, f(1.0), {"a": jnp.ones(3), "eps": f(0.1)})
    m2 = sample(key, f(2.5), {"a": f([0.3, 0.2, 0.1]), "eps": f(0.05)})
    sample(key, f(0.7), {"a": jnp.ones(3), "eps": f(0.2)})
    assert len(traces) == 1
    assert not np.allclose(m1, m2)

    lattice_traces = []

    @jax.jit
    def ising(key, beta, J):
        lattice_traces.append(1)
        return samplers.run(
            key, samplers.ising_checkerboard(beta, J), jnp.ones((2, 4, 4)), num_steps=3, mean=True
        ).mean

    ising(key, f(0.2), f(1.0))
    ising(key, f(0.9), f(-1.0))
    assert len(lattice_traces) == 1


def test_kernel_with_its_target_is_the_same_run_compiled_once(caplog):
    """``run(key, kernel, x0, logdensity_fn=target)`` draws what ``run(key, kernel(target), x0)``
    draws, compiles once for all step sizes and targets of one type, stores int8 lattices packed
    and unpacks them once (the same trace as unpacking every draw), and computes no mean."""
    key, x0 = jax.random.key(0), jnp.zeros((3, 2))
    closure = samplers.run(key, samplers.mala(gauss, 0.3), x0, num_steps=10)
    cached = samplers.run(key, samplers.MALA(0.3), x0, logdensity_fn=gauss, num_steps=10)
    np.testing.assert_array_equal(cached.trace, closure.trace)
    assert cached.mean is None and closure.mean is None
    s0 = jnp.ones((2, 4, 6), jnp.int8)

    def lattice(key, coupling, **kw):
        target = samplers.PeriodicIsing2D(coupling, 0.1)
        return samplers.run(key, samplers.Checkerboard(), s0, logdensity_fn=target, **kw)

    packed = lattice(key, 0.4, num_steps=6, thin=2)
    per_draw = lattice(key, 0.4, num_steps=6, thin=2, trace_fn=lambda s: s.position)
    assert packed.trace.dtype == jnp.int8 and packed.trace.shape == (2, 3, 4, 6)
    np.testing.assert_array_equal(packed.trace, per_draw.trace)
    caplog.set_level(logging.WARNING, logger="jax")
    with jax.log_compiles(True):
        samplers.run(jax.random.key(5), samplers.MALA(0.1), x0, logdensity_fn=gauss, num_steps=10)
        lattice(jax.random.key(6), 0.9, num_steps=6, thin=2)
    compiled = [r for r in caplog.records if r.getMessage().startswith("Finished XLA compil")]
    assert compiled == []
    with pytest.raises(TypeError, match="logdensity_fn="):
        samplers.run(key, samplers.MALA(0.1), x0, num_steps=2)
    with pytest.raises(TypeError, match="must be a samplers Kernel"):
        samplers.run(key, samplers.mala(gauss, 0.1), x0, logdensity_fn=gauss, num_steps=2)


def test_sharded_run_equals_unsharded():
    """Two host devices in a subprocess: same key ⇒ same samples, sharded or not."""
    code = textwrap.dedent(
        """
        import jax, jax.numpy as jnp, numpy as np
        from jax.sharding import AxisType
        import samplers
        assert len(jax.devices()) == 2
        mesh = jax.make_mesh((2,), ("chains",), axis_types=(AxisType.Auto,))
        key = jax.random.key(0)
        alg = samplers.mala(lambda x: -0.5 * jnp.sum(x ** 2), 0.3)
        x0 = jnp.linspace(-1, 1, 8 * 3).reshape(8, 3)
        a = samplers.run(key, alg, x0, num_steps=20, num_burnin=5)
        b = samplers.run(key, alg, x0, num_steps=20, num_burnin=5, mesh=mesh)
        # same random numbers; float32 arithmetic may be fused differently per device layout,
        # so continuous samples agree to rounding, discrete ones bit for bit
        np.testing.assert_allclose(np.asarray(a.trace), np.asarray(b.trace), rtol=1e-5, atol=1e-6)
        assert len(b.state.position.sharding.device_set) == 2
        lat = samplers.ising_checkerboard(0.4)
        s0 = jnp.ones((4, 6, 6))
        c = samplers.run(key, lat, s0, num_steps=10)
        d = samplers.run(key, lat, s0, num_steps=10, mesh=mesh)
        np.testing.assert_array_equal(np.asarray(c.trace), np.asarray(d.trace))
        kernel, target = samplers.Checkerboard(), samplers.PeriodicIsing2D(0.4)
        e = samplers.run(key, kernel, s0, logdensity_fn=target, num_steps=10, mesh=mesh)
        np.testing.assert_array_equal(np.asarray(c.trace), np.asarray(e.trace))
        print("OK")
        """
    )
    env = dict(
        os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0 and "OK" in out.stdout, out.stderr[-3000:]


def test_persistent_buffer_pcd_and_replay():
    alg = samplers.mala(gauss, 0.3)
    buffer = samplers.init_buffer(jnp.full((6, 2), 5.0))
    key = jax.random.key(3)
    new, negatives, info = samplers.advance(key, buffer, alg, num_steps=4)
    np.testing.assert_array_equal(new.positions, negatives)
    # plain PCD = a run from the buffer (re-initialised) with the run key of advance
    k_run = jax.random.split(key, 4)[3]
    ref = samplers.run(
        k_run, alg, buffer.positions, num_steps=4, keep_trace=False, trace_fn=lambda s: ()
    )
    np.testing.assert_array_equal(negatives, ref.state.position)
    # replay: a batch of 3 drawn without replacement, all restarted from noise
    noise = lambda k, n: jax.random.normal(k, (n, 2))  # noqa: E731
    new, negatives, info = samplers.advance(
        key, buffer, alg, num_steps=1, batch_size=3, reinit_fraction=1.0, noise_fn=noise
    )
    idx = np.asarray(info.indices)
    assert len(set(idx.tolist())) == 3 and bool(jnp.all(info.reinitialized))
    np.testing.assert_array_equal(new.positions[idx], negatives)
    untouched = np.setdiff1d(np.arange(6), idx)
    np.testing.assert_array_equal(new.positions[untouched], 5.0)
    assert np.all(np.abs(negatives) < 5.0)  # restarted from N(0, 1), one step


def test_pcd_chain_samples_target_after_parameter_change():
    """Positions persist, densities do not: after θ changes the chains follow the new target."""
    buffer = samplers.init_buffer(jnp.zeros((2000, 1)))
    key = jax.random.key(4)
    for i, mu in enumerate([0.0, 3.0, 3.0, 3.0]):
        alg = samplers.mala(lambda x, mu=mu: -0.5 * jnp.sum((x - mu) ** 2), 0.5)
        buffer, neg, _ = samplers.advance(jax.random.fold_in(key, i), buffer, alg, num_steps=40)
    assert abs(float(neg.mean()) - 3.0) < 4.0 * np.sqrt(1.0 / 2000) + 0.02


def test_bad_input_messages():
    alg = samplers.mala(gauss, 0.3)
    key = jax.random.key(0)
    x0 = jnp.zeros((2, 2))
    with pytest.raises(ValueError, match="num_steps must be >= 1"):
        samplers.run(key, alg, x0, num_steps=0)
    with pytest.raises(TypeError, match="num_steps must be an integer"):
        samplers.run(key, alg, x0, num_steps=2.5)
    with pytest.raises(ValueError, match="multiple of thin"):
        samplers.run(key, alg, x0, num_steps=5, thin=2)
    with pytest.raises(ValueError, match="num_burnin must be >= 0"):
        samplers.run(key, alg, x0, num_steps=5, num_burnin=-1)
    with pytest.raises(ValueError, match="leading chain axis"):
        samplers.run(key, alg, (jnp.zeros((2, 2)), jnp.zeros((3,))), num_steps=2)
    with pytest.raises(ValueError, match="num_chains .* must be >= 1"):
        samplers.run(key, alg, jnp.zeros((0, 2)), num_steps=2)
    with pytest.raises(TypeError, match="SamplingAlgorithm"):
        samplers.run(key, gauss, x0, num_steps=2)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="step_size must be"):
            samplers.mala(gauss, bad)
        with pytest.raises(ValueError, match="step_size must be"):
            samplers.ula(gauss, bad)
        with pytest.raises(ValueError, match="beta must be"):
            samplers.ising_checkerboard(bad)
    with pytest.raises(TypeError, match="step_size must be a positive real"):
        samplers.hmc(gauss, "0.1", jnp.ones(2), 5)
    with pytest.raises(ValueError, match="num_integration_steps must be >= 1"):
        samplers.hmc(gauss, 0.1, jnp.ones(2), 0)
    with pytest.raises(ValueError, match="inverse_mass_matrix must be positive"):
        samplers.nuts(gauss, 0.1, -jnp.ones(2))
    with pytest.raises(ValueError, match="noise_scale must be > 0"):
        samplers.effective_beta(0.1, 0.0)
    with pytest.raises(ValueError, match="strictly increasing"):
        samplers.replica_exchange(lambda b: gauss, jnp.array([1.0, 0.5]), lambda b: alg)
    with pytest.raises(ValueError, match="betas must be > 0"):
        samplers.replica_exchange(lambda b: gauss, jnp.array([0.0, 0.5]), lambda b: alg)
    with pytest.raises(ValueError, match="at least 2"):
        samplers.replica_exchange(lambda b: gauss, jnp.array([0.5]), lambda b: alg)
    pt = samplers.replica_exchange(lambda b: gauss, jnp.array([0.5, 1.0]), lambda b: alg)
    with pytest.raises(ValueError, match="leading replica axis of size 2"):
        pt.init(jnp.zeros((3, 2)))
    with pytest.raises(ValueError, match="domain must be one of"):
        samplers.metropolis(gauss, domain="ternary")
    with pytest.raises(ValueError, match="order must be one of"):
        samplers.metropolis(gauss, order="sideways")
    with pytest.raises(ValueError, match="colors must use every colour"):
        samplers.colored_gibbs(lambda x: x, 1.0, np.zeros(4, int))
    with pytest.raises(ValueError, match="colouring's shape"):
        g = samplers.colored_gibbs(lambda x: x, 1.0, np.arange(4) % 2)
        g.step(key, g.init(jnp.ones(5)))
    with pytest.raises(ValueError, match="even sides"):
        samplers.ising_checkerboard(0.3).init(jnp.ones((3, 4)))
    with pytest.raises(ValueError, match="J and h must be scalars"):
        samplers.ising_checkerboard(0.3, J=jnp.ones(2))
    with pytest.raises(ValueError, match="W must be"):
        samplers.bernoulli_rbm_conditionals(jnp.ones((3, 2)), jnp.ones(2), jnp.ones(2), 1.0)
    buf = samplers.init_buffer(jnp.zeros((4, 2)))
    with pytest.raises(ValueError, match="batch_size"):
        samplers.advance(key, buf, alg, num_steps=1, batch_size=5)
    with pytest.raises(ValueError, match="noise_fn"):
        samplers.advance(key, buf, alg, num_steps=1, reinit_fraction=0.1)
    with pytest.raises(ValueError, match="reinit_fraction must be in"):
        samplers.advance(key, buf, alg, num_steps=1, reinit_fraction=1.5)
