"""The result object every partition-function estimator returns."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp


class LogZ(eqx.Module):
    """Estimate of log Z(β) with its uncertainty.

    Attributes:
        log_z: point estimate of log Z (natural log).
        stderr: standard error of ``log_z`` (0 for exact methods).
        lower: a lower bound on log Z where the method gives one (stochastic for AIS:
            E[log Ẑ] ≤ log Z by Jensen), else ``-inf``.
        upper: an upper bound where the method gives one, else ``+inf``.
        method: name of the method that produced it (``"kaufman"``, ``"ais"``, ...).
        diagnostics: method-specific extras (ESS of weights, log-weight variance, ...).
    """

    log_z: Any
    stderr: Any = 0.0
    lower: Any = -jnp.inf
    upper: Any = jnp.inf
    method: str = eqx.field(static=True, default="unknown")
    diagnostics: dict = eqx.field(default_factory=dict)

    @classmethod
    def exact(cls, log_z, method: str, **diagnostics) -> LogZ:
        """An exact result: zero stderr and ``lower = upper = log_z``."""
        log_z = jnp.asarray(log_z)
        return cls(
            log_z=log_z,
            stderr=jnp.zeros_like(log_z),
            lower=log_z,
            upper=log_z,
            method=method,
            diagnostics=diagnostics,
        )

    def free_energy(self, beta) -> Any:
        """F = −(1/β) log Z."""
        return -self.log_z / beta

    def __repr__(self) -> str:  # short and readable for REPL users
        try:
            return (
                f"LogZ(log_z={float(self.log_z):.10g}, stderr={float(self.stderr):.3g}, "
                f"lower={float(self.lower):.10g}, upper={float(self.upper):.10g}, "
                f"method={self.method!r})"
            )
        except TypeError:
            return f"LogZ(log_z={self.log_z}, method={self.method!r})"
