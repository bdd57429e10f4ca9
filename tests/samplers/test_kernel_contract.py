"""The one kernel contract, checked on every Kernel class: init with and without the target
bound, pytree leaves holding the real parameters, one compilation across parameter values,
blackjax's run_inference_algorithm, acceptance_rate in the info; plus as_kernel/FromFactory,
adapt_step_size and the argument checks."""

import functools

import blackjax
import blackjax.util
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import samplers
from samplers import targets

KEY = jax.random.key(0)
W4 = jnp.array([[0, 1.0, 0, 0.7], [1.0, 0, 0.5, 0], [0, 0.5, 0, -0.8], [0.7, 0, -0.8, 0]])
B4 = jnp.array([0.2, -0.4, 0.1, 0.3])


def gaussian(x):
    return -0.5 * jnp.sum(x**2)


def family(beta):
    return lambda x: -0.5 * beta * jnp.sum(x**2)


def at(where, value):
    """A modifier replacing the leaf ``where`` selects (of a kernel or a target), with a value
    of the same dtype and weak type as the constructors make."""
    return lambda tree: eqx.tree_at(where, tree, jnp.asarray(value, jnp.result_type(float)))


# (name, kernel, target, position, modify the kernel's parameters, or else the target's)
CASES = [
    ("ULA", samplers.ULA(0.1), gaussian, jnp.zeros(2), at(lambda k: k.step_size, 0.2), None),
    ("MALA", samplers.MALA(0.1), gaussian, jnp.zeros(2), at(lambda k: k.step_size, 0.2), None),
    (
        "HMC",
        samplers.HMC(0.1, jnp.ones(2), 3),
        gaussian,
        jnp.zeros(2),
        at(lambda k: k.step_size, 0.2),
        None,
    ),
    (
        "HMC-unit-mass",
        samplers.HMC(0.1, None, 3),
        gaussian,
        jnp.zeros(2),
        at(lambda k: k.step_size, 0.2),
        None,
    ),
    (
        "NUTS",
        samplers.NUTS(0.1, jnp.ones(2), max_num_doublings=3),
        gaussian,
        jnp.zeros(2),
        at(lambda k: k.inverse_mass_matrix, jnp.full(2, 2.0)),
        None,
    ),
    (
        "FlipMetropolis",
        samplers.FlipMetropolis("spin"),
        targets.PairwiseBinary(W4, B4, "spin"),
        jnp.ones(4),
        None,
        at(lambda t: t.b, -B4),
    ),
    (
        "HeatBath",
        samplers.HeatBath("spin", colors=samplers.greedy_coloring(W4), multilinear=True),
        targets.PairwiseBinary(W4, B4, "spin"),
        jnp.ones(4),
        None,
        at(lambda t: t.W, 0.5 * W4),
    ),
    (
        "GibbsWithGradients",
        samplers.GibbsWithGradients("bits"),
        targets.PairwiseBinary(W4, B4, "bits"),
        jnp.zeros(4),
        None,
        at(lambda t: t.b, -B4),
    ),
    (
        "ColoredGibbs",
        samplers.ColoredGibbs(samplers.greedy_coloring(W4), "spin"),
        targets.PairwiseBinary(W4, B4, "spin"),
        jnp.ones(4),
        None,
        at(lambda t: t.W, 0.5 * W4),
    ),
    (
        "ColoredMetropolis",
        samplers.ColoredMetropolis(samplers.greedy_coloring(W4), "bits", "random"),
        targets.PairwiseBinary(W4, B4, "bits"),
        jnp.zeros(4),
        None,
        at(lambda t: t.W, 0.5 * W4),
    ),
    (
        "Checkerboard",
        samplers.Checkerboard(),
        targets.PeriodicIsing2D(0.3, 0.1),
        jnp.ones((4, 4)),
        None,
        at(lambda t: t.coupling, 0.5),
    ),
    (
        "SwendsenWang",
        samplers.SwendsenWang(),
        targets.PeriodicIsing2D(0.3, 0.1),
        jnp.ones((4, 4)),
        None,
        at(lambda t: t.coupling, 0.5),
    ),
    (
        "BlockGibbs",
        samplers.BlockGibbs(),
        targets.BernoulliRBM(jnp.ones((3, 2)) * 0.3, jnp.zeros(3), jnp.full(2, 0.1)),
        (jnp.zeros(3), jnp.zeros(2)),
        None,
        at(lambda t: t.c, jnp.full(2, -0.1)),
    ),
    (
        "ReplicaExchange",
        samplers.ReplicaExchange(samplers.MALA(0.1), jnp.array([0.25, 0.5, 1.0])),
        family,
        jnp.zeros((3, 2)),
        at(lambda k: k.inner.step_size, 0.2),
        None,
    ),
    (
        "Blackjax",
        samplers.Blackjax(blackjax.mala, step_size=0.1),
        gaussian,
        jnp.zeros(2),
        at(lambda k: k.params["step_size"], 0.2),
        None,
    ),
    (
        "Blackjax-hmc",
        samplers.Blackjax(
            blackjax.hmc, step_size=0.1, inverse_mass_matrix=jnp.ones(2), num_integration_steps=3
        ),
        gaussian,
        jnp.zeros(2),
        at(lambda k: k.params["step_size"], 0.2),
        None,
    ),
    (
        "FromFactory",
        samplers.FromFactory(functools.partial(blackjax.mala, step_size=0.1)),
        gaussian,
        jnp.zeros(2),
        at(lambda k: k.factory.keywords["step_size"], 0.2),
        None,
    ),
]
IDS = [c[0] for c in CASES]


