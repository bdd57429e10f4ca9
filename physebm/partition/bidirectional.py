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
from physebm.partition.bar import BAR_STDERR_SOURCE, _bar_solve
from physebm.partition.result import LogZ
from physebm.partition.weights import MIN_RELIABLE_ESS

__all__ = ["bidirectional_ais", "combine", "disagreement_warning"]


def disagreement_warning(
    lower: LogZ, upper: LogZ, num_sigma: float = assemble.CHECK_Z
) -> str | None:
    """A warning when the reverse (upper) estimate exceeds the forward (lower) one by more
    than ``num_sigma`` combined standard errors (one-sided: the gap of annealing that lags
    behind the path, e.g. a missed mode, is positive), else None.

    The standard errors are the delta-method ones (``info["stderr_delta"]`` where the result
    has it): the log-normal term of the AIS stderr overstates the error of bimodal
    log-weights (chains in a mode the other direction never reaches), exactly when the gap
    must be seen; a false alarm costs a rerun, a missed mode a wrong answer."""
    gap = float(upper.log_z - lower.log_z)
    sigma = float(jnp.sqrt(_delta(lower) ** 2 + _delta(upper) ** 2))
    if not gap <= num_sigma * sigma:
        return _disagreement_message(gap, num_sigma, sigma)
    return None


def _disagreement_message(gap, num_sigma, sigma) -> str:
    return (
        f"forward and reverse AIS disagree: gap {float(gap):.4g} nats > {num_sigma:.3g} x "
        f"combined stderr {float(sigma):.3g}; the chains are not equilibrated along the path "
        "(metastability / missed modes): do not trust the error bar, add temperatures or "
        "better transitions"
    )


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
        check=False,
        **common,
    )
    return combine(fwd, rev)


def _delta(result: LogZ):
    """The delta-method stderr of an AIS result (its ``stderr`` when it has no other)."""
    return result.info.get("stderr_delta", result.stderr)


def combine(forward: LogZ, reverse: LogZ) -> LogZ:
    """The BDMC estimate from a forward and a reverse AIS result: BAR on their reduced works
    W_F = −log w_fwd and W_R = −log w_rev, bracketed by both.

    Non-finite works are dropped outside a transformation; under jit/vmap (fixed shapes) a
    NaN or −∞ work counts as a zero weight (+∞ work). ``reliable`` rests on what BAR needs,
    not on the one-sided estimators' own checks (their ESS and k̂ judge log-mean-exp, not
    BAR, whose Fermi weights are bounded): no NaN/+∞ log-weights in either direction; the
    gap log Ẑ_rev − log Ẑ_fwd ≤ ``CHECK_Z`` combined delta-method stderrs (the check that
    catches missed modes; `disagreement_warning`); overlap, the ESS of BAR's Fermi weights
    f = σ(±(W − M + ΔF)) in each direction ≥ ``MIN_RELIABLE_ESS`` (the ESS that sets BAR's
    asymptotic stderr); a finite BAR solution; ≥ 8 chains each way and a reverse run started
    from exact (or user-given) samples."""
    w_f = -forward.info["log_weights"]
    w_r = -reverse.info["log_weights"]
    traced = assemble.is_traced(w_f, w_r, forward.log_z, reverse.log_z)
    if traced:
        w_f = jnp.where(jnp.isnan(w_f) | (w_f == -jnp.inf), jnp.inf, w_f)
        w_r = jnp.where(jnp.isnan(w_r) | (w_r == -jnp.inf), jnp.inf, w_r)
    else:
        w_f, w_r = w_f[jnp.isfinite(w_f)], w_r[jnp.isfinite(w_r)]
    delta_f, stderr, _, (ess_f, ess_r) = _bar_solve(w_f, w_r)
    gap = reverse.log_z - forward.log_z
    sigma = jnp.sqrt(_delta(forward) ** 2 + _delta(reverse) ** 2)
    disagree = ~(gap <= assemble.CHECK_Z * sigma)
    dropped = forward.info["num_dropped"] + reverse.info["num_dropped"]
    ess = jnp.minimum(ess_f, ess_r)
    checks = [
        assemble.Check(dropped > 0, lambda: f"{int(dropped)} NaN/+inf log-weights were dropped"),
        assemble.Check(disagree, lambda: _disagreement_message(gap, assemble.CHECK_Z, sigma)),
        assemble.Check(
            ~(ess >= MIN_RELIABLE_ESS),
            lambda: (
                f"forward and reverse works barely overlap (BAR ESS {float(ess_f):.3g} "
                f"forward, {float(ess_r):.3g} reverse, < {MIN_RELIABLE_ESS:g}): the BAR "
                "stderr is not trustworthy; add temperatures or chains"
            ),
        ),
        assemble.Check(
            ~(jnp.isfinite(delta_f) & jnp.isfinite(stderr)),
            "the BAR estimate or its stderr is not finite: the works do not overlap",
        ),
    ]
    notes = []
    for one_way, name in ((forward, "forward"), (reverse, "reverse")):
        n = int(one_way.info["log_weights"].shape[0])
        if n < assemble.MIN_INDEPENDENT_RUNS:
            notes.append(f"only {n} {name} chains: the stderr itself is very uncertain")
    if not reverse.info.get("exact_start", True):
        notes.append(
            "reverse AIS started from approximate (long-chain) samples: the upper bound and "
            "the BAR estimate are only approximate"
        )
    info = {
        "gap": gap,
        "bar_ess": (ess_f, ess_r),
        "num_energy_evaluations": forward.info.get("num_energy_evaluations", 0)
        + reverse.info.get("num_energy_evaluations", 0),
        "stderr_source": BAR_STDERR_SOURCE,
    }
    if not traced:
        info.update(
            forward=forward,
            reverse=reverse,
            initial_samples=reverse.info.get("initial_samples", "user"),
            disagreement=bool(disagree),
        )
    return assemble.finish(
        -delta_f,
        stderr,
        method="bdmc",
        lower=forward.log_z,
        upper=reverse.log_z,
        checks=checks,
        notes=notes,
        info=info,
    )
