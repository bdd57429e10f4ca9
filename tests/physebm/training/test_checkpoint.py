"""Checkpoints you can trust: the path checked before training, atomic writes, a failed save that
keeps the result, clear errors for corrupt files, a settings fingerprint that refuses a resume
under other settings, and a run killed mid-write that resumes bit-identically."""

import os
import re
import subprocess
import sys
import textwrap
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from physebm.objectives.base import Objective
from physebm.training import checkpoint, fit
from physebm.training.checkpoint import CheckpointError, CheckpointWarning

# The setup shared with the killed subprocess (exec'd in both, so the functions match by name).
SETUP = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, optax
    from physebm import objectives as obj

    X = jax.random.normal(jax.random.key(40), (64, 2)) * jnp.array([0.5, 2.0]) + 1.0
    P0 = {"a": jnp.ones(2), "mu": jnp.zeros(2)}

    def quad_energy(p, x):
        return 0.5 * jnp.sum(p["a"] * (x - p["mu"]) ** 2)

    def objective(sigma=0.3, beta=1.0):
        return obj.denoising_score_matching(quad_energy, sigma=sigma, beta=beta)
    """
)
ns: dict = {}
exec(SETUP, ns)
X, P0, make_objective = ns["X"], ns["P0"], ns["objective"]


class Counting(Objective):
    """An objective that counts the loss evaluations actually run (a host callback)."""

    inner: Objective

    def init(self, params, key):
        return self.inner.init(params, key)

    def loss(self, params, batch, key, state):
        jax.debug.callback(lambda: CALLS.append(1))
        return self.inner.loss(params, batch, key, state)


CALLS: list = []


def run(path, num_steps=8, objective=None, optimizer=None, data=None, batch_size=16, **kw):
    return fit(
        objective if objective is not None else make_objective(),
        P0,
        X if data is None else data,
        optimizer if optimizer is not None else optax.adam(0.05),
        key=jax.random.key(5),
        num_steps=num_steps,
        batch_size=batch_size,
        checkpoint_path=path,
        progress=False,
        **kw,
    )


@pytest.mark.parametrize(
    "where, match",
    [
        ("missing/ck.npz", "does not exist"),
        (".", "is a directory"),
        ("/proc/physebm-ck.npz", "(cannot write|does not exist)"),  # no /proc: missing
    ],
)
def test_bad_checkpoint_path_fails_before_training(tmp_path, where, match):
    path = where if where.startswith("/") else tmp_path / where
    CALLS.clear()
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=f"checkpoint_path.*{match}"):
        run(path, num_steps=50, objective=Counting(make_objective()))
    assert CALLS == []  # not one training step ran
    assert time.perf_counter() - t0 < 5
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_counting_objective_counts(tmp_path):
    CALLS.clear()
    run(tmp_path / "ck.npz", num_steps=3, objective=Counting(make_objective()))
    assert len(CALLS) >= 3  # the check above can see training steps


def test_interrupted_write_keeps_the_old_checkpoint_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "ck.npz"
    run(path, num_steps=4)

    def half_then_interrupt(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.np, "savez", half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_checkpoint(path, {"a": jnp.zeros(3)})
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.npz"]
    assert run(path, num_steps=6, resume=True).step == 6  # the step-4 file is intact


def test_failed_save_warns_and_keeps_the_result(tmp_path, monkeypatch):
    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint, "save_checkpoint", disk_full)
    with pytest.warns(CheckpointWarning, match="No space left.*still returns"):
        result = run(tmp_path / "ck.npz", num_steps=8, checkpoint_every=4)
    assert result.step == 8 and len(result.losses) == 8
    assert not (tmp_path / "ck.npz").exists()


@pytest.mark.parametrize("kind", ["garbage", "truncated", "pickled", "empty"])
def test_corrupt_checkpoint_names_the_file(tmp_path, kind):
    path = tmp_path / "ck.npz"
    if kind == "garbage":
        path.write_bytes(b"this is not a checkpoint")
    elif kind == "truncated":
        run(path, num_steps=4)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif kind == "pickled":
        with open(path, "wb") as f:
            np.savez(f, num_leaves=np.asarray(1), leaf_00000=np.asarray([{"a": 1}], dtype=object))
    else:
        path.write_bytes(b"")
    with pytest.raises(CheckpointError, match=f"checkpoint '{path}' is corrupt"):
        run(path, resume=True)


@pytest.mark.parametrize(
    "change, what",
    [
        ({"optimizer": optax.adam(0.1)}, "optimizer"),
        ({"optimizer": optax.sgd(0.05)}, "optimizer"),
        ({"batch_size": 32}, "batch_size"),
        ({"objective": make_objective(sigma=0.5)}, "objective.sigmas"),
        ({"objective": make_objective(beta=0.5)}, "objective.beta"),
        ({"data": X.at[0, 0].add(1e-6)}, "data[0]"),
        ({"data": X[:48]}, "data[0]"),
    ],
)
def test_resume_under_other_settings_is_refused_unless_forced(tmp_path, change, what):
    """Refused with the differing entry named; ``resume="force"`` resumes with a warning (or, for
    another optimizer family whose state has other arrays, fails on the structure)."""
    path = tmp_path / "ck.npz"
    run(path, num_steps=4)
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match="other settings") as err:
        run(path, num_steps=8, resume=True, **change)
    assert what in str(err.value) and str(path) in str(err.value) and "'force'" in str(err.value)
    assert path.read_bytes() == before  # the refused resume wrote nothing
    if what == "optimizer" and len(jax.tree.leaves(change["optimizer"].init(P0))) != 5:
        with pytest.warns(CheckpointWarning), pytest.raises(CheckpointError, match="arrays"):
            run(path, num_steps=8, resume="force", **change)
        return
    with pytest.warns(CheckpointWarning, match=f"(?s)resume='force'.*{re.escape(what)}"):
        forced = run(path, num_steps=8, resume="force", **change)
    assert forced.step == 8 and len(forced.losses) == 4


def test_same_settings_rebuilt_resume_without_a_word(tmp_path):
    path = tmp_path / "ck.npz"
    run(path, num_steps=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = run(path, num_steps=8, resume=True, objective=make_objective())
    assert again.step == 8 and len(again.losses) == 4


def test_resume_without_a_file_warns_and_starts_at_zero(tmp_path):
    with pytest.warns(CheckpointWarning, match="does not exist: starting from step 0"):
        result = run(tmp_path / "ck.npz", num_steps=4, resume=True)
    assert result.step == 4 and (tmp_path / "ck.npz").exists()


def test_resume_past_num_steps_says_so(tmp_path):
    path = tmp_path / "ck.npz"
    first = run(path, num_steps=8)
    with pytest.warns(CheckpointWarning, match="at step 8 >= num_steps=4: no step runs"):
        again = run(path, num_steps=4, resume=True)
    assert again.step == 8 and len(again.losses) == 0
    np.testing.assert_array_equal(again.params["a"], first.params["a"])


def test_checkpoint_without_fingerprint_warns(tmp_path):
    path = tmp_path / "ck.npz"
    run(path, num_steps=4)
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files if k != "fingerprint"}
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    with pytest.warns(CheckpointWarning, match="no settings fingerprint"):
        assert run(path, num_steps=6, resume=True).step == 6


def test_bad_resume_value():
    with pytest.raises(ValueError, match="resume must be True, False or 'force'"):
        run("ck.npz", resume="yes")


def test_written_file_has_the_usual_permissions(tmp_path):
    run(tmp_path / "ck.npz", num_steps=2)
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "ck.npz").stat().st_mode & 0o777 == 0o666 & ~umask


KILLED = textwrap.dedent(
    """
    import os, signal, sys
    import jax
    jax.config.update("jax_enable_x64", True)
    from physebm.training import checkpoint, fit
    exec(SETUP)
    real_savez, saves = checkpoint.np.savez, []

    def savez_then_die(f, **arrays):  # the third save (step 6) dies half-written
        saves.append(1)
        if len(saves) == 3:
            f.write(b"PK\\x03\\x04 half")
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        real_savez(f, **arrays)

    checkpoint.np.savez = savez_then_die
    fit(objective(), P0, X, optax.adam(0.05), key=jax.random.key(5), num_steps=12,
        batch_size=16, checkpoint_path=sys.argv[1], checkpoint_every=2, progress=False)
    """
)


def test_sigkill_mid_checkpoint_write_resumes_bit_identically(tmp_path):
    path = tmp_path / "ck.npz"
    script = f"SETUP = {SETUP!r}\n{KILLED}"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run(
        [sys.executable, "-c", script, str(path)], env=env, capture_output=True, timeout=300
    )
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    # the step-4 checkpoint is intact; the half-written temporary file is hidden beside it
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "ck.npz"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".ck.npz.")
    resumed = run(path, num_steps=12, resume=True, checkpoint_every=2)
    straight = run(tmp_path / "straight.npz", num_steps=12, checkpoint_every=2)
    assert resumed.step == 12 and len(resumed.losses) == 8
    for a, b in zip(jax.tree.leaves(straight[:4]), jax.tree.leaves(resumed[:4]), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(straight.losses[4:], resumed.losses)
