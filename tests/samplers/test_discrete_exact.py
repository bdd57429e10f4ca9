"""Every discrete kernel against the exact Gibbs distribution of a model small enough to enumerate.

Method: C independent chains, T steps each, keep only the final state of every chain: C
independent draws from the chain's law after T steps. A Pearson χ² test (pooled bins,
``chi2_pvalue``) must not reject at level ALPHA = 2e-5 (the false-failure rate of each
parametrised case; 22 cases, one χ² check each). Two β per kernel:

* weak coupling, chains started uniformly at random: tests convergence to p_β (the mixing
  error after T steps is far below the test's resolution);
* strong coupling, chains started from exact draws of p_β: tests that the kernel leaves p_β
  invariant (a biased kernel drifts away from it), and that it moves (more than 1% of the
  chains end in a state different from their start). Strongly coupled tiny models tunnel
  between their ordered states in ~10³–10⁴ sweeps, too slow for uniform starts in a unit test.
"""

import jax.numpy as jnp
import numpy as np
import pytest
from sampler_checks import (
    BM_BETAS,
    NUM_CHAINS,
    WEAK_STRONG,
    COLORS_3x3,
    H_3x3,
    ISING_3x3,
    bm_with_diagonal,
    check_kernel,
    exact_probs,
    field_fn,
    final_states,
    lattice_couplings,
    random_starts,
)
from stats_helpers import ALPHA, chi2_pvalue, pairwise_energy

import samplers


@pytest.mark.parametrize(("beta", "start"), WEAK_STRONG)
def test_colored_gibbs_ising_3x3(beta, start):
    alg = samplers.colored_gibbs(field_fn(ISING_3x3, H_3x3, (3, 3), "spin"), beta, COLORS_3x3)
    check_kernel(alg, ISING_3x3, H_3x3, beta, "spin", (3, 3), start, 40)


@pytest.mark.parametrize(
    ("beta", "start", "order"), [(0.3, "uniform", "random"), (0.8, "exact", "systematic")]
)
def test_colored_metropolis_ising_3x3(beta, start, order):
    alg = samplers.colored_metropolis(
        field_fn(ISING_3x3, H_3x3, (3, 3), "spin"), beta, COLORS_3x3, order=order
    )
    check_kernel(alg, ISING_3x3, H_3x3, beta, "spin", (3, 3), start, 100)


@pytest.mark.parametrize("domain", ["spin", "bits"])
@pytest.mark.parametrize(("beta", "start"), BM_BETAS)
def test_sequential_gibbs_boltzmann_machine(beta, start, domain):
    """Any colouring: one colour per unit is systematic-scan Gibbs on a dense graph."""
    W, b = bm_with_diagonal(3)
    alg = samplers.colored_gibbs(field_fn(W, b, (5,), domain), beta, np.arange(5), domain)
    check_kernel(alg, W, b, beta, domain, (5,), start, 30)


@pytest.mark.parametrize(("domain", "order"), [("spin", "random"), ("bits", "systematic")])
@pytest.mark.parametrize(("beta", "start"), BM_BETAS)
def test_flip_metropolis_boltzmann_machine(beta, start, domain, order):
    W, b = bm_with_diagonal(4)
    Wj, bj = jnp.asarray(W), jnp.asarray(b)

    def logdensity(x):
        x = x.astype(Wj.dtype)
        return beta * (0.5 * x @ Wj @ x + bj @ x)

    alg = samplers.metropolis(logdensity, domain=domain, order=order)
    check_kernel(alg, W, b, beta, domain, (5,), start, 30)


@pytest.mark.parametrize("domain", ["spin", "bits"])
@pytest.mark.parametrize(("beta", "start"), BM_BETAS)
def test_gibbs_with_gradients_boltzmann_machine(beta, start, domain):
    W, b = bm_with_diagonal(5)
    Wj, bj = jnp.asarray(W), jnp.asarray(b)
    alg = samplers.gibbs_with_gradients(lambda x: beta * (0.5 * x @ Wj @ x + bj @ x), domain=domain)
    check_kernel(alg, W, b, beta, domain, (5,), start, 100)


