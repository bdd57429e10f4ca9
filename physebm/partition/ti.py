"""Thermodynamic integration (TI) of log Z along an annealing path.

For a path f_t from a normalised base f_0 = q₀ to f_1 = exp(−βE),

    log Z = log Z_1 − log Z_0 = ∫₀¹ E_{p_t}[∂_t log f_t(x)] dt,

which on the β-path (uniform base over n spins/bits, ∂_t log f_t = −βE + n log 2) is the
familiar log Z(β) = n log 2 − ∫₀^β ⟨E⟩_{β'} dβ'. The integrand is averaged by MCMC at each
grid point t_k (chains warm-started from the previous point, ``num_burnin`` moves, then
``num_samples`` recorded moves; step sizes adapt during burn-in only) and integrated by the
trapezoid rule with weights w_k.

Error: each of the C independent chains gives its own integral I_c = Σ_k w_k m̄_{k,c} (its time
averages m̄_{k,c}); the estimate is mean_c I_c and its stderr sd_c(I_c)/√C — a batch-means
MCSE that carries the correlation between grid points (chains are warm-started). The quadrature
error is estimated separately by Richardson extrapolation against the grid with every other
point, (I_h − I_{2h})/3, and reported (and warned about when larger than the stderr).

Hysteresis (``check=True``, the default; +100 % compute): chains that lag behind the path
(metastable states, slow coarsening below a transition) bias a forward sweep t = 0 → 1 one way
and a backward sweep t = 1 → 0 the other way. The backward sweep starts from exact samples of
the target where the model has an exact sampler, otherwise from the forward chains' final
states — on the periodic 2-D Ising lattice after `EQUILIBRATION_MOVES` Swendsen–Wang cluster
moves at the target, which bring them to equilibrium where single-spin sweeps cannot (at and
below the critical point) — and runs the same grid in reverse with the same burn-in and
recording. Each chain then gives I_c^→ and I_c^←; the estimate is mean_c (I_c^→ + I_c^←)/2.
Lagging chains put the two sweeps on either side of log Z (cooling ones keep too much energy,
heating ones too little). The loop D = mean_c D_c, D_c = I_c^→ − I_c^←, is t-tested (C − 1
degrees of freedom, false-alarm rate ``CHECK_ALPHA``): a significant one is reported as
unreliable.

Lag bias of the estimate: in the sweep rate r (∝ 1/K), I^→ = I − a r + b r², I^← = I + a r +
b r² + O(r³) (the first-order lag flips sign with the direction; the second-order term is taken
equal in both), so the mean of the sweeps cancels the first order and keeps b r². The halved
forward sweep (below) runs at 2r: on the coarse grid its integral is I − 2a r + 4b r², so with
L = A − B the full minus the halved forward integral there, L + D/2 = −3 b r², and

    Δ = −(L + D/2)/3 ≈ b r²,

the estimate's lag bias (a Richardson extrapolation in the sweep speed, as (I_h − I_{2h})/3 is
in the grid spacing). Per chain Δ_c = −(A_c − B_c + D_c/2)/3 (chain c of the halved sweep is
paired with chain c of the others; they are independent), s_Δ = sd_c(Δ_c)/√C, and the stderr
carries its systematic part,

    stderr² = sd_c((I_c^→ + I_c^←)/2)²/C + max(Δ² − s_Δ², 0).

(The loop itself is first order and cancels in the mean: counting it as uniform over the loop,
D²/12, the earlier rule, made sd(z) 0.43–0.74 on 16×16 lattices.)

Sweep speed (also with ``check=True``; +50 % more): when the backward sweep cannot start from
equilibrium, both sweeps can lag the same way and the loop stays small. A third, forward sweep
visits every other grid point only, half as slowly; the integrals of the full and the halved
sweep on that coarse grid (same quadrature rule) differ by the change of the lag bias with
speed, ≈ the full sweep's own lag bias (`sweep_speed_check`), and a significant difference is
reported as unreliable. The same sweep gives Δ above.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from physebm.partition import assemble
from physebm.partition import schedules as S
from physebm.partition._target import exact_sampler_name, exact_samples, resolve
from physebm.partition.ais import build_path, sample_base
from physebm.partition.result import LogZ
from physebm.validation import check_flag, check_key
from samplers.base import check_count as _check_count
from samplers.progress import is_traced, run_segments, show_progress

__all__ = [
    "TISweep",
    "lag_bias",
    "start_moves",
    "thermodynamic_integration",
    "ti_core",
    "ti_reverse_core",
    "trapezoid_weights",
]


def trapezoid_weights(grid) -> np.ndarray:
    """Weights w_k with Σ_k w_k g(t_k) the trapezoid rule on a (non-uniform) grid."""
    t = np.asarray(grid, dtype=float)
    dt = np.diff(t)
    w = np.zeros_like(t)
    w[:-1] += 0.5 * dt
    w[1:] += 0.5 * dt
    return w


def _ti_point(path, move, static, num_burnin: int, num_samples: int):
    """``(x, kernel arrays), (t, key) ↦ (x, arrays), (mean (C,), drift (C,), acceptance)``:
    burn-in and recording at one grid point."""

    def d_log_f(t, x):
        return jax.grad(path.log_density, argnums=0)(t, x)

    def moves(carry, k, t, record: bool):
        x, arrays = carry
        x, acc, adapted = move(k, x, t, path, eqx.combine(arrays, static))
        if record:  # the kernel is frozen while recording (no state-dependent adaptation)
            return (x, arrays), (jax.vmap(lambda xi: d_log_f(t, xi))(x), acc)
        return (x, eqx.filter(adapted, eqx.is_array)), acc

    def at_t(carry, t, k):
        kb, ks = jax.random.split(k)
        carry, _ = jax.lax.scan(
            lambda c, kk: moves(c, kk, t, False), carry, jax.random.split(kb, num_burnin)
        )
        carry, (d, acc) = jax.lax.scan(
            lambda c, kk: moves(c, kk, t, True), carry, jax.random.split(ks, num_samples)
        )
        half = num_samples // 2
        drift = jnp.mean(d[num_samples - half :], axis=0) - jnp.mean(d[:half], axis=0)
        return carry, (jnp.mean(d, axis=0), drift, jnp.mean(acc))

    return at_t


@eqx.filter_jit
def _ti_start(path, move, kernel, grid, x0, key, num_burnin: int, num_samples: int):
    """The loop carry before the first grid point: ``(x, kernel arrays, outputs, i = 0)``."""
    arrays, static = eqx.partition(kernel, eqx.is_array)  # the loop carries arrays only
    at_t = _ti_point(path, move, static, num_burnin, num_samples)
    shapes = jax.eval_shape(lambda: at_t((x0, arrays), grid[0], key)[1])
    n = grid.shape[0]
    outputs = tuple(jnp.zeros((n, *a.shape), a.dtype) for a in shapes)
    return (x0, arrays, outputs, jnp.asarray(0))


@eqx.filter_jit
def _ti_segment(path, move, kernel, grid, carry, stop, key, num_burnin: int, num_samples: int):
    """Grid points carry's i … ``stop`` − 1 of a sweep (a ``while_loop``; traced bounds)."""
    static = eqx.filter(kernel, eqx.is_array, inverse=True)
    at_t = _ti_point(path, move, static, num_burnin, num_samples)
    keys = jax.random.split(key, grid.shape[0])

    def body(carry):
        x, arrays, outputs, i = carry
        (x, arrays), row = at_t((x, arrays), grid[i], keys[i])
        outputs = tuple(out.at[i].set(r) for out, r in zip(outputs, row, strict=True))
        return x, arrays, outputs, i + 1

    return jax.lax.while_loop(lambda c: c[3] < stop, body, carry)