def test_every_kernel_class_is_covered():
    kernel_classes = {
        name
        for name in samplers.__all__
        if isinstance(getattr(samplers, name), type)
        and issubclass(getattr(samplers, name), samplers.Kernel)
        and name != "Kernel"
    }
    covered = {type(c[1]).__name__ for c in CASES}
    assert kernel_classes <= covered, kernel_classes - covered


@pytest.mark.parametrize(("name", "kernel", "target", "x", "mod_k", "mod_t"), CASES, ids=IDS)
def test_init_both_ways_and_info(name, kernel, target, x, mod_k, mod_t):
    s1 = kernel.init(x, target, rng_key=KEY)
    s2 = kernel(target).init(x, rng_key=KEY)
    s3 = kernel(target).init(x)
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(a, b), s1, s2)
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(a, b), s1, s3)
    state, info = kernel.step(KEY, s1, target)
    assert jnp.shape(info.acceptance_rate) == ()
    assert 0.0 <= float(info.acceptance_rate) <= 1.0
    state2, _ = kernel.build_kernel()(KEY, s1, target)
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(a, b), state, state2)
    assert jax.tree.structure(state) == jax.tree.structure(s1)


@pytest.mark.parametrize(("name", "kernel", "target", "x", "mod_k", "mod_t"), CASES, ids=IDS)
def test_pytree_leaves_and_one_compilation(name, kernel, target, x, mod_k, mod_t):
    """The real parameters are array leaves; changing them (or the target's) reuses the
    compiled function."""
    traces = []

    @eqx.filter_jit
    def f(kernel, target, key, x):
        traces.append(1)
        state = kernel.init(x, target)
        state, info = kernel.step(key, state, target)
        return state.position, info.acceptance_rate

    if mod_k is not None:
        new_kernel, new_target = mod_k(kernel), target
        old_leaves = [np.asarray(a) for a in jax.tree.leaves(kernel) if eqx.is_array(a)]
        assert old_leaves, f"{name} has no array leaves"
        assert jax.tree.structure(new_kernel) == jax.tree.structure(kernel)
    else:
        new_kernel, new_target = kernel, mod_t(target)
    f(kernel, target, KEY, x)
    out = f(new_kernel, new_target, jax.random.key(1), x)
    jax.block_until_ready(out)
    assert len(traces) == 1, f"{name} compiled {len(traces)} times"


def test_constructors_with_new_values_reuse_the_compilation():
    traces = []

    @eqx.filter_jit
    def f(kernel, x):
        traces.append(1)
        return kernel.step(KEY, kernel.init(x, gaussian), gaussian)[0].position

    for eps in (0.1, 0.2, jnp.asarray(0.3), np.float32(0.4)):
        f(samplers.MALA(eps), jnp.zeros(2))
        f(samplers.FromFactory(functools.partial(blackjax.mala, step_size=eps)), jnp.zeros(2))
    assert len(traces) == 2


def test_kernel_leaves_are_the_parameters():
    hmc = samplers.HMC(0.1, jnp.ones(3), 5)
    leaves = jax.tree.leaves(hmc)
    assert len(leaves) == 2
    assert float(leaves[0]) == pytest.approx(0.1) and leaves[1].shape == (3,)
    assert jax.tree.leaves(samplers.FlipMetropolis("bits", num_flips=3)) == []
    partial = samplers.FromFactory(functools.partial(blackjax.mala, step_size=0.1))
    assert [float(a) for a in jax.tree.leaves(partial)] == [pytest.approx(0.1)]


