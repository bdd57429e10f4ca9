"""Replica exchange on the 2-D Ising model at β_c: physebm's user call beside hamon's NRPT on
the same lattice, ladder and number of rounds, with swap acceptance and round trips.

    python benchmarks/bench_replica.py [--quick] [--tune] [--L 32] [--replicas 32]
                                       [--rounds 10000] [--ladders 8] [--beta-min 0.2]

Model: periodic L×L Ising, J = 1, h = 0; ladder of K β linear from ``--beta-min`` to
β_c = ln(1 + √2)/2 (the cold end), or with ``--tune`` the equal-rejection ladder
(``samplers.equal_rejection_ladder``) from a pilot of ours on it; the same ladder for both.
One *round* = one heat-bath sweep of every replica (black then white sites) and one
deterministic even-odd swap pass (even pairs on even rounds, odd pairs on odd ones) — what
both libraries do per round here.

* physebm: ``samplers.run(key, ReplicaExchange(Checkerboard(), betas), x0,
  logdensity_fn=Tempered(PeriodicIsing2D(1.0)), num_steps=R, keep_trace=False, mean=False)``,
  then ``samplers.replica_exchange_report(res.state)``. One ladder (as hamon), and the same
  call with ``--ladders`` independent ladders vmapped in one call.
* the user call ``physebm.sample(Ising((L, L)), sampler=ReplicaExchange(Checkerboard(),
  betas), num_chains=1, num_steps=R, key=key)`` (no β: the coldest rung, β_c), which keeps the
  samples of that rung (R × L² int8) and the per-draw swap info, beside the direct call
  above (no trace) and a direct call that keeps the same rung's trace (a module-level
  ``trace_fn``, unpacked after the run): the ratios sample / direct are printed.
* hamon (``pip install hamon``; row skipped when missing): ``hamon.nrpt`` in template
  (temperature-linear) mode, ``gibbs_steps_per_round=1``, the same two colour blocks, the same
  ladder; all spins up at the start as ours.

Printed per library: first call (tracing + compilation + run) and warm (best of ``REPEATS``
later calls, each a new key) wall times, rounds/s (warm), spin updates/s, the pairs' swap
acceptance (min / mean / max), Λ = Σ rejection rates, round trips (summed over every call),
round trips per round and per second (= per round × rounds/s warm), and the ratios ours /
hamon. Round-trip conventions differ slightly: ours counts a trip from a label's first visit
of the hottest rung (hottest → coldest → hottest), hamon counts every arrival at the hottest
rung after a visit of the coldest one, so hamon's count can exceed ours by at most K per call
(the labels' first half trips); over long runs both estimate the same rate.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import physebm
import samplers

sys.path.insert(0, str(Path(__file__).parent))
from bench_samplers import torus_blocks  # noqa: E402

BETA_C = float(np.log1p(np.sqrt(2.0)) / 2.0)
REPEATS = 3


def ladder(beta_min, num_replicas):
    return np.linspace(beta_min, BETA_C, num_replicas)


def no_trace(state):
    """trace_fn storing nothing (module-level: one compilation for every call)."""
    return ()


def ours(L, betas, rounds, ladders):
    """``go(key) -> (seconds, report)`` for physebm's user call on ``ladders`` ladders."""
    kernel = samplers.ReplicaExchange(samplers.Checkerboard(), jnp.asarray(betas))
    family = samplers.Tempered(samplers.PeriodicIsing2D(1.0))
    x0 = jnp.ones((ladders, len(betas), L, L), jnp.int8)

    def go(key):
        t0 = time.perf_counter()
        res = samplers.run(
            key, kernel, x0, num_steps=rounds, logdensity_fn=family,
            keep_trace=False, mean=False, trace_fn=no_trace,
        )  # fmt: skip
        rep = samplers.replica_exchange_report(res.state)  # on the host: waits for the run
        return time.perf_counter() - t0, rep.swap_acceptance, rep.round_trips

    return go


def coldest(state):
    """trace_fn keeping the coldest rung's packed state (module-level: compiled once)."""
    return jax.tree.map(lambda a: a[-1], state.states)


def direct_traced(L, betas, rounds):
    """``go(key)`` for ``samplers.run`` keeping the coldest rung (what ``sample`` returns)."""
    kernel = samplers.ReplicaExchange(samplers.Checkerboard(), jnp.asarray(betas))
    family = samplers.Tempered(samplers.PeriodicIsing2D(1.0))
    x0 = jnp.ones((1, len(betas), L, L), jnp.int8)

    def go(key):
        t0 = time.perf_counter()
        res = samplers.run(
            key, kernel, x0, num_steps=rounds, logdensity_fn=family, trace_fn=coldest
        )
        jax.block_until_ready(res.trace.position)
        rep = samplers.replica_exchange_report(res.state)
        return time.perf_counter() - t0, rep.swap_acceptance, rep.round_trips

    return go


def user_call(L, betas, rounds):
    """``go(key)`` for ``physebm.sample(..., sampler=ReplicaExchange(...))``, one ladder."""
    kernel = samplers.ReplicaExchange(samplers.Checkerboard(), jnp.asarray(betas))
    model = physebm.models.Ising((L, L))

    def go(key):
        t0 = time.perf_counter()
        res = physebm.sample(model, key=key, num_chains=1, num_steps=rounds, sampler=kernel)
        jax.block_until_ready(res.samples)
        return time.perf_counter() - t0, res.stats.swap_acceptance, res.stats.round_trips

    return go


