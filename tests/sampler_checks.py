"""Models small enough to enumerate and the χ² check of a discrete kernel against their exact
Gibbs distribution, shared by the sampler tests (``import sampler_checks``).

C independent chains, T steps each, keep only the final state of every chain: C independent
draws from the chain's law after T steps; a Pearson χ² test (pooled bins) must not reject at
level ``stats_helpers.ALPHA``.
"""

import jax
import jax.numpy as jnp
import numpy as np
from stats_helpers import (
    ALPHA,
    all_states,
    chi2_pvalue,
    gibbs_probs,
    pairwise_energy,
    state_index,
)

import samplers

NUM_CHAINS = 10_000


def lattice_couplings(shape, periodic):
    """W (zero diagonal, W_ij = number of bonds between i and j) of a square lattice, J = 1."""
    n = int(np.prod(shape))
    idx = np.arange(n).reshape(shape)
    W = np.zeros((n, n))
    for axis in range(len(shape)):
        if periodic:
            a, b = idx, np.roll(idx, -1, axis=axis)
        else:
            a = np.take(idx, np.arange(shape[axis] - 1), axis=axis)
            b = np.take(idx, np.arange(1, shape[axis]), axis=axis)
        for i, j in zip(a.ravel(), b.ravel(), strict=True):
            W[i, j] += 1.0
            W[j, i] += 1.0
    return W


def random_bm(n, seed, scale=0.8):
    rng = np.random.default_rng(seed)
    A = rng.normal(scale=scale, size=(n, n))
    W = np.triu(A, 1)
    return W + W.T, rng.normal(scale=0.5, size=n)


def exact_probs(W, b, beta, domain):
    states = all_states(W.shape[0], domain)
    return states, gibbs_probs(pairwise_energy(states, W, b), beta)


def random_starts(shape, domain, seed=1, dtype=jnp.float64):
    x = jax.random.bernoulli(jax.random.key(seed), 0.5, (NUM_CHAINS, *shape)).astype(dtype)
    return 2 * x - 1 if domain == "spin" else x


def final_states(alg, x0, num_steps, seed=0):
    res = samplers.run(
        jax.random.key(seed),
        alg,
        x0,
        num_steps=num_steps,
        keep_trace=False,
        trace_fn=lambda s: (),
    )
    assert int(jnp.sum(res.num_nonfinite)) == 0
    position = res.state.position
    if isinstance(position, tuple):  # bipartite (v, h)
        position = jnp.concatenate(position, axis=-1)
    return np.asarray(position)


def check_kernel(alg, W, b, beta, domain, shape, start, num_steps):
    """Run NUM_CHAINS chains ``num_steps`` steps from ``start`` and χ²-test the final states."""
    states, probs = exact_probs(W, b, beta, domain)
    if start == "uniform":
        x0 = random_starts(shape, domain)
    else:
        idx = np.random.default_rng(7).choice(len(states), size=NUM_CHAINS, p=probs)
        x0 = jnp.asarray(states[idx].reshape(NUM_CHAINS, *shape), dtype=jnp.float64)
    x = final_states(alg, x0, num_steps)
    moved = np.mean(np.any((x != np.asarray(x0)).reshape(NUM_CHAINS, -1), axis=1))
    # a kernel that does nothing would pass the invariance test: require that chains move
    assert moved > 0.01, f"only {moved:.1%} of the chains moved"
    counts = np.bincount(state_index(x, domain), minlength=len(states))
    p = chi2_pvalue(counts, probs)
    assert p > ALPHA, f"chi2 p-value {p:.2e} <= {ALPHA}: empirical law differs from exact"
    return x


def field_fn(W, b, shape, domain):
    Wj, bj = jnp.asarray(W), jnp.asarray(b)
    extra = 0.5 * jnp.diag(Wj) if domain == "bits" else 0.0

    def local_field(x):
        xf = x.reshape(-1).astype(Wj.dtype)
        return (Wj @ xf - jnp.diag(Wj) * xf + bj + extra).reshape(shape)

    return local_field


ISING_3x3 = lattice_couplings((3, 3), periodic=False)
H_3x3 = np.full(9, 0.1)
COLORS_3x3 = samplers.checkerboard_colors((3, 3))
WEAK_STRONG = [(0.3, "uniform"), (0.8, "exact")]
BM_BETAS = [(0.5, "uniform"), (1.5, "exact")]


def bm_with_diagonal(seed):
    W, b = random_bm(5, seed=seed)
    W[np.diag_indices(5)] = [0.3, -0.2, 0.0, 0.5, 0.1]  # the diagonal matters for bits
    return W, b
