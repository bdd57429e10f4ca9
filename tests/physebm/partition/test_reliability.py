"""The estimates that came back wrong with ``reliable=True`` in 0.1 are now flagged, each with
a warning that says why. These are deterministic checks of the verdict on fixed keys (the
estimates themselves are 5–6 stderr off, or Z is infinite, or the check's statistic is far past
its threshold)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import samplers
from physebm.models import RBM, CurieWeiss, Gaussian, Ising
from physebm.partition import (
    bases,
    importance,
    reverse_ais,
    smc,
    thermodynamic_integration,
)


def test_smc_with_disagreeing_replicas_is_unreliable():
    res = smc(Ising((8, 8)), 0.6, key=jax.random.key(0), num_particles=16)
    assert not res.reliable
    assert any("replicas disagree" in w for w in res.warnings)


def test_ti_with_too_coarse_a_grid_and_no_burn_in_is_unreliable():
    res = thermodynamic_integration(
        Ising((8, 8)),
        0.6,
        key=jax.random.key(0),
        num_temperatures=2,
        num_chains=8,
        num_samples=5,
        num_burnin=0,
    )
    assert not res.reliable
    assert any("temperature intervals" in w for w in res.warnings)
    assert any("no burn-in" in w for w in res.warnings)


def test_ti_of_an_infinite_partition_function_is_unreliable():
    res = thermodynamic_integration(
        lambda x: -jnp.sum(x**2), 1.0, key=jax.random.key(0), base=bases.gaussian(jnp.zeros(2))
    )
    assert not res.reliable
    assert any("Z may be infinite" in w for w in res.warnings)


def test_reverse_ais_needs_both_layers_when_the_hidden_one_is_carried():
    rbm = RBM(0.1 * jnp.ones((6, 3)))  # 3 < 6: the marginal path carries h
    with pytest.raises(ValueError, match=r"\(v, h\)"):
        reverse_ais(rbm, 1.0, key=jax.random.key(0), samples=jnp.zeros((8, 6)))


def test_ti_flags_the_hysteresis_loop_of_a_metastable_model():
    # Curie–Weiss below its transition with a small field: forward chains from uniform spins
    # fall into either well, the backward sweep starts from exact samples (mostly the +M well)
    model, beta = CurieWeiss(200, J=1.0, h=0.02), 1.3
    kernel = samplers.FlipMetropolis("spin", num_flips=20)
    settings = dict(num_temperatures=16, num_chains=16, num_samples=20, num_burnin=5)
    res = thermodynamic_integration(model, beta, key=jax.random.key(0), kernel=kernel, **settings)
    info = res.info
    assert info["reverse_start"] == "exact samples (magnetization)"
    assert not res.reliable
    assert any("forward and backward sweeps disagree" in w for w in res.warnings)
    # the estimate is the mean of both sweeps, and the stderr carries its lag bias estimate
    assert res.log_z == pytest.approx(0.5 * (info["log_z_forward"] + info["log_z_backward"]))
    lag_sys = np.sqrt(max(info["lag_bias_estimate"] ** 2 - info["lag_bias_stderr"] ** 2, 0))
    assert info["lag_bias_systematic"] == pytest.approx(lag_sys)
    assert res.stderr == pytest.approx(np.hypot(info["stderr_statistical"], lag_sys))


def test_lag_bias_is_the_second_order_term_of_the_sweep_rate():
    """Synthetic sweeps with integrals I − a r + b r² (forward), I + a r + b r² (backward) and
    I − 2a r + 4b r² (halved forward, on the coarse grid), plus a per-chain offset shared by all
    three: Δ = b r² exactly, with no spread."""
    from physebm.partition.ti import TISweep, coarse_points, lag_bias

    grid = np.linspace(0.0, 1.0, 9)
    offset = np.linspace(-0.3, 0.4, 6)  # per chain
    I, a, b, r = 2.0, 1.5, 0.8, 0.25

    def sweep(value, points):  # a constant integrand: its trapezoid integral over [0, 1]
        means = jnp.asarray(np.tile(value + offset, (points, 1)))
        return TISweep(means, jnp.zeros_like(means), jnp.ones(points), None, None)

    forward = sweep(I - a * r + b * r**2, 9)
    backward = sweep(I + a * r + b * r**2, 9)
    halved = sweep(I - 2 * a * r + 4 * b * r**2, len(coarse_points(8)))
    info = lag_bias(forward, backward, halved, grid)
    assert float(info["lag_bias_estimate"]) == pytest.approx(b * r**2, abs=1e-12)
    assert float(info["lag_bias_stderr"]) == pytest.approx(0.0, abs=1e-12)
    assert float(info["lag_bias_systematic"]) == pytest.approx(b * r**2, abs=1e-12)


def test_ti_without_check_runs_the_forward_sweep_only():
    model, beta = Ising((4, 4)), 0.3
    settings = dict(num_temperatures=8, num_chains=8, num_samples=10, num_burnin=5)
    key = jax.random.key(1)
    plain = thermodynamic_integration(model, beta, key=key, check=False, **settings)
    checked = thermodynamic_integration(model, beta, key=key, **settings)
    assert "hysteresis" not in plain.info and "hysteresis" in checked.info
    assert "sweep_speed_lag" not in plain.info and "sweep_speed_lag" in checked.info
    # forward and backward over the 9 grid points, and the halved sweep over 5 of them
    per_point = plain.info["num_energy_evaluations"] // 9
    assert checked.info["num_energy_evaluations"] == (2 * 9 + 5) * per_point
    with pytest.raises(TypeError, match="check"):
        thermodynamic_integration(model, beta, key=key, check="yes", **settings)


def test_importance_flags_weights_of_infinite_variance():
    # base N(0, 1), target ∝ exp(−0.3x²/2): w ∝ exp(0.35x²), a Pareto tail with k = 0.7 > 1/2
    # (the variance of w is infinite; this key gives k̂ in (0.5, 0.7], which 0.7 would pass)
    res = importance(Gaussian(jnp.zeros(1), jnp.array([[0.3]])), 1.0, key=jax.random.key(0),
                     num_samples=20_000)  # fmt: skip
    assert 0.5 < res.info["pareto_k"] <= 0.7
    assert not res.reliable
    assert any("Pareto k-hat" in w for w in res.warnings)


def test_adaptive_smc_replicas_follow_one_pilot_schedule():
    res = smc(Ising((4, 4)), 0.3, key=jax.random.key(0), num_particles=64, num_mcmc_steps=2)
    steps = np.asarray(res.info["num_steps"])
    assert np.all(steps == steps[0]) and np.all(np.asarray(res.info["final_tempering_param"]) == 1)


def test_ti_flags_chains_stuck_in_different_wells():
    # a double well with a barrier of 12 (β = 1): chains from N(0, 1) split between the wells
    # as the barrier rises and stay there; their integrands disagree far beyond their noise
    def energy(x):
        return 12.0 * (x[0] ** 2 - 1.0) ** 2 + 0.5 * x[0]

    res = thermodynamic_integration(
        energy,
        1.0,
        key=jax.random.key(0),
        base=bases.gaussian(jnp.zeros(1)),
        num_temperatures=16,
        num_chains=16,
        num_samples=20,
        num_burnin=5,
    )
    assert not res.reliable
    assert any("chains disagree at grid point" in w for w in res.warnings)


def test_mixing_check_passes_agreeing_chains_and_fails_split_ones():
    from physebm.partition.ti import mixing_check

    rng = np.random.default_rng(0)
    noise = rng.normal(size=(2, 9, 16))  # (means, half-differences) at 9 points, 16 chains
    means, drift = 0.1 * noise[0], 0.2 * noise[1]  # Var(m) = Var(D)/4: the null
    assert not bool(mixing_check(jnp.asarray(means), jnp.asarray(drift))[0].failed)
    split = means.copy()
    split[-1, :8] += 1.0  # half of the chains in another mode at the last point
    (check,) = mixing_check(jnp.asarray(split), jnp.asarray(drift))
    assert bool(check.failed) and "grid point 8 of 9" in check.message()


def test_sweep_speed_check_sees_a_lag_that_grows_with_speed():
    """Deterministic: chains whose integrand lags by a constant on the halved sweep fail the
    K vs K/2 check; the same averages pass it."""
    from physebm.partition.ti import TISweep, coarse_points, sweep_speed_check

    grid = np.linspace(0.0, 1.0, 9)
    noise = np.random.default_rng(0).normal(size=(9, 16)) * 0.1
    full = TISweep(jnp.asarray(1.0 + noise), None, None, None, None)
    coarse = coarse_points(8)
    same = TISweep(jnp.asarray(1.0 + noise[coarse][:, ::-1]), None, None, None, None)
    lagging = TISweep(same.means - 0.5, None, None, None, None)
    (ok,), info = sweep_speed_check(full, same, grid)
    assert not bool(ok.failed) and abs(float(info["sweep_speed_lag"])) < 0.1
    (bad,), info = sweep_speed_check(full, lagging, grid)
    assert bool(bad.failed) and float(info["sweep_speed_lag"]) == pytest.approx(0.5, abs=0.1)
    assert "every other grid point" in bad.message()


def test_the_ess_gate_of_annealed_weights_comes_from_the_independent_run():
    """Deterministic: with a predicted log-weight variance v the ESS checked is N e^{-v} alone,
    whatever the run's own weights say; without one, min(ESS, N e^{-sigma^2})."""
    from physebm.partition import assemble

    stats = {"pareto_k": 0.1, "num_dropped": 0, "num_valid": 32, "ess": 5.0, "ess_lognormal": 5.0}

    def ess_failed(**kw):
        checks = assemble.weight_checks(stats, 32, annealed=True, **kw)
        return [bool(c.failed) for c in checks if "effective sample size" in c.message()]

    assert ess_failed() == [True]
    assert ess_failed(predicted_variance=0.5) == [False]  # 32 e^-0.5 = 19.4
    assert ess_failed(predicted_variance=2.0) == [True]  # 32 e^-2 = 4.3


