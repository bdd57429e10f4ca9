"""Checks of sharded runs, in a fresh process with several host CPU devices (`test_sharding`).

``python tests/sharding_worker.py devices``: 8 forced host devices, every sharded entry point
but SMC against its unsharded run (``devices-smc``: SMC, whose compilation is slow).
``python tests/sharding_worker.py distributed ID PORT``: process ID of two joined by
``jax.distributed.initialize`` on 127.0.0.1:PORT (2 devices each), one AIS run sharded across
both. Each prints ``ok`` last when every check passed. jax is imported only after
``XLA_FLAGS`` is set."""

from __future__ import annotations

import os
import sys


def _devices(count: int) -> None:
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={count}"
    os.environ.setdefault("JAX_PLATFORMS", "cpu")


def _raises(fn, *words) -> None:
    try:
        fn()
    except ValueError as e:
        assert all(w in str(e) for w in words), str(e)
        return
    raise AssertionError(f"no ValueError naming {words}")


def _meshes(jax, shape=(4,), names=("chains",)):
    from jax.sharding import AxisType

    return {
        kind: jax.make_mesh(shape, names, axis_types=(kind,) * len(shape))
        for kind in (AxisType.Explicit, AxisType.Auto)
    }


def check_samplers_run(jax, jnp, np):
    """A float kernel (MALA) on Explicit and Auto meshes: draws within rounding, on the mesh."""
    import samplers

    def ld(x):
        return -0.5 * jnp.sum(x**2)

    x0 = jnp.linspace(-1.0, 1.0, 16).reshape(8, 2)
    kw = dict(num_steps=10, logdensity_fn=ld)
    ref = samplers.run(jax.random.key(0), samplers.MALA(0.5), x0, **kw)
    for kind, mesh in _meshes(jax).items():
        res = samplers.run(jax.random.key(0), samplers.MALA(0.5), x0, mesh=mesh, **kw)
        np.testing.assert_allclose(res.trace, ref.trace, rtol=1e-6, atol=1e-6)
        assert res.trace.sharding.mesh.axis_types == (kind,), res.trace.sharding
        assert res.trace.sharding.spec[0] == "chains" and len(res.trace.sharding.device_set) == 4
        _raises(
            lambda m=mesh: samplers.run(
                jax.random.key(0), samplers.MALA(0.5), x0[:6], mesh=m, **kw
            ),
            "num_chains",
            "(6)",
            "'chains'",
            "(4 devices)",
        )
        _raises(
            lambda m=mesh: samplers.run(
                jax.random.key(0), samplers.MALA(0.5), x0, mesh=m, axis_name="batch", **kw
            ),
            "axis_name 'batch'",
        )
        placed = jax.device_put(x0, jax.sharding.NamedSharding(mesh, jax.P("chains")))
        given = samplers.run(jax.random.key(0), samplers.MALA(0.5), placed, **kw)  # no mesh=
        np.testing.assert_allclose(given.trace, ref.trace, rtol=1e-6, atol=1e-6)
        assert given.trace.sharding.mesh.axis_types == (kind,), given.trace.sharding
        assert len(given.trace.sharding.device_set) == 4
        with jax.set_mesh(mesh):  # under the user's own mesh context
            inside = samplers.run(jax.random.key(0), samplers.MALA(0.5), x0, mesh=mesh, **kw)
        np.testing.assert_allclose(inside.trace, ref.trace, rtol=1e-6, atol=1e-6)


