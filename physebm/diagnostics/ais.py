"""Importance-weight report of an AIS/SMC run.

The weight statistics come from `physebm.partition.weights.weight_statistics`, the one
implementation the estimators use too; for a [`LogZ`][] (or a ``DataTree`` made
from one by [`logz_to_datatree`][]) the reported ``log_z`` and
``stderr`` are the estimator's own fields, so the report and the result never disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import jax.numpy as jnp
import numpy as np
import xarray as xr

from physebm.diagnostics._checks import positive as _positive
from physebm.diagnostics.estimates import logz_to_datatree
from physebm.diagnostics.warning_types import LowWeightESSWarning, SamplerWarning, emit
from physebm.partition import weights
from physebm.partition.result import LogZ

__all__ = ["AISSummary", "summarize_ais"]


@dataclass(frozen=True)
class AISSummary:
    """Importance-weight report of an AIS/SMC run.

    Attributes:
        num_chains: number of weighted chains (particles).
        log_z: the estimator's ``log_z`` when summarising a [`LogZ`][], else
            ``log((1/n) Σ w_i)`` of the log-weights.
        stderr: the estimator's ``stderr`` when summarising a [`LogZ`][], else the AIS rule
            max(δ, √(log(1 + (e^{σ̂²} − 1)/n))) with δ the delta-method standard error
            ``sqrt((n/ESS − 1)/(n − 1))`` ([`physebm.diagnostics.log_mean_exp_stderr`][])
            and σ̂² the Tukey-fenced log-weights' variance
            (``physebm.partition.weights.annealed_stderr``).
        weight_ess: ``(Σw)²/Σw²``.
        ess_fraction: ``weight_ess / num_chains``.
        log_weight_var: sample variance of the finite log-weights (bias of log Ẑ ≈ var/(2n)).
        num_dropped: NaN/+∞ log-weights left out (``num_chains`` counts the valid ones).
        warnings: warning messages: the estimator's own (``LogZ.warnings``) first, then this
            report's.
        reliable: the estimator's verdict (``LogZ.reliable``) and no warning of this report;
            for bare log-weights, no warning of this report.
    """

    num_chains: int
    log_z: float
    stderr: float
    weight_ess: float
    ess_fraction: float
    log_weight_var: float
    num_dropped: int = 0
    warnings: tuple[str, ...] = field(default_factory=tuple)
    reliable: bool = True

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable copy."""
        return {
            "num_chains": self.num_chains,
            "log_z": self.log_z,
            "stderr": self.stderr,
            "weight_ess": self.weight_ess,
            "ess_fraction": self.ess_fraction,
            "log_weight_var": self.log_weight_var,
            "num_dropped": self.num_dropped,
            "warnings": list(self.warnings),
            "reliable": self.reliable,
        }


