"""The Kernel classes on structured targets against the exact Gibbs distribution (enumeration).

Method and tolerance as in test_discrete_exact.py (whose checker is reused): NUM_CHAINS
independent chains, fixed keys, the final states χ²-tested at level ALPHA = 2e-5 (the
false-failure rate of each parametrised case; 20 cases, one χ² check each); two β per kernel,
a weakly coupled one from uniform starts (convergence) and a strongly coupled one from exact
draws (invariance, with the check that chains move). Targets absorb β: W → βW, b → βb,
coupling → βJ, field → βh.
HeatBath on non-pairwise densities and pytree positions, and greedy_coloring: test_heat_bath.py.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sampler_checks import (
    BM_BETAS,
    WEAK_STRONG,
    COLORS_3x3,
    H_3x3,
    ISING_3x3,
    bm_with_diagonal,
    check_kernel,
    lattice_couplings,
)

import samplers
from samplers import targets


def pairwise(W, b, beta, domain):
    return targets.PairwiseBinary(beta * jnp.asarray(W), beta * jnp.asarray(b), domain)


@pytest.mark.parametrize(("beta", "start"), BM_BETAS)
def test_heat_bath_sequential_bits_with_diagonal(beta, start):
    """No colours (one per unit): exact for any density; bits with W_ii ≠ 0 (not multilinear)."""
    W, b = bm_with_diagonal(3)
    alg = samplers.HeatBath("bits")(pairwise(W, b, beta, "bits"))
    check_kernel(alg, W, b, beta, "bits", (5,), start, 30)


@pytest.mark.parametrize("multilinear", [False, True])
@pytest.mark.parametrize(("beta", "start"), WEAK_STRONG)
def test_heat_bath_colored_ising_3x3(beta, start, multilinear):
    """Greedy 2-colouring of the 3×3 lattice; multilinear=True is exact here (zero diagonal)."""
    colors = samplers.greedy_coloring(ISING_3x3)
    assert colors.max() == 1
    kernel = samplers.HeatBath("spin", colors=colors, multilinear=multilinear)
    alg = kernel(pairwise(ISING_3x3, H_3x3, beta, "spin"))
    check_kernel(alg, ISING_3x3, H_3x3, beta, "spin", (9,), start, 40)


@pytest.mark.parametrize(("beta", "start"), WEAK_STRONG)
def test_colored_gibbs_class_ising_3x3(beta, start):
    alg = samplers.ColoredGibbs(COLORS_3x3, "spin")(pairwise(ISING_3x3, H_3x3, beta, "spin"))
    check_kernel(alg, ISING_3x3, H_3x3, beta, "spin", (3, 3), start, 40)


@pytest.mark.parametrize(("beta", "start"), BM_BETAS)
def test_colored_metropolis_class_bits(beta, start):
    W, b = bm_with_diagonal(4)
    alg = samplers.ColoredMetropolis(np.arange(5), "bits", "systematic")(
        pairwise(W, b, beta, "bits")
    )
    check_kernel(alg, W, b, beta, "bits", (5,), start, 60)


@pytest.mark.parametrize(("beta", "start"), BM_BETAS)
def test_flip_metropolis_class_on_a_structured_target(beta, start):
    """A generic kernel accepts a structured target as a plain log density."""
    W, b = bm_with_diagonal(4)
    alg = samplers.FlipMetropolis("bits", order="systematic")(pairwise(W, b, beta, "bits"))
    check_kernel(alg, W, b, beta, "bits", (5,), start, 30)


@pytest.mark.parametrize(("beta", "start"), [(0.3, "uniform"), (0.7, "exact")])
def test_checkerboard_class_2x4_torus(beta, start):
    h = 0.2
    W = lattice_couplings((2, 4), periodic=True)
    alg = samplers.Checkerboard()(targets.PeriodicIsing2D(beta * 1.0, beta * h))
    x = check_kernel(alg, W, np.full(8, h), beta, "spin", (2, 4), start, 30)
    assert x.dtype == np.int8 and set(np.unique(x)) <= {-1, 1}


@pytest.mark.parametrize(("beta", "start"), [(0.3, "uniform"), (0.7, "exact")])
@pytest.mark.parametrize(("shape", "J"), [((2, 4), 1.0), ((3, 3), -0.8)])
def test_swendsen_wang_class_on_tori(beta, start, shape, J):
    """Cluster moves: a ferromagnet with a field, and a frustrated antiferromagnet (odd sides);
    few moves (they mix fast)."""
    h = 0.2
    W = J * lattice_couplings(shape, periodic=True)
    alg = samplers.SwendsenWang()(targets.PeriodicIsing2D(beta * J, beta * h))
    x = check_kernel(alg, W, np.full(W.shape[0], h), beta, "spin", shape, start, 8)
    assert x.dtype == np.int8 and set(np.unique(x)) <= {-1, 1}


def test_checkerboard_matches_the_beta_j_h_kernel():
    """Checkerboard on PeriodicIsing2D(βJ, βh) (what ising_checkerboard builds now) is the
    legacy (β, J, h) kernel of build_kernel, thresholds ⌊2³² σ(2β(Jk + h))⌋, step for step
    (both draw their words from lattice.sweep_words)."""
    beta, J, h = 0.5, 0.8, -0.1
    kernel = samplers.lattice.build_kernel()
    legacy = samplers.SamplingAlgorithm(
        samplers.lattice.init, lambda key, state: kernel(key, state, beta, J, h)
    )
    x0 = jnp.asarray(np.random.default_rng(0).choice([-1, 1], size=(16, 4, 6)))
    a = samplers.run(jax.random.key(3), legacy, x0, num_steps=5)
    b = samplers.run(jax.random.key(3), samplers.ising_checkerboard(beta, J, h), x0, num_steps=5)
    np.testing.assert_array_equal(a.trace, b.trace)


def test_threefry2x32_is_jax_threefry_bit_for_bit():
    """The unrolled block function of the lattice kernel is JAX's Threefry-2x32 primitive."""
    from jax.extend.random import threefry2x32_p

    words = np.random.default_rng(1).integers(0, 2**32, size=(4, 257), dtype=np.uint32)
    args = [jnp.asarray(w) for w in words]
    expected = threefry2x32_p.bind(*args)
    got = samplers.lattice.threefry2x32(*args)
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(e))


