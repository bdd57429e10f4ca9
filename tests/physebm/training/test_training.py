"""physebm.fit: one compile, the documented update, NaN guard, evaluation hook, checkpoints that
resume bit-for-bit, and argument checks."""

import functools

import blackjax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import physebm
from physebm import objectives as obj
from physebm import training
from physebm.training import NonFiniteLossWarning, fit

X = jax.random.normal(jax.random.key(40), (64, 2)) * jnp.array([0.5, 2.0]) + 1.0


def quad_energy(p, x):
    return 0.5 * jnp.sum(p["a"] * (x - p["mu"]) ** 2)


P0 = {"a": jnp.ones(2), "mu": jnp.zeros(2)}


class CountCompiles:
    """Counts XLA compilations of the fit loop's chunk function."""

    def __enter__(self):
        self.count = 0

        def listener(event, duration, **kwargs):
            if event == "/jax/core/compile/backend_compile_duration" and "_run_chunk" in str(
                kwargs.get("fun_name", "")
            ):
                self.count += 1

        self.listener = listener
        jax.monitoring.register_event_duration_secs_listener(listener)
        return self

    def __exit__(self, *exc):
        jax.monitoring.unregister_event_duration_listener(self.listener)


def test_fit_compiles_once():
    energy = lambda p, x: quad_energy(p, x)  # noqa: E731 - a fresh function: a fresh compile
    objective = obj.score_matching(energy)
    optimizer = optax.sgd(0.01)
    evals = []
    with CountCompiles() as first:
        result = fit(
            objective,
            P0,
            X,
            optimizer,
            key=jax.random.key(0),
            num_steps=50,
            batch_size=16,
            eval_fn=lambda p, s: evals.append(s),
            eval_every=10,
            progress=False,
        )
    assert first.count == 1 and result.step == 50 and evals == [10, 20, 30, 40, 50]
    # other values of the data, the key, num_steps and β: no recompilation
    hotter = eqx.tree_at(lambda o: o.beta, objective, jnp.asarray(0.5, dtype=float))
    with CountCompiles() as second:
        fit(
            hotter,
            P0,
            X + 1.0,
            optimizer,
            key=jax.random.key(1),
            num_steps=23,
            batch_size=16,
            eval_fn=lambda p, s: None,
            eval_every=10,
            progress=False,
        )
    assert second.count == 0


def test_rebuilt_optimizers_reuse_the_compiled_chunk():
    """An optimizer built again with the same constants, or an injected learning rate with
    another value, reuses the chunk; a different constant baked into a closure recompiles."""
    objective = obj.score_matching(quad_energy)
    kw = dict(key=jax.random.key(0), num_steps=3, batch_size=16, progress=False)

    def compiles(optimizer):
        with CountCompiles() as counter:
            result = fit(objective, P0, X, optimizer, **kw)
        return counter.count, result

    inject = optax.inject_hyperparams(optax.adam)
    assert compiles(optax.adam(1e-2))[0] == 1
    assert compiles(optax.adam(1e-2))[0] == 0
    assert compiles(optax.adam(2e-2))[0] == 1  # the rate is a constant of adam's closures
    assert compiles(inject(learning_rate=1e-2))[0] == 1
    count, slow = compiles(inject(learning_rate=1e-3))
    _, fast = compiles(inject(learning_rate=1e-2))
    assert count == 0
    reference = fit(objective, P0, X, optax.adam(1e-3), **kw)  # the rate is honoured
    np.testing.assert_allclose(slow.params["mu"], reference.params["mu"], rtol=1e-6)
    assert not np.allclose(slow.params["mu"], fast.params["mu"])


