"""All 2ⁿ states of n binary units, in one bit order, and exact log-sums over them in blocks.

Bit order, used by every enumeration in physebm: state index k ∈ {0, …, 2ⁿ − 1} has bits

    x_i(k) = ⌊k / 2^{n−1−i}⌋ mod 2,   i = 0, …, n − 1,   so   k = Σ_i x_i 2^{n−1−i}:

unit 0 is the most significant bit (the lexicographic order of
``itertools.product((0, 1), repeat=n)``: the last unit varies fastest). Spins are s = 2x − 1
(bit 0 ↦ −1, bit 1 ↦ +1). Domains are named as the models name them: ``"bits"`` ({0, 1}) and
``"spin"`` (±1).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp

from samplers.progress import run_segments, show_progress

__all__ = ["DOMAINS", "PROGRESS_MIN_BLOCKS", "logsumexp_over_states", "states"]

DOMAINS = ("spin", "bits")

PROGRESS_MIN_BLOCKS = 64
"""Enumerations of at least this many blocks (2^20 states at the default block size) show a
progress bar when run outside ``jit`` on a terminal (`samplers.progress.show_progress`)."""


def _check_domain(domain: str) -> None:
    if domain not in DOMAINS:
        raise ValueError(f"domain must be 'spin' (±1) or 'bits' ({{0, 1}}), got {domain!r}")


def states(num_units: int, domain: str = "bits", start=0, num: int | None = None) -> jax.Array:
    """States ``start, …, start + num − 1`` of ``num_units`` units, shape (num, n).

    Row j holds x_i(start + j) = ⌊(start + j) / 2^{n−1−i}⌋ mod 2 (unit 0 most significant), as
    bits {0, 1} (``domain="bits"``) or spins 2x − 1 ∈ {−1, +1} (``domain="spin"``), in the
    default float dtype. By default all 2ⁿ states (``start=0``, ``num=2ⁿ``).

    Args:
        num_units: n (static).
        domain: ``"bits"`` or ``"spin"``.
        start: index of the first state; may be traced (e.g. a block offset under ``lax.map``).
        num: number of states (static); default 2ⁿ − ``start`` for a concrete ``start``.

    Raises:
        ValueError: ``domain`` is neither ``"bits"`` nor ``"spin"``.
    """
    _check_domain(domain)
    num = 2**num_units - start if num is None else num
    idx = start + jnp.arange(num)
    shifts = jnp.arange(num_units - 1, -1, -1)
    bits = ((idx[:, None] >> shifts) & 1).astype(jnp.result_type(float))
    return 2 * bits - 1 if domain == "spin" else bits


def logsumexp_over_states(
    log_weight_fn: Callable[[jax.Array], jax.Array],
    num_units: int,
    block_log2: int = 14,
    domain: str = "bits",
    progress: bool | None = None,
) -> jax.Array:
    """log Σ_{x ∈ {0,1}ⁿ} exp(log_weight_fn(x))  (or over x ∈ {−1,+1}ⁿ for ``domain="spin"``).

    States are visited in 2^{n − b} blocks of 2^b consecutive indices (b = min(n,
    ``block_log2``)); block k is ``states(n, domain, k·2^b, 2^b)`` (its first n − b units are
    the bits of k), passed as a (2^b, n) array to ``log_weight_fn``, which returns the (2^b,)
    log weights. Blocks run sequentially under ``lax.map``, so peak memory is one block; the
    result is logsumexp over blocks of the per-block logsumexp.

    A long enumeration (≥ `PROGRESS_MIN_BLOCKS` blocks) run outside ``jit``/``vmap`` shows a
    tqdm bar over the blocks when ``progress`` allows it (``None``: on a terminal without
    ``CI`` set); the blocks then run in a few compiled calls, the same blocks in the same order.

    Args:
        log_weight_fn: batch of states (block, n) -> log weights (block,).
        num_units: n (static).
        block_log2: log2 of the block size.
        domain: ``"bits"`` or ``"spin"``: what ``log_weight_fn`` receives.
        progress: show a bar (see above); ``False`` never.
    """
    _check_domain(domain)
    b = min(num_units, block_log2)
    block_size = 2**b
    num_blocks = 2 ** (num_units - b)

    def one_block(k):
        return logsumexp(log_weight_fn(states(num_units, domain, k * block_size, block_size)))

    if num_blocks == 1:
        return one_block(0)
    if num_blocks >= PROGRESS_MIN_BLOCKS and show_progress(progress):
        first = one_block(0)  # concrete outside jit/vmap, a tracer inside
        if not isinstance(first, jax.core.Tracer):
            return _blocks_with_progress(one_block, num_blocks, first)
    return logsumexp(jax.lax.map(one_block, jnp.arange(num_blocks)))


def _blocks_with_progress(one_block, num_blocks: int, first) -> jax.Array:
    """The per-block log-sums in a few calls of one compiled ``while_loop`` segment."""

    @jax.jit
    def segment(values, start, stop):
        def body(carry):
            values, k = carry
            return values.at[k].set(one_block(k)), k + 1

        return jax.lax.while_loop(lambda c: c[1] < stop, body, (values, start))[0]

    values = jnp.full(num_blocks, -jnp.inf, jnp.result_type(first)).at[0].set(first)
    values = run_segments(
        segment,
        values,
        num_blocks,
        desc="enumeration",
        unit="block",
        start=1,
    )
    return logsumexp(values)
