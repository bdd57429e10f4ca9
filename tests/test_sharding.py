"""Sharded runs (`samplers.sharding`): errors here; the multi-device checks in fresh processes.

This process has jax initialised with one host device, so the checks on 8 host CPU devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=8``, set before jax is imported) and on
two processes joined by ``jax.distributed.initialize`` run `sharding_worker` in subprocesses.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AxisType, Mesh, PartitionSpec

import samplers
from samplers.sharding import batch_sharding

WORKER = Path(__file__).with_name("sharding_worker.py")
ROOT = WORKER.parent.parent


def _env() -> dict:
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["JAX_PLATFORMS"] = "cpu"
    return env


def _one_device_mesh(kind=AxisType.Explicit) -> Mesh:
    return jax.make_mesh((1,), ("chains",), axis_types=(kind,))


def test_batch_sharding_checks_its_arguments():
    mesh = _one_device_mesh()
    with pytest.raises(TypeError, match="mesh must be a jax.sharding.Mesh"):
        batch_sharding("chains", None, 8, "num_chains")
    with pytest.raises(ValueError, match=r"axis_name 'batch' is not an axis of the mesh"):
        batch_sharding(mesh, "batch", 8, "num_chains")
    two = Mesh(np.asarray(jax.devices()[:1]).reshape(1, 1), ("chains", "model"))
    with pytest.raises(ValueError, match=r"axis_name must name one of the mesh axes"):
        batch_sharding(two, None, 8, "num_chains")
    assert batch_sharding(None, None, 8, "num_chains") is None
    sharding = batch_sharding(mesh, None, 7, "num_chains")  # an Explicit mesh, used as Auto
    assert sharding.spec == PartitionSpec("chains")
    assert sharding.mesh.axis_types == (AxisType.Auto,)


def test_entry_points_name_the_axis_before_running():
    """``axis_name`` not in the mesh: a ValueError from each entry point before any work."""
    import optax

    import physebm
    from physebm import objectives as obj
    from physebm.models.ising import Ising
    from physebm.partition.ais import ais
    from physebm.partition.smc import smc
    from physebm.training import fit

    mesh, bad = _one_device_mesh(), {"axis_name": "batch"}
    match = "axis_name 'batch' is not an axis"
    model, key = Ising((4, 4)), jax.random.key(0)
    with pytest.raises(ValueError, match=match):
        samplers.run(key, samplers.MALA(0.1), jnp.zeros((4, 2)), num_steps=2, mesh=mesh,
                     logdensity_fn=lambda x: -jnp.sum(x**2), **bad)  # fmt: skip
    with pytest.raises(ValueError, match=match):
        physebm.sample(model, key=key, num_chains=4, num_steps=2, mesh=mesh, **bad)
    with pytest.raises(ValueError, match=match):
        ais(model, 0.4, key=key, num_chains=4, mesh=mesh, **bad)
    with pytest.raises(ValueError, match=match):
        smc(model, 0.4, key=key, num_particles=4, mesh=mesh, **bad)
    objective = obj.score_matching(lambda p, x: jnp.sum((x - p) ** 2))
    with pytest.raises(ValueError, match=match):
        fit(objective, jnp.zeros(2), jnp.ones((8, 2)), optax.sgd(0.1), key=key, num_steps=1,
            batch_size=4, mesh=mesh, **bad)  # fmt: skip


def _worker(*args: str) -> None:
    out = subprocess.run(
        [sys.executable, str(WORKER), *args],
        env=_env(), capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip
    assert out.returncode == 0 and out.stdout.rstrip().endswith("ok"), out.stdout + out.stderr


@pytest.mark.slow  # default-suite time: with the slow tests (CI runs them)
def test_sharded_runs_on_8_host_devices():
    """samplers.run (MALA; a mesh given, sharded input, under ``jax.set_mesh``),
    physebm.sample (checkerboard Ising on a (4, 2) mesh), ais and fit on 4 or 8 of 8 host
    devices, Explicit and Auto axes, against their unsharded runs: integer kernels bit for
    bit, float results within rounding (tolerances 1e-5), clear errors for 6 chains or
    examples on 4 devices (`sharding_worker`)."""
    _worker("devices")


@pytest.mark.slow
def test_sharded_smc_on_8_host_devices():
    """smc with each replica's particles over 4 of 8 host devices: replica log Ẑ within
    rounding of the unsharded run; 6 particles on 4 devices is a clear error."""
    _worker("devices-smc")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_one_ais_run_sharded_across_two_processes():
    """Two processes on 127.0.0.1 joined by ``jax.distributed.initialize`` (2 host devices
    each): one AIS run whose chains span both agrees with the unsharded run within rounding."""
    port = _free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), "distributed", str(i), str(port)],
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
        )  # fmt: skip
        for i in range(2)
    ]
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=600)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, text in zip(procs, outs, strict=True):
        assert p.returncode == 0 and text.rstrip().endswith("ok"), text
