"""Swendsen–Wang (samplers.cluster): exact checks.

The labelling against scipy's connected components (bond for bond, batched and not); the
transition matrix of one move, enumerated over every bond configuration of small tori with
the kernel's own `cluster_labels` and orientation rule, leaves the Gibbs distribution invariant
to rounding (π T = π, rows sum to 1). The χ² test of sampled chains is in test_kernel_exact.py.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

import samplers
from samplers import cluster, targets


def scipy_labels(right, down):
    """Smallest flat index per component, by scipy."""
    m, n = right.shape
    idx = np.arange(m * n).reshape(m, n)
    rows = np.r_[idx[right], idx[down]]
    cols = np.r_[np.roll(idx, -1, axis=1)[right], np.roll(idx, -1, axis=0)[down]]
    graph = coo_matrix((np.ones(rows.size), (rows, cols)), shape=(m * n, m * n))
    _, comp = connected_components(graph, directed=False)
    smallest = np.full(comp.max() + 1, m * n)
    np.minimum.at(smallest, comp, np.arange(m * n))
    return smallest[comp].reshape(m, n)


@pytest.mark.parametrize("shape", [(2, 2), (2, 3), (5, 7), (16, 16)])
@pytest.mark.parametrize("density", [0.3, 0.5, 0.7])
def test_labels_are_connected_components(shape, density):
    rng = np.random.default_rng(hash((shape, density)) % 2**32)
    right = rng.random((6, *shape)) < density
    down = rng.random((6, *shape)) < density
    batched = np.asarray(jax.jit(jax.vmap(cluster.cluster_labels))(right, down))
    for b in range(6):
        expected = scipy_labels(right[b], down[b])
        np.testing.assert_array_equal(batched[b], expected)
        single = np.asarray(cluster.cluster_labels(jnp.asarray(right[b]), jnp.asarray(down[b])))
        np.testing.assert_array_equal(single, expected)


def test_labels_under_nested_vmap():
    rng = np.random.default_rng(3)
    right, down = rng.random((2, 3, 4, 5, 6)) < 0.5
    got = np.asarray(jax.vmap(jax.vmap(cluster.cluster_labels))(right, down))
    for a, b in itertools.product(range(2), range(3)):
        np.testing.assert_array_equal(got[a, b], scipy_labels(right[a, b], down[a, b]))


def exact_transition(shape, coupling, field):
    """T[s, s'] of one move, summed over every bond configuration (labels by the kernel)."""
    m, n = shape
    size = m * n
    states = np.array(list(itertools.product([-1, 1], repeat=size)), dtype=np.int8)
    bonds = np.array(list(itertools.product([False, True], repeat=2 * size)))
    right = bonds[:, :size].reshape(-1, m, n)
    down = bonds[:, size:].reshape(-1, m, n)
    labels = np.asarray(jax.jit(jax.vmap(cluster.cluster_labels))(right, down)).reshape(-1, size)
    p = -np.expm1(-2 * abs(coupling))
    sign = 1 if coupling >= 0 else -1
    trans = np.zeros((len(states), len(states)))
    for i, s in enumerate(states):
        lat = s.reshape(m, n)
        sat_r = (lat * np.roll(lat, -1, axis=1) * sign > 0).reshape(-1)
        sat_d = (lat * np.roll(lat, -1, axis=0) * sign > 0).reshape(-1)
        sat = np.r_[sat_r, sat_d]
        occupied = bonds.sum(1)
        allowed = ~np.any(bonds & ~sat, axis=1)
        prob_b = np.where(allowed, p**occupied * (1 - p) ** (sat.sum() - occupied), 0.0)
        for b in np.flatnonzero(prob_b):
            lab = labels[b]
            # s' = s · (+1 keep / −1 flip) per cluster: all 2^(#clusters) outcomes
            roots = np.unique(lab)
            mag = np.array([s[lab == r].sum() for r in roots], dtype=float)
            keep = 1 / (1 + np.exp(-2 * field * mag))
            for flips in itertools.product([False, True], repeat=len(roots)):
                flips = np.array(flips)
                prob = np.prod(np.where(flips, 1 - keep, keep))
                per_site = np.where(flips[np.searchsorted(roots, lab)], -1, 1)
                j = int(((s * per_site > 0) * 2 ** np.arange(size)[::-1]).sum())
                trans[i, j] += prob_b[b] * prob
    return states, trans


@pytest.mark.parametrize(
    ("shape", "coupling", "field"),
    [((2, 2), 0.7, 0.3), ((2, 3), 0.45, -0.2), ((2, 3), -0.6, 0.25)],
)
def test_one_move_leaves_the_gibbs_distribution_invariant(shape, coupling, field):
    """Exact: π T = π to rounding, for ferro- and antiferromagnetic couplings with a field
    (2×3 with J < 0 is frustrated: its side 3 is odd)."""
    states, trans = exact_transition(shape, coupling, field)
    target = targets.PeriodicIsing2D(coupling, field)
    logp = np.array([float(target(jnp.asarray(s.reshape(shape)))) for s in states])
    pi = np.exp(logp - logp.max())
    pi /= pi.sum()
    np.testing.assert_allclose(trans.sum(1), 1.0, atol=1e-12)
    np.testing.assert_allclose(pi @ trans, pi, atol=1e-12)
    assert np.all(np.diag(trans) < 1), "every state must be able to move"


def test_kernel_contract_and_errors():
    alg = samplers.ising_swendsen_wang(0.44, J=1.0, h=0.1)
    state = alg.init(jnp.ones((6, 5)))
    state, info = jax.jit(alg.step)(jax.random.key(0), state)
    assert state.position.dtype == jnp.int8 and state.position.shape == (6, 5)
    assert float(info.acceptance_rate) == 1.0
    with pytest.raises(TypeError, match="SwendsenWang needs a samplers.targets.PeriodicIsing2D"):
        samplers.SwendsenWang().step(jax.random.key(0), state, lambda x: 0.0)
    with pytest.raises(ValueError, match="position must be an"):
        alg.init(jnp.ones(4))
    with pytest.raises(ValueError, match="J and h must be scalars"):
        samplers.ising_swendsen_wang(0.4, J=jnp.ones(2))
