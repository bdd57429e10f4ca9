"""Bidirectional Monte Carlo: forward and reverse AIS combined by BAR (Grosse et al. 2015).

Forward AIS gives reduced works W_F = −log w_fwd (base → target) and reverse AIS, started from
target samples, W_R = −log w_rev (target → base). With f_base = 0 (normalised base) and
f_target = −log Z, Crooks' relation makes them the two sides of a BAR problem:

    log Z = −ΔF,   ΔF = BAR(W_F, W_R).

Forward log Ẑ (stochastic lower bound) and reverse log Ẑ (stochastic upper bound) sandwich
log Z; their gap is the honest measure of the annealing error. A gap larger than three combined
standard errors means the chains did not equilibrate along the path (e.g. a missed mode, which
a small forward log-weight variance alone can hide): that is flagged in the diagnostics.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from physebm.partition import assemble
from physebm.partition.ais import ais, reverse_ais
from physebm.partition.bar import BAR_STDERR_SOURCE, _bar_solve, bar
from physebm.partition.result import LogZ

__all__ = ["bidirectional_ais", "combine", "disagreement_warning"]


def disagreement_warning(lower: LogZ, upper: LogZ, num_sigma: float = 3.0) -> str | None:
    """A warning when forward (lower) and reverse (upper) estimates disagree beyond
    ``num_sigma`` combined standard errors, else None.

    The standard errors are the delta-method ones (``info["stderr_delta"]`` where the result
    has it): the log-normal term of the AIS stderr overstates the error of bimodal
    log-weights (chains in a mode the other direction never reaches), exactly when the gap
    must be seen; a false alarm costs a rerun, a missed mode a wrong answer."""
    gap = float(upper.log_z - lower.log_z)
    sigma = float(jnp.sqrt(_delta(lower) ** 2 + _delta(upper) ** 2))
    if abs(gap) > num_sigma * sigma:
        return (
            f"forward and reverse AIS disagree: gap {gap:.4g} nats > {num_sigma:g} x "
            f"combined stderr {sigma:.3g}; the chains are not equilibrated along the path "
            "(metastability / missed modes): do not trust the error bar, add temperatures or "
            "better transitions"
        )
    return None


def bidirectional_ais(
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
) -> LogZ:
    """log Z(β) from forward + reverse AIS works by BAR, bracketed by both bounds.

    Arguments as for [`ais`][] and
    [`reverse_ais`][] (``samples`` / ``num_equilibration`` set the
    reverse run's starting points; exact samples are used where cheap).

    Returns:
        [`LogZ`][] (method ``"bdmc"``): ``log_z`` and ``stderr`` from BAR, ``lower`` the
        forward AIS estimate, ``upper`` the reverse one; diagnostics ``forward``, ``reverse``
        (the two [`LogZ`][]), ``gap``, ``initial_samples``, ``warnings``.
    """
    k_f, k_r = jax.random.split(key)
    common = dict(
        num_temperatures=num_temperatures,
        num_chains=num_chains,
        kernel=kernel,
        base=base,
        schedule=schedule,
        num_steps=num_steps,
        target_acceptance=target_acceptance,
        data=data,
    )
    fwd = ais(model_or_gibbs, beta, key=k_f, check=False, **common)  # BDMC checks the gap
    rev = reverse_ais(
        model_or_gibbs,
        beta,
        key=k_r,
        samples=samples,
        num_equilibration=num_equilibration,
        **common,
    )
    return combine(fwd, rev)


def _delta(result: LogZ):
    """The delta-method stderr of an AIS result (its ``stderr`` when it has no other)."""
    return result.info.get("stderr_delta", result.stderr)


def combine(forward: LogZ, reverse: LogZ) -> LogZ:
    """The BDMC estimate from a forward and a reverse AIS result: BAR on their reduced works
    W_F = −log w_fwd and W_R = −log w_rev (non-finite works dropped), bracketed by both."""
    w_f = -forward.info["log_weights"]
    w_r = -reverse.info["log_weights"]
    if assemble.is_traced(w_f, w_r, forward.log_z, reverse.log_z):
        return _combine_traced(forward, reverse, w_f, w_r)
    res = bar(w_f[jnp.isfinite(w_f)], w_r[jnp.isfinite(w_r)])
    warns = list(forward.warnings) + list(reverse.warnings) + list(res.warnings)
    disagreement = disagreement_warning(forward, reverse)
    if disagreement:
        warns.append(disagreement)
    info = {
        "forward": forward,
        "reverse": reverse,
        "gap": float(reverse.log_z - forward.log_z),
        "initial_samples": reverse.info["initial_samples"],
        "disagreement": disagreement is not None,
        "num_energy_evaluations": forward.info["num_energy_evaluations"]
        + reverse.info["num_energy_evaluations"],
        "stderr_source": res.info["stderr_source"],
    }
    return LogZ(
        res.log_z,
        res.stderr,
        forward.log_z,
        reverse.log_z,
        "bdmc",
        reliable=not warns,
        warnings=warns,
        info=info,
    )


def _combine_traced(forward: LogZ, reverse: LogZ, w_f, w_r) -> LogZ:
    """`combine` under jit/vmap: a non-finite work counts as a zero weight (+∞ work)
    instead of being dropped (shapes must stay fixed); the disagreement check runs as a
    traced boolean (one-sided, ``CHECK_Z`` combined stderrs)."""
    big = jnp.inf
    w_f = jnp.where(jnp.isnan(w_f) | (w_f == -jnp.inf), big, w_f)
    w_r = jnp.where(jnp.isnan(w_r) | (w_r == -jnp.inf), big, w_r)
    delta_f, stderr, _ = _bar_solve(w_f, w_r)
    gap = reverse.log_z - forward.log_z
    sigma = jnp.sqrt(_delta(forward) ** 2 + _delta(reverse) ** 2)
    checks = [
        assemble.Check(forward.reliable == jnp.asarray(False), "forward AIS unreliable"),
        assemble.Check(reverse.reliable == jnp.asarray(False), "reverse AIS unreliable"),
        assemble.Check(~(gap <= assemble.CHECK_Z * sigma), "forward and reverse AIS disagree"),
        assemble.Check(~(jnp.isfinite(delta_f) & jnp.isfinite(stderr)), "non-finite BAR"),
    ]
    info = {"gap": gap, "stderr_source": BAR_STDERR_SOURCE}
    return assemble.finish(
        -delta_f,
        stderr,
        method="bdmc",
        lower=forward.log_z,
        upper=reverse.log_z,
        checks=checks,
        info=info,
    )
