"""Replica exchange mixes a bimodal target that a single chain at the cold β does not.

z-tests at |z| < Z_CRIT (false-failure rate ALPHA = 2e-5 per check; 3 checks). The swap-rate
floor (> 0.05) and the single chain staying in its well (< 5 % crossing) are allowances/power
checks against a 10-nat barrier, not z-tests. The round-trip, swap-acceptance, packed log
density, ladder and compile-count tests are exact (identities, not statistical tests)."""

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from stats_helpers import Z_CRIT

import samplers
from samplers import round_trips, tempering


def double_well(x):
    """E = 10 (x² − 1)²: modes ±1, barrier of 10 energy units (10 nats at β = 1)."""
    return 10.0 * (x[0] ** 2 - 1.0) ** 2


def family(beta):
    return lambda x: -beta * double_well(x)


def test_replica_exchange_mixes_double_well():
    c = 512
    betas = jnp.geomspace(0.05, 1.0, 6)
    inner = lambda beta: samplers.mala(family(beta), 0.04 / beta)  # noqa: E731
    pt = samplers.replica_exchange(family, betas, inner)
    x0 = jnp.ones((c, 6, 1))  # every replica of every chain starts in the right well
    res = samplers.run(
        jax.random.key(0), pt, x0, num_steps=300, keep_trace=False, trace_fn=lambda s: ()
    )
    cold = np.asarray(res.state.position[:, -1, 0])
    frac_left = np.mean(cold < 0)
    # symmetric target: P(x < 0) = 1/2; independent chains ⇒ binomial standard error
    assert abs(frac_left - 0.5) < Z_CRIT * np.sqrt(0.25 / c), frac_left

    # swap rates: per pair, mean acceptance over the steps where the pair was attempted
    info = res.info  # means over steps, (chains, K − 1)
    rates = np.asarray(info["swap_acceptance"].mean(0) / info["swap_attempted"].mean(0))
    assert rates.shape == (5,) and np.all((rates > 0.05) & (rates <= 1.0)), rates

    # the same MALA alone at β = 1 stays in its well
    single = samplers.run(
        jax.random.key(0),
        samplers.mala(family(1.0), 0.04),
        jnp.ones((c, 1)),
        num_steps=300,
        keep_trace=False,
        trace_fn=lambda s: (),
    )
    assert np.mean(np.asarray(single.state.position[:, 0]) < 0) < 0.05


def test_swap_rule_is_exact_on_two_gaussians():
    """Two replicas of N(0, 1/β): PT with a do-nothing inner kernel still samples each β
    exactly when started from the exact product law (swaps preserve it)."""
    c = 20_000
    betas = jnp.array([0.25, 1.0])
    fam = lambda beta: lambda x: -0.5 * beta * jnp.sum(x**2)  # noqa: E731
    inner = lambda beta: samplers.mala(fam(beta), 1e-12)  # noqa: E731  (essentially frozen)
    pt = samplers.replica_exchange(fam, betas, inner)
    x0 = jax.random.normal(jax.random.key(1), (c, 2, 1)) / jnp.sqrt(betas)[None, :, None]
    res = samplers.run(
        jax.random.key(2), pt, x0, num_steps=2, keep_trace=False, trace_fn=lambda s: ()
    )
    x = np.asarray(res.state.position[..., 0])
    assert np.mean(np.asarray(res.info["is_swapped"])) > 0.1
    for k, beta in enumerate(np.asarray(betas)):
        v = 1.0 / beta
        assert abs(np.mean(x[:, k] ** 2) - v) < Z_CRIT * v * np.sqrt(2.0 / c)


# ----------------------------------------------------------------------------- round trips
def reference_round_trips(swaps, num_replicas):
    """Round trips per label by a plain loop over the swap passes (the definition, written
    independently of samplers.round_trips): a label's trip starts at a visit of the hottest
    rung, needs a visit of the coldest rung, and ends at the next visit of the hottest rung."""
    at_rung = list(range(num_replicas))  # label at each rung
    state = {j: ("up" if j == 0 else "unset") for j in range(num_replicas)}
    trips = [0] * num_replicas
    for swapped in swaps:
        for k, s in enumerate(swapped):
            if s:
                at_rung[k], at_rung[k + 1] = at_rung[k + 1], at_rung[k]
        hot, cold = at_rung[0], at_rung[-1]
        if state[hot] == "down":
            trips[hot] += 1
        state[hot] = "up"
        if state[cold] == "up":
            state[cold] = "down"
    return trips, at_rung


