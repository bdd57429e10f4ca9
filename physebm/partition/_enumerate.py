"""Exact log-sum-exp over all 2^n binary states, in blocks so that memory stays bounded."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp


def enumerate_bits(start, num_units: int, block_size: int) -> jax.Array:
    """Bits {0, 1} of the states ``start, …, start + block_size − 1``, shape (block, n).

    Unit i of state k is bit i of k.
    """
    idx = start + jnp.arange(block_size)
    return ((idx[:, None] >> jnp.arange(num_units)) & 1).astype(jnp.result_type(float))


def logsumexp_over_states(
    log_weight_fn: Callable[[jax.Array], jax.Array],
    num_units: int,
    block_log2: int = 14,
) -> jax.Array:
    """log Σ_{x ∈ {0,1}^n} exp(log_weight_fn(x)).

    States are visited in 2^{n − b} blocks of 2^b (b = min(n, ``block_log2``)); each block is a
    (2^b, n) array passed to ``log_weight_fn``, which returns the (2^b,) log weights. Blocks run
    sequentially under ``lax.map``, so peak memory is one block.

    Args:
        log_weight_fn: batch of bit vectors (block, n) -> log weights (block,).
        num_units: n (static).
        block_log2: log2 of the block size.
    """
    b = min(num_units, block_log2)
    block_size = 2**b
    num_blocks = 2 ** (num_units - b)

    def one_block(k):
        return logsumexp(log_weight_fn(enumerate_bits(k * block_size, num_units, block_size)))

    if num_blocks == 1:
        return one_block(0)
    return logsumexp(jax.lax.map(one_block, jnp.arange(num_blocks)))