def test_checkerboard_sweep_is_the_threshold_rule():
    """One sweep, recomputed in numpy: black then white, s_i = +1 iff u_i < t_k with u_i the
    words of sweep_words and t_k = ⌊2³² σ(2β(Jk + h))⌋; batched chains get distinct words."""
    beta, J, h = 0.45, 1.0, 0.3
    key = jax.random.key(11)
    x0 = np.random.default_rng(2).choice([-1, 1], size=(3, 4, 6)).astype(np.int8)
    state = samplers.lattice.init(jnp.asarray(x0))
    new, _ = samplers.lattice.build_kernel()(key, state, beta, J, h)
    u_black, u_white = (np.asarray(u) for u in samplers.lattice.sweep_words(key, (3, 4, 3)))
    assert len(np.unique(u_black)) == u_black.size and not np.array_equal(u_black[0], u_black[1])
    p = 1 / (1 + np.exp(-2 * beta * (J * np.arange(-4, 5, 2) + h)))
    t = np.floor(p * 2.0**32).astype(np.uint64)
    s = x0.astype(np.int64).copy()
    colours = samplers.checkerboard_colors((4, 6))
    for colour, u in ((0, u_black), (1, u_white)):
        nb = sum(np.roll(s, d, axis) for d in (1, -1) for axis in (-2, -1))
        k = nb[:, colours == colour]  # row-major over the colour's sites: the packed order
        s[:, colours == colour] = np.where(u.reshape(3, -1) < t[(k + 4) // 2], 1, -1)
    np.testing.assert_array_equal(np.asarray(new.position), s)


@pytest.mark.parametrize(("beta", "start"), BM_BETAS)
def test_block_gibbs_class_rbm(beta, start):
    """Joint (v, h) law of a 4×3 Bernoulli RBM (128 states), as in test_discrete_exact."""
    rng = np.random.default_rng(6)
    W, b, c = rng.normal(size=(4, 3)), rng.normal(size=4) * 0.5, rng.normal(size=3) * 0.5
    gibbs = samplers.BlockGibbs()(targets.BernoulliRBM(beta * W, beta * b, beta * c))
    alg = samplers.SamplingAlgorithm(lambda x, rng_key=None: gibbs.init((x[:4], x[4:])), gibbs.step)
    W_full = np.zeros((7, 7))
    W_full[:4, 4:] = W
    W_full[4:, :4] = W.T
    check_kernel(alg, W_full, np.concatenate([b, c]), beta, "bits", (7,), start, 30)


def test_replica_exchange_class_matches_replica_exchange():
    """ReplicaExchange(MALA(ε), betas) on family is replica_exchange with inner MALA(ε): same
    chain, same swap statistics (an identity, not a statistical test)."""
    betas = jnp.array([0.25, 0.5, 1.0])

    def family(beta):
        return lambda x: -beta * 10.0 * (x[0] ** 2 - 1.0) ** 2

    old = samplers.replica_exchange(family, betas, lambda beta: samplers.mala(family(beta), 0.05))
    new = samplers.ReplicaExchange(samplers.MALA(0.05), betas)(family)
    x0 = jnp.ones((8, 3, 1))
    a = samplers.run(jax.random.key(1), old, x0, num_steps=20)
    b = samplers.run(jax.random.key(1), new, x0, num_steps=20)
    np.testing.assert_array_equal(a.trace, b.trace)
    np.testing.assert_array_equal(a.info["is_swapped"], b.info["is_swapped"])