def _ti_run(path, move, kernel, grid, x0, key, num_burnin, num_samples, progress, desc):
    """One sweep along ``grid``: `_ti_segment` once, or in a few calls with a progress bar
    (`samplers.progress.run_segments`; never when traced) — the same steps either way."""
    sizes = (num_burnin, num_samples)
    carry = _ti_start(path, move, kernel, grid, x0, key, *sizes)
    n = grid.shape[0]
    if show_progress(progress) and not is_traced((path, kernel, grid, x0, key)):

        def segment(carry, start, stop):
            return _ti_segment(path, move, kernel, grid, carry, jnp.asarray(stop), key, *sizes)

        carry = run_segments(segment, carry, n, desc=desc, unit="temperature")
    else:
        carry = _ti_segment(path, move, kernel, grid, carry, jnp.asarray(n), key, *sizes)
    x, arrays, (means, drift, acc), _ = carry
    static = eqx.filter(kernel, eqx.is_array, inverse=True)
    return TISweep(means, drift, acc, x, eqx.combine(arrays, static))


class TISweep(NamedTuple):
    """One TI sweep along a grid (in the order it was run).

    Attributes:
        means: (K + 1, C) the integrand's time average per grid point and chain.
        drift: (K + 1, C) last-half minus first-half mean of the recorded integrand (an
            equilibration check; 0 in expectation at equilibrium).
        acceptance_rate: (K + 1,) mean acceptance at each grid point.
        final_samples: the chains' last states; final_kernel: the kernel after adaptation.
    """

    means: Any
    drift: Any
    acceptance_rate: Any
    final_samples: Any
    final_kernel: Any