@pytest.mark.parametrize(("name", "kernel", "target", "x", "mod_k", "mod_t"), CASES, ids=IDS)
def test_run_inference_algorithm(name, kernel, target, x, mod_k, mod_t):
    state, (states, infos) = blackjax.util.run_inference_algorithm(
        KEY,
        kernel(target),
        num_steps=3,
        initial_position=x,
        transform=lambda s, i: (s.position, i.acceptance_rate),
    )
    assert infos.shape == (3,)
    assert jax.tree.structure(state.position) == jax.tree.structure(
        jax.tree.map(lambda a: a[0], states)
    )


def test_legacy_constructors_accept_rng_key():
    x = jnp.ones((4, 4))
    algs = [
        (samplers.ising_checkerboard(0.3), x),
        (samplers.colored_gibbs(lambda s: 0.0 * s, 0.3, samplers.checkerboard_colors((4, 4))), x),
        (samplers.colored_metropolis(lambda s: 0.0 * s, 0.3, np.arange(16).reshape(4, 4)), x),
        (
            samplers.block_gibbs(*samplers.bernoulli_rbm_conditionals(W4[:, :2], B4, B4[:2], 1)),
            (jnp.zeros(4), jnp.zeros(2)),
        ),
        (samplers.mala(gaussian, 0.1), jnp.zeros(2)),
        (samplers.ula(gaussian, 0.1), jnp.zeros(2)),
        (samplers.hmc(gaussian, 0.1, jnp.ones(2), 3), jnp.zeros(2)),
        (samplers.nuts(gaussian, 0.1, jnp.ones(2)), jnp.zeros(2)),
        (samplers.metropolis(lambda s: jnp.sum(s), "spin"), jnp.ones(3)),
        (samplers.gibbs_with_gradients(lambda s: jnp.sum(s), "spin"), jnp.ones(3)),
    ]
    for alg, x0 in algs:
        alg.init(x0, KEY)
        _, (_, acc) = blackjax.util.run_inference_algorithm(
            KEY,
            alg,
            num_steps=2,
            initial_position=x0,
            transform=lambda s, i: (0, i.acceptance_rate),
        )
        assert acc.shape == (2,)


# ---- as_kernel / FromFactory / Blackjax ------------------------------------------------------


def test_as_kernel_accepts_kernels_and_factories():
    mala = samplers.MALA(0.1)
    assert samplers.as_kernel(mala) is mala
    k = samplers.as_kernel(functools.partial(blackjax.mala, step_size=0.1))
    assert isinstance(k, samplers.FromFactory)
    assert isinstance(k.factory, jax.tree_util.Partial)
    assert float(k.factory.keywords["step_size"]) == pytest.approx(0.1)
    lam = samplers.as_kernel(lambda ld: samplers.mala(ld, 0.1))
    assert isinstance(lam, samplers.FromFactory)
    # the same chain as samplers.MALA: blackjax's kernel with the same keys
    a = samplers.run(KEY, k(gaussian), jnp.zeros((4, 2)), num_steps=5)
    b = samplers.run(KEY, samplers.MALA(0.1)(gaussian), jnp.zeros((4, 2)), num_steps=5)
    c = samplers.run(KEY, lam(gaussian), jnp.zeros((4, 2)), num_steps=5)
    np.testing.assert_array_equal(a.trace, b.trace)
    np.testing.assert_array_equal(a.trace, c.trace)


def test_random_walk_factory_samples_a_gaussian():
    """additive_step_random_walk through as_kernel: 2000 chains × 200 steps on N(0, 1); the
    mean of x² must be within 3.89 standard errors (√(2/n)) of 1 (false-failure rate 1e-4)."""
    step = blackjax.mcmc.random_walk.normal(jnp.asarray(1.5))
    kernel = samplers.as_kernel(
        functools.partial(blackjax.additive_step_random_walk, random_step=step)
    )
    res = samplers.run(KEY, kernel(gaussian), jnp.zeros((2000, 1)), num_steps=200, keep_trace=False)
    x = np.asarray(res.state.position[:, 0])
    assert abs(np.mean(x**2) - 1.0) < 3.89 * np.sqrt(2.0 / x.size)
    assert 0.2 < float(np.mean(res.info["acceptance_rate"])) < 0.9


