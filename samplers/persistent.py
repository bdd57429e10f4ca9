"""Persistent chains for persistent contrastive divergence (PCD) and replay buffers.

A buffer stores *positions only*: a kernel state caches log p and ∇log p of the parameters
that made it, and those go stale as soon as the parameters change. Each [`advance`][]
re-initialises the chains with the current algorithm, runs ``num_steps`` steps and writes the
new positions back.

Replay buffer (Du & Mordatch 2019): with ``batch_size`` set, each call draws ``batch_size``
distinct entries of the buffer uniformly, and each drawn chain restarts from fresh noise
(``noise_fn``) with probability ``reinit_fraction`` (they used 5%), which keeps the buffer
from collapsing onto a few modes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from samplers.base import check_count, check_fraction
from samplers.run import leading_size, run

__all__ = ["PersistentBuffer", "advance", "init_buffer"]


class PersistentBuffer(NamedTuple):
    """Positions of the persistent chains, leading axis = buffer size."""

    positions: Any


class AdvanceInfo(NamedTuple):
    """Mean per-chain info of the run, the indices updated and the restarted-from-noise mask."""

    info: Any
    indices: jax.Array
    reinitialized: jax.Array
    num_nonfinite: jax.Array


def init_buffer(positions) -> PersistentBuffer:
    """A buffer holding ``positions`` (a pytree with a leading chain axis)."""
    leading_size(positions, "positions")
    return PersistentBuffer(jax.tree.map(jnp.asarray, positions))


def advance(
    key,
    buffer: PersistentBuffer,
    algorithm,
    *,
    num_steps: int,
    logdensity_fn: Callable | None = None,
    batch_size: int | None = None,
    reinit_fraction: float = 0.0,
    noise_fn: Callable | None = None,
):
    """Run persistent chains ``num_steps`` steps of ``algorithm`` (built for the current θ).

    Args:
        key: PRNG key.
        buffer: the [`PersistentBuffer`][].
        algorithm: ``SamplingAlgorithm`` for the current parameters, or a
            [`Kernel`][] with ``logdensity_fn`` (then, called outside ``jax.jit``,
            the run is compiled once for all parameter values, see
            [`samplers.run`][samplers.run.run]); every chain is re-initialised with
            ``algorithm.init`` (no stale cached densities).
        num_steps: kernel steps per call (≥ 1).
        logdensity_fn: the target of a Kernel ``algorithm`` (None for a SamplingAlgorithm).
        batch_size: number of buffer entries to draw and advance (default: all, plain PCD).
        reinit_fraction: probability that a drawn chain restarts from ``noise_fn``.
        noise_fn: ``(key, num) -> positions`` with leading axis ``num`` (needed when
            ``reinit_fraction > 0``).

    Returns:
        ``(buffer, positions, info)``: the updated buffer, the advanced positions (the negative
        samples, leading axis = batch) and an ``AdvanceInfo``.
    """
    num_steps = check_count(num_steps, "num_steps")
    reinit_fraction = check_fraction(reinit_fraction, "reinit_fraction")
    size = leading_size(buffer.positions, "buffer.positions")
    batch = size if batch_size is None else check_count(batch_size, "batch_size")
    if batch > size:
        raise ValueError(f"batch_size ({batch}) must be <= the buffer size ({size})")
    if reinit_fraction > 0 and not callable(noise_fn):
        raise ValueError("noise_fn (key, num) -> positions is required when reinit_fraction > 0")
    key_idx, key_mask, key_noise, key_run = jax.random.split(key, 4)
    if batch_size is None:
        idx = jnp.arange(size)
    else:
        idx = jax.random.choice(key_idx, size, (batch,), replace=False)
    x = jax.tree.map(lambda a: a[idx], buffer.positions)
    if reinit_fraction > 0:
        fresh = jax.random.bernoulli(key_mask, reinit_fraction, (batch,))
        noise = noise_fn(key_noise, batch)

        def mix(a, b):
            m = fresh.reshape((batch,) + (1,) * (a.ndim - 1))
            return jnp.where(m, b.astype(a.dtype), a)

        x = jax.tree.map(mix, x, noise)
    else:
        fresh = jnp.zeros((batch,), bool)
    res = run(
        key_run,
        algorithm,
        x,
        num_steps=num_steps,
        logdensity_fn=logdensity_fn,
        keep_trace=False,
        mean=False,
    )
    new_x = res.state.position
    positions = jax.tree.map(lambda a, b: a.at[idx].set(b.astype(a.dtype)), buffer.positions, new_x)
    info = AdvanceInfo(res.info, idx, fresh, res.num_nonfinite)
    return PersistentBuffer(positions), new_x, info