def thermodynamic_integration(
    model_or_gibbs,
    beta=None,
    *,
    key,
    num_temperatures: int = 32,
    num_chains: int = 16,
    num_samples: int = 100,
    num_burnin: int = 20,
    kernel=None,
    base=None,
    schedule="linear",
    num_steps: int = 1,
    target_acceptance="default",
    data=None,
    check: bool = True,
    progress: bool | None = False,
) -> LogZ:
    """log Z(β) by thermodynamic integration from a normalised base.

    With ``check=True`` (default) a backward sweep and a forward sweep on the halved grid run
    too (module docstring; 2.5× the compute of one sweep), the estimate is the mean over
    chains of (I_c^→ + I_c^←)/2, the stderr carries its estimated lag bias Δ, and the loop
    and the dependence on the sweep speed are tested; with ``check=False`` only the forward
    sweep runs and log Ẑ = mean_c I_c^→.

    Args:
        model_or_gibbs: a physebm model, a [`Gibbs`][] or an energy callable.
        beta: inverse temperature (defaults to the Gibbs' β).
        key: PRNG key.
        num_temperatures: K; the grid has K + 1 points (``schedule``, see [`schedules`][]).
        num_chains: C independent chains (≥ 2; ≥ 16 for a stderr whose ±3σ covers ≥ 99 %:
            z follows Student's t with C − 1 degrees of freedom).
        num_samples: recorded moves per grid point and chain.
        num_burnin: discarded moves per grid point (after the warm start).
        kernel, base, num_steps, target_acceptance, data: as for
            [`ais`][physebm.partition.ais.ais]
            (the step size adapts during burn-in only).
        check: run the backward and the halved-grid sweeps and their tests.
        progress: a tqdm bar per sweep over the grid points; the sweep is then a few calls of
            one compiled segment, with the same result. ``None`` shows it only on a terminal
            without ``CI`` set; never inside ``jit``/``vmap``.

    Jittable and vmappable over ``key`` and ``beta`` (the runs are `ti_core` and
    `ti_reverse_core`).

    Returns:
        [`LogZ`][] (method ``"thermodynamic_integration"``) with info ``grid``,
        ``integrand`` (K + 1 means), ``integrand_mcse``, ``discretization_error_estimate``,
        ``stderr_pointwise`` (ignoring grid correlations), ``acceptance_rate``,
        ``num_energy_evaluations``, ``warnings``; with ``check``: ``log_z_forward``,
        ``log_z_backward``, ``hysteresis`` (mean_c D_c), ``hysteresis_stderr``,
        ``lag_bias_estimate``, ``lag_bias_stderr``, ``lag_bias_systematic``,
        ``stderr_statistical``, ``reverse_start``,
        ``log_z_halved_grid``, ``sweep_speed_lag`` and ``sweep_speed_lag_stderr``.
    """
    key = check_key(key)
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
    num_samples = _check_count(num_samples, "num_samples")
    if isinstance(num_burnin, bool) or not isinstance(num_burnin, int) or num_burnin < 0:
        raise ValueError(f"num_burnin must be a non-negative integer, got {num_burnin!r}")
    check = check_flag(check, "check")
    grid = S.get(schedule, _check_count(num_temperatures, "num_temperatures", 2))
    k_fwd, k_bwd = jax.random.split(key)
    run = (path, move, kernel, jnp.asarray(grid), num_chains, num_burnin, num_samples)
    forward = ti_core(k_fwd, *run, progress=progress)
    backward, start, halved = None, None, None
    points = len(grid)  # grid points visited by all sweeps
    if check:
        target = resolve(model_or_gibbs, beta)
        backward, start = ti_reverse_core(k_bwd, target, forward, *run, progress=progress)
        coarse = jnp.asarray(grid[coarse_points(len(grid) - 1)])
        halved_run = (path, move, kernel, coarse, num_chains, num_burnin, num_samples)
        k_half = jax.random.fold_in(key, 2)
        halved = ti_core(k_half, *halved_run, progress=progress, desc="ti: halved grid")
        points += len(grid) + coarse.shape[0]
    move_cost = getattr(move, "num_steps", 1)
    evaluations = points * (num_burnin + num_samples) * num_chains * (move_cost + 1)
    if check:
        evaluations += start_moves(target, path) * num_chains  # one lattice pass each
    info = {
        "transition": desc,
        "num_energy_evaluations": int(evaluations),
        "num_samples": num_samples,
        "num_burnin": num_burnin,
    }
    if start is not None:
        info["reverse_start"] = start
    return _ti_result(forward, backward, np.asarray(grid), info, halved)