def test_as_kernel_errors():
    with pytest.raises(TypeError, match=r"functools\.partial\(blackjax\.mala, step_size"):
        samplers.as_kernel(blackjax.mala)
    with pytest.raises(TypeError, match="functools.partial"):
        samplers.as_kernel(samplers.mala, name="negatives")
    with pytest.raises(TypeError, match=r"negatives must be a samplers Kernel .*samplers\.MALA"):
        samplers.as_kernel(3, name="negatives")
    with pytest.raises(TypeError, match="factory"):
        samplers.FromFactory(blackjax.mala)
    with pytest.raises(TypeError, match="algorithm must provide init"):
        samplers.Blackjax(object())
    with pytest.raises(ValueError, match="step_size"):
        samplers.Blackjax(blackjax.mala, step_size=-1.0)


# ---- adapt_step_size ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("acceptance", "target", "expected"),
    [
        (0.8, 0.5, 0.1 * np.exp(0.6)),
        (0.55, 0.5, 0.1 * np.exp(0.1)),
        (0.0, 0.9, 0.1 * np.exp(-1.0)),  # clipped at −1
        (1.0, 0.2, 0.1 * np.exp(1.0)),  # clipped at +1
        (float("nan"), 0.5, 0.1 * np.exp(-1.0)),  # NaN ↦ −1
    ],
)
def test_adapt_step_size_numbers(acceptance, target, expected):
    kernels = {
        "MALA": (samplers.MALA(0.1), lambda k: k.step_size),
        "HMC": (samplers.HMC(0.1, jnp.ones(2), 3), lambda k: k.step_size),
        "Blackjax": (
            samplers.Blackjax(blackjax.mala, step_size=0.1),
            lambda k: k.params["step_size"],
        ),
        "FromFactory": (
            samplers.as_kernel(functools.partial(blackjax.mala, step_size=0.1)),
            lambda k: k.factory.keywords["step_size"],
        ),
    }
    for name, (kernel, get) in kernels.items():
        new = samplers.adapt_step_size(kernel, acceptance, target)
        assert float(get(new)) == pytest.approx(expected, rel=1e-12), name
        assert jax.tree.structure(new) == jax.tree.structure(kernel)
    jitted = eqx.filter_jit(samplers.adapt_step_size)
    new = jitted(samplers.MALA(0.1), jnp.asarray(acceptance), target)
    assert float(new.step_size) == pytest.approx(expected, rel=1e-12)


def test_adapt_step_size_without_step_size_and_errors():
    flips = samplers.FlipMetropolis("spin")
    assert samplers.adapt_step_size(flips, 0.3, 0.5) is flips
    lam = samplers.as_kernel(lambda ld: samplers.mala(ld, 0.1))
    assert samplers.adapt_step_size(lam, 0.3, 0.5) is lam
    with pytest.raises(ValueError, match="target_acceptance"):
        samplers.adapt_step_size(samplers.MALA(0.1), 0.3, 1.5)
    with pytest.raises(TypeError, match="kernel must be a samplers Kernel"):
        samplers.adapt_step_size(functools.partial(blackjax.mala, step_size=0.1), 0.3, 0.5)


def test_window_adaptation_accepts_our_classes():
    cases = [
        (samplers.HMC, {"num_integration_steps": 4}),
        (samplers.HMC(0.1, None, 4), {}),  # the instance supplies num_integration_steps
        (samplers.NUTS, {}),
    ]
    for algorithm, kwargs in cases:
        warmup = samplers.window_adaptation(algorithm, gaussian, **kwargs)
        (_, params), _ = warmup.run(KEY, jnp.zeros(2), num_steps=20)
        assert params["step_size"] > 0
        if algorithm is samplers.NUTS:
            samplers.NUTS(**params)(gaussian).init(jnp.zeros(2))


# ---- argument checks ---------------------------------------------------------------------------