def test_reverse_ais_halving_check_sees_a_reverse_estimate_that_moves():
    """Deterministic: a halved reverse run 14 combined stderr higher fails the check (reverse
    AIS is biased high, and more so with fewer temperatures); one within its errors passes."""
    from physebm.partition.ais import halving_check

    half_log_z, half_stderr = jnp.asarray(12.0), jnp.asarray(0.1)
    moved = halving_check(jnp.asarray(10.0), jnp.asarray(0.1), half_log_z, half_stderr, "high")
    assert bool(moved.failed) and "biased high" in moved.message()
    still = halving_check(jnp.asarray(11.9), jnp.asarray(0.1), half_log_z, half_stderr, "high")
    assert not bool(still.failed)


def test_reverse_ais_check_runs_the_halved_schedule():
    model, beta = Ising((3, 3)), 0.4
    on = reverse_ais(model, beta, key=jax.random.key(0), num_temperatures=20, num_chains=32)
    off = reverse_ais(
        model, beta, key=jax.random.key(0), num_temperatures=20, num_chains=32, check=False
    )
    assert "log_z_half_schedule" in on.info and "log_z_half_schedule" not in off.info
    assert on.log_z == off.log_z  # the same reverse run; the check only adds a second one


def test_the_batch_check_of_annealed_weights_floors_each_group_at_the_lognormal_error():
    """Deterministic: Σ_b (L_b − L̄)²/s_b² by hand. Four groups of 8 weights, each group's
    log-weights a fixed pattern shifted by c_b: the delta-method s_b is the same in every group,
    and with ``annealed=True`` s_b² = max(δ_b², log(1 + (e^{σ̂²} − 1)/8)), σ̂² the pooled fenced
    variance."""
    from physebm.partition import assemble, weights

    pattern = jnp.linspace(-1.0, 1.0, 8)
    shifts = jnp.asarray([0.0, 0.3, -0.2, 0.5])
    log_w = (shifts[:, None] + pattern[None, :]).reshape(-1)
    group = weights.weight_statistics(pattern)
    log_z_b = shifts + group["log_z"]

    def by_hand(var):
        mean = jnp.sum(log_z_b / var) / jnp.sum(1.0 / var)
        return float(jnp.sum((log_z_b - mean) ** 2 / var))

    delta_var = jnp.full(4, group["stderr"] ** 2)
    chi2, threshold = assemble.batch_agreement(log_w)
    assert float(chi2) == pytest.approx(by_hand(delta_var), rel=1e-5)
    pooled = weights.weight_statistics(log_w)["fenced_log_weight_variance"]
    floor = jnp.log1p(jnp.expm1(pooled) / 8)
    assert float(floor) > float(delta_var[0])  # the floor is what binds here
    chi2_annealed, _ = assemble.batch_agreement(log_w, annealed=True)
    assert float(chi2_annealed) == pytest.approx(by_hand(jnp.maximum(delta_var, floor)), rel=1e-5)
    assert threshold == pytest.approx(16.266, abs=1e-3)  # χ²₃ at 1 − 1e-3