def replay(swaps, num_replicas):
    stats = round_trips.init_exchange_stats(num_replicas)
    for swapped in swaps:
        swapped = jnp.asarray(swapped, bool)
        perm = round_trips.swap_permutation(swapped)
        stats = round_trips.update_exchange_stats(stats, perm, swapped.astype(float), swapped)
    return stats


def test_round_trips_on_a_hand_counted_sequence():
    """K = 3, every attempted swap accepted (pair 0 on odd passes, pair 1 on even ones), 8
    passes. Labels at the rungs after each pass: [1,0,2] [1,2,0] [2,1,0] [2,0,1] [0,2,1]
    [0,1,2] [1,0,2] [1,2,0]. Label 0: rung 0 at the start, rung 2 at pass 2, rung 0 at pass 5
    (one trip), rung 2 again at pass 8 (down). Label 1: rung 0 at pass 1, rung 2 at pass 4,
    rung 0 at pass 7 (one trip). Label 2 starts at the coldest rung, so its descent to rung 0
    (pass 3) is no trip; it reaches rung 2 again at pass 6 and is at rung 1 heading down."""
    swaps = [[1, 0], [0, 1]] * 4
    stats = replay(swaps, 3)
    np.testing.assert_array_equal(stats.labels, [1, 2, 0])
    per_label = np.asarray(stats.round_trips)[np.argsort(np.asarray(stats.labels))]
    np.testing.assert_array_equal(per_label, [1, 1, 0])
    np.testing.assert_array_equal(stats.direction, [1, -1, -1])  # at rungs 0, 1, 2
    np.testing.assert_array_equal(stats.num_attempted, [4, 4])
    np.testing.assert_array_equal(stats.swap_acceptance_sum, [4.0, 4.0])
    np.testing.assert_array_equal(reference_round_trips(swaps, 3)[0], [1, 1, 0])
    # one more pass brings label 2 to rung 0 after its visit of rung 2: its first trip
    np.testing.assert_array_equal(replay(swaps + [[1, 0]], 3).round_trips, [1, 1, 1])


def test_round_trips_match_the_reference_on_random_passes():
    """600 passes of random accepted swaps (even-odd parity, K = 5): the same labels and the
    same round-trip count per label as the loop reference, exactly."""
    rng = np.random.default_rng(0)
    k = 5
    pairs = np.arange(k - 1)
    swaps = [(pairs % 2 == t % 2) & (rng.random(k - 1) < 0.7) for t in range(600)]
    stats = replay(swaps, k)
    trips, at_rung = reference_round_trips(swaps, k)
    np.testing.assert_array_equal(stats.labels, at_rung)
    per_label = np.asarray(stats.round_trips)[np.argsort(np.asarray(stats.labels))]
    np.testing.assert_array_equal(per_label, trips)
    assert sum(trips) > 10  # the check has something to compare


def test_kernel_round_trips_are_those_of_its_swaps():
    """The kernel's carried count equals the reference replayed on its own per-step
    ``is_swapped`` (Ising 8×8, 4 rungs, 3 ladders, 400 steps), and the report pools them."""
    betas = jnp.linspace(0.2, 0.44, 4)
    pt = samplers.ReplicaExchange(samplers.Checkerboard(), betas)
    fam = samplers.Tempered(samplers.PeriodicIsing2D(1.0))
    res = samplers.run(
        jax.random.key(3), pt, jnp.ones((3, 4, 8, 8)), num_steps=400, logdensity_fn=fam
    )
    swapped = np.asarray(res.info["is_swapped"])  # (ladders, steps, K − 1)
    report = samplers.replica_exchange_report(res.state)
    expected = [reference_round_trips(swapped[c], 4)[0] for c in range(3)]
    np.testing.assert_array_equal(report.round_trips_per_label, expected)
    assert report.round_trips == np.sum(expected) > 0
    assert report.num_steps == 400 and report.num_ladders == 3
    assert report.round_trip_rate == report.round_trips / (400 * 3)
    acc = np.asarray(res.info["swap_acceptance"]).sum((0, 1))
    att = np.asarray(res.info["swap_attempted"]).sum((0, 1))
    np.testing.assert_allclose(report.swap_acceptance, acc / att, rtol=1e-5)
    np.testing.assert_allclose(report.barrier, np.sum(1 - acc / att), rtol=1e-5)