def coarse_points(num_temperatures: int) -> np.ndarray:
    """Indices of the grid with every other point, ends kept: 0, 2, 4, …, and K."""
    return np.r_[np.arange(0, num_temperatures, 2), num_temperatures]


def ti_core(
    key,
    path,
    move,
    kernel,
    grid,
    num_chains: int,
    num_burnin: int,
    num_samples: int,
    progress: bool | None = False,
    desc: str = "ti",
):
    """The pure core of TI: one forward sweep from ``num_chains`` base draws along ``grid``
    (``progress``: a bar labelled ``desc``, as in [`thermodynamic_integration`][]).

    Returns:
        a `TISweep` (integrand means and drifts per grid point and chain, acceptance,
        final states and kernel); jit/vmap-able over ``key`` and β.
    """
    k_init, k_run = jax.random.split(key)
    x0 = sample_base(path, k_init, num_chains)
    return _ti_run(path, move, kernel, grid, x0, k_run, num_burnin, num_samples, progress, desc)


EQUILIBRATION_MOVES = 16
"""Cluster moves at the target before the backward sweep where the path has them and there is
no exact sampler (the periodic 2-D Ising lattice: Swendsen–Wang, `IsingLatticePath.equilibrate`)."""


def start_moves(target, path) -> int:
    """Moves `ti_reverse_core` makes at the target before the backward sweep:
    ``EQUILIBRATION_MOVES`` where ``target`` has no exact sampler and ``path`` can equilibrate,
    else 0."""
    if exact_sampler_name(target.energy) is None and hasattr(path, "equilibrate"):
        return EQUILIBRATION_MOVES
    return 0


