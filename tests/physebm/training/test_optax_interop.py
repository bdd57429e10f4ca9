"""fit with optax beyond plain optimizers: MultiSteps accumulation (against a hand-written
accumulation on fit's own batches and keys), L-BFGS (value, grad, value_fn) to the closed-form
maximum-likelihood optimum of a Gaussian, reduce_on_plateau (value), and duck-typed optimizers
that name the keywords they take. Deterministic checks (float64 round-off), no z-tests."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from physebm import objectives as obj
from physebm.training import fit, make_step
from physebm.training.step import extra_args_accepted

X = jax.random.normal(jax.random.key(40), (64, 2)) * jnp.array([0.5, 2.0]) + 1.0


def quad_energy(p, x):
    return 0.5 * jnp.sum(p["a"] * (x - p["mu"]) ** 2)


P0 = {"a": jnp.ones(2), "mu": jnp.zeros(2)}


def test_multisteps_equals_manual_accumulation():
    """MultiSteps(sgd(η), 2): every second step θ ← θ − η (g_{2m} + g_{2m+1}) / 2, both
    gradients at the same θ, on the minibatches and loss keys fit draws (split(key, 3) into
    init, data order and run keys; per step key, k = split(key); epoch e's order
    permutation(fold_in(data_key, e)))."""
    objective = obj.denoising_score_matching(quad_energy, sigma=0.5)  # uses the loss key
    lr, k, batch_size, num_steps = 0.05, 2, 16, 12
    key = jax.random.key(5)
    optimizer = optax.MultiSteps(optax.sgd(lr), k, accumulator_dtype=float)
    result = fit(
        objective, P0, X, optimizer, key=key, num_steps=num_steps, batch_size=batch_size,
        progress=False,
    )  # fmt: skip
    _, data_key, run_key = jax.random.split(jax.random.key_data(key), 3)
    per_epoch = X.shape[0] // batch_size
    grad_fn = jax.jit(jax.value_and_grad(lambda p, b, k: objective.loss(p, b, k, ())[0]))
    params, grads, losses = P0, [], []
    for t in range(num_steps):
        run_key, loss_key = jax.random.split(run_key)
        epoch, slot = divmod(t, per_epoch)
        perm = jax.random.permutation(jax.random.fold_in(data_key, epoch), X.shape[0])
        loss, g = grad_fn(params, X[perm[slot * batch_size : (slot + 1) * batch_size]], loss_key)
        losses.append(loss)
        grads.append(g)
        if len(grads) == k:
            mean = jax.tree.map(lambda *gs: sum(gs) / k, *grads)
            params = jax.tree.map(lambda p, g: p - lr * g, params, mean)
            grads = []
    for a, b in zip(jax.tree.leaves(result.params), jax.tree.leaves(params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    np.testing.assert_allclose(result.losses, np.asarray(losses), rtol=1e-12)


def gauss_energy(p, x):
    """E(x) = Σ_i (−η1_i x_i + ½ η2_i x_i²): a diagonal Gaussian in natural parameters."""
    return jnp.sum(-p["eta1"] * x + 0.5 * p["eta2"] * x**2)


def gauss_log_z(p, beta):
    """log Z = Σ_i (β η1_i)² / (2 β η2_i) + ½ log(2π / (β η2_i))."""
    return jnp.sum(
        (beta * p["eta1"]) ** 2 / (2 * beta * p["eta2"])
        + 0.5 * jnp.log(2 * jnp.pi / (beta * p["eta2"]))
    )


def test_lbfgs_reaches_the_closed_form_ml_optimum_as_adam_does():
    """Exact ML of a diagonal Gaussian (convex in natural parameters): the optimum is η2 = 1/v,
    η1 = m/v with m, v the data mean and (biased) variance. L-BFGS (value, grad and value_fn
    passed by fit) gets there to 1e-8 in 30 full-batch steps; Adam to 1e-4 in 3000."""
    objective = obj.maximum_likelihood(gauss_energy, log_z_fn=gauss_log_z)
    m, v = np.mean(np.asarray(X), 0), np.var(np.asarray(X), 0)
    optimum = {"eta1": m / v, "eta2": 1 / v}
    p0 = {"eta1": jnp.zeros(2), "eta2": jnp.ones(2)}
    common = {"key": jax.random.key(0), "batch_size": 64, "progress": False}
    lbfgs = fit(objective, p0, X, optax.lbfgs(), num_steps=30, **common)
    adam = fit(objective, p0, X, optax.adam(0.01), num_steps=3000, **common)
    for name, value in optimum.items():
        np.testing.assert_allclose(lbfgs.params[name], value, rtol=1e-8)
        np.testing.assert_allclose(adam.params[name], value, rtol=1e-4)
    assert lbfgs.losses[-1] <= adam.losses[-1] + 1e-12


def test_reduce_on_plateau_reduces_the_learning_rate():
    """chain(sgd, reduce_on_plateau) receives value = the minibatch loss: on noisy minibatch
    losses that stop improving its scale falls below 1, and the run stays finite."""
    objective = obj.score_matching(quad_energy)
    plateau = optax.contrib.reduce_on_plateau(patience=3, factor=0.5, accumulation_size=4)
    optimizer = optax.chain(optax.sgd(0.05), plateau)
    result = fit(
        objective, P0, X, optimizer, key=jax.random.key(1), num_steps=400, batch_size=8,
        progress=False,
    )  # fmt: skip
    assert not result.stopped_early and np.all(np.isfinite(result.losses))
    scale = float(result.opt_state[1].scale)
    assert scale < 1.0, scale


class _KeywordSGD:
    """A duck-typed optimizer (not an optax class) whose update names the keyword it needs."""

    def __init__(self, lr):
        self.inner = optax.sgd(lr)
        self.values = []

    def init(self, params):
        return self.inner.init(params)

    def update(self, updates, state, params=None, *, value):
        self.values.append(value)  # runs while tracing: records that value was passed
        return self.inner.update(updates, state, params)


def test_duck_typed_optimizers_get_the_keywords_they_name():
    assert extra_args_accepted(optax.sgd(0.1).update) == ("value", "grad", "value_fn")
    plain = optax.GradientTransformation(lambda p: (), lambda u, s, p=None: (u, s))
    assert extra_args_accepted(plain.update) == ()
    assert extra_args_accepted(lambda u, s, p=None, *, grad, value_fn: 0) == ("grad", "value_fn")
    duck = _KeywordSGD(0.05)
    objective = obj.score_matching(quad_energy)
    common = {"key": jax.random.key(2), "num_steps": 5, "batch_size": 16, "progress": False}
    res = fit(objective, P0, X, duck, **common)
    ref = fit(objective, P0, X, optax.sgd(0.05), **common)
    assert duck.values  # value was passed
    np.testing.assert_array_equal(res.losses, ref.losses)
    for a, b in zip(jax.tree.leaves(res.params), jax.tree.leaves(ref.params), strict=True):
        np.testing.assert_array_equal(a, b)
    state = make_step(objective, plain).init(P0, jax.random.key(0))  # no keywords: no error
    new, _ = make_step(objective, plain).step(state, X, jax.random.key(0))
    assert jax.tree.structure(new.params) == jax.tree.structure(P0)