def check_sample(jax, jnp, np):
    """An integer kernel (checkerboard Ising) through physebm.sample: bit-identical samples
    on a (4, 2) mesh of both axis types, the chains over its "chains" axis."""
    from jax.sharding import AxisType

    import physebm
    from physebm.models.ising import Ising

    model, names = Ising((4, 4)), ("chains", "model")
    kw = dict(key=jax.random.key(3), num_chains=8, num_steps=6, beta=0.4, num_burnin=2)
    ref = physebm.sample(model, **kw)
    for kind in (AxisType.Explicit, AxisType.Auto):
        mesh = jax.make_mesh((4, 2), names, axis_types=(kind, kind))
        res = physebm.sample(model, mesh=mesh, axis_name="chains", **kw)
        assert res.sampler == ref.sampler == "checkerboard"
        assert np.array_equal(res.samples, ref.samples)
        assert res.samples.sharding.mesh.axis_types == (kind, kind)
        assert len(res.samples.sharding.device_set) == 8
        _raises(lambda m=mesh: physebm.sample(model, mesh=m, **kw), "axis_name", "None")
        _raises(
            lambda m=mesh: physebm.sample(
                model, mesh=m, axis_name="chains", **dict(kw, num_chains=6)
            ),
            "num_chains (6)",
            "'chains' (4 devices)",
        )


def check_ais(jax, jnp, np):
    """AIS on the Ising lattice (integer moves): the same chains, log Ẑ within rounding (the
    checks' runs, sharded too, are checked across processes: `distributed`)."""
    from physebm.models.ising import Ising
    from physebm.partition.ais import ais

    model = Ising((2, 4))
    kw = dict(key=jax.random.key(1), num_temperatures=40, num_chains=8, check=False)
    ref = ais(model, 0.4, **kw)
    for mesh in _meshes(jax).values():
        res = ais(model, 0.4, mesh=mesh, **kw)
        assert np.array_equal(res.info["final_samples"], ref.info["final_samples"])
        np.testing.assert_allclose(res.info["log_weights"], ref.info["log_weights"], atol=1e-5)
        np.testing.assert_allclose(res.log_z, ref.log_z, atol=1e-5)
        assert len(res.info["log_weights"].sharding.device_set) == 4
        _raises(lambda m=mesh: ais(model, 0.4, mesh=m, **dict(kw, num_chains=6)), "num_chains")


def check_smc(jax, jnp, np):
    """SMC (a fixed schedule) with each replica's particles over 4 devices: log Ẑ within
    rounding."""
    from physebm.models.ising import Ising
    from physebm.partition.smc import smc

    model = Ising((2, 4))
    kw = dict(key=jax.random.key(2), num_particles=8, num_replicas=2, num_mcmc_steps=1)
    kw.update(schedule="linear", num_temperatures=3)
    ref = smc(model, 0.4, **kw)
    for mesh in list(_meshes(jax).values())[1:]:  # Auto (Explicit: the other checks)
        res = smc(model, 0.4, mesh=mesh, **kw)
        np.testing.assert_allclose(res.info["replica_log_z"], ref.info["replica_log_z"], atol=1e-5)
        _raises(lambda m=mesh: smc(model, 0.4, mesh=m, **dict(kw, num_particles=6)),
                "num_particles (6)")  # fmt: skip
    _smc_is_split(jax, jnp, model)


def _smc_is_split(jax, jnp, model):
    """The compiled sharded SMC holds 8 / 4 = 2 particles per device and communicates."""
    import importlib

    from physebm.partition._target import default_base
    from physebm.partition.kernels import resolve_kernel
    from physebm.partition.paths import GeometricPath
    from samplers.sharding import batch_sharding

    smc_module = importlib.import_module("physebm.partition.smc")
    base = default_base(model)
    kernel, _ = resolve_kernel(None, model, base, "default")
    path = GeometricPath(model, jnp.asarray(0.4), base)
    sharding = batch_sharding(jax.make_mesh((4,), ("p",)), None, 8, "num_particles")
    schedule, config = jnp.linspace(0.0, 1.0, 4), (8, 0.5, 1, 10, None)

    def run(key):
        return smc_module.smc_core(key, path, kernel, config, 2, schedule, sharding)

    text = jax.jit(run).lower(jax.random.key(0)).compile().as_text()
    assert "[2,2,8]" in text and "[2,8,8]" not in text  # (replicas, particles, sites) per device
    assert "all-reduce" in text