@eqx.filter_jit
def _equilibrate(path, key, xs, num_moves: int):
    """``path.equilibrate``, compiled once per path structure and ``num_moves``."""
    return path.equilibrate(key, xs, num_moves)


def ti_reverse_core(
    key, target, forward: TISweep, path, move, kernel, grid, *sizes, progress: bool | None = False
):
    """The backward sweep of TI along ``grid[::-1]``, from exact samples of ``target`` where
    it has an exact sampler, else from ``forward``'s final states (after `start_moves` cluster
    moves at the target where the path has them), with ``forward``'s adapted kernel;
    ``sizes`` = (num_chains, num_burnin, num_samples).

    Returns:
        ``(TISweep with its arrays back in ascending-grid order, start description)``.
    """
    num_chains, num_burnin, num_samples = sizes
    name = exact_sampler_name(target.energy)
    k_start, k_run = jax.random.split(key)
    moves = start_moves(target, path)
    if moves:
        x0 = _equilibrate(path, k_start, forward.final_samples, moves)
        start = f"the forward chains' final states after {moves} Swendsen–Wang moves at the target"
    elif name is None:
        x0, start = forward.final_samples, "the forward chains' final states"
    else:
        xs = exact_samples(target.energy, target.beta, k_start, num_chains)
        x0, start = path.from_sample(xs), f"exact samples ({name})"
    sweep = _ti_run(
        path,
        move,
        forward.final_kernel,
        grid[::-1],
        x0,
        k_run,
        num_burnin,
        num_samples,
        progress,
        "ti: backward",
    )
    flip = lambda a: a[::-1]  # noqa: E731
    return sweep._replace(
        means=flip(sweep.means),
        drift=flip(sweep.drift),
        acceptance_rate=flip(sweep.acceptance_rate),
    ), start


def drift_checks(drift, w, sweep: str = "forward") -> list:
    """Equilibration checks of TI: the chains must not drift while they are recorded.

    With D_{k,c} the last-half minus first-half mean of the integrand at grid point k in chain
    c (0 in expectation at equilibrium, independent across chains), two t-tests on the C
    chains at false-alarm rate ``CHECK_ALPHA`` each: on the integral Σ_k w_k D_{k,c} (a bias
    of the estimate from chains still relaxing: too little burn-in or too few samples), and
    on the largest |t| over the grid points (Bonferroni over K + 1; an integrand that runs
    away at one point, e.g. towards an end of the path where Z is infinite).
    """
    from scipy.stats import t as student_t

    num_points, num_chains = drift.shape
    if num_chains < 3:
        return []
    root_c = jnp.sqrt(num_chains)
    total = w @ drift
    t_total = jnp.mean(total) / (jnp.std(total, ddof=1) / root_c)
    t_points = jnp.mean(drift, axis=1) / (jnp.std(drift, axis=1, ddof=1) / root_c)
    t_points = jnp.where(jnp.isfinite(t_points), t_points, 0.0)
    worst = jnp.argmax(jnp.abs(t_points))
    crit = float(student_t.isf(assemble.CHECK_ALPHA / 2, num_chains - 1))
    crit_point = float(student_t.isf(assemble.CHECK_ALPHA / (2 * num_points), num_chains - 1))
    return [
        assemble.Check(
            ~(jnp.abs(t_total) <= crit),
            lambda: (
                f"the chains drift while recorded in the {sweep} sweep (t = {float(t_total):.1f} "
                "on the integral): "
                "they are not equilibrated at each temperature; raise num_burnin, num_samples "
                "or num_temperatures"
            ),
        ),
        assemble.Check(
            ~(jnp.abs(t_points[worst]) <= crit_point),
            lambda: (
                f"the integrand drifts at grid point {int(worst)} of {num_points} in the {sweep} "
                "sweep "
                f"(t = {float(t_points[worst]):.1f}): the chains do not settle there (if it "
                "grows without bound near an end of the path, Z may be infinite)"
            ),
        ),
    ]


