"""Result assembly, shared by every estimator: statistics → checks → a [`LogZ`][] verdict.

Each estimator is split in two. Its *core* is a pure JAX function of (key, β, model, settings)
that returns raw numbers — log-weights, work values, per-chain integrals — and an info
NamedTuple; it is jittable and vmappable over keys and β. Its *assembly* is this module: it
turns the raw numbers into ``log_z``/``stderr``/bounds, runs the reliability checks and writes
the [`LogZ`][].

A check is a traced boolean "failed" plus the message explaining it. The checks are computed
with ``jnp``, so they run under ``jit``/``vmap`` too: there ``reliable`` is a traced boolean
array and ``warnings`` holds only the messages that do not depend on values (``notes``: a
chain count too small, ...), because a message cannot be written from a traced value. Outside
any transformation the failed checks' messages are written into ``warnings`` and ``reliable``
is a Python bool. ``info`` entries that are not arrays (strings, nested results) are dropped
under a transformation, since a jitted function can only return arrays.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from physebm.partition import weights as W
from physebm.partition.result import LogZ

__all__ = [
    "CHECK_ALPHA",
    "CHECK_Z",
    "CHECK_Z_ONE_SIDED",
    "Check",
    "batch_agreement",
    "batch_check",
    "finish",
    "from_independent_estimates",
    "from_log_weights",
    "is_traced",
    "weight_checks",
    "with_checks",
    "with_notes",
]


class Check(NamedTuple):
    """One reliability check: ``failed`` (a boolean scalar, traced or not) and its message.

    ``message`` is a string or a zero-argument callable building it from concrete values; it
    is only called when the check failed outside a JAX transformation.
    """

    failed: Any
    message: str | Callable[[], str]


def is_traced(*trees) -> bool:
    """True when any leaf of ``trees`` is a tracer (we are inside jit/vmap/grad)."""
    return any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(trees))


def _message(check: Check) -> str:
    return check.message() if callable(check.message) else check.message


def _any(failed: list) -> jax.Array:
    """Whether any (traced) check failed."""
    return jnp.any(jnp.stack(failed)) if failed else jnp.asarray(False)


def _failed_messages(checks, failed) -> tuple[str, ...]:
    """The messages of the checks that failed (concrete values only)."""
    return tuple(_message(c) for c, f in zip(checks, failed, strict=True) if bool(f))


def _array_info(info: dict) -> dict:
    """The entries of ``info`` a transformed function can return (arrays and numbers)."""
    out = {}
    for k, v in info.items():
        leaves = jax.tree.leaves(v)
        if leaves and all(isinstance(x, jax.Array | np.ndarray | float | int) for x in leaves):
            out[k] = v
    return out


def finish(
    log_z,
    stderr,
    *,
    method: str,
    lower=-jnp.inf,
    upper=jnp.inf,
    checks: tuple | list = (),
    notes: tuple | list = (),
    info: dict | None = None,
) -> LogZ:
    """The [`LogZ`][] of an estimate, with ``reliable`` = no check failed and no note.

    Args:
        log_z, stderr, lower, upper: the estimate, its standard error and its bounds.
        method: the method's name.
        checks: [`Check`][] s whose failure makes the estimate unreliable.
        notes: messages that always apply (static facts such as "only 4 chains"); each one
            makes the estimate unreliable.
        info: method-specific extras.
    """
    info = dict(info or {})
    failed = [jnp.asarray(c.failed, bool) for c in checks]
    if is_traced(log_z, stderr, lower, upper, failed):
        reliable = jnp.logical_and(~_any(failed), not notes)
        return LogZ(log_z, stderr, lower, upper, method, reliable, tuple(notes), _array_info(info))
    messages = _failed_messages(checks, failed) + tuple(notes)
    return LogZ(log_z, stderr, lower, upper, method, not messages, messages, W.to_float_dict(info))


def weight_checks(
    stats: dict,
    num_samples: int,
    what: str = "weights",
    max_pareto_k: float = W.MAX_RELIABLE_PARETO_K,
    annealed: bool = False,
    pareto_k_bound: bool = False,
    predicted_variance=None,
) -> list[Check]:
    """Checks on importance/AIS weights: none dropped (NaN/+inf), ESS ≥ ``MIN_RELIABLE_ESS``,
    Pareto k̂ ≤ ``max_pareto_k`` (default ``MAX_RELIABLE_PARETO_K``).

    With ``pareto_k_bound=True`` the k̂ check asks for evidence instead: the one-sided
    upper confidence bound k̂ + z (1 + k̂)/√M ≤ ``max_pareto_k``, z the one-sided normal
    quantile at ``CHECK_ALPHA`` and (1 + k)²/M the asymptotic variance of the generalised
    Pareto shape fitted to the M = ⌈min(N/5, 3√N)⌉ largest weights (Smith 1987; M as in
    PSIS). A point threshold passes, among runs whose true k is above it, exactly those whose
    sample tail looks light: they missed the largest weights and are low.

    With ``annealed=True`` the ESS checked is min(ESS, N e^{−σ̂²}): the sample ESS and the
    one of a log-normal fitted to the log-weights (see [`weights`][physebm.partition.weights]),
    which does not overstate the ESS of a run that missed the upper tail of w.

    With ``predicted_variance`` v (the log-weight variance this run should have, measured on an
    independent run: AIS's halved schedule) the ESS checked is the log-normal N e^{−v} alone.
    Any gate on the run's own weights selects: among runs whose true ESS is near the
    threshold it passes those whose sample missed the upper tail of w, whose log Ẑ and stderr
    are both low (``python benchmarks/independent_ess_gate.py``); a gate from an independent
    run passes runs whatever their own sample did."""
    k, dropped = stats["pareto_k"], stats["num_dropped"]
    ess_name = "effective sample size"
    if predicted_variance is not None:
        ess = stats["num_valid"] * jnp.exp(-predicted_variance)
        ess_name = "effective sample size predicted from the halved schedule"
    elif annealed:
        ess = jnp.minimum(stats["ess"], stats["ess_lognormal"])
    else:
        ess = stats["ess"]
    k_checked, k_name = k, "Pareto k-hat"
    if pareto_k_bound:
        tail = jnp.ceil(jnp.minimum(stats["num_valid"] / 5, 3 * jnp.sqrt(stats["num_valid"])))
        k_checked = k + CHECK_Z_ONE_SIDED * (1 + k) / jnp.sqrt(jnp.maximum(tail, 1))
        k_name = "the upper confidence bound of Pareto k-hat"
    return [
        Check(
            dropped > 0,
            lambda: f"{int(dropped)} of {num_samples} log-{what} were NaN/+inf and were dropped",
        ),
        Check(
            ~(ess >= W.MIN_RELIABLE_ESS),
            lambda: (
                f"{ess_name} {float(ess):.3g} < {W.MIN_RELIABLE_ESS:g}: the {what} "
                "are dominated by a few samples and the stderr is unreliable (use more "
                "samples/temperatures)"
            ),
        ),
        Check(
            jnp.isfinite(k) & (k_checked > max_pareto_k),
            lambda: (
                f"{k_name} {float(k_checked):.2f} > {max_pareto_k:g}: the {what} are "
                "heavy-tailed, log Z-hat is likely biased low and its stderr too small (use a "
                "better base or more temperatures)"
            ),
        ),
    ]


CHECK_ALPHA = 1e-3
"""False-alarm rate of each statistical reliability check on a correct estimate (the threshold
of a z check is then 3.29σ two-sided, 3.09σ one-sided)."""
CHECK_Z = 3.2905267314918945
"""Two-sided standard-normal quantile at [`CHECK_ALPHA`][]."""
CHECK_Z_ONE_SIDED = 3.090232306167813
"""One-sided standard-normal quantile at [`CHECK_ALPHA`][]."""
NUM_BATCHES = 4
"""Independent groups the chains (weights) are split into for the batch-agreement check."""
MIN_BATCH_SIZE = 8

MIN_INDEPENDENT_RUNS = 8
"""Fewest independent chains/replicas an estimator calls reliable: below it the spread their
stderr comes from is itself too uncertain (at 8, ±3 sd of Student's t₇ covers 98 %)."""


def batch_agreement(
    log_w, num_batches: int = NUM_BATCHES, annealed: bool = False, pooled_variance=None
):
    """χ² of the log Ẑ of ``num_batches`` equal groups of the weights around their
    inverse-variance mean, Σ_b (L_b − L̄)²/s_b², with s_b the group's delta-method stderr or,
    with ``annealed=True``, the larger of it and the log-normal error of a group of n_b
    weights from the pooled (Tukey-fenced) log-weight variance σ̂²,

        s_b² = max(δ_b², log(1 + (e^{σ̂²} − 1)/n_b)).

    For i.i.d. weights of finite variance this is ≈ χ²_{B−1}; heavy tails (a few weights that
    dominate one group) or a stderr that understates the spread make it large. The delta
    method alone understates the spread of small groups of log-normal weights (a group that
    missed the upper tail reports a small δ_b), so for annealed weights — log w a sum of many
    increments — the log-normal floor keeps the false-alarm rate at or below its nominal level
    (``benchmarks/bench_batch_check.py``). Every s_b is at least the rounding error of a
    group's log-sum-exp, eps (n_b + max |log w|) (eps of the weights' float type): weights
    equal up to rounding (a base that is the target) agree. ``pooled_variance``: σ̂² when the
    caller has already computed it (``weight_statistics(log_w)["fenced_log_weight_variance"]``).

    Returns:
        ``(chi2, threshold)``, the threshold being the χ²_{B−1} quantile at 1 − CHECK_ALPHA.
    """
    from scipy.stats import chi2 as _chi2

    n = log_w.shape[0] // num_batches * num_batches
    groups = jnp.reshape(log_w[:n], (num_batches, -1))
    size = groups.shape[1]
    stats = jax.vmap(W.weight_statistics)(groups)
    var = stats["stderr"] ** 2
    if annealed:
        if pooled_variance is None:
            pooled_variance = W.weight_statistics(log_w)["fenced_log_weight_variance"]
        var = jnp.maximum(var, W.lognormal_mean_variance(pooled_variance, size))
    # a group's log Ẑ carries the rounding of a log-sum-exp: ≲ eps (n_b + max |log w|)
    top = jnp.max(jnp.where(jnp.isfinite(groups), jnp.abs(groups), 0.0))
    rounding = jnp.finfo(stats["log_z"].dtype).eps * (size + top)
    var = jnp.maximum(var, rounding**2)
    mean = jnp.sum(stats["log_z"] / var) / jnp.sum(1.0 / var)
    statistic = jnp.sum((stats["log_z"] - mean) ** 2 / var)
    return statistic, float(_chi2.isf(CHECK_ALPHA, num_batches - 1))


def batch_check(
    log_w, what: str = "weights", annealed: bool = False, pooled_variance=None
) -> list[Check]:
    """The batch-agreement check ([`batch_agreement`][]), when there are enough weights for
    `NUM_BATCHES` groups of at least `MIN_BATCH_SIZE`."""
    if log_w.shape[0] < NUM_BATCHES * MIN_BATCH_SIZE:
        return []
    statistic, threshold = batch_agreement(
        log_w, annealed=annealed, pooled_variance=pooled_variance
    )
    return [
        Check(
            ~(statistic <= threshold),
            lambda: (
                f"{NUM_BATCHES} independent groups of the {what} disagree beyond their errors "
                f"(χ² = {float(statistic):.3g} > {threshold:.3g}): the stderr understates the "
                "spread (heavy-tailed weights); use more chains, more temperatures or a better "
                "base"
            ),
        )
    ]


def from_log_weights(
    log_w,
    method: str,
    *,
    notes: tuple | list = (),
    checks: tuple | list = (),
    info: dict | None = None,
    max_pareto_k: float = W.MAX_RELIABLE_PARETO_K,
    annealed: bool = False,
    pareto_k_bound: bool = False,
    predicted_variance=None,
) -> LogZ:
    """A [`LogZ`][] from i.i.d. unbiased log-weights (E[w] = Z).

    log Ẑ = log mean(w), with the delta-method stderr sd(w)/(√N mean(w)) (``weights``), or
    with ``annealed=True`` (AIS weights, whose log is a sum of many increments) the larger of
    it and the log-normal error √(log(1 + (e^{σ̂²} − 1)/N)) (``weights.annealed_stderr``),
    and the ESS check on min(ESS, N e^{−σ̂²});
    ``lower`` is log Ẑ itself (E[log Ẑ] ≤ log Z by Jensen, a stochastic lower bound). The
    bias estimate is the second-order delta method, E[log Ẑ] − log Z ≈ −stderr²/2
    (``info["bias_estimate"]``). NaN/+∞ log-weights are dropped and counted, and outside a
    transformation an `EstimatorWarning` is raised for
    them. Checks: no dropped weights, ESS ≥ ``MIN_RELIABLE_ESS``, Pareto k̂ ≤
    ``max_pareto_k`` (its upper confidence bound with ``pareto_k_bound``, see
    [`weight_checks`][]), batch agreement ([`batch_check`][]), and ``checks``;
    ``predicted_variance`` moves the ESS check onto an independent run (see
    [`weight_checks`][]).
    """
    log_w = jnp.asarray(log_w)
    stats = dict(W.weight_statistics(log_w))
    stats["pareto_k"] = W.pareto_k(log_w)
    n = int(log_w.shape[0])
    on_weights = weight_checks(
        stats,
        n,
        max_pareto_k=max_pareto_k,
        annealed=annealed,
        pareto_k_bound=pareto_k_bound,
        predicted_variance=predicted_variance,
    )
    if not is_traced(log_w) and int(stats["num_dropped"]):  # never averaged in silently
        failed = [jnp.asarray(c.failed, bool) for c in on_weights]
        message = "; ".join(_failed_messages(on_weights, failed))
        warnings.warn(message, W.EstimatorWarning, stacklevel=2)
    pooled = stats["fenced_log_weight_variance"]  # the batch check's log-normal floor
    batch = batch_check(log_w, annealed=annealed, pooled_variance=pooled)
    all_checks = on_weights + batch + list(checks)
    stderr = W.annealed_stderr(stats) if annealed else stats["stderr"]
    extras = {k: v for k, v in stats.items() if k not in ("log_z", "stderr")}
    extras.update(
        bias_estimate=-0.5 * stderr**2,
        stderr_delta=stats["stderr"],
        stderr_source=(
            "max of the delta method and the log-normal error" if annealed else "delta method"
        ),
    )
    extras.update(info or {})
    extras.update(num_samples=n, log_weights=log_w)
    log_z = stats["log_z"]
    return finish(
        log_z,
        stderr,
        method=method,
        lower=log_z,
        checks=all_checks,
        notes=notes,
        info=extras,
    )


def from_independent_estimates(
    values,
    method: str,
    *,
    checks: tuple | list = (),
    notes: tuple | list = (),
    info: dict | None = None,
) -> LogZ:
    """A [`LogZ`][] from C independent unbiased estimates of log Z (one per chain group):
    the mean, with stderr sd(values)/√C (the between-group spread; t_{C−1} tails)."""
    values = jnp.asarray(values)
    num = values.shape[0]
    log_z = jnp.mean(values)
    stderr = jnp.std(values, ddof=1) / jnp.sqrt(num)
    extras = {"stderr_source": f"between-chain spread of {num} independent estimates"}
    extras.update(info or {})
    return finish(log_z, stderr, method=method, checks=checks, notes=notes, info=extras)


def with_notes(result: LogZ, notes: tuple | list) -> LogZ:
    """``result`` with more always-applying warnings (each one makes it unreliable)."""
    if not notes:
        return result
    if isinstance(result.reliable, jax.core.Tracer):
        reliable = jnp.logical_and(result.reliable, False)
    else:
        reliable = False
    return result.replace(warnings=result.warnings + tuple(notes), reliable=reliable)


def with_checks(result: LogZ, checks, *, upper=None, info: dict | None = None) -> LogZ:
    """``result`` with more checks run on it (a failed one makes it unreliable and, outside a
    transformation, adds its message), a new ``upper`` bound and more ``info``."""
    failed = [jnp.asarray(c.failed, bool) for c in checks]
    info = dict(info or {})
    upper = result.upper if upper is None else upper
    if is_traced(result.log_z, failed, upper):
        reliable = jnp.logical_and(result.reliable, ~_any(failed))
        return result.replace(upper=upper, reliable=reliable, info=_array_info(info))
    messages = _failed_messages(checks, failed)
    return result.replace(
        upper=upper,
        reliable=bool(result.reliable) and not messages,
        warnings=result.warnings + messages,
        info=W.to_float_dict(info),
    )