def hamon_setup(L, betas, rounds):
    """``go(key) -> (seconds, acceptance, round trips)`` for ``hamon.nrpt``; None if missing."""
    try:
        import hamon
        from hamon.models.ising import IsingEBM, IsingSamplingProgram
    except ImportError:
        return None
    flat, edges, free = torus_blocks(hamon, L)
    ebm = IsingEBM(flat, edges, jnp.zeros(len(flat)), jnp.ones(len(edges)), jnp.asarray(1.0))
    program = IsingSamplingProgram(ebm, free, [])
    k = len(betas)
    init = [jnp.ones((k, len(block.nodes)), bool) for block in free]
    betas = jnp.asarray(betas, jnp.float32)

    def go(key):
        t0 = time.perf_counter()
        _, stats = hamon.nrpt(
            key, ebm, program, init, [], rounds, 1, betas=betas, track_round_trips=True
        )
        trips = int(np.sum(np.asarray(stats["round_trip_diagnostics"]["round_trips_per_chain"])))
        seconds = time.perf_counter() - t0
        return seconds, np.asarray(stats["acceptance_rate"]), trips

    return go


def tuned_ladder(L, betas, rounds):
    """``samplers.equal_rejection_ladder`` from a pilot of ``rounds`` on 4 ladders (ours)."""
    kernel = samplers.ReplicaExchange(samplers.Checkerboard(), jnp.asarray(betas))
    family = samplers.Tempered(samplers.PeriodicIsing2D(1.0))
    x0 = jnp.ones((4, len(betas), L, L), jnp.int8)
    res = samplers.run(
        jax.random.key(99), kernel, x0, num_steps=rounds, logdensity_fn=family,
        keep_trace=False, mean=False, trace_fn=no_trace,
    )  # fmt: skip
    rejection = samplers.replica_exchange_report(res.state).rejection
    return samplers.equal_rejection_ladder(betas, rejection)


def measure(go, keys):
    """First and best-warm seconds, the last call's acceptance, round trips over all calls."""
    results = [go(k) for k in keys]
    first, warm = results[0][0], min(r[0] for r in results[1:])
    return first, warm, results[-1][1], sum(r[2] for r in results)


def line(name, m, rounds, ladders, L, K):
    first, warm, acc, trips = m
    total_rounds = rounds * ladders * (REPEATS + 1)
    per_round = trips / total_rounds
    rounds_per_s = rounds * ladders / warm
    spins = rounds_per_s * K * L * L
    print(
        f"{name:<26} {first:8.3f} {warm:8.3f} {rounds_per_s:10.4g} {spins:10.4g}  "
        f"{acc.min():.3f}/{acc.mean():.3f}/{acc.max():.3f}  {np.sum(1 - acc):6.2f} "
        f"{trips:7d} {per_round:10.4g} {per_round * rounds_per_s:10.4g}"
    )
    return per_round, rounds_per_s


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a smoke run (small sizes)")
    p.add_argument("--L", type=int, default=32)
    p.add_argument("--replicas", type=int, default=32)
    p.add_argument("--rounds", type=int, default=10_000)
    p.add_argument("--ladders", type=int, default=8)
    p.add_argument("--beta-min", type=float, default=0.2)
    p.add_argument("--tune", action="store_true", help="equal-rejection ladder from a pilot")
    a = p.parse_args()
    L, K, R, C = a.L, a.replicas, a.rounds, a.ladders
    if a.quick:
        L, K, R, C = 16, 8, 400, 4
    betas = ladder(a.beta_min, K)
    if a.tune:
        betas = tuned_ladder(L, betas, R // 4)
    keys = list(jax.random.split(jax.random.key(0), REPEATS + 1))
    print(
        f"2-D Ising {L}×{L} periodic, J = 1, β ∈ [{betas[0]:.3f}, β_c = {BETA_C:.4f}], "
        f"K = {K} {'equal-rejection (pilot)' if a.tune else 'linear'}, {R} rounds per call, "
        f"{jax.default_backend()}"
    )
    print(
        f"{'':<26} {'first s':>8} {'warm s':>8} {'rounds/s':>10} {'spins/s':>10}  "
        f"{'swap acc min/mean/max':<21}  {'Λ':>6} {'trips':>7} {'trips/rnd':>10} "
        f"{'trips/s':>10}"
    )
    direct = measure(ours(L, betas, R, 1), keys)
    one = line("physebm, 1 ladder", direct, R, 1, L, K)
    line(f"physebm, {C} ladders/call", measure(ours(L, betas, R, C), keys), R, C, L, K)
    traced = measure(direct_traced(L, betas, R), keys)
    line("run, 1 ladder, cold trace", traced, R, 1, L, K)
    user = measure(user_call(L, betas, R), keys)
    line("physebm.sample, 1 ladder", user, R, 1, L, K)
    for name, m in (("direct run (no trace)", direct), ("direct run, cold trace", traced)):
        print(f"physebm.sample / {name}: first {user[0] / m[0]:.2f}×, warm {user[1] / m[1]:.2f}×")
    go = hamon_setup(L, betas, R)
    if go is None:
        print(f"{'hamon NRPT':<26} hamon not installed (pip install hamon): row skipped")
        return
    theirs = line("hamon NRPT, 1 ladder", measure(go, keys), R, 1, L, K)
    print(
        f"ours / hamon (1 ladder): rounds/s {one[1] / theirs[1]:.2f}×, "
        f"round trips/s {(one[0] * one[1]) / max(theirs[0] * theirs[1], 1e-300):.2f}×, "
        f"round trips per round {one[0] / max(theirs[0], 1e-300):.2f}×"
    )


if __name__ == "__main__":
    main()