def mixing_check(means, drift, sweep: str = "forward") -> list:
    """Do the chains agree at every grid point, beyond their own noise? (an R̂-like check)

    At grid point k, the spread of the chains' time averages m_{k,c} across chains is compared
    with their within-chain error, which the half-difference D_{k,c} (last-half minus
    first-half mean, independent across chains) measures: at equilibrium, with halves that are
    nearly independent, Var(m) ≈ Var(D)/4, so

        F_k = var_c(m_{k,c}) / (var_c(D_{k,c}) / 4)  ~  F(C − 1, C − 1).

    Chains in different modes (a double well, stripe states of a lattice) make var_c(m) much
    larger; so do chains whose correlation time spans the recording (the halves agree, the
    chains do not), where the stderr cannot be trusted either. The largest F_k is tested at
    ``CHECK_ALPHA`` with a Bonferroni correction over the K + 1 points.
    """
    from scipy.stats import f as fisher_f

    num_points, num_chains = means.shape
    if num_chains < 3:
        return []
    between = jnp.var(means, axis=1, ddof=1)
    within = jnp.var(drift, axis=1, ddof=1) / 4.0
    ratio = jnp.where(between > 0, between / jnp.maximum(within, 1e-300), 0.0)
    ratio = jnp.where(jnp.isfinite(ratio), ratio, jnp.inf)
    worst = jnp.argmax(ratio)
    crit = float(fisher_f.isf(assemble.CHECK_ALPHA / num_points, num_chains - 1, num_chains - 1))
    return [
        assemble.Check(
            ~(ratio[worst] <= crit),
            lambda: (
                f"the chains disagree at grid point {int(worst)} of {num_points} in the {sweep} "
                f"sweep (their spread is {float(jnp.sqrt(ratio[worst])):.1f}× their own "
                "noise): they sit in different modes or mix too slowly to be averaged; use a "
                "better kernel, more samples or more temperatures"
            ),
        )
    ]


MIN_TEMPERATURES = 8
"""Fewer grid intervals than this leave the quadrature-error estimate meaningless."""
MIN_SAMPLES = 10
"""Fewer recorded samples per grid point than this leave the drift checks without power."""


def _design_notes(num_temperatures: int, num_samples, num_burnin) -> list[str]:
    """Settings under which TI's own checks cannot vouch for the estimate."""
    notes = []
    if num_temperatures < MIN_TEMPERATURES:
        notes.append(
            f"only {num_temperatures} temperature intervals (< {MIN_TEMPERATURES}): the "
            "quadrature error cannot be estimated; raise num_temperatures"
        )
    if num_samples is not None and num_samples < MIN_SAMPLES:
        notes.append(
            f"only {num_samples} recorded samples per temperature (< {MIN_SAMPLES}): "
            "equilibration cannot be checked; raise num_samples"
        )
    if num_burnin == 0:
        notes.append("no burn-in at any temperature: the chains start out of equilibrium")
    return notes


def hysteresis_check(forward_integrals, backward_integrals) -> tuple[list, dict]:
    """The forward–backward loop of TI: a paired t-test on D_c = I_c^→ − I_c^← over the C
    chains (C − 1 degrees of freedom, two-sided, false-alarm rate ``CHECK_ALPHA``).

    Returns:
        ``(checks, info)`` with info ``log_z_forward``, ``log_z_backward``, ``hysteresis``
        (mean D) and ``hysteresis_stderr`` (sd(D)/√C).
    """
    from scipy.stats import t as student_t

    d = forward_integrals - backward_integrals
    num_chains = d.shape[0]
    loop, loop_se = jnp.mean(d), jnp.std(d, ddof=1) / jnp.sqrt(num_chains)
    crit = float(student_t.isf(assemble.CHECK_ALPHA / 2, num_chains - 1))
    check = assemble.Check(
        ~(jnp.abs(loop) <= crit * loop_se),
        lambda: (
            f"the forward and backward sweeps disagree by {float(loop):.3g} nats "
            f"(t = {float(loop / loop_se):.1f}): the chains lag behind the path (metastable "
            "states or slow mixing near a transition); raise num_burnin, num_samples or "
            "num_temperatures, or use a better kernel"
        ),
    )
    info = {
        "log_z_forward": jnp.mean(forward_integrals),
        "log_z_backward": jnp.mean(backward_integrals),
        "hysteresis": loop,
        "hysteresis_stderr": loop_se,
    }
    return [check], info


