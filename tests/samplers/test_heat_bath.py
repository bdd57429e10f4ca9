"""Heat-bath flips take the log density at call time: HeatBath leaves the target invariant
(χ² test against enumeration), in both the generic and the one-gradient (multilinear) mode.

Each χ² p-value must exceed ALPHA = 2e-5 (the false-failure rate of one check; 3 checks)."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
from stats_helpers import ALPHA, chi2_pvalue

import samplers


def _chi2_pvalue(states, logp, samples):
    """Pearson χ² p-value of the samples' state counts against p ∝ exp(logp)."""
    idx = {tuple(s): i for i, s in enumerate(states)}
    counts = np.zeros(len(states))
    for s in np.asarray(samples):
        counts[idx[tuple(s)]] += 1
    return chi2_pvalue(counts, np.exp(logp - np.logaddexp.reduce(logp)))


def _run(kernel, logdensity, x0, key, num_steps):
    def chain(k, x):
        def body(s, kk):
            s, _ = kernel.step(kk, s, logdensity)
            return s, None

        s, _ = jax.lax.scan(body, kernel.init(x, logdensity), jax.random.split(k, num_steps))
        return s.position

    keys = jax.random.split(key, x0.shape[0])
    return jax.jit(jax.vmap(chain))(keys, x0)


def test_flip_gibbs_is_invariant_for_any_density_and_multilinear_ones():
    """4 spins; a non-pairwise density (3-body term and a squared magnetisation) with the
    sequential sweep, and a pairwise (multilinear) one with a 2-colouring and the one-gradient
    Δ. 4000 chains × 20 sweeps from all-up: the χ² p-value must exceed ALPHA (2 checks)."""
    states = np.array(list(itertools.product((-1.0, 1.0), repeat=4)))
    x0 = jnp.ones((4000, 4))

    def generic(x):
        return 0.8 * x[0] * x[1] * x[2] - 0.3 * jnp.sum(x) ** 2 / 4 + 0.5 * x[3]

    W = jnp.array([[0, 1.0, 0, 0.7], [1.0, 0, 0.5, 0], [0, 0.5, 0, -0.8], [0.7, 0, -0.8, 0]])
    b = jnp.array([0.2, -0.4, 0.1, 0.3])

    def pairwise(x):
        return 0.5 * x @ W @ x + b @ x

    cases = (
        (generic, samplers.HeatBath("spin")),
        (
            pairwise,
            samplers.HeatBath(
                "spin",
                colors=tuple(int(c) for c in samplers.greedy_coloring(W)),
                multilinear=True,
            ),
        ),
    )
    for i, (logp, kernel) in enumerate(cases):
        samples = _run(kernel, logp, x0, jax.random.key(i), 20)
        ref = np.array([float(logp(jnp.asarray(s))) for s in states])
        assert _chi2_pvalue(states, ref, samples) > ALPHA


def test_flip_gibbs_bits_pytree_position():
    """An RBM-like pytree (v, h) of bits with the two layers as colours."""
    Wv = jnp.array([[0.8, -0.5], [0.3, 1.1]])

    def logp(x):
        v, h = x
        return v @ Wv @ h + 0.2 * v[0] - 0.4 * h[1]

    kernel = samplers.HeatBath("bits", colors=(0, 0, 1, 1), multilinear=True)

    def chain(k):
        def body(s, kk):
            return kernel.step(kk, s, logp)[0], None

        x = (jnp.zeros(2), jnp.zeros(2))
        s, _ = jax.lax.scan(body, kernel.init(x, logp), jax.random.split(k, 20))
        return jnp.concatenate(s.position)

    samples = jax.jit(jax.vmap(chain))(jax.random.split(jax.random.key(9), 4000))
    states = np.array(list(itertools.product((0.0, 1.0), repeat=4)))
    ref = np.array([float(logp((jnp.asarray(s[:2]), jnp.asarray(s[2:])))) for s in states])
    assert _chi2_pvalue(states, ref, samples) > ALPHA  # 1 check


def test_greedy_coloring_is_proper():
    rng = np.random.default_rng(0)
    A = (rng.random((12, 12)) < 0.3).astype(float)
    A = np.triu(A, 1) + np.triu(A, 1).T
    c = samplers.greedy_coloring(A)
    i, j = np.nonzero(A)
    assert np.all(c[i] != c[j])
    ring = np.roll(np.eye(6), 1, 1) + np.roll(np.eye(6), -1, 1)
    assert samplers.greedy_coloring(ring).max() == 1  # an even ring is 2-coloured
