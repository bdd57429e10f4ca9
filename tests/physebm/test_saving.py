"""physebm.save / physebm.load: round trips bit for bit, templates, refusals."""

import os

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import physebm
from physebm.models import RBM
from physebm.partition import exact
from physebm.saving import SaveError


def _same(a, b):
    la, ta = jax.tree.flatten(a)
    lb, tb = jax.tree.flatten(b)
    assert ta == tb
    for x, y in zip(la, lb, strict=True):
        if not isinstance(x, jax.Array | np.ndarray | np.generic):
            assert type(x) is type(y) and x == y
            continue
        if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
        assert jnp.result_type(x) == jnp.result_type(y)


def test_library_types_round_trip_without_a_template(tmp_path):
    rng = np.random.default_rng(0)
    model = RBM(rng.normal(size=(5, 3)), rng.normal(size=5), rng.normal(size=3))
    params = {"W": model.W, "b": model.b, "c": model.c}
    tree = {
        "model": model,
        "log_z": exact(model, 0.7),
        "opt_state": optax.adam(1e-3).init(params),
        "key": jax.random.key(7),
        "raw_key": jax.random.PRNGKey(7),
        "spins": jnp.array([[1, -1], [-1, 1]], jnp.int8),
        "misc": [1.5, float("inf"), None, "note", (3, True)],
    }
    path = physebm.save(tmp_path / "run.npz", tree)
    back = physebm.load(path)
    _same(back, tree)
    assert isinstance(back["model"], RBM) and back["model"].domain == "bits"
    assert back["log_z"].method == tree["log_z"].method
    assert back["misc"] == [1.5, float("inf"), None, "note", (3, True)]
    v = jnp.array([1.0, 0.0, 1.0, 1.0, 0.0])
    assert back["model"].free_energy(v) == model.free_energy(v)


def test_fit_result_round_trips_and_resumes(tmp_path):
    x = jax.random.normal(jax.random.key(40), (64, 2)) + 1.0

    def energy(p, x):
        return 0.5 * jnp.sum(p["a"] * (x - p["mu"]) ** 2)

    p0 = {"a": jnp.ones(2), "mu": jnp.zeros(2)}
    objective = physebm.objectives.score_matching(energy)
    settings = {"key": jax.random.key(0), "num_steps": 5, "batch_size": 16, "progress": False}
    result = physebm.fit(objective, p0, x, optax.adam(1e-2), **settings)
    back = physebm.load(physebm.save(tmp_path / "fit.npz", result))
    assert type(back) is type(result) and back.step == 5 and back.message == result.message
    _same(back.params, result.params)
    _same(back.opt_state, result.opt_state)
    np.testing.assert_array_equal(back.losses, result.losses)


def test_user_network_needs_a_template(tmp_path):
    net = eqx.nn.MLP(2, "scalar", 8, 2, key=jax.random.key(0))
    trained = jax.tree.map(lambda x: x + 1.0 if eqx.is_inexact_array(x) else x, net)
    path = physebm.save(tmp_path / "net.npz", trained)
    with pytest.raises(SaveError, match="pass like="):
        physebm.load(path)
    back = physebm.load(path, like=net)
    x = jnp.array([0.3, -1.2])
    assert back(x) == trained(x)
    wrong = eqx.nn.MLP(2, "scalar", 4, 2, key=jax.random.key(0))
    with pytest.raises(SaveError, match="array 0 has shape"):
        physebm.load(path, like=wrong)
    with pytest.raises(SaveError, match="holds 6 arrays but like= has 2"):
        physebm.load(path, like={"a": jnp.zeros(1), "b": jnp.zeros(1)})


def test_refusals(tmp_path):
    path = physebm.save(tmp_path / "a.npz", {"w": jnp.ones(3)})
    with pytest.raises(FileExistsError, match="overwrite=True"):
        physebm.save(path, {"w": jnp.zeros(3)})
    with pytest.raises(TypeError, match="overwrite must be a bool"):
        physebm.save(path, {"w": jnp.zeros(3)}, overwrite="yes")
    physebm.save(path, {"w": jnp.zeros(3)}, overwrite=True)
    assert float(physebm.load(path)["w"].sum()) == 0.0
    with pytest.raises(ValueError, match="must end in .npz"):
        physebm.save(tmp_path / "a.pkl", {})
    with pytest.raises(ValueError, match="does not exist"):
        physebm.save(tmp_path / "missing" / "a.npz", {})
    with pytest.raises(ValueError, match="is a folder"):
        physebm.save(tmp_path / "d.npz" if os.mkdir(tmp_path / "d.npz") is None else "", {})
    with pytest.raises(TypeError, match="path must be a str"):
        physebm.load(3)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(SaveError, match="corrupt"):
        physebm.load(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", x=np.ones(2))
    with pytest.raises(SaveError, match="not written by physebm.save"):
        physebm.load(tmp_path / "other.npz")
    with pytest.raises(FileNotFoundError):
        physebm.load(tmp_path / "none.npz")
    assert sorted(os.listdir(tmp_path)) == ["a.npz", "d.npz", "junk.npz", "other.npz"]