@pytest.mark.parametrize(("beta", "start"), BM_BETAS)
def test_block_gibbs_rbm(beta, start):
    """Joint (v, h) law of a 4×3 Bernoulli RBM (128 states): E = −bᵀv − cᵀh − vᵀWh."""
    rng = np.random.default_rng(6)
    W, b, c = rng.normal(size=(4, 3)), rng.normal(size=4) * 0.5, rng.normal(size=3) * 0.5
    gibbs = samplers.block_gibbs(*samplers.bernoulli_rbm_conditionals(W, b, c, beta))
    # one 7-bit vector (v, h) in and out, so the shared checker applies
    alg = samplers.SamplingAlgorithm(lambda x: gibbs.init((x[:4], x[4:])), gibbs.step)
    # the RBM as a 7-unit pairwise model on bits (v, h): W_full couples v and h, biases (b, c)
    W_full = np.zeros((7, 7))
    W_full[:4, 4:] = W
    W_full[4:, :4] = W.T
    check_kernel(alg, W_full, np.concatenate([b, c]), beta, "bits", (7,), start, 30)


@pytest.mark.parametrize(("beta", "start"), [(0.3, "uniform"), (0.7, "exact")])
def test_lattice_ising_2x4_torus(beta, start):
    """Fast lattice kernel, h ≠ 0, on the 2×4 torus (256 states; vertical pairs doubly bonded)."""
    h = 0.2
    W = lattice_couplings((2, 4), periodic=True)
    alg = samplers.ising_checkerboard(beta, J=1.0, h=h)
    x = check_kernel(alg, W, np.full(8, h), beta, "spin", (2, 4), start, 30)
    assert x.dtype == np.int8 and set(np.unique(x)) <= {-1, 1}


@pytest.mark.parametrize(("beta", "start"), [(0.3, "uniform"), (0.6, "exact")])
def test_lattice_ising_4x4_energy_magnetisation(beta, start):
    """4×4 torus: joint law of (E, M) against enumeration of all 65,536 states (χ²)."""
    J, h = 0.8, -0.1
    W = lattice_couplings((4, 4), periodic=True) * J
    b = np.full(16, h)
    states, probs = exact_probs(W, b, beta, "spin")
    E = pairwise_energy(states, W, b)
    levels, inverse = np.unique(
        np.stack([np.round(E, 9), states.sum(1)], 1), axis=0, return_inverse=True
    )
    p_level = np.bincount(inverse.ravel(), weights=probs, minlength=len(levels))
    if start == "uniform":
        x0 = random_starts((4, 4), "spin")
    else:
        idx = np.random.default_rng(7).choice(len(states), size=NUM_CHAINS, p=probs)
        x0 = jnp.asarray(states[idx].reshape(NUM_CHAINS, 4, 4), dtype=jnp.float64)
    alg = samplers.ising_checkerboard(beta, J=J, h=h)
    x = final_states(alg, x0, 40).reshape(NUM_CHAINS, 16)
    lookup = {(round(e, 9), m): i for i, (e, m) in enumerate(levels)}
    Ex = pairwise_energy(x, W, b)
    idx = np.array([lookup[(round(e, 9), m)] for e, m in zip(Ex, x.sum(1), strict=True)])
    p = chi2_pvalue(np.bincount(idx, minlength=len(levels)), p_level)
    assert p > ALPHA, f"chi2 p-value {p:.2e}"


def test_lattice_pack_roundtrip_and_colours():
    x = jnp.asarray(np.random.default_rng(0).choice([-1, 1], size=(3, 6, 8)))
    black, white = samplers.lattice.pack(x)
    assert black.shape == (3, 6, 4) and black.dtype == jnp.int8
    np.testing.assert_array_equal(samplers.lattice.unpack(black, white), x)
    colours = samplers.checkerboard_colors((6, 8))
    np.testing.assert_array_equal(
        samplers.lattice.unpack(*samplers.lattice.pack(1 - 2 * colours)), 1 - 2 * colours
    )
    # black sites are exactly colour 0
    np.testing.assert_array_equal(black[0], x[0][colours == 0].reshape(6, 4))