# ----------------------------------------------------------------------------- swap rule
class Frozen(samplers.Kernel):
    """A kernel that never moves (so the swap statistics are those of fixed positions)."""

    def init(self, position, logdensity_fn, rng_key=None):
        return FrozenState(position)

    def step(self, key, state, logdensity_fn):
        return state, FrozenInfo(jnp.zeros(()))


class FrozenState(NamedTuple):
    position: jax.Array


class FrozenInfo(NamedTuple):
    acceptance_rate: jax.Array


def ising_energy(s):
    """E(s) = −Σ_⟨ij⟩ s_i s_j on the torus (float64 numpy, independent of the library)."""
    s = np.asarray(s, np.float64)
    return -np.sum(s * (np.roll(s, -1, 0) + np.roll(s, -1, 1)))


def test_swap_acceptance_is_the_closed_form_alpha():
    """Frozen replicas of a 4×4 Ising lattice at β = (0.2, 0.35, 0.5): after step 0 (pair 0
    attempted) the carried sum is min(1, α_0), α_0 = exp((β_1 − β_0)(E(x_1) − E(x_0))), and
    after step 1 pair 1 adds min(1, α_1) of the positions then at rungs 1 and 2."""
    betas = np.array([0.2, 0.35, 0.5])
    x = jnp.asarray(np.where(np.random.default_rng(1).random((3, 4, 4)) < 0.5, 1.0, -1.0))
    x = x.at[2].set(1.0)  # the coldest replica ordered: E(x_2) = −32, so α_1 < 1 likely
    pt = samplers.ReplicaExchange(Frozen(), jnp.asarray(betas))(
        samplers.Tempered(samplers.PeriodicIsing2D(1.0))
    )
    state = pt.init(x)
    expected_sum = np.zeros(2)
    for step in range(2):
        pos = np.asarray(state.position)
        k = step % 2
        e = [ising_energy(p) for p in pos]
        alpha = np.exp((betas[k + 1] - betas[k]) * (e[k + 1] - e[k]))
        expected_sum[k] += min(1.0, alpha)
        state, info = pt.step(jax.random.key(step), state)
        np.testing.assert_allclose(info.swap_acceptance[k], min(1.0, alpha), rtol=1e-5)
        np.testing.assert_allclose(state.stats.swap_acceptance_sum, expected_sum, rtol=1e-5)
    np.testing.assert_array_equal(state.stats.num_attempted, [1, 1])
    assert 0.0 < expected_sum.min() < 1.0  # a case where min(1, α) is not trivially 1


def test_equal_rejection_ladder():
    """Λ(β) through (1, 0), (2, 0.2), (3, 0.8): the 3-rung ladder at Λ = 0, 0.4, 0.8 is
    (1, 2 + 0.2/0.6, 3), exactly; uniform rejection keeps a linear ladder."""
    new = samplers.equal_rejection_ladder([1.0, 2.0, 3.0], [0.2, 0.6])
    np.testing.assert_allclose(new, [1.0, 2.0 + 1.0 / 3.0, 3.0], rtol=1e-12)
    lin = samplers.equal_rejection_ladder(np.linspace(0.1, 0.5, 5), np.full(4, 0.3), 9)
    np.testing.assert_allclose(lin, np.linspace(0.1, 0.5, 9), rtol=1e-12)
    with pytest.raises(ValueError, match="rejection must have one entry per"):
        samplers.equal_rejection_ladder([1.0, 2.0, 3.0], [0.2])


_compilations = []
jax.monitoring.register_event_duration_secs_listener(
    lambda event, secs, **kw: (
        _compilations.append(event)
        if event == "/jax/core/compile/backend_compile_duration"
        else None
    )
)


