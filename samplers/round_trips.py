"""Swap statistics and round trips of replica exchange, tracked inside the scan.

Labels. Replica exchange keeps its K replicas ordered by β (rung 0 the hottest, rung K − 1 the
coldest) and moves positions between rungs when a swap is accepted. A *label* is the identity
of one position as it travels: ``labels[k]`` is the label now at rung k (initially k). A swap
pass is a product of disjoint neighbour transpositions, the permutation ``perm`` with
``new[k] = old[perm[k]]`` (`swap_permutation`), and every per-rung array below is carried
along with its label by the same gather.

Round trips (Syed et al. 2021, the index process of non-reversible parallel tempering). Each
label has a direction: 0 before it first reaches the hottest rung, +1 ("up", heading cold)
after its last visit of the hottest rung, −1 ("down", heading hot) once it has reached the
coldest rung since then. A round trip is completed when a label whose direction is −1 arrives
at the hottest rung: it has gone hottest → coldest → hottest. So the first trip of a label
starts at its first visit of the hottest rung (the label starting there counts from step 0), and
a label counts at most one trip per 2(K − 1) steps under the even-odd scheme.

Swap acceptance. Per pair (k, k + 1), the sum of min(1, α_k) over the steps where the pair was
attempted and the number of attempts; their ratio is the pair's swap acceptance a_k, r_k =
1 − a_k its rejection rate and Λ = Σ_k r_k the estimate of the global communication barrier
(Syed et al. 2021, Corollary 2), from which the round-trip rate of an optimally spaced
non-reversible ladder with many rungs is τ̄ = 1 / (2 + 2Λ) round trips per step, summed over
labels (their Theorem 3).

Cost per step: three gathers of K small integers and two (K − 1)-vector additions. Memory:
3K + 2(K − 1) numbers per ladder; the float sums are exact to float32 rounding (relative
error ≲ n·2⁻²⁴ after n attempts).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "ExchangeStats",
    "ReplicaExchangeReport",
    "equal_rejection_ladder",
    "init_exchange_stats",
    "replica_exchange_report",
    "swap_permutation",
    "update_exchange_stats",
]


class ExchangeStats(NamedTuple):
    """Per-ladder tracking carried in the replica-exchange state (module docstring).

    Attributes:
        labels: (K,) int32, the label at each rung.
        direction: (K,) int8, the direction of the label at each rung (0, +1 up, −1 down).
        round_trips: (K,) int32, round trips completed by the label at each rung.
        swap_acceptance_sum: (K − 1,) float, Σ min(1, α_k) over attempts of pair k.
        num_attempted: (K − 1,) int32, attempts of pair k.
    """

    labels: jax.Array
    direction: jax.Array
    round_trips: jax.Array
    swap_acceptance_sum: jax.Array
    num_attempted: jax.Array


def init_exchange_stats(num_replicas: int, dtype=None) -> ExchangeStats:
    """Labels 0..K−1 at their own rungs; the label at the hottest rung starts "up" (+1)."""
    k = jnp.arange(num_replicas, dtype=jnp.int32)
    dtype = jnp.result_type(float) if dtype is None else dtype
    return ExchangeStats(
        labels=k,
        direction=jnp.where(k == 0, jnp.int8(1), jnp.int8(0)),
        round_trips=jnp.zeros(num_replicas, jnp.int32),
        swap_acceptance_sum=jnp.zeros(num_replicas - 1, dtype),
        num_attempted=jnp.zeros(num_replicas - 1, jnp.int32),
    )


def swap_permutation(swapped) -> jax.Array:
    """``perm`` with ``new[k] = old[perm[k]]`` for the accepted swaps of one pass.

    ``swapped`` is (K − 1,) bool, pair (k, k + 1) exchanged; pairs of one pass are disjoint
    (no two adjacent pairs both True), so perm[k] = k + 1 where pair k swapped, k − 1 where pair
    k − 1 swapped, and k elsewhere.
    """
    swapped = jnp.asarray(swapped, bool)
    idx = jnp.arange(swapped.shape[0] + 1)
    up = jnp.concatenate([swapped, jnp.zeros((1,), bool)])
    down = jnp.concatenate([jnp.zeros((1,), bool), swapped])
    return jnp.where(up, idx + 1, jnp.where(down, idx - 1, idx))


def update_exchange_stats(stats: ExchangeStats, perm, acceptance, attempted) -> ExchangeStats:
    """Move the labels by ``perm``, update directions and round trips, add the swap statistics.

    After the gather, the label at the hottest rung completes a trip if its direction was −1
    and turns +1; the label at the coldest rung turns −1 if its direction was +1.

    Args:
        stats: the tracking state before the swap pass.
        perm: (K,) the pass's permutation (`swap_permutation`).
        acceptance: (K − 1,) min(1, α_k) where attempted, 0 elsewhere.
        attempted: (K − 1,) bool, the pairs of this pass.
    """
    labels, direction, trips = (a[perm] for a in stats[:3])
    trips = trips.at[0].add((direction[0] == -1).astype(jnp.int32))
    direction = direction.at[0].set(1)
    direction = direction.at[-1].set(jnp.where(direction[-1] == 1, -1, direction[-1]))
    return ExchangeStats(
        labels,
        direction.astype(jnp.int8),
        trips,
        stats.swap_acceptance_sum + acceptance.astype(stats.swap_acceptance_sum.dtype),
        stats.num_attempted + jnp.asarray(attempted, jnp.int32),
    )


class ReplicaExchangeReport(NamedTuple):
    """Swap acceptance and round trips of one or many ladders ([`replica_exchange_report`][]).

    Attributes:
        swap_acceptance: (K − 1,) a_k = Σ min(1, α_k) / attempts of pair k, pooled over ladders.
        rejection: (K − 1,) r_k = 1 − a_k.
        barrier: Λ = Σ_k r_k.
        round_trips: total round trips, all labels of all ladders.
        round_trips_per_label: (..., K) round trips of label j (leading axes: ladders).
        round_trip_rate: round trips per step per ladder, ``round_trips / (steps · ladders)``.
        predicted_round_trip_rate: 1 / (2 + 2Λ) (Syed et al. 2021, Theorem 3).
        num_steps: steps each ladder has run.
        num_ladders: independent ladders pooled (chains of [`samplers.run`][samplers.run.run]).
    """

    swap_acceptance: np.ndarray
    rejection: np.ndarray
    barrier: float
    round_trips: int
    round_trips_per_label: np.ndarray
    round_trip_rate: float
    predicted_round_trip_rate: float
    num_steps: int
    num_ladders: int


def replica_exchange_report(state) -> ReplicaExchangeReport:
    """The report of a `ReplicaExchangeState` (one ladder, or a
    batch with leading ladder axes such as ``samplers.run(...).state``), on the host.

    a_k = Σ_ladders Σ min(1, α_k) / Σ_ladders attempts_k; Λ = Σ_k (1 − a_k); round trips per
    label j = the count carried with label j; rate = total / (steps · ladders).
    """
    stats = jax.device_get(state.stats)
    steps = np.asarray(jax.device_get(state.step))
    num_ladders = int(steps.size)
    k = stats.labels.shape[-1]
    acc_sum = np.asarray(stats.swap_acceptance_sum, np.float64).reshape(-1, k - 1).sum(0)
    attempts = np.asarray(stats.num_attempted).reshape(-1, k - 1).sum(0)
    acceptance = np.where(attempts > 0, acc_sum / np.maximum(attempts, 1), np.nan)
    barrier = float(np.sum(1.0 - acceptance))
    per_label = np.take_along_axis(
        np.asarray(stats.round_trips), np.argsort(stats.labels, axis=-1), axis=-1
    )
    total = int(per_label.sum())
    num_steps = int(steps.max()) if steps.size else 0
    rate = total / max(num_steps * num_ladders, 1)
    return ReplicaExchangeReport(
        acceptance, 1.0 - acceptance, barrier, total, per_label, rate,
        1.0 / (2.0 + 2.0 * barrier), num_steps, num_ladders,
    )  # fmt: skip


def equal_rejection_ladder(betas, rejection, num_replicas: int | None = None) -> np.ndarray:
    """A ladder with equal rejection rates from a pilot run (Syed et al. 2021, Algorithm 2).

    The cumulative barrier Λ(β) is the piecewise-linear interpolation of Λ(β_0) = 0,
    Λ(β_{k+1}) = Σ_{i≤k} r_i through the pilot ladder; the new ladder is β*_j = Λ⁻¹(j Λ / (N − 1)),
    j = 0..N − 1 (N = ``num_replicas``, default the pilot's K), with the same end points. A
    pair with r = 0 is given a tiny slope so Λ is strictly increasing.

    Args:
        betas: (K,) the pilot ladder, increasing.
        rejection: (K − 1,) its rejection rates (``replica_exchange_report(...).rejection``).
        num_replicas: rungs of the new ladder (≥ 2).
    """
    betas = np.asarray(betas, np.float64)
    rejection = np.asarray(rejection, np.float64)
    if betas.ndim != 1 or rejection.shape != (betas.shape[0] - 1,):
        raise ValueError(
            f"rejection must have one entry per neighbouring pair of betas ({betas.shape[0] - 1}),"
            f" got shape {rejection.shape}"
        )
    if not np.all(np.isfinite(rejection)):
        raise ValueError(f"rejection must be finite (a pair never attempted?), got {rejection}")
    n = betas.shape[0] if num_replicas is None else int(num_replicas)
    if n < 2:
        raise ValueError(f"num_replicas must be ≥ 2, got {num_replicas}")
    cum = np.concatenate([[0.0], np.cumsum(np.clip(rejection, 1e-9, 1.0))])
    return np.interp(np.linspace(0.0, cum[-1], n), cum, betas)
