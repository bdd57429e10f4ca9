"""Every objective through the same checks: one signature, jit, finite gradients, state shapes,
plain-dict params and equinox-Module params; plus the argument checks of the factories."""

import functools

import blackjax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import samplers
from physebm import objectives as obj

KEY = jax.random.key(0)
B = 8


# ---- energies, each in two parameter styles: a plain dict and an equinox Module -------------


def dict_params(key, d_in, d_out=1):
    k1, k2 = jax.random.split(key)
    return {
        "w1": jax.random.normal(k1, (d_in, 8)) / np.sqrt(d_in),
        "b1": jnp.zeros(8),
        "w2": jax.random.normal(k2, (8, d_out)) / np.sqrt(8),
    }


def dict_net(p, x):
    return jnp.tanh(x @ p["w1"] + p["b1"]) @ p["w2"]


def module_params(key, d_in, d_out=1):
    return eqx.nn.MLP(d_in, d_out, 8, 1, activation=jnp.tanh, key=key)


def module_net(m, x):
    return m(x)


STYLES = {"dict": (dict_params, dict_net), "module": (module_params, module_net)}


def energies(net):
    """The energy_fn variants used below, written once for either parameter style."""

    def unconditional(p, x):
        return net(p, x)[0] + 0.1 * jnp.sum(x**2)

    def noise_conditional(p, x, sigma):
        return unconditional(p, x) / sigma

    def classes(p, x, y):  # y: class index, net has 3 outputs
        return -net(p, x)[y]

    def continuous_answer(p, x, y):  # y in R^2
        return -jnp.dot(net(p, x), y)

    return unconditional, noise_conditional, classes, continuous_answer


x_cont = jax.random.normal(jax.random.key(1), (B, 2))
x_spin = jnp.where(jax.random.bernoulli(jax.random.key(2), 0.5, (B, 4)), 1.0, -1.0)
y_class = jax.random.randint(jax.random.key(3), (B,), 0, 3)
y_cont = jax.random.normal(jax.random.key(4), (B, 2))
MALA = functools.partial(blackjax.mala, step_size=0.05)
ULA = functools.partial(samplers.ula, step_size=0.05)
METROPOLIS = functools.partial(samplers.metropolis, domain="spin")


def normal_init(key, n):
    return jax.random.normal(key, (n, 2))


def spin_init(key, batch):
    return jnp.where(jax.random.bernoulli(key, 0.5, jnp.shape(batch)), 1.0, -1.0)


def gaussian_negatives(key, params, data):
    x, _ = data
    return jax.random.normal(key, (x.shape[0], 5, 2))


def cases(net):
    """(name, objective, batch, params_out_dim, params_in_dim, wrap_nce)."""
    e, e_sigma, e_class, e_cont = energies(net)
    out = [
        ("ml_kernel_mala", obj.maximum_likelihood(e, kernel=MALA, num_steps=1), x_cont, 2, 1),
        ("ml_exact", obj.maximum_likelihood(e, support=obj.enumerate_states(4)), x_spin, 4, 1),
        (
            "cd_mala",
            obj.contrastive_divergence(e, kernel=MALA, num_steps=2, alpha=0.1),
            x_cont,
            2,
            1,
        ),
        ("cd_ula_samplers", obj.contrastive_divergence(e, kernel=ULA), x_cont, 2, 1),
        ("cd_metropolis_spins", obj.contrastive_divergence(e, kernel=METROPOLIS), x_spin, 4, 1),
        (
            "pcd",
            obj.persistent_contrastive_divergence(
                e, kernel=MALA, init_fn=normal_init, num_chains=16, reinit_prob=0.05
            ),
            x_cont,
            2,
            1,
        ),
        ("nce", obj.nce(e, data=x_cont, noise_ratio=2.0), x_cont, 2, 1),
        ("ranking_nce", obj.ranking_nce(e, data=x_cont, num_noise=4), x_cont, 2, 1),
        ("info_nce", obj.info_nce(e_cont), (x_cont, y_cont), 2, 2),
        ("score_matching", obj.score_matching(e, beta=2.0), x_cont, 2, 1),
        ("dsm", obj.denoising_score_matching(e, sigma=0.3), x_cont, 2, 1),
        ("dsm_multi", obj.denoising_score_matching(e_sigma, sigmas=[0.1, 0.5, 1.0]), x_cont, 2, 1),
        ("ssm", obj.sliced_score_matching(e, num_projections=2), x_cont, 2, 1),
        (
            "ssm_vr_gauss",
            obj.sliced_score_matching(e, projection="gaussian", variance_reduced=True),
            x_cont,
            2,
            1,
        ),
        ("ratio_matching", obj.ratio_matching(e), x_spin, 4, 1),
        ("mpf", obj.minimum_probability_flow(e), x_spin, 4, 1),
        (
            "margin_sampled",
            obj.margin_objective(
                e_cont, loss="hinge", negatives_fn=gaussian_negatives, epsilon=0.1
            ),
            (x_cont, y_cont),
            2,
            2,
        ),
    ]
    return out