def sweep_speed_check(forward: TISweep, halved: TISweep, grid: np.ndarray) -> tuple[list, dict]:
    """Does the forward integral depend on how fast the sweep runs? (the K vs K/2 check)

    Both integrals are taken on the coarse grid (every other point, `coarse_points`) with the
    same trapezoid weights: A_c from the full forward sweep's averages at those points, B_c
    from a separate forward sweep that visits only them (half the moves between them). The
    quadrature rule is the same, so L = mean_c A_c − mean_c B_c measures only lag: chains that
    fall behind the path bias a sweep by an amount that grows as it speeds up (≈ 1/K when
    slow), so L ≈ the lag bias of the full sweep. L is t-tested against
    √(var_c A/C + var_c B/C) (independent chains; 2(C − 1) degrees of freedom, Welch's for
    equal sizes and variances) at ``CHECK_ALPHA``, two-sided.

    Returns:
        ``(checks, info)`` with info ``log_z_halved_grid`` (mean_c B_c), ``sweep_speed_lag``
        (L) and ``sweep_speed_lag_stderr``.
    """
    from scipy.stats import t as student_t

    coarse = coarse_points(len(grid) - 1)
    w = jnp.asarray(trapezoid_weights(grid[coarse]))
    a, b = w @ forward.means[coarse], w @ halved.means
    num = a.shape[0]
    lag = jnp.mean(a) - jnp.mean(b)
    se = jnp.sqrt((jnp.var(a, ddof=1) + jnp.var(b, ddof=1)) / num)
    crit = float(student_t.isf(assemble.CHECK_ALPHA / 2, 2 * (num - 1)))
    check = assemble.Check(
        ~(jnp.abs(lag) <= crit * se),
        lambda: (
            f"the integral changes by {float(lag):.3g} nats (t = {float(lag / se):.1f}) when the "
            "sweep visits every other grid point: the chains lag behind the path, so the "
            "estimate is biased; raise num_burnin, num_samples or num_temperatures, or use a "
            "better kernel"
        ),
    )
    info = {"log_z_halved_grid": jnp.mean(b), "sweep_speed_lag": lag, "sweep_speed_lag_stderr": se}
    return [check], info


def lag_bias(forward: TISweep, backward: TISweep, halved: TISweep, grid: np.ndarray) -> dict:
    """The lag bias of the mean of the two sweeps, Δ = −(L + D/2)/3 (module docstring): per
    chain Δ_c = −(A_c − B_c + D_c/2)/3 with A_c, B_c the full and the halved forward sweep's
    integrals on the coarse grid and D_c = I_c^→ − I_c^← the loop.

    Returns:
        info ``lag_bias_estimate`` (Δ), ``lag_bias_stderr`` (s_Δ = sd_c(Δ_c)/√C) and
        ``lag_bias_systematic`` (√max(Δ² − s_Δ², 0), the stderr's systematic part).
    """
    w = jnp.asarray(trapezoid_weights(grid))
    coarse = coarse_points(len(grid) - 1)
    w_coarse = jnp.asarray(trapezoid_weights(grid[coarse]))
    speed = w_coarse @ forward.means[coarse] - w_coarse @ halved.means
    loop = w @ forward.means - w @ backward.means
    per_chain = -(speed + loop / 2) / 3
    bias = jnp.mean(per_chain)
    se = jnp.std(per_chain, ddof=1) / jnp.sqrt(per_chain.shape[0])
    return {
        "lag_bias_estimate": bias,
        "lag_bias_stderr": se,
        "lag_bias_systematic": jnp.sqrt(jnp.maximum(bias**2 - se**2, 0.0)),
    }