def test_lognormal_mean_variance_is_fentons_formula_without_overflow():
    from physebm.partition.weights import lognormal_mean_variance

    for v, n in [(0.1, 8), (1.0, 32), (4.0, 100)]:
        expected = np.log1p(np.expm1(v) / n)
        assert float(lognormal_mean_variance(jnp.asarray(v), n)) == pytest.approx(
            expected, rel=1e-5
        )
    big = float(lognormal_mean_variance(jnp.asarray(2000.0), 32))  # e^2000 overflows
    assert big == pytest.approx(2000.0 - np.log(32), rel=1e-6)


def test_the_predicted_variance_is_the_halved_runs():
    """The K-step run's log-weight variance is predicted by the K/2-step run's, not halved by
    the 1/K law (a fast anneal's variance falls more slowly)."""
    from physebm.partition.ais import predicted_variance

    assert predicted_variance(None) is None
    assert float(
        predicted_variance({"fenced_log_weight_variance": jnp.asarray(1.7)})
    ) == pytest.approx(1.7)


def test_the_batch_check_passes_weights_equal_up_to_rounding():
    """Deterministic: log-weights 50 + O(5e-6) noise in float32 (a base that is the target):
    the groups' delta-method stderrs are below the rounding of their log-sum-exp, and without
    the rounding floor χ² was 140 (threshold 16.3). A shift of 1 nat in one group of
    N(0, 0.25) log-weights is still seen."""
    from physebm.partition import assemble

    rng = np.random.default_rng(0)
    rng.normal(0, 1, 256)
    equal = jnp.asarray(50.0 + rng.normal(0, 1, 256) * 5e-6, jnp.float32)
    for annealed in (False, True):
        chi2, threshold = assemble.batch_agreement(equal, annealed=annealed)
        assert float(chi2) < 1.0 < threshold
    shifted = jnp.asarray(rng.normal(0, 0.5, 256), jnp.float32).at[:64].add(1.0)
    for annealed in (False, True):
        chi2, threshold = assemble.batch_agreement(shifted, annealed=annealed)
        assert float(chi2) > 3 * threshold