def test_ising_replica_exchange_compiles_once():
    """A second run with another key, ladder (same K) and coupling compiles nothing."""

    def call(key, betas, J):
        pt = samplers.ReplicaExchange(samplers.Checkerboard(), jnp.asarray(betas))
        fam = samplers.Tempered(samplers.PeriodicIsing2D(J))
        res = samplers.run(
            key,
            pt,
            jnp.ones((2, 4, 8, 8)),
            num_steps=20,
            logdensity_fn=fam,
            keep_trace=False,
            mean=False,
            trace_fn=no_trace,
        )
        return jax.block_until_ready(res.state)

    call(jax.random.key(0), [0.2, 0.3, 0.4, 0.44], 1.0)
    before = len(_compilations)
    call(jax.random.key(1), [0.1, 0.2, 0.3, 0.5], 0.8)
    assert len(_compilations) == before


def no_trace(state):
    return ()


def test_packed_ising_log_density_is_the_target_on_the_lattice():
    """state_logdensity on the packed checkerboard state equals PeriodicIsing2D(x) on the
    lattice (int32 bond sums: exact), on 2×2 (doubly counted wrap bonds), 2×4 and 6×4 tori."""
    rng = np.random.default_rng(2)
    target = samplers.PeriodicIsing2D(0.7, -0.3)
    for shape in [(2, 2), (2, 4), (6, 4)]:
        x = jnp.asarray(np.where(rng.random(shape) < 0.5, 1, -1), jnp.int8)
        packed = samplers.Checkerboard().init(x, target)
        got = tempering.state_logdensity(target, packed)
        np.testing.assert_allclose(got, target(x), rtol=1e-6)
        np.testing.assert_allclose(got, -0.7 * ising_energy(x) - 0.3 * np.sum(x), rtol=1e-6)


def test_moving_checkerboard_states_is_reinitialising_them():
    """ReplicaExchange(Checkerboard()) moves the packed states on a swap; replica_exchange with
    ising_checkerboard re-initialises them from the swapped positions: the same chain."""
    betas = jnp.array([0.2, 0.3, 0.44])
    fam = samplers.Tempered(samplers.PeriodicIsing2D(1.0))
    assert tempering.target_free_state(samplers.Checkerboard())
    assert not tempering.target_free_state(samplers.MALA(0.1))
    moved = samplers.ReplicaExchange(samplers.Checkerboard(), betas)(fam)
    reinit = samplers.replica_exchange(fam, betas, samplers.ising_checkerboard)
    x0 = jnp.ones((2, 3, 4, 4))
    a = samplers.run(jax.random.key(4), moved, x0, num_steps=50)
    b = samplers.run(jax.random.key(4), reinit, x0, num_steps=50)
    np.testing.assert_array_equal(a.trace, b.trace)
    np.testing.assert_array_equal(a.info["is_swapped"], b.info["is_swapped"])
    assert np.asarray(a.info["is_swapped"]).any()


def test_tempered_family_is_beta_times_the_log_density():
    """Tempered(t)(β)(x) = β t(x) for the structured targets (leaves scaled, same type) and a
    plain log density."""
    rng = np.random.default_rng(5)
    W = jnp.asarray(rng.normal(size=(3, 3)))
    cases = [
        (samplers.PeriodicIsing2D(0.6, 0.2), jnp.asarray(rng.choice([-1.0, 1.0], (4, 4)))),
        (samplers.PairwiseBinary(W + W.T, jnp.ones(3), "spin"), jnp.array([1.0, -1.0, 1.0])),
        (
            samplers.BernoulliRBM(jnp.ones((3, 2)), jnp.zeros(3), jnp.full(2, 0.5)),
            (jnp.array([1.0, 0.0, 1.0]), jnp.array([1.0, 1.0])),
        ),
        (lambda x: -jnp.sum(x**2), jnp.array([0.5, 2.0])),
    ]
    for target, x in cases:
        at = samplers.Tempered(target)(0.3)
        if isinstance(target, eqx.Module):
            assert type(at) is type(target)
        np.testing.assert_allclose(at(x), 0.3 * target(x), rtol=1e-6)