def _ti_result(
    forward: TISweep,
    backward: TISweep | None,
    grid: np.ndarray,
    info: dict,
    halved: TISweep | None = None,
) -> LogZ:
    """Trapezoid integral per chain (the mean of both sweeps' when there is a backward one),
    its between-chain stderr, the Richardson quadrature-error estimate (I_h − I_{2h})/3, and the
    checks (finite integrand, quadrature error ≤ stderr, no drift while recording:
    `drift_checks`, no forward–backward loop: `hysteresis_check`, no dependence on the sweep
    speed: `sweep_speed_check`)."""
    w = jnp.asarray(trapezoid_weights(grid))
    sweeps = [forward] if backward is None else [forward, backward]
    means = sum(sw.means for sw in sweeps) / len(sweeps)
    num_chains = means.shape[1]
    per_chain = w @ means  # (C,)
    log_z = jnp.mean(per_chain)
    stderr = jnp.std(per_chain, ddof=1) / jnp.sqrt(num_chains)
    if backward is not None:
        loop_checks, loop_info = hysteresis_check(w @ forward.means, w @ backward.means)
        info = {**loop_info, "stderr_statistical": stderr, **info}
        if halved is not None:
            lag_info = lag_bias(forward, backward, halved, grid)
            info = {**info, **lag_info}
            stderr = jnp.sqrt(stderr**2 + lag_info["lag_bias_systematic"] ** 2)
    mcse = jnp.std(means, axis=1, ddof=1) / jnp.sqrt(num_chains)
    coarse = coarse_points(len(grid) - 1)
    coarse_integral = jnp.asarray(trapezoid_weights(grid[coarse])) @ means[coarse].mean(1)
    disc = (log_z - coarse_integral) / 3.0
    checks = [
        assemble.Check(
            ~jnp.all(jnp.isfinite(jnp.stack([sw.means for sw in sweeps]))),
            "non-finite integrand values: the estimate is invalid",
        ),
        assemble.Check(
            jnp.abs(disc) > stderr,
            lambda: (
                f"quadrature error estimate {float(disc):.3g} exceeds the stderr "
                f"{float(stderr):.3g}: use more grid points (num_temperatures) or a schedule "
                "dense where the integrand varies"
            ),
        ),
    ]
    for sw, name in zip(sweeps, ("forward", "backward"), strict=False):
        drift = jnp.where(jnp.isfinite(sw.drift), sw.drift, 0.0)
        checks += drift_checks(drift, w, name) + mixing_check(sw.means, drift, name)
    if backward is not None:
        checks += loop_checks
    if halved is not None:
        speed_checks, speed_info = sweep_speed_check(forward, halved, grid)
        checks += speed_checks
        info = {**info, **speed_info}
    notes = _design_notes(len(grid) - 1, info.get("num_samples"), info.get("num_burnin"))
    if num_chains < assemble.MIN_INDEPENDENT_RUNS:
        notes.append(f"only {num_chains} chains: the stderr itself is very uncertain")
    source = f"between-chain spread of {num_chains} per-chain integrals"
    info = {
        "grid": grid,
        "integrand": means.mean(1),
        "integrand_mcse": mcse,
        "per_chain_integrals": per_chain,
        "discretization_error_estimate": disc,
        "stderr_pointwise": jnp.sqrt(jnp.sum(w**2 * mcse**2)),
        "stderr_source": source
        + ("" if backward is None else " (means of both sweeps) and the lag bias estimate"),
        "acceptance_rate": jnp.mean(jnp.stack([sw.acceptance_rate for sw in sweeps])),
        "num_chains": num_chains,
        "num_temperatures": len(grid) - 1,
        **info,
    }
    return assemble.finish(
        log_z,
        stderr,
        method="thermodynamic_integration",
        checks=checks,
        notes=notes,
        info=info,
    )
