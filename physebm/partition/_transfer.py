"""Transfer matrices for the Ising chain (2 × 2) and the 2-D lattice (row to row), in log space.

Chain of N spins with K = βJ, H = βh (symmetric transfer matrix)

    T(s, s') = exp(K s s' + H (s + s')/2),
    Z_periodic = Tr T^N,        Z_free = uᵀ T^{N−1} u,  u(s) = exp(H s / 2).

T^N is built by binary exponentiation (O(log N) 2 × 2 products), renormalising every product by
its largest entry and carrying the logs of the factors: stable for N = 10⁶ and β → large.

M × N lattice, rows of width w (the shorter side) stacked along the longer side L. With the
row weight D(s) = exp(K Σ_j s_j s_{j+1} + H Σ_j s_j) (in-row bonds wrap if periodic) and the
row-to-row coupling V = ⊗_{j=1}^{w} v, v = [[e^K, e^{−K}], [e^{−K}, e^K]],

    Z_periodic = Tr (V D)^L,    Z_free = 1ᵀ D (V D)^{L−1} 1.

V is applied one site at a time (w·2^w operations per row, never a 2^w × 2^w matrix). The trace
is taken by propagating blocks of the identity through L rows, so memory stays bounded.

Normalising constants are wrapped in ``stop_gradient``: log Z = Σ log c_t + log(rest) holds for
any constants c_t, so derivatives in β stay exact.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

_sg = jax.lax.stop_gradient


def _normalise(x):
    """(x / c, log c) with c = max |x| treated as a constant."""
    c = _sg(jnp.max(jnp.abs(x)))
    return x / c, jnp.log(c)


def _log_matrix_power(t, log_scale, power: int):
    """(R, log r) with T^power = r · R, for T = exp(log_scale) · t (2 × 2, power ≥ 0 static)."""
    result = jnp.eye(t.shape[0], dtype=t.dtype)
    log_result = jnp.zeros((), t.dtype)
    base, log_base = t, log_scale
    p = power
    while p > 0:
        if p & 1:
            result, c = _normalise(result @ base)
            log_result = log_result + log_base + c
        p >>= 1
        if p:
            base, c = _normalise(base @ base)
            log_base = 2 * log_base + c
    return result, log_result


@partial(jax.jit, static_argnums=(0, 3))
def chain_log_z(num_sites: int, coupling, field, periodic: bool):
    """log Z of the Ising chain with K = βJ and H = βh (both may be traced scalars).

    Args:
        num_sites: N ≥ 2 (static).
        coupling: K = βJ.
        field: H = βh.
        periodic: ring (N bonds; for N = 2 the two bonds join the same pair) or open chain.
    """
    K, H = coupling, field
    s = jnp.array([1.0, -1.0])
    log_t = K * s[:, None] * s[None, :] + 0.5 * H * (s[:, None] + s[None, :])
    shift = _sg(jnp.max(log_t))
    t = jnp.exp(log_t - shift)
    if periodic:
        r, log_r = _log_matrix_power(t, shift, num_sites)
        return log_r + jnp.log(jnp.trace(r))
    r, log_r = _log_matrix_power(t, shift, num_sites - 1)
    log_u = 0.5 * H * s
    u_shift = _sg(jnp.max(log_u))
    u = jnp.exp(log_u - u_shift)
    return log_r + 2 * u_shift + jnp.log(u @ r @ u)


def _row_spins(width: int) -> np.ndarray:
    """All 2^w rows as ±1, shape (2^w, w); state index i has spin j = bit (w − 1 − j) of i."""
    idx = np.arange(2**width)[:, None]
    bits = (idx >> np.arange(width - 1, -1, -1)) & 1
    return (2 * bits - 1).astype(float)


def _apply_v(x, v, width: int):
    """(⊗_j v) x for x of shape (2^w, batch), one site (axis) at a time."""
    batch = x.shape[-1]
    for j in range(width):
        x = x.reshape(2**j, 2, 2 ** (width - j - 1), batch)
        x = jnp.einsum("ab,ibkc->iakc", v, x)
    return x.reshape(2**width, batch)


@partial(jax.jit, static_argnums=(0, 3, 4))
def lattice_log_z(
    shape: tuple[int, int],
    coupling,
    field,
    periodic: bool,
    max_block_elements: int = 2**20,
):
    """log Z of the M × N Ising lattice by the row-to-row transfer matrix.

    Cost: L · w · 2^w per row vector; the periodic trace needs 2^w of them (L · w · 4^w in all).

    Args:
        shape: (M, N), static; rows run along the shorter side.
        coupling: K = βJ (scalar, may be traced).
        field: H = βh (scalar, may be traced).
        periodic: torus or open boundaries (the same in both directions).
        max_block_elements: bound on the elements of one block of propagated vectors.
    """
    width, length = min(shape), max(shape)
    K, H = coupling, field
    spins = jnp.asarray(_row_spins(width))
    in_row = spins * jnp.roll(spins, -1, axis=1) if periodic else spins[:, :-1] * spins[:, 1:]
    log_d = K * jnp.sum(in_row, axis=1) + H * jnp.sum(spins, axis=1)
    d_shift = _sg(jnp.max(log_d))
    d = jnp.exp(log_d - d_shift)
    # v / e^{|K|}: entries exp(K s s' − |K|) ≤ 1.
    s = jnp.array([1.0, -1.0])
    log_v = K * s[:, None] * s[None, :]
    v_shift = _sg(jnp.max(log_v))
    v = jnp.exp(log_v - v_shift)

    def step(carry, _):
        x, log_c = carry
        x, c = _normalise(d[:, None] * _apply_v(x, v, width))
        return (x, log_c + c), None

    num_states = 2**width
    if not periodic:
        x0, c0 = _normalise(d[:, None])
        (x, log_c), _ = jax.lax.scan(step, (x0, c0), None, length=length - 1)
        log_z = log_c + jnp.log(jnp.sum(x))
        return log_z + length * d_shift + (length - 1) * width * v_shift

    block = max(1, min(num_states, max_block_elements // num_states))  # powers of 2
    num_blocks = num_states // block

    def trace_block(b):
        cols = b * block + jnp.arange(block)
        x0 = (jnp.arange(num_states)[:, None] == cols[None, :]).astype(d.dtype)
        (x, log_c), _ = jax.lax.scan(step, (x0, jnp.zeros((), d.dtype)), None, length=length)
        return log_c + jnp.log(jnp.sum(x[cols, jnp.arange(block)]))

    if num_blocks == 1:
        log_tr = trace_block(0)
    else:
        log_tr = logsumexp(jax.lax.map(trace_block, jnp.arange(num_blocks)))
    return log_tr + length * d_shift + length * width * v_shift
