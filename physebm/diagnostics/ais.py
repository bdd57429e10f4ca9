"""Importance-weight report of an AIS/SMC run."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr
from scipy.special import logsumexp

from physebm.diagnostics._checks import positive as _positive
from physebm.diagnostics.convert import logz_to_datatree
from physebm.diagnostics.warning_types import LowWeightESSWarning, SamplerWarning, emit

__all__ = ["AISSummary", "summarize_ais"]


@dataclass(frozen=True)
class AISSummary:
    """Importance-weight report of an AIS/SMC run.

    Attributes:
        num_chains: number of weighted chains (particles).
        log_z: ``log((1/n) Σ w_i)`` recomputed from the log-weights.
        stderr: delta-method standard error of ``log_z``, ``sqrt((n/ESS − 1)/(n − 1))``
            (see :func:`physebm.diagnostics.log_mean_exp_stderr`).
        weight_ess: ``(Σw)²/Σw²``.
        ess_fraction: ``weight_ess / num_chains``.
        log_weight_var: sample variance of the finite log-weights (bias of log Ẑ ≈ var/(2n)).
        num_dropped: NaN/+∞ log-weights left out (``num_chains`` counts the valid ones).
        warnings: warning messages.
    """

    num_chains: int
    log_z: float
    stderr: float
    weight_ess: float
    ess_fraction: float
    log_weight_var: float
    num_dropped: int = 0
    warnings: tuple[str, ...] = field(default_factory=tuple)

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
        }


def summarize_ais(
    run,
    *,
    min_ess_fraction: float = 0.1,
    min_ess: float = 10.0,
    warn: bool = True,
) -> AISSummary:
    """Weight ESS, log-weight variance and the estimate of log Z of an AIS/SMC run.

    NaN/+∞ log-weights are dropped and reported [:class:`SamplerWarning`]. Warns
    [:class:`LowWeightESSWarning`] when the weight ESS is below ``min_ess`` or below
    ``min_ess_fraction`` of the chains: then a few chains carry the estimate, log Ẑ is biased
    low (Jensen) by more than its stderr suggests, and the stderr is unreliable.

    Args:
        run: log-weights ``(num_chains,)``, a ``DataTree`` from :func:`ais_to_datatree`, or a
            :class:`physebm.LogZ` whose ``diagnostics`` holds ``log_weights``.
        min_ess_fraction: lowest acceptable ``weight_ess / num_chains``.
        min_ess: lowest acceptable absolute weight ESS.
        warn: also issue Python warnings.

    Returns:
        :class:`AISSummary`.
    """
    _positive(min_ess_fraction, "min_ess_fraction", allow_zero=True)
    _positive(min_ess, "min_ess", allow_zero=True)
    if isinstance(run, xr.DataTree):
        if "ais" not in run.children:
            raise ValueError("run DataTree must have an 'ais' group (ais_to_datatree)")
        lw = run["ais"]["log_weights"].values
    elif hasattr(run, "diagnostics") and isinstance(run.diagnostics, Mapping):
        lw = logz_to_datatree(run)["ais"]["log_weights"].values
    else:
        lw = np.asarray(run, dtype=float)
    if lw.ndim != 1 or lw.size < 2:
        raise ValueError(f"log_weights must have shape (num_chains,) with >= 2, got {lw.shape}")
    msgs: list[str] = []
    invalid = np.isnan(lw) | np.isposinf(lw)
    if invalid.any():
        emit(
            msgs,
            f"{int(invalid.sum())} of {lw.size} log-weights are NaN or +inf and were dropped: "
            "the sampler or the energy overflowed on some chains. Check the step size and the "
            "energy's numerical range; the estimate uses the remaining chains.",
            SamplerWarning,
            warn,
            1,
        )
        lw = lw[~invalid]
        if lw.size < 2:
            raise ValueError(f"fewer than 2 valid log-weights remain ({lw.size})")
    n = lw.size
    # float64 on the host: (Σw)²/Σw² and the delta-method stderr, in log space
    lse = logsumexp(lw)
    e = float(np.exp(2.0 * lse - logsumexp(2.0 * lw))) if np.isfinite(lse) else 0.0
    se = math.sqrt(max(n / e - 1.0, 0.0) / (n - 1)) if e > 0 else math.inf
    log_z = float(lse - math.log(n))
    finite = lw[np.isfinite(lw)]
    var = float(finite.var(ddof=1)) if finite.size > 1 else math.nan
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
    return AISSummary(n, log_z, se, e, e / n, var, int(invalid.sum()), tuple(msgs))