def test_fit_is_the_documented_update():
    """Full-batch SGD on a deterministic objective equals θ ← θ − lr ∇J(θ), step by step."""
    objective = obj.score_matching(quad_energy)
    result = fit(
        objective,
        P0,
        X,
        optax.sgd(0.05),
        key=jax.random.key(0),
        num_steps=30,
        batch_size=X.shape[0],
        progress=False,
    )
    loss_fn = jax.jit(jax.value_and_grad(lambda p: objective.loss(p, X, None, ())[0]))
    params, losses = P0, []
    for _ in range(30):
        value, grad = loss_fn(params)
        losses.append(float(value))
        params = jax.tree.map(lambda p, g: p - 0.05 * g, params, grad)
    for a, b in zip(jax.tree.leaves(result.params), jax.tree.leaves(params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    np.testing.assert_allclose(result.losses, losses, rtol=1e-12)
    assert result.message == "completed 30 steps" and not result.stopped_early


class ExplodesAt(obj.Objective):
    """Loss a² whose value becomes NaN on the 8th update (a counter in the state)."""

    at: int = eqx.field(static=True)

    def init(self, params, key):
        return jnp.asarray(0)

    def loss(self, params, batch, key, state):
        bad = jnp.where(state >= self.at, jnp.nan, 0.0)
        return jnp.sum(params["a"] ** 2) + bad, (state + 1, {"count": state})


def test_nonfinite_guard_keeps_last_good_params():
    params = {"a": jnp.array([1.0, -2.0])}
    with pytest.warns(NonFiniteLossWarning, match="update 8"):
        stopped = fit(
            ExplodesAt(7),
            params,
            X,
            optax.sgd(0.1),
            key=jax.random.key(0),
            num_steps=20,
            batch_size=8,
            steps_per_call=5,
            progress=False,
        )
    assert stopped.stopped_early and stopped.step == 7 and len(stopped.losses) == 7
    clean = fit(
        ExplodesAt(100),
        params,
        X,
        optax.sgd(0.1),
        key=jax.random.key(0),
        num_steps=7,
        batch_size=8,
        steps_per_call=5,
        progress=False,
    )
    for a, b in zip(jax.tree.leaves(stopped[:4]), jax.tree.leaves(clean[:4]), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(stopped.history["count"], np.arange(7))
    with pytest.raises(FloatingPointError, match="NaN"):
        fit(
            ExplodesAt(3),
            params,
            X,
            optax.sgd(0.1),
            key=jax.random.key(0),
            num_steps=20,
            batch_size=8,
            on_nonfinite="raise",
            progress=False,
        )


class NaNOnceAt(obj.Objective):
    """Loss a² whose value is NaN at the ``at``-th update only (finite before and after)."""

    at: int = eqx.field(static=True)

    def init(self, params, key):
        return jnp.asarray(0)

    def loss(self, params, batch, key, state):
        bad = jnp.where(state == self.at, jnp.nan, 0.0)
        return jnp.sum(params["a"] ** 2) + jax.lax.stop_gradient(bad), (state + 1, {})


def test_nonfinite_guard_catches_a_single_bad_update_inside_a_chunk():
    """A NaN loss at one update in the middle of a chunk stops the run there, although the
    updates after it would be finite again (the gradients never see the NaN)."""
    params = {"a": jnp.array([1.0, -2.0])}
    kw = dict(key=jax.random.key(0), batch_size=8, steps_per_call=10, progress=False)
    with pytest.warns(NonFiniteLossWarning, match="update 13"):
        stopped = fit(NaNOnceAt(12), params, X, optax.sgd(0.1), num_steps=30, **kw)
    clean = fit(NaNOnceAt(100), params, X, optax.sgd(0.1), num_steps=12, **kw)
    assert stopped.stopped_early and stopped.step == 12 and len(stopped.losses) == 12
    for a, b in zip(jax.tree.leaves(stopped[:4]), jax.tree.leaves(clean[:4]), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(stopped.losses, clean.losses)


class GradNaNAt(obj.Objective):
    """Loss a² (finite throughout) whose gradient is NaN at the ``at``-th update:
    d/da √(a − a) = 0/0 there."""

    at: int = eqx.field(static=True)

    def init(self, params, key):
        return jnp.asarray(0)

    def loss(self, params, batch, key, state):
        a, now = params["a"], state == self.at
        bad = jnp.where(now, jnp.sum(jnp.sqrt(jnp.where(now, a - a, 1.0))), 0.0)
        return jnp.sum(a**2) + bad, (state + 1, {})


def test_nonfinite_guard_catches_a_nan_gradient_with_a_finite_loss():
    """A NaN gradient under a finite loss stops the run before that update (the chunk's final
    parameters are NaN, so it is replayed with the per-step guard)."""
    params = {"a": jnp.array([1.0, -2.0])}
    kw = dict(key=jax.random.key(0), batch_size=8, steps_per_call=10, progress=False)
    with pytest.warns(NonFiniteLossWarning, match="update 13"):
        stopped = fit(GradNaNAt(12), params, X, optax.sgd(0.1), num_steps=30, **kw)
    clean = fit(GradNaNAt(100), params, X, optax.sgd(0.1), num_steps=12, **kw)
    assert stopped.stopped_early and stopped.step == 12 and np.all(np.isfinite(stopped.losses))
    for a, b in zip(jax.tree.leaves(stopped[:4]), jax.tree.leaves(clean[:4]), strict=True):
        np.testing.assert_array_equal(a, b)


def normal_init(key, num):
    return jax.random.normal(key, (num, 2))


def test_checkpoint_resume_is_bit_identical(tmp_path):
    """PCD (persistent chains, replay re-seeding, MALA) with Adam: 12 steps straight vs 8 steps,
    stop, and resume to 12 from the checkpoint — identical bits everywhere."""
    objective = obj.persistent_contrastive_divergence(
        quad_energy,
        kernel=functools.partial(blackjax.mala, step_size=0.1),
        init_fn=normal_init,
        num_chains=32,
        num_steps=2,
        reinit_prob=0.2,
    )
    common = {"batch_size": 16, "checkpoint_every": 4, "progress": False}
    adam = optax.adam(0.05)  # one optimizer object: the compiled loop is reused
    straight = fit(
        objective,
        P0,
        X,
        adam,
        key=jax.random.key(5),
        num_steps=12,
        checkpoint_path=tmp_path / "a.npz",
        **common,
    )
    path = tmp_path / "b.npz"
    first = fit(
        objective,
        P0,
        X,
        adam,
        key=jax.random.key(5),
        num_steps=8,
        checkpoint_path=path,
        **common,
    )
    assert first.step == 8
    resumed = fit(
        objective,
        P0,
        X,
        adam,
        key=jax.random.key(99),
        num_steps=12,
        checkpoint_path=path,
        resume=True,
        **common,
    )
    assert resumed.step == 12 and len(resumed.losses) == 4
    for a, b in zip(jax.tree.leaves(straight[:4]), jax.tree.leaves(resumed[:4]), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(straight.losses[8:], resumed.losses)
    np.testing.assert_array_equal(first.losses, straight.losses[:8])
    # the checkpoint holds the persistent chains
    restored = training.load_checkpoint(
        path,
        training.Checkpoint(
            P0,
            optax.adam(0.05).init(P0),
            objective.init(P0, jax.random.key(0)),
            jax.random.key_data(jax.random.key(0)),
            jax.random.key_data(jax.random.key(0)),
            jnp.asarray(0, jnp.int32),
        ),
    )
    np.testing.assert_array_equal(
        restored.objective_state.positions, resumed.objective_state.positions
    )
    assert int(restored.step) == 12
    with pytest.raises(ValueError, match="checkpoint"):
        training.load_checkpoint(path, {"other": jnp.zeros(3)})


def test_fit_trains_equinox_module_params():
    mlp = eqx.nn.MLP(2, 1, 8, 1, activation=jnp.tanh, key=jax.random.key(0))
    objective = obj.denoising_score_matching(lambda m, x: m(x)[0] + 0.1 * jnp.sum(x**2), sigma=0.3)
    result = fit(
        objective,
        mlp,
        X,
        optax.adam(1e-2),
        key=jax.random.key(1),
        num_steps=20,
        batch_size=16,
        progress=False,
    )
    assert isinstance(result.params, eqx.nn.MLP) and result.params.activation is jnp.tanh
    assert np.all(np.isfinite(result.losses)) and result.step == 20
    assert not np.array_equal(result.params.layers[0].weight, mlp.layers[0].weight)


def test_progress_bar_only_on_a_terminal(monkeypatch):
    from samplers.progress import show_progress

    monkeypatch.setenv("CI", "true")
    assert show_progress(None) is False
    assert show_progress(True) is True
    monkeypatch.delenv("CI")
    monkeypatch.setattr("sys.stderr.isatty", lambda: False)
    assert show_progress(None) is False


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"optimizer": "adam"}, TypeError, "optimizer"),
        ({"batch_size": 65}, ValueError, "batch_size"),
        ({"num_steps": -1}, ValueError, "num_steps"),
        ({"eval_every": 5}, ValueError, "eval_fn"),
        ({"resume": True}, ValueError, "checkpoint_path"),
        ({"key": 3}, TypeError, "key"),
        ({"on_nonfinite": "ignore"}, ValueError, "on_nonfinite"),
        ({"data": (X, X[:10])}, ValueError, "leading"),
        ({"objective": "sm"}, TypeError, "objective"),
        ({"params": {"a": 1.0}}, TypeError, "floating-point arrays"),
    ],
)
def test_fit_bad_arguments(kwargs, exc, match):
    args = {
        "objective": obj.score_matching(quad_energy),
        "params": P0,
        "data": X,
        "optimizer": optax.sgd(0.1),
        "key": jax.random.key(0),
        "num_steps": 3,
        "batch_size": 8,
        "progress": False,
    }
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        fit(
            args.pop("objective"),
            args.pop("params"),
            args.pop("data"),
            args.pop("optimizer"),
            **args,
        )


def bit_sum(batch):
    """An exact checksum of a batch's values: the sum of their bit patterns as integers (mod
    2⁶⁴), which, unlike a float sum, does not depend on the order XLA reduces in."""
    return jnp.sum(jax.lax.bitcast_convert_type(batch, jnp.int64))


class FirstOfBatch(obj.Objective):
    """Loss a²; its aux records the batch's first example and a checksum of all its values (to
    check the minibatch order)."""

    def init(self, params, key):
        return ()

    def loss(self, params, batch, key, state):
        return jnp.sum(params["a"] ** 2), (state, {"first": batch[0, 0], "sum": bit_sum(batch)})


def test_minibatches_follow_one_permutation_per_epoch():
    """Batch j of epoch e is data[perm_e[jB:(j+1)B]], perm_e = permutation(fold_in(data_key, e))
    with data_key the second of three keys split from ``key``: chunks of 3 cross the epochs."""
    key, batch_size, num_steps = jax.random.key(7), 16, 10
    result = fit(
        FirstOfBatch(),
        {"a": jnp.ones(2)},
        X,
        optax.sgd(0.1),
        key=key,
        num_steps=num_steps,
        batch_size=batch_size,
        steps_per_call=3,
        progress=False,
    )
    data_key = jax.random.split(jax.random.key_data(key), 3)[1]
    per_epoch = X.shape[0] // batch_size
    first, sums = [], []
    for t in range(num_steps):
        epoch, slot = divmod(t, per_epoch)
        perm = jax.random.permutation(jax.random.fold_in(data_key, epoch), X.shape[0])
        batch = X[perm[slot * batch_size : (slot + 1) * batch_size]]
        first.append(batch[0, 0])
        sums.append(bit_sum(batch))
    np.testing.assert_array_equal(result.history["first"], np.asarray(first))
    np.testing.assert_array_equal(result.history["sum"], np.asarray(sums))


def test_make_step_is_the_update_fit_applies():
    """fit = init, then jitted steps on the batches and keys fit derives (batch = the whole
    data set in epoch t's order)."""
    objective = obj.denoising_score_matching(quad_energy, sigma=0.5)
    optimizer = optax.adam(0.05)
    key = jax.random.key(3)
    result = fit(objective, P0, X, optimizer, key=key, num_steps=6, batch_size=64, progress=False)
    trainer = physebm.make_step(objective, optimizer)
    init_key, data_key, run_key = jax.random.split(jax.random.key_data(key), 3)
    state, step = trainer.init(P0, init_key), jax.jit(trainer.step)
    losses = []
    for t in range(6):
        run_key, loss_key = jax.random.split(run_key)
        batch = X[jax.random.permutation(jax.random.fold_in(data_key, t), X.shape[0])]
        state, info = step(state, batch, loss_key)
        assert bool(info.finite)
        losses.append(info.loss)
    for a, b in zip(jax.tree.leaves(result.params), jax.tree.leaves(state.params), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(result.losses, np.asarray(losses))


def test_fit_accepts_multisteps_and_value_fn_optimizers():
    """optax.MultiSteps(sgd, k) updates every k-th step with the mean of k gradients (accumulated
    in float64 here; its default float32 accumulator rounds to ~1e-8); L-BFGS
    (which needs value and value_fn) minimises the quadratic score-matching loss."""
    objective = obj.score_matching(quad_energy)
    common = {"key": jax.random.key(0), "batch_size": 64, "progress": False}
    multi_sgd = optax.MultiSteps(optax.sgd(0.05), 3, accumulator_dtype=float)
    multi = fit(objective, P0, X, multi_sgd, num_steps=9, **common)
    plain = fit(objective, P0, X, optax.sgd(0.05), num_steps=3, **common)
    # full batch, deterministic loss: 3 equal gradients per accumulation = one plain step
    for a, b in zip(jax.tree.leaves(multi.params), jax.tree.leaves(plain.params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    np.testing.assert_allclose(multi.losses[::3], plain.losses, rtol=1e-12)
    lbfgs = fit(objective, P0, X, optax.lbfgs(), num_steps=30, **common)
    grad = jax.grad(lambda p: objective.loss(p, X, None, ())[0])(lbfgs.params)
    assert max(float(jnp.max(jnp.abs(g))) for g in jax.tree.leaves(grad)) < 1e-6
    assert lbfgs.losses[-1] < lbfgs.losses[0]