def summarize_ais(
    run,
    *,
    min_ess_fraction: float = 0.1,
    min_ess: float = 10.0,
    warn: bool = True,
) -> AISSummary:
    """Weight ESS, log-weight variance and the estimate of log Z of an AIS/SMC run.

    NaN/+∞ log-weights are dropped and reported [[`SamplerWarning`][]]. Warns
    [[`LowWeightESSWarning`][]] when the weight ESS is below ``min_ess`` or below
    ``min_ess_fraction`` of the chains: then a few chains carry the estimate, log Ẑ is biased
    low (Jensen) by more than its stderr suggests, and the stderr is unreliable.

    Args:
        run: log-weights ``(num_chains,)``, a ``DataTree`` from [`ais_to_datatree`][] /
            [`logz_to_datatree`][] (``posterior.log_weights``), or a [`physebm.LogZ`][]
            whose ``info`` holds ``log_weights`` (then ``log_z``, ``stderr``, ``warnings`` and
            ``reliable`` are the estimator's). SMC results keep no per-particle weights: their
            replica estimates are in ``logz_to_datatree(result).posterior.replica_log_z``.
        min_ess_fraction: lowest acceptable ``weight_ess / num_chains``.
        min_ess: lowest acceptable absolute weight ESS.
        warn: also issue Python warnings.

    Returns:
        [`AISSummary`][].
    """
    _positive(min_ess_fraction, "min_ess_fraction", allow_zero=True)
    _positive(min_ess, "min_ess", allow_zero=True)
    lw, estimate = _log_weights_and_estimate(run)
    if lw.ndim != 1 or lw.size < 2:
        raise ValueError(f"log_weights must have shape (num_chains,) with >= 2, got {lw.shape}")
    stats = weights.to_float_dict(weights.weight_statistics(jnp.asarray(lw)))
    msgs: list[str] = list(estimate["warnings"])
    dropped, n = stats["num_dropped"], stats["num_valid"]
    if dropped:
        emit(
            msgs,
            f"{dropped} of {lw.size} log-weights are NaN or +inf and were dropped: "
            "the sampler or the energy overflowed on some chains. Check the step size and the "
            "energy's numerical range; the estimate uses the remaining chains.",
            SamplerWarning,
            warn,
            1,
        )
        if n < 2:
            raise ValueError(f"fewer than 2 valid log-weights remain ({n})")
    e = stats["ess"] if math.isfinite(stats["ess"]) else 0.0
    num_finite = int(np.isfinite(lw).sum())
    var = stats["log_weight_variance"] if num_finite > 1 else math.nan
    if e < min_ess or e < min_ess_fraction * n:
        emit(
            msgs,
            f"importance-weight ESS = {e:.1f} of {n} chains ({e / n:.1%}), log-weight variance "
            f"{var:.3g}: a few chains carry the estimate, so log Z is likely underestimated and "
            "its stderr unreliable. Use more intermediate temperatures (the variance falls "
            "about as 1/K), a base distribution closer to the target, or more chains.",
            LowWeightESSWarning,
            warn,
            1,
        )
    log_z = stats["log_z"] if estimate["log_z"] is None else estimate["log_z"]
    se = float(weights.annealed_stderr(stats)) if e > 0 else math.inf
    se = se if estimate["stderr"] is None else estimate["stderr"]
    reliable = estimate["reliable"] and len(msgs) == len(estimate["warnings"])
    return AISSummary(n, log_z, se, e, e / n, var, dropped, tuple(msgs), reliable)


def _log_weights_and_estimate(run) -> tuple[np.ndarray, dict]:
    """The log-weights of ``run`` and the estimator's own log_z/stderr/verdict, if any."""
    estimate = {"log_z": None, "stderr": None, "warnings": (), "reliable": True}
    if isinstance(run, xr.DataTree):
        attrs = run.attrs
        for k in ("log_z", "stderr"):  # written by logz_to_datatree
            if k in attrs:
                estimate[k] = float(attrs[k])
        if "warnings" in attrs:
            estimate["warnings"] = tuple(attrs["warnings"])
            estimate["reliable"] = bool(attrs.get("reliable", True))
        return tree_log_weights(run), estimate
    if isinstance(run, LogZ):
        lw = tree_log_weights(logz_to_datatree(run))
        estimate.update(
            log_z=float(np.asarray(run.log_z)),
            stderr=float(np.asarray(run.stderr)),
            warnings=tuple(run.warnings),
            reliable=bool(run.reliable),
        )
        return np.asarray(lw, dtype=float), estimate
    return np.asarray(run, dtype=float), estimate


def tree_log_weights(tree: xr.DataTree) -> np.ndarray:
    """The log-weights ``(num_particles,)`` of a tree from [`logz_to_datatree`][].

    Raises:
        ValueError: when the tree has no ``posterior.log_weights`` (e.g. an SMC result).
    """
    if "posterior" not in tree.children or "log_weights" not in tree["posterior"]:
        raise ValueError(
            "run DataTree must hold posterior.log_weights (ais_to_datatree / logz_to_datatree "
            "of an AIS or importance-sampling result); SMC results keep no per-particle "
            "weights: see posterior.replica_log_z"
        )
    lw = tree["posterior"]["log_weights"].transpose("chain", "draw").values
    return np.asarray(lw, dtype=float).ravel()
