"""Annealed importance sampling (Neal 2001), reverse AIS and bidirectional Monte Carlo.

Along a path f_0 = q₀ (normalised base) → f_K = exp(−βE) with schedule 0 = t_0 < … < t_K = 1,
each chain draws x_0 ~ q₀ and, for k = 1..K,

    log w += log f_{t_k}(x_{k−1}) − log f_{t_{k−1}}(x_{k−1}),   x_k ~ T_k(x_{k−1}, ·),

with T_k leaving f_{t_k} invariant. Then E[w] = Z, and over N chains

    log Ẑ = log (1/N) Σ_n w_n       (stochastic lower bound: E[log Ẑ] ≤ log Z),

with the stderr

    stderr = max(sd(w) / (√N mean(w)),  √(log(1 + (e^{σ̂²} − 1) / N))),

the delta method over the N independent chains with the sample variance of w, and the error
under a log-normal fitted to the log-weights (Gaussian work distributions, Gore, Ritort &
Bustamante 2003; the mean of N log-normals as a log-normal, Fenton 1960; σ̂² over the
log-weights inside Tukey's lower fence, see `weights`). A run that has not sampled the upper
tail of w has a small sample sd(w) and a low log Ẑ together; σ̂² does not depend on the tail,
so the second term keeps its z from being over-dispersed on the low side. The bias estimate
is E[log Ẑ] − log Z ≈ −stderr²/2. Heavy tails beyond that are flagged by the reliability
checks (ESS, Pareto k̂, batch agreement, a halved schedule, a reverse run from exact samples),
not absorbed into the error bar. With the checks on, the ESS is the log-normal N e^{−v}
predicted from the independent halved run's log-weight variance v (`predicted_variance`): a
gate on the run's own weights would pass, among runs whose true ESS is near the threshold,
those that missed the upper tail of w. The
mean log-weight E[log w] = log Z − KL ≈ log Z − Var[log w]/2 is a looser lower bound;
Var[log w] and this Jensen gap fall like 1/K near the quasi-static limit and more slowly in a
fast anneal (``benchmarks/variance_decay.py``).

Reverse AIS runs the schedule backwards from samples of the target: E[w_rev] = 1/Z, so
−log mean(w_rev) is a stochastic *upper* bound (Burda, Grosse & Salakhutdinov 2015; Grosse,
Ghahramani & Adams 2015). Exact target samples make it a true bound in expectation; samples
from long chains only approximately (the diagnostics say which). Forward and reverse works
combined by BAR give the bidirectional (BDMC) estimate.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import samplers
from physebm.partition import assemble
from physebm.partition import schedules as S
from physebm.partition._target import (
    check_base,
    check_energy_output,
    default_base,
    exact_sampler_name,
    exact_samples,
    resolve,
)
from physebm.partition.importance import log_z_from_log_weights
from physebm.partition.kernels import resolve_kernel
from physebm.partition.paths import GeometricPath, Move, choose_base, default_path
from physebm.partition.result import LogZ
from physebm.partition.weights import annealed_stderr, weight_statistics
from physebm.validation import check_flag, check_key
from samplers.base import check_count as _check_count
from samplers.progress import is_traced, run_segments, show_progress
from samplers.sharding import batch_sharding, constrain, enter, replicate, restore

__all__ = [
    "AISInfo",
    "adaptive_schedule",
    "ais",
    "ais_core",
    "halved",
    "halving_check",
    "predicted_variance",
    "anneal",
    "build_path",
    "reverse_ais",
]


MIN_SCHEDULE_BUCKET = 1024


def _bucket(n: int) -> int:
    """Padded schedule length: a power of two ≥ n and ≥ MIN_SCHEDULE_BUCKET, so that every
    K < 1024 shares one compilation (the loop runs K steps; the padding is never read)."""
    return max(MIN_SCHEDULE_BUCKET, 1 << (n - 1).bit_length())


def anneal(path, move, kernel, schedule, x0, key, progress=False, desc="ais", sharding=None):
    """Run the AIS recursion along ``schedule`` (K + 1 points) from positions ``x0`` (batched).

    For k = 1..K: log w += log f_{t_k}(x) − log f_{t_{k−1}}(x), then x ~ T_{t_k}(x, ·), T_k
    being ``move`` with ``kernel`` at f_{t_k} (the kernel's step size may adapt); one step is
    ``path.anneal_step(key, k, …)`` (`anneal_step`, fused for
    the RBM marginal path). One jitted loop for all K < 1024 (the schedule is padded); it
    stores (K, 4) per-step statistics beside the chains, and the increment variance is
    (Σd² − (Σd)²/n)/n over the n finite increments d (shifted by the first chain's).
    With ``progress`` (`samplers.progress.show_progress`; never when traced) the loop
    runs in a few calls of one compiled segment with a bar, bit-identical to one call.
    ``sharding`` (`samplers.sharding.batch_sharding`) lays the chains out over devices.

    Returns:
        ``(x_K, log_w, kernel, acceptance (K,), increment_variance (K,))``; the increment
        variance at step k is the variance across chains of the k-th log-weight increment
        (a measure of how coarse the step is; NaN increments are ignored).
    """
    schedule = jnp.asarray(schedule)
    k = schedule.shape[0] - 1
    padded = jnp.pad(schedule, (0, _bucket(k + 1) - k - 1), mode="edge")
    if show_progress(progress) and not is_traced((path, kernel, padded, x0, key)):
        carry = _anneal_start(x0, kernel, padded, sharding)

        def segment(carry, start, stop):
            stop = jnp.asarray(stop)
            return _anneal_segment(path, move, kernel, padded, carry, stop, key, sharding)

        carry = run_segments(segment, carry, k, desc=desc, unit="temperature")
        x, log_w, kernel, acc, var_inc = _anneal_finish(carry, kernel)
    else:
        x, log_w, kernel, acc, var_inc = _anneal(
            path, move, kernel, padded, jnp.asarray(k), x0, key, sharding
        )
    return x, log_w, kernel, acc[:k], var_inc[:k]


def _anneal_start(x0, kernel, schedule, sharding=None):
    """The loop carry at k = 0: ``(x, log_w, kernel arrays, stats (K, 4), k)``."""
    num = jax.tree.leaves(x0)[0].shape[0]
    stats = jnp.zeros((schedule.shape[0] - 1, 4), dtype=schedule.dtype)
    arrays = eqx.filter(kernel, eqx.is_array)  # the loop carries arrays only
    log_w = constrain(jnp.zeros(num, dtype=schedule.dtype), sharding)
    return (constrain(x0, sharding), log_w, arrays, stats, jnp.asarray(0))


def _anneal_loop(path, move, kernel, schedule, carry, stop, key, sharding=None):
    """The AIS steps from the carry's k to ``stop`` (a ``while_loop``)."""
    static = eqx.filter(kernel, eqx.is_array, inverse=True)

    def body(carry):
        x, log_w, arrays, stats, k = carry
        t0, t1 = schedule[k], schedule[k + 1]
        kernel = eqx.combine(arrays, static)
        x, inc, acc, kernel = path.anneal_step(key, k, t0, t1, x, move, kernel)
        x, inc = constrain((x, inc), sharding)
        stats = jax.lax.dynamic_update_slice(stats, _step_stats(inc, acc)[None], (k, 0))
        arrays = eqx.filter(kernel, eqx.is_array)
        return x, log_w + inc, arrays, stats, k + 1

    return jax.lax.while_loop(lambda c: c[-1] < stop, body, carry)


def _anneal_finish(carry, kernel):
    x, log_w, arrays, stats, _ = carry
    acc, n, s1, s2 = stats.T
    var_inc = (s2 - s1**2 / n) / n  # NaN where no increment was finite
    static = eqx.filter(kernel, eqx.is_array, inverse=True)
    return x, log_w, eqx.combine(arrays, static), acc, var_inc


@eqx.filter_jit
def _anneal(path, move, kernel, schedule, num_steps, x0, key, sharding=None):
    carry = _anneal_start(x0, kernel, schedule, sharding)
    carry = _anneal_loop(path, move, kernel, schedule, carry, num_steps, key, sharding)
    return _anneal_finish(carry, kernel)


_anneal_segment = eqx.filter_jit(_anneal_loop)


def _step_stats(inc, acc):
    """(acceptance, n, Σ d, Σ d²) over the n finite increments, d = increment − the first
    chain's (a shift against cancellation): one reduction per step, the variance
    (Σd² − (Σd)²/n)/n after the loop."""
    finite = jnp.isfinite(inc)
    d = jnp.where(finite, inc - jnp.where(finite[0], inc[0], 0), 0)
    sums = jnp.sum(jnp.stack([finite.astype(inc.dtype), d, d * d]), axis=1)
    return jnp.concatenate([jnp.asarray(acc, inc.dtype)[None], sums])


@eqx.filter_jit
def sample_base(path, key, num: int, sharding=None):
    """``num`` exact draws from the path's base (jitted: one compilation per shape), laid out
    by ``sharding`` (the same draws on any layout)."""
    return constrain(path.sample_base(key, num), sharding)


def build_path(
    model_or_gibbs,
    beta=None,
    *,
    kernel=None,
    base=None,
    num_steps: int = 1,
    target_acceptance="default",
    data=None,
):
    """The path, the move, the kernel and its description that [`ais`][] would use.

    With no ``kernel``, the model's own path where it registers one
    (`default_path`: the RBM's marginal path with exact block
    Gibbs over v, the periodic 2-D Ising lattice path with checkerboard sweeps); otherwise the
    geometric path with ``kernel`` (default
    [`default_kernel`][physebm.partition.kernels.default_kernel]).

    Returns:
        ``(path, move, kernel, description)``.
    """
    target = resolve(model_or_gibbs, beta)
    energy = target.energy
    _check_count(num_steps, "num_steps")
    base = choose_base(energy, None if base is None else check_base(base), data)
    if kernel is None:
        special = default_path(energy, target.beta, base)
        if special is not None:
            path, kernel, description = special
            return path, Move(num_steps), kernel, description
    base = default_base(energy) if base is None else base
    check_energy_output(energy, base)
    kernel, target_acceptance = resolve_kernel(kernel, energy, base, target_acceptance)
    path = GeometricPath(energy, target.beta, base)
    return path, Move(num_steps, target_acceptance), kernel, type(kernel).__name__


def _schedule(schedule, num_temperatures):
    num_temperatures = _check_count(num_temperatures, "num_temperatures")
    return jnp.asarray(S.get(schedule, num_temperatures))


def _evaluations(path, move, kernel, num_units, num_chains, k) -> int:
    """Energy-equivalent evaluations (an energy, a gradient or a layer conditional = 1)."""
    per_step = getattr(path, "energy_evaluations_per_increment", 1)
    if isinstance(kernel, samplers.HeatBath):
        num_colors = len(set(kernel.colors)) if kernel.colors else num_units
        per_move = num_colors if kernel.multilinear else num_units + num_colors
        per_step += per_move * move.num_steps
    elif isinstance(kernel, samplers.BlockGibbs | samplers.Checkerboard):
        per_step += move.num_steps
    else:
        leapfrogs = getattr(kernel, "num_integration_steps", None)
        per_move = 1 if leapfrogs is None else int(leapfrogs) + 1  # MALA: one gradient
        per_step += per_move * move.num_steps + 1
    return int(num_chains * k * per_step)


def ais_core(
    key, path, move, kernel, schedule, num_chains: int, progress=False, desc="ais", sharding=None
):
    """The pure core of AIS: ``num_chains`` draws from the path's base, annealed along
    ``schedule`` (jit/vmap-able over ``key`` and over β inside ``path``; ``progress`` and
    ``sharding`` as in `anneal`).

    Returns:
        ``(log_w (N,), AISInfo)``.
    """
    k_init, k_run = jax.random.split(key)
    x0 = sample_base(path, k_init, num_chains, sharding)
    x, log_w, kernel, acc, var_inc = anneal(
        path, move, kernel, schedule, x0, k_run, progress, desc, sharding
    )
    return replicate(log_w, sharding), AISInfo(x, kernel, acc, var_inc)


class AISInfo(NamedTuple):
    """What the AIS core returns beside the log-weights.

    Attributes:
        final_samples: the chains' last states (leading axis N).
        final_kernel: the kernel after step-size adaptation (a [`samplers.Kernel`][]).
        acceptance_rate: (K,) mean acceptance of the moves at each temperature.
        increment_variance: (K,) variance across chains of each log-weight increment.
    """

    final_samples: Any
    final_kernel: Any
    acceptance_rate: jax.Array
    increment_variance: jax.Array


def ais(
    model_or_gibbs,
    beta=None,
    *,
    key,
    num_temperatures: int = 1000,
    num_chains: int = 64,
    kernel=None,
    base=None,
    schedule="linear",
    num_steps: int = 1,
    target_acceptance="default",
    check: bool = True,
    data=None,
    progress: bool | None = False,
    mesh=None,
    axis_name: str | None = None,
) -> LogZ:
    """log Z(β) by annealed importance sampling.

    Jittable and vmappable over ``key`` and ``beta`` (e.g. ``jax.vmap(lambda k: ais(model,
    beta, key=k).log_z)(keys)``): the run is `ais_core`, the result assembly
    [`physebm.partition.assemble`][].

    Args:
        model_or_gibbs: a physebm model, a [`Gibbs`][] or an energy callable.
        beta: inverse temperature (defaults to the Gibbs' β).
        key: PRNG key.
        num_temperatures: K annealing steps.
        num_chains: N independent chains (weights).
        kernel: a [`samplers.Kernel`][] (e.g. ``samplers.HeatBath("spin")``,
            ``samplers.MALA(0.1)``) or any blackjax factory ``logdensity_fn ->
            SamplingAlgorithm`` (e.g. ``functools.partial(blackjax.mala, step_size=0.1)``);
            default ([`physebm.partition.kernels`][]): heat-bath flips for spins/bits (block
            Gibbs over v for an RBM, checkerboard sweeps for the periodic 2-D Ising model),
            MALA for real x.
        base: normalised base q₀ (default uniform spins/bits, N(0, I) for a Gaussian model).
        schedule: ``"linear"``, ``"geometric"``, ``"sigmoid"``, ``"salakhutdinov_murray"``, a
            callable ``K -> array`` or an explicit array (see [`schedules`][]).
        num_steps: kernel steps per temperature.
        target_acceptance: adapt the kernel's step size between temperatures towards this
            acceptance rate ([`samplers.adapt_step_size`][]), or None for a fixed step;
            ``"default"``: 0.574 for the default MALA, fixed for a kernel you pass.
        data: training data of the model; for an RBM the base is then the data base rate
            (Salakhutdinov & Murray 2008), far closer to a trained RBM than the uniform base
            (give ``base=`` or ``data=``, not both).
        check: run the reliability checks that cost extra sampling (documented cost: +50 %
            for the schedule-halving run, and +100 % for reverse AIS where exact target
            samples exist, plus drawing them); the statistical checks on the weights always run.
        progress: a tqdm bar per anneal (forward, and the checks' halved and reverse runs):
            the K steps then run in a few calls of one compiled segment (bit-identical
            results, no recompilation); ``None`` shows it only on a terminal without
            ``CI=true``; never inside ``jit``/``vmap``.
        mesh: a ``jax.sharding.Mesh`` (Explicit or Auto axes) to spread the chains over its
            ``axis_name`` axis, also those of the checks' runs; ``num_chains`` must be a
            multiple of that axis's size. Each chain's draws are the same as with
            ``mesh=None``: integer kernels (spins, bits) give the same chains, and log Ẑ
            agrees to float rounding (the log-mean-exp over chains sums in another order).
            Across processes (``jax.distributed.initialize``) every process makes the same
            call with the global mesh.
        axis_name: the mesh axis of the chains (default: the mesh's only axis).

    Returns:
        [`LogZ`][] (method ``"ais"``): ``log_z`` = log Ẑ = log mean(w) with stderr
        max(sd(w)/(√N mean(w)), √(log(1 + (e^{σ̂²} − 1)/N))), σ̂² the variance of the
        log-weights inside Tukey's lower fence (the delta method, and the log-normal error;
        ``info["stderr_delta"]`` is the first alone), ``lower`` = log Ẑ (a stochastic
        lower bound: E[log Ẑ] ≤ log Z), ``upper`` the reverse-AIS estimate where exact target
        samples exist and ``check`` is on (a stochastic upper bound), else +∞.
        ``reliable`` is False when a check fails: dropped (NaN) weights, weight ESS < 10
        (with ``check``, the log-normal ESS predicted from the independent halved run,
        ``predicted_variance``; without, the
        sample ESS or the log-normal N e^{−σ̂²} of the run's own weights),
        Pareto k̂ > 0.7, batch disagreement of 4 groups of chains, log Ẑ moving under a
        halved schedule, or a forward/reverse gap (see
        [`physebm.partition.assemble.from_log_weights`][]); each check has a false-alarm
        rate of 1e-3 on a converged run. info: ``bias_estimate`` (−stderr²/2), ``ess``,
        ``pareto_k``, ``log_weight_variance``, ``mean_log_weight`` (E log w ≤ log Z),
        ``jensen_gap_estimate`` (Var/2, the gap of E log w), ``log_z_half_schedule``,
        ``bdmc_gap``, ``acceptance_rate``, ``increment_variance`` per step,
        ``num_energy_evaluations``, ``final_samples``.
    """
    key = check_key(key)
    check = check_flag(check, "check")
    path, move, kernel, desc = build_path(
        model_or_gibbs,
        beta,
        kernel=kernel,
        base=base,
        num_steps=num_steps,
        target_acceptance=target_acceptance,
        data=data,
    )
    num_chains = _check_count(num_chains, "num_chains", 2)
    sharding = batch_sharding(mesh, axis_name, num_chains, "num_chains")
    sched = _schedule(schedule, num_temperatures)
    context, (key, path, kernel, sched) = enter(sharding, (key, path, kernel, sched))
    with context:
        log_w, info = ais_core(
            key, path, move, kernel, sched, num_chains, progress, "ais", sharding
        )
        half = None
        if check:  # AIS with every other temperature on fresh chains
            log_w_half, _ = ais_core(
                jax.random.fold_in(key, 1), path, move, kernel, halved(sched), num_chains,
                progress, "ais check: halved schedule", sharding,
            )  # fmt: skip
            half = weight_statistics(log_w_half)
        res = _forward_result(log_w, info, sched, path, move, desc, half)
        if check:
            target = resolve(model_or_gibbs, beta)
            res = _check_forward(
                res, half, key, path, move, kernel, sched, target, progress, sharding
            )
    return restore(res, mesh, sharding)


def predicted_variance(half: dict | None):
    """The log-weight variance of a K-step anneal predicted from its independent K/2-step run:
    σ̂²_{K/2}, the fenced variance of
    [`weight_statistics`][physebm.partition.weights.weight_statistics]; None without a halved
    run.

    σ² falls with K — like 1/K only near the quasi-static limit, more slowly in a fast anneal —
    so the halved run's variance errs on the safe side. Extrapolating the decay (σ̂²_{K/2}/2, or
    the ratio σ̂²_{K/2}/σ̂²_{K/4} of two shorter runs carried one doubling on) understates σ²_K
    where the decay per doubling slows as K grows, as on 16×16 Ising at β_c
    (``benchmarks/variance_decay.py``), and a gate whose false passes are what it must avoid
    then passes runs whose true ESS is far below the threshold."""
    return None if half is None else half["fenced_log_weight_variance"]


def _forward_result(log_w, info: AISInfo, sched, path, move, desc, half=None) -> LogZ:
    num_chains, k = log_w.shape[0], sched.shape[0] - 1
    notes = []
    if num_chains < assemble.MIN_INDEPENDENT_RUNS:
        notes.append(f"only {num_chains} chains: the stderr itself is very uncertain")
    res = log_z_from_log_weights(
        log_w,
        "ais",
        num_chains=num_chains,
        num_temperatures=k,
        transition=desc,
        acceptance_rate=jnp.mean(info.acceptance_rate),
        increment_variance=info.increment_variance,
        schedule=sched,
        final_samples=info.final_samples,
        final_kernel=info.final_kernel,
        num_energy_evaluations=_evaluations(
            path, move, info.final_kernel, _num_units(info.final_samples), num_chains, k
        ),
        stderr_source=(
            "max of the delta method over the N chains (Neal 2001) and the log-normal "
            "error sqrt(log(1 + (exp(var log w) - 1)/N)) (Fenton 1960; Gore, Ritort & "
            "Bustamante 2003)"
        ),
        annealed=True,
        predicted_variance=predicted_variance(half),
        warnings=tuple(notes),
    )
    res.info["jensen_gap_estimate"] = 0.5 * res.info["log_weight_variance"]
    return res


def halved(schedule) -> jax.Array:
    """Every other point of a schedule (t_0, t_2, …, and t_K): the same path with K/2 steps."""
    k = schedule.shape[0] - 1
    return schedule[np.r_[np.arange(0, k, 2), k]]


def halving_check(log_z, stderr, half_log_z, half_stderr, direction: str) -> assemble.Check:
    """log Ẑ_K − log Ẑ_{K/2} within ``CHECK_Z`` combined stderrs of 0.

    The halved run (every other temperature, fresh chains) has about twice the full run's
    bias (the bias falls like 1/K), so the difference estimates the bias left in log Ẑ_K.
    ``half_log_z``, ``half_stderr``: the halved run's estimate of log Z (for reverse AIS
    −log mean(w_rev)) and its stderr; ``direction``: the sign of the bias in words ("low" for
    forward AIS, "high" for reverse AIS).
    """
    diff = log_z - half_log_z
    sigma = jnp.sqrt(stderr**2 + half_stderr**2)
    return assemble.Check(
        ~(jnp.abs(diff) <= assemble.CHECK_Z * sigma),
        lambda: (
            f"halving the temperatures moves log Z by {float(diff):.3g} "
            f"({float(diff / sigma):.1f} combined stderr): the anneal has not converged "
            f"and log Z is likely biased {direction}; use more temperatures"
        ),
    )


def _check_forward(
    res: LogZ, half, key, path, move, kernel, sched, target, progress=False, sharding=None
) -> LogZ:
    """Add the schedule-halving check and, where exact target samples exist, the BDMC gap.

    * Halving (``halving_check``): ``half``, the
      statistics of AIS with every other temperature on fresh chains, whose log Ẑ must be
      within ``CHECK_Z`` combined stderrs of log Ẑ_K.
    * BDMC: reverse AIS along the same schedule from exact samples of p_β gives a stochastic
      upper bound (``upper``); the gap upper − log Ẑ, which is ≥ 0 in expectation and shrinks
      to 0 as the anneal converges, must be within ``CHECK_Z`` combined delta-method stderrs
      (one-sided; the rule of [`bidirectional_ais`][physebm.partition.bidirectional_ais]).
    """
    num_chains = res.info["log_weights"].shape[0]
    half_log_z, half_stderr = half["log_z"], annealed_stderr(half)
    checks = [halving_check(res.log_z, res.stderr, half_log_z, half_stderr, "low")]
    info = _half_info(half_log_z, half_stderr, half)
    upper = res.upper
    name = exact_sampler_name(target.energy)
    if name is not None:
        k_s, k_r = jax.random.split(jax.random.fold_in(key, 2))
        x = path.from_sample(exact_samples(target.energy, target.beta, k_s, num_chains))
        _, log_w_rev, *_ = anneal(
            path, move, kernel, sched[::-1], x, k_r, progress, "ais check: reverse", sharding
        )
        log_w_rev = replicate(log_w_rev, sharding)
        rev = weight_statistics(log_w_rev)
        upper = -rev["log_z"]
        gap = upper - res.log_z
        # delta-method stderrs, as in bidirectional.disagreement_warning: the log-normal
        # term overstates the error of bimodal log-weights, exactly when the gap must be seen
        sigma_gap = jnp.sqrt(res.info["stderr_delta"] ** 2 + rev["stderr"] ** 2)
        checks.append(
            assemble.Check(
                ~(gap <= assemble.CHECK_Z * sigma_gap),
                lambda: (
                    f"forward and reverse AIS (from exact samples) disagree: gap "
                    f"{float(gap):.3g} nats = {float(gap / sigma_gap):.1f} combined stderr; "
                    "the chains are not equilibrated along the path (missed modes): use more "
                    "temperatures, a better base or better kernels"
                ),
            )
        )
        info.update(upper_source=f"reverse AIS from exact samples ({name})", bdmc_gap=gap)
    return assemble.with_checks(res, checks, upper=upper, info=info)


def _half_info(half_log_z, half_stderr, half: dict) -> dict:
    return {
        "log_z_half_schedule": half_log_z,
        "stderr_half_schedule": half_stderr,
        "log_weight_variance_half_schedule": half["fenced_log_weight_variance"],
    }


def _reverse_start(path, move, kernel, target, key, num_chains, samples, num_equilibration):
    """Initial target samples for reverse AIS and how they were obtained."""
    if samples is not None:
        return path.from_sample(samples), "user"
    energy = target.energy
    if exact_sampler_name(energy) is not None:
        xs = exact_samples(energy, target.beta, key, num_chains)
        return path.from_sample(xs), f"exact ({exact_sampler_name(energy)})"
    k1, k2, k3 = jax.random.split(key, 3)
    sched = jnp.asarray(S.linear(num_equilibration))
    x, *_ = anneal(path, move, kernel, sched, sample_base(path, k1, num_chains), k2)
    at_target = jnp.ones(num_equilibration + 1, dtype=sched.dtype)
    x, *_ = anneal(path, move, kernel, at_target, x, k3)
    return x, (
        f"long_chains (annealed over {num_equilibration} steps, then {num_equilibration} "
        "steps at the target; not exact)"
    )


def _num_units(x) -> int:
    return int(sum(np.prod(leaf.shape[1:]) for leaf in jax.tree.leaves(x)))


def reverse_ais(
    model_or_gibbs,
    beta=None,
    *,
    key,
    num_temperatures: int = 1000,
    num_chains: int = 64,
    kernel=None,
    base=None,
    schedule="linear",
    num_steps: int = 1,
    samples=None,
    num_equilibration: int = 2000,
    target_acceptance="default",
    data=None,
    check: bool = True,
) -> LogZ:
    """Stochastic upper bound on log Z by AIS run from the target back to the base.

    Starting from x_K ~ p_β, the reverse weights satisfy E[w_rev] = 1/Z, so
    log Z_rev = −log mean(w_rev) has E[log Z_rev] ≥ log Z. Initial samples are, in order of
    preference: ``samples`` (user-given; trust is the user's), exact samples for the built-in
    models where cheap (Gaussian, Curie–Weiss, RBM/BM/Ising by enumeration), or the end states
    of a long slow anneal (``num_equilibration`` linear steps) — then the bound is only
    approximate. ``diagnostics["initial_samples"]`` says which.

    The stderr is that of [`ais`][] on the reverse weights; ``reliable`` is False when a check
    fails: dropped weights, Pareto k̂ > 0.7, batch disagreement, and with ``check`` (+50 %:
    a reverse run with every other temperature, from fresh exact samples where they exist,
    else from the same start) the halved run moving log Z_rev beyond ``CHECK_Z`` combined
    stderrs, or an ESS below 10 predicted from the halved run's log-weight variance
    (``predicted_variance``); without ``check``
    the ESS checked is that of the run's own weights, min(ESS, N e^{−σ̂²}).

    Returns:
        [`LogZ`][] (method ``"reverse_ais"``) with ``upper`` = log Z_rev; info as for
        [`ais`][] (``log_z_half_schedule`` with ``check``), ``initial_samples``.
    """
    key = check_key(key)
    check = check_flag(check, "check")
    path, move, kernel, desc = build_path(
        model_or_gibbs,
        beta,
        kernel=kernel,
        base=base,
        num_steps=num_steps,
        target_acceptance=target_acceptance,
        data=data,
    )
    target = resolve(model_or_gibbs, beta)
    num_chains = _check_count(num_chains, "num_chains", 2)
    _check_count(num_equilibration, "num_equilibration")
    sched = _schedule(schedule, num_temperatures)
    k_init, k_run = jax.random.split(key)
    x_start, how = _reverse_start(
        path, move, kernel, target, k_init, num_chains, samples, num_equilibration
    )
    num_chains = jax.tree.leaves(x_start)[0].shape[0]
    x, log_w_rev, kernel_end, acc, var_inc = anneal(path, move, kernel, sched[::-1], x_start, k_run)
    half = None
    if check:
        k_start, k_half = jax.random.split(jax.random.fold_in(key, 1))
        x_half = x_start
        if how.startswith("exact"):  # fresh samples: the halved run is independent
            x_half = path.from_sample(
                exact_samples(target.energy, target.beta, k_start, num_chains)
            )
        _, log_w_half, *_ = anneal(path, move, kernel, halved(sched)[::-1], x_half, k_half)
        half = weight_statistics(log_w_half)
    info = {
        "initial_samples": how,
        "num_chains": num_chains,
        "num_temperatures": sched.shape[0] - 1,
        "transition": desc,
        "acceptance_rate": jnp.mean(acc),
        "increment_variance": var_inc[::-1],
        "schedule": sched,
        "num_energy_evaluations": _evaluations(
            path, move, kernel_end, _num_units(x), num_chains, sched.shape[0] - 1
        ),
    }
    return _reverse_result(
        log_w_rev, info, exact_start=how.startswith(("exact", "user")), half=half
    )


def _reverse_result(log_w_rev, info: dict, exact_start: bool, half=None) -> LogZ:
    """log Z_rev = −log mean(w_rev) with the forward run's stderr rule (max of the delta
    method and its log-normal form, on the reverse weights); its bias is +stderr²/2
    (the mirror of the forward estimate's), and it bounds log Z from above in expectation.
    ``half``: the weight statistics of the halved reverse run (its checks), or None."""
    inner = log_z_from_log_weights(
        log_w_rev,
        "reverse_ais",
        stderr_source="max of the delta method and the log-normal error on the reverse weights",
        annealed=True,
        predicted_variance=predicted_variance(half),
        exact_start=exact_start,
        **info,
    )
    inner.info["jensen_gap_estimate"] = 0.5 * inner.info["log_weight_variance"]
    inner.info["bias_estimate"] = -inner.info["bias_estimate"]
    log_z = -inner.log_z
    res = inner.replace(log_z=log_z, lower=-jnp.inf, upper=log_z)
    if half is not None:
        half_log_z, half_stderr = -half["log_z"], annealed_stderr(half)
        res = assemble.with_checks(
            res,
            [halving_check(log_z, res.stderr, half_log_z, half_stderr, "high")],
            upper=log_z,
            info=_half_info(half_log_z, half_stderr, half),
        )
    if not exact_start:
        res = assemble.with_notes(
            res,
            (
                "reverse AIS started from approximate (long-chain) samples: the upper bound is "
                "only approximate",
            ),
        )
    return res


def adaptive_schedule(
    model_or_gibbs,
    beta=None,
    *,
    key,
    num_temperatures: int | None = None,
    target_increment_variance: float | None = None,
    num_pilot_temperatures: int = 200,
    num_pilot_chains: int = 32,
    kernel=None,
    base=None,
    pilot_schedule="linear",
    target_acceptance="default",
    data=None,
) -> np.ndarray:
    """Schedule of equal thermodynamic length, measured by a pilot AIS run.

    The pilot records the variance across chains of each log-weight increment, so that
    Var_t[ℓ] ≈ Var[increment_k] / Δt_k² with ℓ = ∂_t log f_t, and
    [`from_variance_profile`][physebm.partition.schedules.from_variance_profile] places the points
    (fixed K, or K from a target per-step increment variance). Dense where the energy fluctuates
    most (near a phase transition, or near the target for a trained RBM).
    """
    key = check_key(key)
    path, move, kernel, _ = build_path(
        model_or_gibbs,
        beta,
        kernel=kernel,
        base=base,
        target_acceptance=target_acceptance,
        data=data,
    )
    pilot = _schedule(pilot_schedule, num_pilot_temperatures)
    k1, k2 = jax.random.split(key)
    num_pilot_chains = _check_count(num_pilot_chains, "num_pilot_chains", 2)
    x0 = sample_base(path, k1, num_pilot_chains)
    *_, var_inc = anneal(path, move, kernel, pilot, x0, k2)
    dt = np.diff(np.asarray(pilot))
    var_l = np.asarray(var_inc) / dt**2
    # the k-th increment is evaluated on states equilibrated (approximately) at t_{k−1}
    var_l = np.where(np.isfinite(var_l), var_l, np.nanmax(np.where(np.isfinite(var_l), var_l, 0)))
    return S.from_variance_profile(
        np.asarray(pilot)[:-1],
        var_l,
        num_temperatures=num_temperatures,
        target_increment_variance=target_increment_variance,
    )
