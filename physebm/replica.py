"""Replica exchange inside [`physebm.sample`][]: the tempered family of a model, its ladder,
the target rung and the starting positions of K replicas per chain.

The family is p_β(x) ∝ exp(−β E(x)) for β on the ladder β_0 < … < β_{K−1}: the model's
structured target at β = 1 ([`kernel_target`][physebm.models.capabilities.kernel_target], else
−E = [`physebm.Gibbs.log_unnormalized`][physebm.gibbs.Gibbs.log_unnormalized] at β = 1) wrapped in
[`samplers.Tempered`][], so rung k runs the inner kernel on β_k · (−E). The *target rung* is the
rung whose β equals the sampled β (the Gibbs object's or ``beta=``); without a β it is the coldest
rung. Its index is an array leaf of `TargetRung`, read by `target_rung_trace` inside the
scan, so another target rung, ladder (same K), key or parameter values reuse one compilation.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import samplers
from physebm.gibbs import Gibbs
from physebm.models import capabilities

__all__ = [
    "DEFAULT_NUM_REPLICAS",
    "TargetRung",
    "TargetRungState",
    "is_replica_exchange",
    "replica_kernel",
    "replica_positions",
    "split_replicas",
    "target_rung",
    "target_rung_trace",
    "tempered_family",
    "unpack_trace",
]

NAME = "replica_exchange"
DEFAULT_NUM_REPLICAS = 8
"""Rungs of the default ladder of ``sampler="replica_exchange"`` without ``betas``."""


def is_replica_exchange(sampler) -> bool:
    """Whether ``sampler`` asks for replica exchange (the name or a ReplicaExchange kernel)."""
    return isinstance(sampler, samplers.ReplicaExchange) or (
        isinstance(sampler, str) and sampler == NAME
    )


def tempered_family(energy) -> samplers.Tempered:
    """β ↦ −βE as a pytree: ``Tempered(kernel_target(energy, 1))``, else ``Tempered(−E)``."""
    target = capabilities.kernel_target(energy, 1.0)
    if target is None:
        target = Gibbs(energy, 1.0).log_unnormalized
    return samplers.Tempered(target)


def _default_inner(energy, step_size) -> samplers.Kernel:
    """The model's default discrete kernel, or MALA(``step_size``) on a continuous energy."""
    choice = capabilities.default_sampler(energy, 1.0, None)
    if choice is not None and isinstance(choice.algorithm, samplers.BoundKernel):
        return choice.algorithm.kernel
    if choice is not None:
        raise TypeError(
            f"sampler='replica_exchange' needs a samplers Kernel as the default sampler of "
            f"{type(energy).__name__}; pass sampler=samplers.ReplicaExchange(inner, betas)"
        )
    if step_size is None:
        raise ValueError(
            "sampler='replica_exchange' on a continuous energy runs MALA at every rung and "
            "needs step_size (ε on log p_β), or pass sampler=samplers.ReplicaExchange(...)"
        )
    return samplers.MALA(step_size)


def _default_ladder(beta, num_replicas) -> np.ndarray:
    """K = ``num_replicas`` rungs geometric from β/10 to β (the top exactly β)."""
    k = DEFAULT_NUM_REPLICAS if num_replicas is None else num_replicas
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 2:
        raise ValueError(f"num_replicas must be an integer ≥ 2, got {num_replicas!r}")
    top = float(beta)
    ladder = top * np.geomspace(0.1, 1.0, int(k))
    ladder[-1] = top
    return ladder


def replica_kernel(sampler, energy, beta, betas, num_replicas, step_size):
    """The [`samplers.ReplicaExchange`][] of a ``sampler=`` choice.

    A ReplicaExchange object is used as given (then ``betas``/``num_replicas`` must be None);
    ``"replica_exchange"`` runs the model's default kernel (MALA(``step_size``) on ℝ^d) on
    ``betas``, else on `_default_ladder` (β/10 … β, ``num_replicas`` rungs), where β is
    the sampled β (1 by default).
    """
    if isinstance(sampler, samplers.ReplicaExchange):
        if betas is not None or num_replicas is not None:
            raise ValueError(
                "betas and num_replicas are options of sampler='replica_exchange'; a "
                "ReplicaExchange kernel carries its own ladder (its betas)"
            )
        return sampler
    inner = _default_inner(energy, step_size)
    if betas is not None and num_replicas is not None:
        raise ValueError("give betas (the ladder) or num_replicas (rungs of a default), not both")
    if betas is None:
        betas = _default_ladder(1.0 if beta is None else beta, num_replicas)
    return samplers.ReplicaExchange(inner, jnp.asarray(betas, jnp.result_type(float)))


def target_rung(ladder, beta) -> int:
    """Index k of the rung with β_k = ``beta`` (relative tolerance 1e-6); the coldest rung
    K − 1 when ``beta`` is None.

    Raises:
        ValueError: ``beta`` is not on the ladder.
    """
    ladder = np.asarray(jax.device_get(ladder), np.float64)
    if beta is None:
        return ladder.shape[0] - 1
    value = float(beta)
    hits = np.flatnonzero(np.isclose(ladder, value, rtol=1e-6, atol=0.0))
    if hits.size == 0:
        raise ValueError(
            f"beta = {value} (the sampled inverse temperature) must be a rung of the replica "
            f"exchange ladder betas = {np.round(ladder, 6).tolist()}; put it on the ladder, or "
            "omit beta to sample the coldest rung"
        )
    return int(hits[0])


class TargetRungState(NamedTuple):
    """The replica-exchange state of one chain and the index of its target rung."""

    pt: Any
    rung: jax.Array


class TargetRung(eqx.Module):
    """A replica-exchange [`samplers.BoundKernel`][] whose state remembers the target rung
    (an array leaf, so its value is traced): ``init`` and ``step`` are the bound kernel's."""

    algorithm: samplers.BoundKernel
    rung: jax.Array

    def init(self, position, rng_key=None) -> TargetRungState:
        return TargetRungState(self.algorithm.init(position, rng_key), self.rung)

    def step(self, key, state: TargetRungState):
        pt, info = self.algorithm.step(key, state.pt)
        return TargetRungState(pt, state.rung), info


def _is_packed(state) -> bool:
    """Whether the state's ``position`` is computed from its fields (the packed lattice)."""
    return isinstance(getattr(type(state), "position", None), property)


def target_rung_trace(state: TargetRungState):
    """``trace_fn`` of [`samplers.run`][samplers.run.run]: the inner state of the target rung when
    its position is packed (unpacked once after the run, `unpack_trace`), else its
    position. Module-level, so every call shares one compilation."""
    inner = jax.tree.map(
        lambda a: jax.lax.dynamic_index_in_dim(a, state.rung, 0, keepdims=False), state.pt.states
    )
    return inner if _is_packed(inner) else inner.position


@jax.jit
def _unpack(trace):
    return trace.position


def unpack_trace(trace):
    """The positions of a `target_rung_trace` trace (one jitted unpack when packed)."""
    return _unpack(trace) if _is_packed(trace) else trace


def replica_positions(x0, num_replicas: int):
    """Copy (num_chains, *event) positions to every rung: leaves (num_chains, K, *event)."""
    return jax.tree.map(
        lambda a: jnp.broadcast_to(a[:, None], (a.shape[0], num_replicas, *a.shape[1:])), x0
    )


def split_replicas(x, num_chains: int, num_replicas: int):
    """Reshape (num_chains · K, *event) independent draws to (num_chains, K, *event)."""
    return jax.tree.map(lambda a: a.reshape(num_chains, num_replicas, *a.shape[1:]), x)