def test_structured_kernels_reject_plain_callables():
    x = jnp.ones(4)
    with pytest.raises(TypeError, match="ColoredGibbs needs a samplers.targets.PairwiseBinary"):
        samplers.ColoredGibbs(samplers.greedy_coloring(W4), "spin")(gaussian).step(
            KEY, samplers.gibbs.init(x)
        )
    with pytest.raises(TypeError, match="use HeatBath for an arbitrary log density"):
        samplers.ColoredMetropolis(samplers.greedy_coloring(W4), "spin", "random").step(
            KEY, samplers.gibbs.init(x), gaussian
        )
    with pytest.raises(TypeError, match="Checkerboard needs a samplers.targets.PeriodicIsing2D"):
        samplers.Checkerboard().step(KEY, samplers.lattice.init(jnp.ones((2, 2))), gaussian)
    with pytest.raises(TypeError, match="BlockGibbs needs a samplers.targets.BernoulliRBM"):
        samplers.BlockGibbs().step(KEY, samplers.gibbs.init((x, x)), gaussian)
    with pytest.raises(ValueError, match="domain 'bits' but its target has 'spin'"):
        samplers.ColoredGibbs(samplers.greedy_coloring(W4), "bits").step(
            KEY, samplers.gibbs.init(x), targets.PairwiseBinary(W4, B4, "spin")
        )


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: samplers.MALA(-0.1), ValueError, "step_size"),
        (lambda: samplers.ULA("a"), TypeError, "step_size"),
        (lambda: samplers.HMC(0.1, jnp.ones(2), 0), ValueError, "num_integration_steps"),
        (lambda: samplers.HMC(0.1, jnp.ones((2, 3)), 3), ValueError, "inverse_mass_matrix"),
        (lambda: samplers.NUTS(0.1, -jnp.ones(2)), ValueError, "inverse_mass_matrix"),
        (lambda: samplers.NUTS(0.1, None, max_num_doublings=0), ValueError, "max_num_doublings"),
        (lambda: samplers.FlipMetropolis("ising"), ValueError, "domain"),
        (lambda: samplers.FlipMetropolis("spin", num_flips=0), ValueError, "num_flips"),
        (lambda: samplers.FlipMetropolis("spin", order="sorted"), ValueError, "order"),
        (lambda: samplers.HeatBath("spin", colors=[0.5, 1.0]), TypeError, "colors"),
        (lambda: samplers.HeatBath("spin", colors=[[0, 1]]), ValueError, "colors must be 1-D"),
        (lambda: samplers.HeatBath("spin", multilinear=1), TypeError, "multilinear"),
        (lambda: samplers.ColoredGibbs(np.zeros(3, int), "spin"), ValueError, "colors"),
        (lambda: samplers.ColoredMetropolis([0, 1], "spin", "any"), ValueError, "order"),
        (lambda: samplers.GibbsWithGradients("real"), ValueError, "domain"),
        (lambda: samplers.ReplicaExchange(gaussian, [0.5, 1.0]), TypeError, "inner"),
        (lambda: samplers.ReplicaExchange(samplers.MALA(0.1), [1.0, 0.5]), ValueError, "betas"),
        (lambda: targets.PairwiseBinary(W4, B4[:3], "spin"), ValueError, "W must be"),
        (lambda: targets.PairwiseBinary(W4, B4, "ising"), ValueError, "domain"),
        (lambda: targets.BernoulliRBM(W4, B4, B4[:2]), ValueError, "n_hidden"),
        (lambda: targets.PeriodicIsing2D(jnp.ones(2)), ValueError, "coupling"),
        (lambda: samplers.greedy_coloring(np.ones(3)), ValueError, "W must be a square"),
    ],
)
def test_constructor_errors_name_the_argument(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_targets_are_log_densities():
    s = jnp.array([[1, -1, 1, 1], [-1, -1, 1, -1]])
    ising = targets.PeriodicIsing2D(0.7, -0.2)
    W = np.zeros((8, 8))
    idx = np.arange(8).reshape(2, 4)
    for a, b in [(idx, np.roll(idx, -1, 0)), (idx, np.roll(idx, -1, 1))]:
        for i, j in zip(a.ravel(), b.ravel(), strict=True):
            W[i, j] += 0.7
            W[j, i] += 0.7
    pair = targets.PairwiseBinary(W, np.full(8, -0.2), "spin")
    assert float(ising(s)) == pytest.approx(float(pair(s)), rel=1e-12)
    x = jnp.array([1.0, 0.0, 1.0, 1.0])
    bits = targets.PairwiseBinary(W4 + jnp.diag(jnp.array([0.3, 0, 0, -0.5])), B4, "bits")
    for i in range(4):  # φ_i = log p(x_i = 1 | rest) − log p(x_i = 0 | rest)
        up, down = x.at[i].set(1.0), x.at[i].set(0.0)
        assert float(bits.local_field(x)[i]) == pytest.approx(float(bits(up) - bits(down)))
    rbm = targets.BernoulliRBM(W4[:, :2], B4, B4[:2])
    v, h = jnp.array([1.0, 0, 1, 0]), jnp.array([0.0, 1.0])
    expected = B4 @ v + B4[:2] @ h + v @ W4[:, :2] @ h
    assert float(rbm((v, h))) == pytest.approx(float(expected))