KERNEL_VARIANTS = ("cd_ula_samplers", "cd_metropolis_spins")  # kernel plug-ins: one style
CASES = [
    (c[0], s)
    for c in cases(dict_net)
    for s in STYLES
    if not (c[0] in KERNEL_VARIANTS and s == "module")
]


@pytest.mark.parametrize(("name", "style"), CASES)
def test_conformance(name, style):
    make_params, net = STYLES[style]
    _, objective, batch, d_in, d_out = next(c for c in cases(net) if c[0] == name)
    params = make_params(jax.random.key(5), d_in, d_out)
    if name == "nce":
        params = obj.nce_params(params, c=0.1)
    assert isinstance(objective, obj.Objective)
    state = objective.init(params, KEY)

    def loss_fn(p, s):
        return objective.loss(p, batch, jax.random.key(6), s)

    (loss, (new_state, aux)), grads = eqx.filter_jit(
        eqx.filter_value_and_grad(loss_fn, has_aux=True)
    )(params, state)
    assert jnp.shape(loss) == () and bool(jnp.isfinite(loss)), (name, loss)
    assert isinstance(aux, dict)
    assert all(bool(jnp.all(jnp.isfinite(v))) for v in jax.tree.leaves(aux))
    # the state keeps its structure, shapes and dtypes
    assert jax.tree.structure(new_state) == jax.tree.structure(state)
    for a, b in zip(jax.tree.leaves(new_state), jax.tree.leaves(state), strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype
    leaves = jax.tree.leaves(eqx.filter(grads, eqx.is_inexact_array))
    assert leaves and all(bool(jnp.all(jnp.isfinite(g))) for g in leaves)
    assert any(float(jnp.max(jnp.abs(g))) > 0 for g in leaves), "no gradient reaches params"


@pytest.mark.parametrize("style", STYLES)
def test_conformance_margin_losses(style):
    """All LeCun et al. losses of margin_objective, checked in one compiled function."""
    make_params, net = STYLES[style]
    e_class = energies(net)[2]
    params = make_params(jax.random.key(5), 2, 3)
    objectives = {
        name: obj.margin_objective(e_class, loss=name, answers=3) for name in obj.MARGIN_LOSSES
    }
    batch = (x_cont, y_class)

    @eqx.filter_jit
    def all_losses(p):
        out = {}
        for name, objective in objectives.items():
            state = objective.init(p, KEY)
            out[name] = eqx.filter_value_and_grad(objective.loss, has_aux=True)(
                p, batch, KEY, state
            )
        return out

    for name, ((loss, (state, aux)), grads) in all_losses(params).items():
        assert jnp.shape(loss) == () and bool(jnp.isfinite(loss)), name
        assert state == obj.EmptyState() and set(aux) >= {"accuracy", "energy_correct"}
        leaves = jax.tree.leaves(eqx.filter(grads, eqx.is_inexact_array))
        assert all(bool(jnp.all(jnp.isfinite(g))) for g in leaves), name
        assert any(float(jnp.max(jnp.abs(g))) > 0 for g in leaves), name


@pytest.mark.parametrize("name", ["score_matching", "nce", "margin_sampled", "ml_exact"])
def test_jit_equals_eager(name):
    _, objective, batch, d_in, d_out = next(c for c in cases(dict_net) if c[0] == name)
    params = dict_params(jax.random.key(5), d_in, d_out)
    if name == "nce":
        params = obj.nce_params(params, c=0.1)
    state = objective.init(params, KEY)
    eager = objective.loss(params, batch, KEY, state)[0]
    jitted = jax.jit(objective.loss)(params, batch, KEY, state)[0]
    np.testing.assert_allclose(float(eager), float(jitted), rtol=1e-9, atol=1e-12)


def test_pcd_state_persists_and_is_updated():
    e = energies(dict_net)[0]
    objective = obj.persistent_contrastive_divergence(
        e, kernel=MALA, init_fn=normal_init, num_chains=B, reinit_prob=0.0
    )
    params = dict_params(KEY, 2)
    state = objective.init(params, KEY)
    _, (state2, _) = jax.jit(objective.loss)(params, x_cont, KEY, state)
    moved = np.asarray(state2.positions != state.positions).any(axis=1)
    assert moved.all(), "every chain is advanced when num_chains == batch size"


def test_cd_gradient_uses_stopped_negatives():
    """The CD gradient is β(mean ∇E(x⁺) − mean ∇E(x⁻)) with x⁻ held fixed: recompute the same
    negatives with run_chains (same key) and compare with the surrogate's gradient."""
    e = energies(dict_net)[0]
    beta = 1.7
    objective = obj.contrastive_divergence(e, kernel=MALA, num_steps=3, beta=beta)
    params = dict_params(KEY, 2)
    key = jax.random.key(7)
    grad = jax.jit(jax.grad(lambda p: objective.loss(p, x_cont, key, ())[0]))(params)
    frozen = jax.lax.stop_gradient(params)
    negatives, _ = jax.jit(
        lambda: obj.run_chains(MALA, lambda x: -beta * e(frozen, x), x_cont, key, 3)
    )()

    def expected(p):
        ep = jax.vmap(lambda x: e(p, x))(x_cont)
        en = jax.vmap(lambda x: e(p, x))(negatives)
        return beta * (jnp.mean(ep) - jnp.mean(en))

    want = jax.grad(expected)(params)
    for g, w in zip(jax.tree.leaves(grad), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)
    # the energy regulariser adds exactly α(mean E(x⁺)² + mean E(x⁻)²)
    alpha = 0.3
    regularised = obj.contrastive_divergence(e, kernel=MALA, num_steps=3, beta=beta, alpha=alpha)
    plain_loss = jax.jit(objective.loss)(params, x_cont, key, ())[0]
    reg_loss = jax.jit(regularised.loss)(params, x_cont, key, ())[0]
    ep = jax.vmap(lambda x: e(params, x))(x_cont)
    en = jax.vmap(lambda x: e(params, x))(negatives)
    np.testing.assert_allclose(
        reg_loss - plain_loss, alpha * (jnp.mean(ep**2) + jnp.mean(en**2)), rtol=1e-10
    )


def test_from_build_kernel_matches_top_level():
    e = energies(dict_net)[0]
    params = dict_params(KEY, 2)
    low = obj.from_build_kernel(blackjax.mala.init, blackjax.mala.build_kernel(), step_size=0.05)
    a = jax.jit(obj.contrastive_divergence(e, kernel=low, num_steps=2).loss)(
        params, x_cont, KEY, ()
    )[0]
    b = jax.jit(obj.contrastive_divergence(e, kernel=MALA, num_steps=2).loss)(
        params, x_cont, KEY, ()
    )[0]
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_beta_is_traced_no_recompile():
    e = energies(dict_net)[0]
    params = dict_params(KEY, 2)
    traces = []

    @eqx.filter_jit
    def value(objective, p):
        traces.append(1)
        return objective.loss(p, x_cont, KEY, objective.init(p, KEY))[0]

    base = obj.score_matching(e, beta=1.0)
    values = [
        value(eqx.tree_at(lambda o: o.beta, base, jnp.asarray(b)), params) for b in (0.5, 1.0, 2.0)
    ]
    assert len(traces) == 1
    assert len({float(v) for v in values}) == 3


def test_weighted_batch_equals_repetition():
    """Weighted(x, w) with integer weights equals the plain mean over repeated examples."""
    e = energies(dict_net)[0]
    params = dict_params(KEY, 2)
    objective = obj.score_matching(e)
    w = jnp.array([1, 2, 3, 1, 1, 2, 1, 1])
    repeated = jnp.repeat(x_cont, w, axis=0)
    loss = jax.jit(objective.loss)
    a = loss(params, obj.Weighted(x_cont, w), KEY, ())[0]
    b = loss(params, repeated, KEY, ())[0]
    np.testing.assert_allclose(a, b, rtol=1e-12)


# ---- bad inputs raise, naming the argument ---------------------------------------------------


def e0(p, x):
    return jnp.sum(x**2)


@pytest.mark.parametrize(
    ("make", "exc", "match"),
    [
        (lambda: obj.score_matching("not callable"), TypeError, "energy_fn"),
        (lambda: obj.score_matching(e0, beta=-1.0), ValueError, "beta"),
        (lambda: obj.maximum_likelihood(e0), ValueError, "exactly one of support"),
        (
            lambda: obj.maximum_likelihood(e0, kernel=MALA, support=x_spin),
            ValueError,
            "exactly one",
        ),
        (lambda: obj.maximum_likelihood(e0, kernel=3), TypeError, "kernel"),
        (lambda: obj.maximum_likelihood(e0, kernel=MALA, alpha=-1.0), ValueError, "alpha"),
        (lambda: obj.contrastive_divergence(e0, kernel=MALA, num_steps=0), ValueError, "num_steps"),
        (
            lambda: obj.contrastive_divergence(e0, kernel=MALA, num_steps=1.5),
            TypeError,
            "num_steps",
        ),
        (
            lambda: obj.persistent_contrastive_divergence(
                e0, kernel=MALA, init_fn=normal_init, num_chains=4, reinit_prob=2.0
            ),
            ValueError,
            "reinit_prob",
        ),
        (
            lambda: obj.persistent_contrastive_divergence(
                e0, kernel=MALA, init_fn=None, num_chains=4
            ),
            TypeError,
            "init_fn",
        ),
        (lambda: obj.nce(e0), ValueError, "noise= .* or data="),
        (lambda: obj.nce(e0, noise=object()), TypeError, "noise"),
        (lambda: obj.nce(e0, data=x_cont, noise_ratio=0.0), ValueError, "noise_ratio"),
        (lambda: obj.gaussian_noise(jnp.zeros(2), jnp.eye(3)), ValueError, "cov"),
        (lambda: obj.ranking_nce(e0, data=x_cont, num_noise=0), ValueError, "num_noise"),
        (lambda: obj.denoising_score_matching(e0), ValueError, "exactly one of sigma"),
        (lambda: obj.denoising_score_matching(e0, sigma=-0.1), ValueError, "sigma"),
        (lambda: obj.sliced_score_matching(e0, projection="sphere"), ValueError, "projection"),
        (lambda: obj.ratio_matching(e0, domain="pm1"), ValueError, "domain"),
        (lambda: obj.margin_objective(e0, loss="hinges", answers=3), ValueError, "loss"),
        (
            lambda: obj.margin_objective(e0, answers=3, negatives_fn=gaussian_negatives),
            ValueError,
            "exactly one of answers",
        ),
        (lambda: obj.margin_objective(e0, answers=1), ValueError, "answers"),
        (lambda: obj.margin_objective(e0, answers=3, margin=-1.0), ValueError, "margin"),
        (lambda: obj.enumerate_states(30), ValueError, "enumeration"),
    ],
)
def test_bad_arguments(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_runtime_argument_errors():
    e = energies(dict_net)[0]
    params = dict_params(KEY, 2)
    pcd = obj.persistent_contrastive_divergence(e, kernel=MALA, init_fn=normal_init, num_chains=4)
    with pytest.raises(ValueError, match="num_chains"):
        pcd.loss(params, x_cont, KEY, pcd.init(params, KEY))
    nce = obj.nce(e, data=x_cont)
    with pytest.raises(TypeError, match="nce_params"):
        nce.loss(params, x_cont, KEY, ())
    with pytest.raises(TypeError, match="scalar"):
        obj.score_matching(lambda p, x: x).loss(params, x_cont, KEY, ())
