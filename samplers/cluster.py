"""Swendsen–Wang cluster moves for the periodic 2-D nearest-neighbour Ising model.

For log p(s) = K Σ_⟨ij⟩ s_i s_j + f Σ_i s_i on an M×N torus (K = coupling = βJ, f = field =
βh; any sides ≥ 2, either sign of K), one move (Swendsen & Wang 1987, in the Edwards–Sokal
form) is:

1. **Bonds.** Each nearest-neighbour bond whose factor is satisfied, K s_i s_j > 0, is occupied
   with probability p = 1 − exp(−2|K|), independently; unsatisfied bonds are empty. This uses
   exp(K s_i s_j) = e^{|K|} [(1 − p) + p · 1{sign(K) s_i s_j = 1}].
2. **Clusters.** The connected components of the occupied bonds (`cluster_labels`).
3. **Orientation.** Given the bonds, each cluster C takes either its current spins or all of
   them flipped; the field weighs the two as exp(±f M_C), M_C = Σ_{i∈C} s_i, so the cluster
   keeps its spins with probability σ(2 f M_C) (heat bath; ½ at zero field), independently of
   the other clusters.

The joint law of (s, bonds) has p(s) as its s-marginal, and steps 1 and 3 are its two exact
conditionals, so the move leaves p invariant. Near and below the critical coupling a move
changes O(N) spins at once: the dynamic exponent of the energy's autocorrelation time is
z ≈ 0.2–0.3 in 2-D (Swendsen & Wang 1987), against z ≈ 2.17 for single-spin sweeps
([`Checkerboard`][]). On CPU a move costs about 100 checkerboard sweeps on a 32×32 lattice
(the labelling iterates), so it pays where sweeps are slow to decorrelate, not per sample at
small L (``benchmarks/bench_samplers.py`` times both).

Labelling: every site starts with its own index; each iteration takes the minimum over its
occupied bonds (min-label propagation) and then follows the labels once (pointer jumping,
label ← label[label], valid because a label is always the index of a site of the same cluster
with label[j] ≤ j). A ``while_loop`` stops when nothing changes: every cluster is then labelled
by the smallest index in it.

[`SwendsenWang`][] is this move on a [`PeriodicIsing2D`][] target; [`ising_swendsen_wang`][]
binds one.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from samplers.base import SamplingAlgorithm
from samplers.gibbs import gibbs_info
from samplers.kernel import Kernel
from samplers.targets import PeriodicIsing2D, ising_target, require_target

__all__ = [
    "ClusterState",
    "SwendsenWang",
    "build_kernel",
    "cluster_labels",
    "init",
    "ising_swendsen_wang",
    "orient_clusters",
    "swendsen_wang_move",
]


class ClusterState(NamedTuple):
    """An (M, N) lattice of ``int8`` ±1 spins."""

    position: jax.Array


def _check_lattice(position) -> jax.Array:
    s = jnp.asarray(position)
    if s.ndim != 2 or min(s.shape) < 2:
        raise ValueError(
            f"position must be an (M, N) lattice of ±1 spins with sides >= 2, got shape {s.shape}"
        )
    return jnp.where(s > 0, jnp.int8(1), jnp.int8(-1))


@jax.custom_batching.custom_vmap
def cluster_labels(right, down) -> jax.Array:
    """Connected components of a torus's occupied bonds.

    Args:
        right: (M, N) bool, bond (i, j)–(i, j + 1 mod N) occupied.
        down: (M, N) bool, bond (i, j)–(i + 1 mod M, j) occupied.

    Returns:
        (M, N) int32: each site labelled by the smallest flat index (i·N + j) in its cluster.

    Under ``vmap`` the lattices are labelled together in one loop that stops when all of them
    are done (a custom batching rule: the body leaves a finished labelling unchanged, so no
    per-lattice select is needed).
    """
    return _batched_labels(right[None], down[None])[0]


@cluster_labels.def_vmap
def _cluster_labels_vmap(axis_size, in_batched, right, down):
    right, down = (
        a if batched else jnp.broadcast_to(a, (axis_size, *a.shape))
        for a, batched in zip((right, down), in_batched, strict=True)
    )
    return _batched_labels(right, down), True


def _batched_labels(right, down) -> jax.Array:
    """`cluster_labels` of a (B, M, N) batch: min-label propagation and pointer jumping."""
    b, m, n = right.shape
    left = jnp.roll(right, 1, axis=2)  # bond (i, j)–(i, j − 1) is the right bond of (i, j − 1)
    up = jnp.roll(down, 1, axis=1)
    big = jnp.int32(m * n)
    start = jnp.broadcast_to(jnp.arange(m * n, dtype=jnp.int32).reshape(m, n), (b, m, n))

    def jump(label):  # label ← label[label], per lattice
        flat = label.reshape(b, m * n)
        jumped = jnp.take_along_axis(flat, flat, axis=1).reshape(b, m, n)
        # materialised: fused into its consumers, the gather is recomputed per use (~8x slower)
        return jax.lax.optimization_barrier(jumped)

    def body(carry):
        label, _ = carry
        new = label
        new = jnp.minimum(new, jnp.where(right, jnp.roll(label, -1, axis=2), big))
        new = jnp.minimum(new, jnp.where(left, jnp.roll(label, 1, axis=2), big))
        new = jnp.minimum(new, jnp.where(down, jnp.roll(label, -1, axis=1), big))
        new = jnp.minimum(new, jnp.where(up, jnp.roll(label, 1, axis=1), big))
        new = jump(jump(new))
        return new, jnp.any(new != label)

    label, _ = jax.lax.while_loop(lambda c: c[1], body, (start, jnp.asarray(True)))
    return label


def orient_clusters(s, label, field, u) -> jax.Array:
    """Step 3: cluster C (label c) keeps its spins iff u_c < σ(2 f M_C), else flips them all.

    Args:
        s: (M, N) ±1 spins; label: `cluster_labels`; field: f; u: (M, N) uniforms in [0, 1),
            of which the one at each cluster's label site decides it.
    """
    flat = label.reshape(-1)
    size = flat.shape[0]
    magnetisation = jax.ops.segment_sum(s.reshape(-1).astype(u.dtype), flat, num_segments=size)
    keep = u.reshape(-1) < jax.nn.sigmoid(2.0 * field * magnetisation)
    return jnp.where(keep[flat].reshape(s.shape), s, -s).astype(s.dtype)


def swendsen_wang_move(key, s, coupling, field) -> jax.Array:
    """One Swendsen–Wang move of the (M, N) ±1 lattice ``s`` (module docstring, steps 1–3)."""
    k_right, k_down, k_flip = jax.random.split(key, 3)
    dtype = jnp.result_type(float)
    p = -jnp.expm1(-2.0 * jnp.abs(coupling))
    sign = jnp.where(coupling >= 0, 1, -1).astype(s.dtype)
    satisfied_right = s * jnp.roll(s, -1, axis=1) * sign > 0
    satisfied_down = s * jnp.roll(s, -1, axis=0) * sign > 0
    right = satisfied_right & (jax.random.uniform(k_right, s.shape, dtype) < p)
    down = satisfied_down & (jax.random.uniform(k_down, s.shape, dtype) < p)
    label = cluster_labels(right, down)
    return orient_clusters(s, label, field, jax.random.uniform(k_flip, s.shape, dtype))


def init(position, rng_key=None) -> ClusterState:
    """The state of an (M, N) lattice of ±1 spins (any dtype; entries > 0 read as +1)."""
    return ClusterState(_check_lattice(position))


def build_kernel():
    """``kernel(key, state, beta, J, h) -> (state, info)``: one move at coupling βJ and field
    βh (traced scalars)."""

    def kernel(key, state: ClusterState, beta, J, h):
        s = swendsen_wang_move(key, state.position, beta * J, beta * h)
        return ClusterState(s), gibbs_info()

    return kernel


class SwendsenWang(Kernel):
    """One Swendsen–Wang cluster move of a [`PeriodicIsing2D`][] target (module docstring:
    bonds on satisfied pairs with p = 1 − e^{−2|coupling|}, clusters flipped by heat bath on
    the field). The state is a `ClusterState` (the ``int8`` lattice); any sides ≥ 2."""

    def init(self, position, logdensity_fn, rng_key=None) -> ClusterState:
        return init(position)

    def step(self, key, state, logdensity_fn):
        target = require_target(
            logdensity_fn,
            PeriodicIsing2D,
            "SwendsenWang",
            "use HeatBath or FlipMetropolis for an arbitrary log density",
        )
        return build_kernel()(key, state, 1.0, target.coupling, target.field)


def ising_swendsen_wang(beta, J=1.0, h=0.0) -> SamplingAlgorithm:
    """Swendsen–Wang sampler of the periodic 2-D Ising model (any sides ≥ 2).

    Args:
        beta: inverse temperature β > 0.
        J: nearest-neighbour coupling (scalar, either sign).
        h: external field (scalar).

    Returns:
        ``SwendsenWang()(PeriodicIsing2D(β J, β h))``; ``init`` takes an (M, N) lattice of ±1
        spins, one ``step`` is one cluster move, and ``state.position`` is the ``int8`` lattice.
    """
    return SwendsenWang()(ising_target(beta, J, h))
