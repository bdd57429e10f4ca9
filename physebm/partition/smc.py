"""Tempered sequential Monte Carlo estimate of log Z along an annealing path.

SMC runs on the paths of [`paths`][], the same as AIS and TI: from the normalised base
f₀ = q₀ to f₁ = exp(−βE) through log f_λ(x) (the geometric path (1 − λ) log q₀ − λβE, or the
model's own path: the RBM with one layer summed out, the periodic 2-D Ising lattice; see
`physebm.partition.ais.build_path`). Step k reweights, resamples and moves the N particles:

    log w_i = log f_{λ_k}(x_i) − log f_{λ_{k−1}}(x_i),    log Ẑ += log (1/N) Σ_i w_i,

then draws N indices by systematic resampling (blackjax's ``resampling.systematic``) with
probabilities ∝ w_i and applies ``num_mcmc_steps`` of the transition at f_{λ_k} to every
particle (`Move` of `physebm.partition.paths`, with the optional step-size adaptation).
Each replica's Ẑ is then an unbiased estimate of Z (Del Moral 2004) for any fixed schedule.

Adaptive tempering (``schedule=None``) chooses λ_k by bisection so that the ESS
(Σw)²/Σw² of the new weights is ``target_ess`` · N (λ_k = 1 when that already holds), in one
pilot run; the replicas then follow the pilot's schedule as a fixed schedule (`smc_core`),
so that every replica estimate stays unbiased.

The error bar comes from ``num_replicas`` independent SMC runs (vmapped). By the log-normal
central limit theorem for particle estimates of normalising constants (Bérard, Del Moral &
Doucet 2014), log Ẑ_r ~ N(log Z − σ²/2, σ²) for large N, so with m and s² the mean and
variance (R − 1) of the R replica estimates,

    log Ẑ = m + s²/2,    stderr² = s²/R + s⁴/(2(R − 1)),

(the variances of m and of s²/2 for normal log Ẑ_r; z then has roughly t_{R−1} tails). This
replaces the log-mean-exp of the replicas with its delta-method stderr, which is skewed at
R = 16: runs that missed the upper tail came back low with a small stderr (on the calibration
benchmark's 10-D Gaussian, reliable runs had mean z −0.8 to −1.3). ``lower`` is m, a
stochastic lower bound (E[log Ẑ_r] ≤ log Z).

Known limit: with few particles and little mixing the replica estimates are right-skewed, a
sample of 16 that missed their upper tail has both a low m and a low s², and ±3 stderr covers
log Z less often than 99 %, the misses low (``benchmarks/smc_replicas.py``). More particles
or MCMC steps per replica move the estimates towards the normal limit; on an RBM the
marginal path (h summed out) removes most of the skew of the joint (v, h) path.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from blackjax.smc import resampling
from jax.scipy.special import logsumexp

from physebm.partition import assemble
from physebm.partition import schedules as S
from physebm.partition.ais import _evaluations, _num_units, build_path
from physebm.partition.paths import GeometricPath, Move
from physebm.partition.result import LogZ
from physebm.validation import check_key
from samplers.base import check_count as _check_count
from samplers.progress import is_traced, run_segments, show_progress
from samplers.sharding import batch_sharding, constrain, enter, restore

__all__ = ["MAX_REPLICA_SD", "smc", "smc_core"]

MAX_REPLICA_SD = 1.0
"""Largest sd (nats) of the replica estimates log Ẑ_r for which the log-normal estimate is
trusted: beyond it the correction s²/2 exceeds ½ nat and rests on the shape of the tail."""

BISECTION_STEPS = 30
"""Bisection steps of the adaptive λ (an interval of 2⁻³⁰ in λ, below float32 resolution)."""


def _move(config) -> Move:
    return Move(config[2], config[4])


def _increments(path, t0, t1, xs):
    """log f_{t1}(x) − log f_{t0}(x) for every particle (NaN read as −∞: weight 0)."""
    inc = jax.vmap(lambda x: path.increment(t0, t1, x))(xs)
    return jnp.where(jnp.isnan(inc), -jnp.inf, inc)


def _ess_fraction(inc):
    """(Σw)²/Σw² / N of the weights w = exp(inc)."""
    return jnp.exp(2 * logsumexp(inc) - logsumexp(2 * inc)) / inc.shape[0]


def next_lambda(path, xs, t0, target_ess):
    """The adaptive λ after ``t0``: 1 if the weights from t0 to 1 keep an ESS fraction ≥
    ``target_ess``, else the bisection point (`BISECTION_STEPS` halvings of [t0, 1]) where
    the ESS fraction crosses it, always above t0.

    On a geometric path the increment is (t − t0) ℓ(x) with ℓ evaluated once; on another
    path every bisection step evaluates the increments afresh."""
    if isinstance(path, GeometricPath):
        ell = jax.vmap(path.log_likelihood)(xs)
        ell = jnp.where(jnp.isnan(ell), -jnp.inf, ell)

        def ess(t):
            return _ess_fraction(jnp.where(jnp.isfinite(ell), (t - t0) * ell, ell))
    else:

        def ess(t):
            return _ess_fraction(_increments(path, t0, t, xs))

    one = jnp.ones((), t0.dtype)

    def halve(_, bounds):
        lo, hi = bounds
        mid = (lo + hi) / 2
        ok = ess(mid) >= target_ess
        return jnp.where(ok, mid, lo), jnp.where(ok, hi, mid)

    lo, hi = jax.lax.fori_loop(0, BISECTION_STEPS, halve, (t0, one))
    return jnp.where(ess(one) >= target_ess, one, jnp.where(lo > t0, lo, hi))


def smc_step(path, move, kernel, key, xs, t0, t1, sharding=None):
    """One SMC step from f_{t0} to f_{t1}: reweight, resample (systematic), move at f_{t1}.

    Returns:
        ``(xs, log mean weight, mean acceptance, kernel)``; log mean weight is
        log (1/N) Σ_i f_{t1}(x_i)/f_{t0}(x_i), the step's factor of Ẑ.
    """
    inc = _increments(path, t0, t1, xs)
    num = inc.shape[0]
    k_resample, k_move = jax.random.split(key)
    idx = resampling.systematic(k_resample, jax.nn.softmax(inc), num)
    xs = constrain(jax.tree.map(lambda a: a[idx], xs), sharding)
    xs, acc, kernel = move(k_move, xs, t1, path, kernel)
    return constrain(xs, sharding), logsumexp(inc) - jnp.log(num), acc, kernel


@eqx.filter_jit
def _smc_replica(path, kernel, key, config, lambdas=None, num_steps=None, sharding=None):
    """One SMC run: adaptive tempering when ``lambdas`` is None, else the fixed schedule
    ``lambdas[:num_steps]`` (an array padded to any length; traced values are fine, so a new
    schedule does not recompile); the particles laid out by ``sharding`` (none: one device).

    Returns:
        ``(log Ẑ, final λ, λ per step (padded with NaN), number of steps, mean acceptance)``.
    """
    adaptive = lambdas is None
    carry = _smc_start(path, kernel, key, config, lambdas, sharding)
    stop = config[3] if adaptive else num_steps
    carry = _smc_steps(path, kernel, key, config, carry, stop, adaptive, sharding)
    return _smc_outputs(carry)


def _smc_start(path, kernel, key, config, lambdas, sharding):
    """The loop carry before the first SMC step: ``(particles, λ, log Ẑ, kernel arrays,
    λ per step, acceptance sum, i = 0)``; with ``lambdas`` None (adaptive) λ per step starts
    as NaN."""
    num_particles, max_steps = config[0], config[3]
    k0, _ = jax.random.split(key)
    xs = constrain(path.sample_base(k0, num_particles), sharding)
    dtype = params_dtype(path)
    if lambdas is None:
        lambdas = jnp.full((max_steps,), jnp.nan, dtype)
    lambdas = jnp.asarray(lambdas, dtype)
    zero = jnp.zeros((), dtype)
    return (xs, zero, zero, eqx.filter(kernel, eqx.is_array), lambdas, zero, jnp.asarray(0))


def _smc_steps(path, kernel, key, config, carry, stop, adaptive: bool, sharding):
    """SMC steps from the carry's i until λ = 1 or step ``stop`` (a ``while_loop``; ``stop`` may
    be traced, so every segment of a run shares one compilation)."""
    target_ess, move = config[1], _move(config)
    _, key = jax.random.split(key)
    static = eqx.filter(kernel, eqx.is_array, inverse=True)  # the loop carries arrays only

    def cond(c):
        _, lam, *_, i = c
        return (lam < 1.0) & (i < stop)

    def body(c):
        xs, lam, log_z, arrays, lambdas, acc_sum, i = c
        kernel = eqx.combine(arrays, static)
        new = next_lambda(path, xs, lam, target_ess) if adaptive else lambdas[i]
        step_key = jax.random.fold_in(key, i)
        xs, inc, acc, kernel = smc_step(path, move, kernel, step_key, xs, lam, new, sharding)
        lambdas = lambdas.at[i].set(new)
        arrays = eqx.filter(kernel, eqx.is_array)
        return xs, new, log_z + inc, arrays, lambdas, acc_sum + acc, i + 1

    return jax.lax.while_loop(cond, body, carry)


def _smc_outputs(carry):
    _, lam, log_z, _, lambdas, acc_sum, n = carry
    return log_z, lam, lambdas, n, acc_sum / jnp.maximum(n, 1)


@eqx.filter_jit
def _replicas_start(path, kernel, keys, config, lambdas, sharding):
    return jax.vmap(lambda k: _smc_start(path, kernel, k, config, lambdas, sharding))(keys)


@eqx.filter_jit
def _replicas_segment(path, kernel, keys, config, carries, stop, sharding):
    def one(k, c):
        return _smc_steps(path, kernel, k, config, c, stop, False, sharding)

    return jax.vmap(one)(keys, carries)


def params_dtype(path):
    return jnp.result_type(path.beta)


def smc(
    model_or_gibbs,
    beta=None,
    *,
    key,
    num_particles: int = 256,
    num_replicas: int = 16,
    kernel=None,
    base=None,
    target_ess: float = 0.5,
    num_mcmc_steps: int = 5,
    schedule=None,
    num_temperatures: int | None = None,
    max_steps: int = 500,
    target_acceptance="default",
    data=None,
    mesh=None,
    axis_name: str | None = None,
    progress: bool | None = False,
) -> LogZ:
    """log Z(β) by tempered SMC along the path [`ais`][physebm.partition.ais.ais] would anneal,
    adaptive unless a schedule is given (module docstring).

    Args:
        model_or_gibbs: a physebm model, a [`Gibbs`][] or an energy callable.
        beta: inverse temperature (defaults to the Gibbs' β).
        key: PRNG key.
        num_particles: N particles per replica.
        num_replicas: R independent SMC runs (the stderr comes from their spread; ≥ 16 for a
            stderr whose ±3σ covers ≥ 99 %: z follows roughly Student's t with R − 1 degrees
            of freedom).
        kernel: a [`samplers.Kernel`][] or a blackjax factory, as for
            [`ais`][physebm.partition.ais.ais]. None (the default) takes the path and
            kernel AIS takes: an RBM with a factorised base runs on its smaller layer with the
            other summed out (exact block Gibbs), a periodic 2-D Ising model from uniform
            spins on the lattice path (checkerboard sweeps); another model on the geometric
            path with its default kernel. ``info["transition"]`` names the choice.
        base: normalised base q₀ (the SMC prior).
        target_ess: fraction of N kept as ESS by adaptive tempering, in (0, 1).
        num_mcmc_steps: transition steps per SMC step.
        schedule: None for adaptive tempering (one pilot run chooses λ so that each step keeps
            an ESS of ``target_ess`` · N; the replicas then follow that schedule: see
            `smc_core`), else a schedule name/array (with ``num_temperatures``) as in
            [`schedules`][].
        max_steps: cap on adaptive SMC steps (not reaching λ = 1 is reported).
        target_acceptance: step-size adaptation after every SMC step, as for
            [`ais`][physebm.partition.ais.ais].
        data: training data; for an RBM the base is then the data base rate (as for AIS).
        mesh: a ``jax.sharding.Mesh`` (Explicit or Auto axes) to spread each replica's
            particles over its ``axis_name`` axis (resampling then gathers across devices);
            ``num_particles`` must be a multiple of that axis's size. The draws are those of
            ``mesh=None``; log Ẑ agrees to float rounding (sums over particles in another
            order; a rounding change can move an adaptive λ by as much, not more).
        axis_name: the mesh axis of the particles (default: the mesh's only axis).
        progress: a tqdm bar over the replicas' SMC steps (after the adaptive pilot); the run is
            then a few calls of one compiled segment, with the same result. ``None`` shows it
            only on a terminal without ``CI`` set; never inside ``jit``/``vmap``.

    Returns:
        [`LogZ`][] (method ``"smc"``): log Ẑ = m + s²/2 and ``lower`` = m, the mean of the
        replica estimates (a stochastic lower bound); diagnostics ``replica_log_z``,
        ``replica_log_z_sd``, ``lognormal_correction`` (s²/2), ``log_mean_exp`` (of the
        replica estimates, for comparison), ``final_tempering_param`` (must be 1), ``num_steps``,
        ``tempering_schedule`` (first replica), ``acceptance_rate``, ``transition`` (the path
        and kernel), ``warnings``.
    """
    key = check_key(key)
    num_mcmc_steps = _check_count(num_mcmc_steps, "num_mcmc_steps")
    path, move, kernel, desc = build_path(
        model_or_gibbs,
        beta,
        kernel=kernel,
        base=base,
        num_steps=num_mcmc_steps,
        target_acceptance=target_acceptance,
        data=data,
    )
    num_particles = _check_count(num_particles, "num_particles", 2)
    sharding = batch_sharding(mesh, axis_name, num_particles, "num_particles")
    num_replicas = _check_count(num_replicas, "num_replicas", 2)
    max_steps = _check_count(max_steps, "max_steps")
    if not (0.0 < target_ess < 1.0):
        raise ValueError(f"target_ess must be in (0, 1), got {target_ess}")
    if schedule is not None:
        if num_temperatures is None and isinstance(schedule, str):
            raise ValueError("a named schedule needs num_temperatures")
        schedule = jnp.asarray(S.get(schedule, num_temperatures or 1))
    config = (num_particles, float(target_ess), move.num_steps, max_steps, move.target_acceptance)
    units = _num_units(jax.eval_shape(lambda k: path.sample_base(k, 1), key))
    per_step = _evaluations(path, move, kernel, units, num_particles, 1)
    context, (key, path, kernel, schedule) = enter(sharding, (key, path, kernel, schedule))
    with context:
        out = smc_core(key, path, kernel, config, num_replicas, schedule, sharding, progress)
        num_steps = out[3]
        pilot = schedule is None
        evals = jnp.sum(num_steps) * (1 + pilot / num_replicas) * per_step
        res = _smc_result(*out, num_particles, evals, desc)
    return restore(res, mesh, sharding)


def smc_core(
    key,
    path,
    kernel,
    config: tuple,
    num_replicas: int,
    schedule=None,
    sharding=None,
    progress: bool | None = False,
):
    """The pure core: ``num_replicas`` independent SMC runs (vmapped), jit/vmap-able.

    With ``schedule`` None the tempering schedule is chosen by one adaptive pilot run (its own
    key), and the replicas then follow it as a fixed schedule: a schedule adapted on the very
    particles that estimate Z makes Ẑ biased (measured on the 10-D Gaussian of the calibration
    benchmark: log-mean-exp of 640 replica estimates −0.07 ± 0.02 nats with per-replica
    adaptation, 0.00 with a fixed schedule), while one chosen beforehand keeps E[Ẑ] = Z. The
    pilot costs one replica more. ``sharding`` lays each replica's particles out over devices.
    ``progress``: a bar over the replicas' steps (the pilot runs without one), as in [`smc`][].

    Returns:
        ``(log_z (R,), final λ (R,), λ schedules (R, len), steps (R,), acceptance (R,))``.
    """
    k_pilot, k_run = jax.random.split(key)
    if schedule is None:
        _, _, lambdas, num_steps, _ = _smc_replica(
            path, kernel, k_pilot, config, None, None, sharding
        )
    else:
        lambdas, num_steps = schedule[1:], schedule.shape[0] - 1
    keys = jax.random.split(k_run, num_replicas)
    carries = _replicas_start(path, kernel, keys, config, lambdas, sharding)

    def segment(carries, start, stop):
        stop = jnp.asarray(stop)
        return _replicas_segment(path, kernel, keys, config, carries, stop, sharding)

    if show_progress(progress) and not is_traced((path, kernel, key, lambdas, num_steps)):
        carries = run_segments(segment, carries, int(num_steps), desc="smc", unit="temperature")
    else:  # the same compiled segment, once: bit-identical to the run with a bar
        carries = segment(carries, 0, num_steps)
    return jax.vmap(_smc_outputs)(carries)


def _smc_result(
    log_z_r, final_lambda, lambdas, n_steps, acc, num_particles, evals, transition
) -> LogZ:
    """log Ẑ = m + s²/2 from the replica estimates (module docstring), with the checks."""
    num_replicas = log_z_r.shape[0]
    valid = jnp.isfinite(log_z_r)
    num_valid = jnp.sum(valid)
    mean = jnp.sum(jnp.where(valid, log_z_r, 0.0)) / jnp.maximum(num_valid, 1)
    var = jnp.sum(jnp.where(valid, (log_z_r - mean) ** 2, 0.0)) / jnp.maximum(num_valid - 1, 1)
    log_z = mean + var / 2
    stderr = jnp.sqrt(var / num_valid + var**2 / (2 * jnp.maximum(num_valid - 1, 1)))
    sd = jnp.sqrt(var)
    checks = [
        assemble.Check(
            ~jnp.all(final_lambda >= 1.0),
            lambda: (
                f"SMC stopped before reaching the target (final λ = {np.asarray(final_lambda)}): "
                "raise max_steps or target_ess"
            ),
        ),
        assemble.Check(
            num_valid < num_replicas,
            lambda: f"{int(num_replicas - num_valid)} replicas returned NaN/inf and were dropped",
        ),
        assemble.Check(
            ~(sd <= MAX_REPLICA_SD),
            lambda: (
                f"the replicas disagree: the sd of their log Z is {float(sd):.3g} nats "
                f"(> {MAX_REPLICA_SD:g}), so the log-normal correction s²/2 and the stderr rest "
                "on the shape of the tail; use more particles, more MCMC steps or a higher "
                "target_ess"
            ),
        ),
    ]
    notes = []
    if num_replicas < assemble.MIN_INDEPENDENT_RUNS:
        notes.append(f"only {num_replicas} replicas: the stderr itself is very uncertain")
    info = dict(
        replica_log_z=log_z_r,
        replica_log_z_sd=sd,
        lognormal_correction=var / 2,
        log_mean_exp=logsumexp(jnp.where(valid, log_z_r, -jnp.inf)) - jnp.log(num_valid),
        num_dropped=num_replicas - num_valid,
        final_tempering_param=final_lambda,
        num_steps=n_steps,
        tempering_schedule=lambdas[0],
        acceptance_rate=jnp.mean(acc),
        num_particles=num_particles,
        num_replicas=num_replicas,
        num_energy_evaluations=evals,
        transition=transition,
        stderr_source=(
            f"log-normal CLT across {num_replicas} independent replicas: s²/R + s⁴/(2(R − 1))"
        ),
    )
    return assemble.finish(
        log_z,
        stderr,
        method="smc",
        lower=mean,
        checks=checks,
        notes=notes,
        info=info,
    )
