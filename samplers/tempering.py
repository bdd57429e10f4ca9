"""Replica exchange (parallel tempering) over a ladder of inverse temperatures.

K replicas x_1..x_K run an inner kernel at β_1 < ... < β_K (hot to cold; usually β_K is the
target). After each inner step, neighbouring pairs (k, k+1) of one parity — even k on even
steps, odd k on odd steps (deterministic even-odd scheme) — propose to swap positions, accepted
with probability min(1, α_k),

    log α_k = log p_{β_k}(x_{k+1}) + log p_{β_{k+1}}(x_k)
              − log p_{β_k}(x_k) − log p_{β_{k+1}}(x_{k+1}),

which for log p_β = −β E is (β_{k+1} − β_k)(E(x_{k+1}) − E(x_k)). The tempered family is given
as a function of β, ``logdensity_at_beta_fn(beta) -> (x -> log p_β(x))`` (e.g.
``lambda beta: lambda x: -beta * E(x)``), and the inner kernel as a factory
``inner_fn(beta) -> SamplingAlgorithm``; both may close over traced parameters. After a swap
every replica's inner state is re-initialised at its own β (cached log densities go stale).

:class:`ReplicaExchange` is the same kernel as a :class:`~samplers.Kernel`: an inner Kernel and
the ladder ``betas`` (an array leaf), with the tempered family ``beta -> logdensity_fn`` as its
target (the inner kernel at β_k targets ``family(β_k)``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from samplers.base import SamplingAlgorithm, check_beta_ladder
from samplers.kernel import Kernel

__all__ = [
    "ReplicaExchange",
    "ReplicaExchangeInfo",
    "ReplicaExchangeState",
    "build_kernel",
    "replica_exchange",
]


class ReplicaExchangeState(NamedTuple):
    """Inner states batched over replicas (leading axis K, hot to cold) and a step counter."""

    states: Any
    step: jax.Array

    @property
    def position(self):
        """Positions of all replicas, leading axis K (the last one is the coldest)."""
        return self.states.position


class ReplicaExchangeInfo(NamedTuple):
    """Swap diagnostics for the K − 1 neighbouring pairs, and the inner kernels' info.

    ``swap_acceptance[k]`` is min(1, α_k) where pair (k, k+1) was attempted and 0 elsewhere;
    the swap acceptance rate of a pair is the mean of ``swap_acceptance`` over the steps where
    ``swap_attempted`` is True (twice its mean over all steps for K ≥ 3).
    ``acceptance_rate`` is the mean of min(1, α_k) over the pairs attempted in this step.
    """

    swap_acceptance: jax.Array
    swap_attempted: jax.Array
    is_swapped: jax.Array
    inner: Any

    summary_fields = ("swap_acceptance", "swap_attempted", "is_swapped")

    @property
    def acceptance_rate(self) -> jax.Array:
        attempted = jnp.sum(self.swap_attempted)
        return jnp.sum(self.swap_acceptance) / jnp.maximum(attempted, 1)


def _init(position, inner_fn, betas):
    return ReplicaExchangeState(
        jax.vmap(lambda b, x: inner_fn(b).init(x))(betas, position), jnp.zeros((), jnp.int32)
    )


def build_kernel():
    """``kernel(key, state, logdensity_at_beta_fn, betas, inner_fn) -> (state, info)``."""

    def kernel(
        key, state: ReplicaExchangeState, logdensity_at_beta_fn: Callable, betas, inner_fn: Callable
    ):
        num_replicas = betas.shape[0]
        key_inner, key_swap = jax.random.split(key)
        keys = jax.random.split(key_inner, num_replicas)
        states, inner_info = jax.vmap(lambda b, k, s: inner_fn(b).step(k, s))(
            betas, keys, state.states
        )
        x = states.position

        def logp(beta, xi):
            return logdensity_at_beta_fn(beta)(xi)

        own = jax.vmap(logp)(betas, x)
        x_lo = jax.tree.map(lambda a: a[:-1], x)
        x_hi = jax.tree.map(lambda a: a[1:], x)
        hi_at_lo_beta = jax.vmap(logp)(betas[:-1], x_hi)
        lo_at_hi_beta = jax.vmap(logp)(betas[1:], x_lo)
        log_alpha = hi_at_lo_beta + lo_at_hi_beta - own[:-1] - own[1:]
        log_alpha = jnp.where(jnp.isnan(log_alpha), -jnp.inf, log_alpha)
        pairs = jnp.arange(num_replicas - 1)
        attempted = pairs % 2 == state.step % 2
        log_u = jnp.log(jax.random.uniform(key_swap, (num_replicas - 1,), log_alpha.dtype))
        swapped = attempted & (log_u < log_alpha)
        idx = jnp.arange(num_replicas)
        up = jnp.concatenate([swapped, jnp.zeros((1,), bool)])
        down = jnp.concatenate([jnp.zeros((1,), bool), swapped])
        perm = jnp.where(up, idx + 1, jnp.where(down, idx - 1, idx))
        x_new = jax.tree.map(lambda a: a[perm], x)
        states = jax.vmap(lambda b, xi: inner_fn(b).init(xi))(betas, x_new)
        accept = jnp.where(attempted, jnp.exp(jnp.minimum(log_alpha, 0.0)), 0.0)
        info = ReplicaExchangeInfo(accept, attempted, swapped, inner_info)
        return ReplicaExchangeState(states, state.step + 1), info

    return kernel


def _check_leading_axis(position, num_replicas: int):
    lead = {jnp.shape(a)[0] if jnp.ndim(a) else None for a in jax.tree.leaves(position)}
    if lead != {num_replicas}:
        raise ValueError(
            f"position must have a leading replica axis of size {num_replicas} (one per "
            f"beta), got leading sizes {lead}"
        )


def replica_exchange(
    logdensity_at_beta_fn: Callable, betas, inner_fn: Callable
) -> SamplingAlgorithm:
    """Parallel tempering over ``betas`` with any inner kernel (module docstring).

    Args:
        logdensity_at_beta_fn: ``beta -> (x -> log p_β(x))``.
        betas: (K,) strictly increasing positive inverse temperatures, K ≥ 2.
        inner_fn: ``beta -> SamplingAlgorithm`` targeting p_β, e.g.
            ``lambda beta: samplers.mala(logdensity_at_beta_fn(beta), 0.1 / beta)``.

    Returns:
        A ``SamplingAlgorithm`` whose ``init`` takes positions with a leading replica axis K.

    Example:
        >>> energy = lambda x: (x[0] ** 2 - 1.0) ** 2 * 8.0
        >>> family = lambda beta: lambda x: -beta * energy(x)
        >>> pt = replica_exchange(family, jnp.geomspace(0.05, 1.0, 6),
        ...                       lambda beta: samplers.mala(family(beta), 0.05))
        >>> state = pt.init(jnp.zeros((6, 1)))
    """
    if not callable(logdensity_at_beta_fn) or not callable(inner_fn):
        raise TypeError("logdensity_at_beta_fn and inner_fn must be callables of beta")
    betas = check_beta_ladder(betas)
    kernel = build_kernel()

    def init_fn(position, rng_key=None):
        _check_leading_axis(position, betas.shape[0])
        return _init(position, inner_fn, betas)

    def step(key, state):
        return kernel(key, state, logdensity_at_beta_fn, betas, inner_fn)

    return SamplingAlgorithm(init_fn, step)


class ReplicaExchange(Kernel):
    """Parallel tempering (module docstring) with an inner :class:`~samplers.Kernel` at every
    rung of ``betas``; the target is the family ``beta -> logdensity_fn`` (e.g.
    ``lambda beta: lambda x: -beta * E(x)``, or ``lambda beta: PairwiseBinary(beta * W, ...)``).

    Args:
        inner: the kernel run at each β (the same parameters at every rung).
        betas: (K,) strictly increasing positive inverse temperatures, K ≥ 2 (array leaf).

    Example:
        >>> pt = ReplicaExchange(samplers.MALA(0.05), jnp.geomspace(0.05, 1.0, 6))
        >>> alg = pt(lambda beta: lambda x: -beta * energy(x))
        >>> state = alg.init(jnp.zeros((6, 1)))
    """

    inner: Kernel
    betas: jax.Array

    def __init__(self, inner: Kernel, betas):
        if not isinstance(inner, Kernel):
            raise TypeError(
                f"inner must be a samplers Kernel (e.g. samplers.MALA(0.1)), got "
                f"{type(inner).__name__}"
            )
        if isinstance(betas, list | tuple):
            betas = jnp.asarray(betas, dtype=jnp.result_type(float))
        self.inner, self.betas = inner, check_beta_ladder(betas)

    def _inner_fn(self, logdensity_at_beta_fn):
        return lambda beta: self.inner(logdensity_at_beta_fn(beta))

    def init(self, position, logdensity_fn, rng_key=None) -> ReplicaExchangeState:
        _check_leading_axis(position, self.betas.shape[0])
        return _init(position, self._inner_fn(logdensity_fn), self.betas)

    def step(self, key, state, logdensity_fn):
        inner_fn = self._inner_fn(logdensity_fn)
        return build_kernel()(key, state, logdensity_fn, self.betas, inner_fn)
