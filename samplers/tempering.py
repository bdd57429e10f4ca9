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
every replica's inner state is re-initialised at its own β (cached log densities go stale),
except for an inner kernel whose state is its position alone (`target_free_state`,
the checkerboard), whose states move as they are.

This even-odd scheme is the non-reversible parallel tempering of Syed et al. (2021). The state
also carries, per ladder, the per-pair swap statistics and the labels' round trips
([`samplers.round_trips`][]); [`replica_exchange_report`][] reads them on the host.
Cost per step beyond the K inner steps: K log-density evaluations of a family linear in β
(`swap_log_alpha`), a gather of the K states, and O(K) integers of tracking.

[`ReplicaExchange`][] is the same kernel as a [`Kernel`][]: an inner Kernel and
the ladder ``betas`` (an array leaf), with the tempered family ``beta -> logdensity_fn`` as its
target (the inner kernel at β_k targets ``family(β_k)``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp

from samplers.base import SamplingAlgorithm, check_beta_ladder
from samplers.kernel import Kernel
from samplers.lattice import Checkerboard, IsingLatticeState, _neighbour_sum, _row_even
from samplers.round_trips import (
    ExchangeStats,
    init_exchange_stats,
    swap_permutation,
    update_exchange_stats,
)
from samplers.targets import BernoulliRBM, PairwiseBinary, PeriodicIsing2D

__all__ = [
    "ReplicaExchange",
    "ReplicaExchangeInfo",
    "ReplicaExchangeState",
    "Tempered",
    "build_kernel",
    "replica_exchange",
    "state_logdensity",
    "swap_log_alpha",
    "target_free_state",
]


class ReplicaExchangeState(NamedTuple):
    """Inner states batched over replicas (leading axis K, hot to cold), a step counter and the
    swap/round-trip tracking (`ExchangeStats`)."""

    states: Any
    step: jax.Array
    stats: ExchangeStats

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
    The same sums are carried in the state (``state.stats``), whatever is kept of the info:
    [`replica_exchange_report`][] reads them.
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
    num_replicas = betas.shape[0]
    return ReplicaExchangeState(
        jax.vmap(lambda b, x: inner_fn(b).init(x))(betas, position),
        jnp.zeros((), jnp.int32),
        init_exchange_stats(num_replicas, jnp.result_type(betas.dtype, float)),
    )


@functools.singledispatch
def state_logdensity(target, state) -> jax.Array:
    """log p(x) of the position held by an inner kernel state: ``target(state.position)``.

    Registered per target type where a state's own layout gives it cheaper: a
    [`PeriodicIsing2D`][] on the packed checkerboard state.
    """
    return target(state.position)


@state_logdensity.register
def _(target: PeriodicIsing2D, state) -> jax.Array:
    """On the packed `IsingLatticeState`: every bond joins one black
    and one white site, so Σ_⟨ij⟩ s_i s_j = Σ_black s_b · (sum of its four white neighbours),
    in int32 (exact), and Σ_i s_i = Σ black + Σ white — no unpacking."""
    if not isinstance(state, IsingLatticeState):
        return target(state.position)
    even = _row_even(state.black.shape[-2])
    neighbours = _neighbour_sum(state.white, even).astype(jnp.int32)
    bonds = jnp.sum(state.black.astype(jnp.int32) * neighbours)
    spins = jnp.sum(state.black.astype(jnp.int32)) + jnp.sum(state.white.astype(jnp.int32))
    return target.coupling * bonds + target.field * spins


@functools.singledispatch
def target_free_state(kernel) -> bool:
    """Whether ``kernel``'s state is its position alone (no cached log density or gradient),
    so that swapped states can move between rungs as they are, without re-initialising them.
    False by default; True for [`Checkerboard`][] (the packed spins)."""
    return False


@target_free_state.register
def _(kernel: Checkerboard) -> bool:
    return True


def swap_log_alpha(logdensity_at_beta_fn: Callable, betas, states) -> jax.Array:
    """(K − 1,) log α_k of every neighbouring pair (module docstring), NaN read as −∞.

    ``states`` are the inner states (leading axis K); each replica's log density
    (`state_logdensity`) is evaluated at β_{k−1}, β_k and β_{k+1} inside one vmapped
    function, so for a family linear in β (``lambda beta: lambda x: -beta * E(x)``, a scaled
    structured target) XLA computes the β-independent part E(x_k) once per replica (common
    subexpressions), K evaluations per step in place of 3K − 2.
    """
    below = jnp.concatenate([betas[:1], betas[:-1]])
    above = jnp.concatenate([betas[1:], betas[-1:]])

    def at_three(b_lo, b, b_hi, state):
        return tuple(state_logdensity(logdensity_at_beta_fn(c), state) for c in (b_lo, b, b_hi))

    at_lo, own, at_hi = jax.vmap(at_three)(below, betas, above, states)
    # pair k: x_k at β_{k+1} is at_hi[k], x_{k+1} at β_k is at_lo[k + 1]
    log_alpha = at_hi[:-1] + at_lo[1:] - own[:-1] - own[1:]
    return jnp.where(jnp.isnan(log_alpha), -jnp.inf, log_alpha)


def build_kernel():
    """``kernel(key, state, logdensity_at_beta_fn, betas, inner_fn, move_states=False) ->
    (state, info)``.

    One step: every replica one inner step at its β, then the pairs of the step's parity (even
    k on even steps, odd k on odd steps) swap positions with probability min(1, α_k), and
    ``state.stats`` moves the labels and adds the swap statistics
    (`update_exchange_stats`). The inner states are re-initialised
    at their rungs from the swapped positions, or with ``move_states`` (static; an inner kernel
    whose state is its position, `target_free_state`) moved as they are.
    """

    def kernel(
        key,
        state: ReplicaExchangeState,
        logdensity_at_beta_fn: Callable,
        betas,
        inner_fn: Callable,
        move_states: bool = False,
    ):
        num_replicas = betas.shape[0]
        key_inner, key_swap = jax.random.split(key)
        keys = jax.random.split(key_inner, num_replicas)
        states, inner_info = jax.vmap(lambda b, k, s: inner_fn(b).step(k, s))(
            betas, keys, state.states
        )
        log_alpha = swap_log_alpha(logdensity_at_beta_fn, betas, states)
        attempted = jnp.arange(num_replicas - 1) % 2 == state.step % 2
        log_u = jnp.log(jax.random.uniform(key_swap, (num_replicas - 1,), log_alpha.dtype))
        swapped = attempted & (log_u < log_alpha)
        perm = swap_permutation(swapped)
        if move_states:
            states = jax.tree.map(lambda a: a[perm], states)
        else:
            x_new = jax.tree.map(lambda a: a[perm], states.position)
            states = jax.vmap(lambda b, xi: inner_fn(b).init(xi))(betas, x_new)
        accept = jnp.where(attempted, jnp.exp(jnp.minimum(log_alpha, 0.0)), 0.0)
        stats = update_exchange_stats(state.stats, perm, accept, attempted)
        info = ReplicaExchangeInfo(accept, attempted, swapped, inner_info)
        return ReplicaExchangeState(states, state.step + 1, stats), info

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
    """Parallel tempering (module docstring) with an inner [`Kernel`][] at every
    rung of ``betas``; the target is the family ``beta -> logdensity_fn`` (e.g.
    ``lambda beta: lambda x: -beta * E(x)``, or ``lambda beta: PairwiseBinary(beta * W, ...)``).

    Args:
        inner: the kernel run at each β (the same parameters at every rung).
        betas: (K,) strictly increasing positive inverse temperatures, K ≥ 2 (array leaf).

    Compiled once: with a pytree family ([`Tempered`][]) ``samplers.run(key, pt, x0,
    logdensity_fn=family, ...)`` reuses its compilation for another key, ladder (same K) or
    coupling. The swap acceptance and round trips are in the final state,
    [`replica_exchange_report`][] (``res.state``), whatever the run kept.

    Example:
        >>> pt = ReplicaExchange(samplers.MALA(0.05), jnp.geomspace(0.05, 1.0, 6))
        >>> alg = pt(lambda beta: lambda x: -beta * energy(x))
        >>> state = alg.init(jnp.zeros((6, 1)))

        2-D Ising at β_c, 16 rungs, 4 ladders, the checkerboard sweep inside:

        >>> pt = ReplicaExchange(samplers.Checkerboard(), jnp.linspace(0.2, 0.4407, 16))
        >>> res = samplers.run(key, pt, jnp.ones((4, 16, 32, 32)), num_steps=10_000,
        ...                    logdensity_fn=Tempered(samplers.PeriodicIsing2D(1.0)),
        ...                    keep_trace=False, mean=False)
        >>> samplers.replica_exchange_report(res.state).round_trip_rate
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
        move = target_free_state(self.inner)
        return build_kernel()(key, state, logdensity_fn, self.betas, inner_fn, move)


_LINEAR_TARGETS = (PeriodicIsing2D, PairwiseBinary, BernoulliRBM)


class ScaledLogDensity(eqx.Module):
    """x ↦ β · log p(x) for a log density ``logdensity_fn`` (a pytree: β is an array leaf)."""

    logdensity_fn: Callable
    beta: jax.Array

    def __call__(self, x) -> jax.Array:
        return self.beta * self.logdensity_fn(x)


class Tempered(eqx.Module):
    """The tempered family β ↦ log p_β(x) = β · log p(x) of one target, as a pytree.

    For a structured target whose log density is linear in its array leaves
    ([`PeriodicIsing2D`][], [`PairwiseBinary`][],
    [`BernoulliRBM`][]) ``family(β)`` is the same target with every leaf
    times β (so structured kernels such as [`Checkerboard`][] run at each rung);
    for any other log density it is `ScaledLogDensity`. Give it to
    [`ReplicaExchange`][] as the target: the target's parameters are array leaves, so
    [`samplers.run`][samplers.run.run] compiles once for all their values and all ladders of one
    length.

    Example:
        >>> family = Tempered(samplers.PeriodicIsing2D(1.0))   # J = 1, h = 0
        >>> family(0.44).coupling                               # 0.44
    """

    target: Callable

    def __call__(self, beta):
        if isinstance(self.target, _LINEAR_TARGETS):
            return jax.tree.map(lambda a: beta * a, self.target)
        return ScaledLogDensity(self.target, jnp.asarray(beta))
