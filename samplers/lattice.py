"""Fast checkerboard heat-bath Gibbs for the periodic 2-D nearest-neighbour Ising model.

    E(s) = −J Σ_⟨ij⟩ s_i s_j − h Σ_i s_i,   s_i ∈ {−1, +1},   p_β(s) ∝ exp(−β E(s))

on an M×N torus with M and N even, so that the checkerboard colouring (i + j) mod 2 is proper.
Given its four neighbours, spin i is +1 with probability

    p_k = σ(2β (J k + h)),   k = Σ_{j ∼ i} s_j ∈ {−4, −2, 0, 2, 4}.

Only five probabilities exist, so a half-sweep computes them once, turns them into 32-bit
integer thresholds t_k = ⌊p_k 2³²⌋ and sets s_i = +1 iff u_i < t_k for one uniform 32-bit word
u_i per site: P(s_i = +1) = t_k / 2³², exact to 2⁻³² (below any statistical resolution), and no
floating-point work is done per site.

Random words (see `sweep_words`): one Threefry-2x32-20 block per pair of sites, both of its
output words used — the black and the white site at packed position p get the two words of
Threefry_k(p, 0), k a 64-bit key drawn from the sweep's key. Threefry is JAX's own generator
(`threefry2x32` is bit-identical to ``jax.extend.random.threefry2x32_p``); what differs
from ``jax.random.bits`` is only how the words are laid out and computed: ``bits`` spends one
block per 32-bit word (it xors the block's two outputs), and on CPU it lowers the rounds to a
rolled five-iteration loop that writes its state out between iterations, whereas here the
rounds are unrolled ``jnp`` arithmetic that XLA fuses into one loop.

What changed from the first version, and why the law is the same: that version split each
sweep's key in two and drew ``jax.random.bits`` per colour, then read t_k from the table with a
per-site gather. The rule s_i = +1 iff u_i < t_k, the thresholds and the one 32-bit word per site
are unchanged, so every acceptance probability is still exactly t_k / 2³²; only the words differ
(the same key gives other samples than before). The speed comes from the generator's layout and
lowering (above), from selects in place of the gather, and from materialising the words and each
new half once (see `build_kernel`).

Layout: the state keeps the two colours as compact ``int8`` half-lattices of shape (M, N/2)
(``black[i, k] = s[i, 2k + i mod 2]``, ``white[i, k] = s[i, 2k + 1 − i mod 2]``), so each
half-sweep updates only the active colour. ``state.position`` rebuilds the (M, N) lattice.

[`Checkerboard`][] is this kernel on a [`PeriodicIsing2D`][] target
(coupling = βJ, field = βh, so it runs with β = 1); [`ising_checkerboard`][] binds one.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from samplers.base import SamplingAlgorithm
from samplers.gibbs import gibbs_info
from samplers.kernel import Kernel
from samplers.targets import PeriodicIsing2D, ising_target, require_target

__all__ = [
    "Checkerboard",
    "IsingLatticeState",
    "build_kernel",
    "init",
    "ising_checkerboard",
    "pack",
    "sweep_words",
    "thresholds",
    "threefry2x32",
    "unpack",
]


class IsingLatticeState(NamedTuple):
    """Two colours of an M×N periodic lattice, each ``int8`` ±1 of shape (..., M, N/2)."""

    black: jax.Array
    white: jax.Array

    @property
    def position(self) -> jax.Array:
        """The (..., M, N) lattice of ``int8`` ±1 spins."""
        return unpack(self.black, self.white)


def _row_even(m: int) -> jax.Array:
    return jnp.asarray((np.arange(m) % 2 == 0)[:, None])


def pack(s) -> tuple[jax.Array, jax.Array]:
    """Split an (..., M, N) ±1 lattice into its black and white (..., M, N/2) halves."""
    s = jnp.asarray(s)
    if s.ndim < 2:
        raise ValueError(f"position must be an (M, N) lattice of ±1 spins, got shape {s.shape}")
    m, n = s.shape[-2:]
    if m % 2 or n % 2:
        raise ValueError(
            f"position must have even sides for the periodic checkerboard, got ({m}, {n})"
        )
    s = jnp.where(s > 0, jnp.int8(1), jnp.int8(-1))
    pairs = s.reshape(*s.shape[:-1], n // 2, 2)
    even = _row_even(m)
    black = jnp.where(even, pairs[..., 0], pairs[..., 1])
    white = jnp.where(even, pairs[..., 1], pairs[..., 0])
    return black, white


def unpack(black, white) -> jax.Array:
    """Inverse of `pack`: rebuild the (..., M, N) lattice."""
    m, half = black.shape[-2:]
    even = _row_even(m)[..., None]
    pairs = jnp.where(even, jnp.stack([black, white], -1), jnp.stack([white, black], -1))
    return pairs.reshape(*black.shape[:-1], 2 * half)


def init(position, rng_key=None) -> IsingLatticeState:
    """Pack an (M, N) lattice of ±1 spins (any dtype; entries > 0 read as +1)."""
    return IsingLatticeState(*pack(position))


def _neighbour_sum(other, extra_left):
    """Σ of the four neighbours (all in the other colour) of each site of the active colour.

    In the packed layout the vertical neighbours and one horizontal neighbour share the packed
    column k; the fourth is at k − 1 on rows where ``extra_left`` and at k + 1 elsewhere.
    """
    up = jnp.roll(other, 1, axis=-2)
    down = jnp.roll(other, -1, axis=-2)
    side = jnp.where(extra_left, jnp.roll(other, 1, axis=-1), jnp.roll(other, -1, axis=-1))
    return other + up + down + side


def thresholds(beta, J, h) -> jax.Array:
    """t_k = ⌊2³² σ(2β(J k + h))⌋ for k = −4, −2, 0, 2, 4, as uint32 (p = 1 ↦ 2³² − 1)."""
    k = jnp.arange(-4, 5, 2, dtype=jnp.result_type(float))
    p = jax.nn.sigmoid(2.0 * beta * (J * k + h))
    t = jnp.floor(p * 2.0**32)
    return jnp.where(p >= 1.0, jnp.uint32(0xFFFFFFFF), t.astype(jnp.uint32))


_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def _rotate_left(x, d: int):
    return (x << np.uint32(d)) | (x >> np.uint32(32 - d))


def threefry2x32(k1, k2, x1, x2) -> tuple[jax.Array, jax.Array]:
    """The Threefry-2x32 block function, 20 rounds (Salmon et al. 2011), unrolled.

    With key schedule (k₁, k₂, k₁ ⊕ k₂ ⊕ 0x1BD11BDA): five groups of four rounds
    (x₁ += x₂; x₂ = rotl(x₂, r) ⊕ x₁), each followed by a key injection. Bit-identical to JAX's
    ``threefry2x32`` primitive; all arguments uint32, broadcast together.
    """
    ks = (k1, k2, k1 ^ k2 ^ np.uint32(0x1BD11BDA))
    x1, x2 = x1 + ks[0], x2 + ks[1]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x1 = x1 + x2
            x2 = _rotate_left(x2, r) ^ x1
        x1 = x1 + ks[(i + 1) % 3]
        x2 = x2 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x1, x2


def sweep_words(key, shape) -> tuple[jax.Array, jax.Array]:
    """Uniform uint32 words (u_black, u_white), each of ``shape`` (…, M, N/2), for one sweep.

    (u_black[p], u_white[p]) = Threefry-2x32_k(p, 0) with p the row-major index into ``shape`` and
    (k₁, k₂) = ``jax.random.bits(key, (2,))`` (any key type). Distinct sites get distinct
    output words of a pseudo-random function at distinct counters, i.e. independent uniform
    words in the same sense as any ``jax.random`` draw. Needs fewer than 2³² entries.
    """
    k1, k2 = jax.random.bits(key, (2,), jnp.uint32)
    size = int(np.prod(shape))
    if size >= 2**32:
        raise ValueError(f"shape must have fewer than 2³² entries, got {shape}")
    counter = jax.lax.iota(jnp.uint32, size).reshape(shape)
    return threefry2x32(k1, k2, counter, jnp.zeros_like(counter))


def _threshold_at(k, thr):
    """thr[(k + 4) / 2] for k ∈ {−4, −2, 0, 2, 4}, as a tree of selects (XLA on CPU runs a
    per-site gather from the five-entry table several times slower)."""
    low = jnp.where(k == -4, thr[0], thr[1])
    high = jnp.where(k == 0, thr[2], jnp.where(k == 2, thr[3], thr[4]))
    return jnp.where(k < 0, low, high)


def _half_sweep(u, other, thr, extra_left):
    k = _neighbour_sum(other, extra_left)
    new = jnp.where(u < _threshold_at(k, thr), jnp.int8(1), jnp.int8(-1))
    return jax.lax.optimization_barrier(new)


def build_kernel():
    """One full sweep (black then white) of heat-bath Gibbs.

    s_i = +1 iff u_i < t_k (thresholds as in `thresholds`), u_i the words of
    `sweep_words`; the black half is updated from the white one, then the white half from
    the new black one. The words and each new half are materialised
    (``lax.optimization_barrier``): otherwise XLA fuses the hash into every consumer of the
    black half (its four neighbour shifts and the stored trace) and computes it once per
    consumer.

    Returns:
        ``kernel(key, state, beta, J, h) -> (state, info)``; β, J and h are traced scalars.
    """

    def kernel(key, state: IsingLatticeState, beta, J, h):
        thr = thresholds(beta, J, h)
        even = _row_even(state.black.shape[-2])
        u_black, u_white = jax.lax.optimization_barrier(sweep_words(key, state.black.shape))
        black = _half_sweep(u_black, state.white, thr, even)
        white = _half_sweep(u_white, black, thr, ~even)
        return IsingLatticeState(black, white), gibbs_info()

    return kernel


class Checkerboard(Kernel):
    """One checkerboard heat-bath sweep (black then white) of a
    [`PeriodicIsing2D`][] target with even sides: p_k = σ(2(coupling·k +
    field)), k the neighbour sum. The state is the packed ``int8`` `IsingLatticeState`."""

    def init(self, position, logdensity_fn, rng_key=None) -> IsingLatticeState:
        return init(position)

    def step(self, key, state, logdensity_fn):
        target = require_target(
            logdensity_fn,
            PeriodicIsing2D,
            "Checkerboard",
            "use HeatBath or FlipMetropolis for an arbitrary log density",
        )
        return build_kernel()(key, state, 1.0, target.coupling, target.field)


def ising_checkerboard(beta, J=1.0, h=0.0) -> SamplingAlgorithm:
    """Checkerboard heat-bath Gibbs sampler of the periodic 2-D Ising model (even sides).

    Args:
        beta: inverse temperature β > 0.
        J: nearest-neighbour coupling (scalar).
        h: external field (scalar).

    Returns:
        ``Checkerboard()(PeriodicIsing2D(β J, β h))``; ``init`` takes an (M, N) lattice of ±1
        spins, one ``step`` is one sweep of all M·N spins, and ``state.position`` is the
        ``int8`` lattice.
    """
    return Checkerboard()(ising_target(beta, J, h))