def check_fit(jax, jnp, np):
    """Data-parallel fit (batches over 4 devices): the parameters within float rounding."""
    import optax

    from physebm import objectives as obj
    from physebm.training import fit

    def energy(params, x):
        return 0.5 * jnp.sum((x - params["mu"]) ** 2 / params["s"])

    x = jax.random.normal(jax.random.key(0), (32, 2)) + 1.0
    params = {"mu": jnp.zeros(2), "s": jnp.ones(2)}
    kw = dict(key=jax.random.key(4), num_steps=20, batch_size=8, progress=False)
    objective = obj.score_matching(energy)
    ref = fit(objective, params, x, optax.adam(0.05), **kw)
    for mesh in list(_meshes(jax).values())[:1]:  # Explicit (Auto: the other checks)
        res = fit(objective, params, x, optax.adam(0.05), mesh=mesh, **kw)
        for a, b in zip(jax.tree.leaves(res.params), jax.tree.leaves(ref.params), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(res.losses, ref.losses, rtol=1e-5, atol=1e-6)
        _raises(
            lambda m=mesh: fit(
                objective, params, x, optax.adam(0.05), mesh=m, **dict(kw, batch_size=6)
            ),
            "batch_size (6)",
        )
    _fit_batch_is_split(jax, jnp, x, params)


def _fit_batch_is_split(jax, jnp, x, params):
    """Inside the compiled update, each minibatch of 8 is split over the 4 devices."""
    import optax

    from physebm import objectives as obj
    from physebm.training import fit

    seen = []

    class Inspect(obj.Objective):
        def init(self, params, key):
            return ()

        def loss(self, params, batch, key, state):
            jax.debug.inspect_array_sharding(batch, callback=seen.append)
            return jnp.mean((batch - params["mu"]) ** 2), (state, {})

    mesh = jax.make_mesh((4,), ("batch",))
    kw = dict(key=jax.random.key(0), num_steps=1, batch_size=8, progress=False, mesh=mesh)
    fit(Inspect(), params, x, optax.sgd(0.1), **kw)
    assert seen and all(len(s.device_set) == 4 and not s.is_fully_replicated for s in seen), seen


def devices(checks) -> None:
    _devices(8)
    import jax
    import jax.numpy as jnp
    import numpy as np

    assert jax.device_count() == 8, jax.devices()
    for check in checks:
        check(jax, jnp, np)
        print(check.__name__, "passed", flush=True)


def distributed(process_id: int, port: int) -> None:
    """One AIS run over the 4 devices of two processes, with its checks (the halved schedule
    and reverse AIS from exact samples, sharded too), against each process's own unsharded
    run (the same key: within float rounding)."""
    _devices(2)
    import jax
    import numpy as np

    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=process_id
    )
    from physebm.models.ising import Ising
    from physebm.partition.ais import ais

    assert jax.process_count() == 2 and jax.device_count() == 4, jax.devices()
    mesh = jax.make_mesh((4,), ("chains",))
    model, kw = Ising((2, 4)), dict(key=jax.random.key(1), num_temperatures=40, num_chains=8)
    res = ais(model, 0.4, mesh=mesh, **kw)
    assert not res.info["log_weights"].is_fully_addressable  # the chains span both processes
    local = ais(model, 0.4, **kw)
    print("log_z", float(res.log_z), float(local.log_z), flush=True)
    np.testing.assert_allclose(float(res.log_z), float(local.log_z), atol=1e-5)
    np.testing.assert_allclose(float(res.upper), float(local.upper), atol=1e-5)
    half = res.info["log_z_half_schedule"]
    np.testing.assert_allclose(float(half), float(local.info["log_z_half_schedule"]), atol=1e-5)
    assert bool(res.reliable) == bool(local.reliable)
    jax.distributed.shutdown()


if __name__ == "__main__":
    if sys.argv[1] == "devices":
        devices((check_samplers_run, check_sample, check_ais, check_fit))
    elif sys.argv[1] == "devices-smc":
        devices((check_smc,))
    else:
        distributed(int(sys.argv[2]), int(sys.argv[3]))
    print("ok", flush=True)
