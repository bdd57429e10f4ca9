"""The one result type of the library: every log Z, log ratio and free-energy estimate."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

__all__ = ["LogZ"]


class LogZ(eqx.Module):
    """An estimate of a log partition function (or a log ratio, or a free energy) with its error.

    Every estimator returns one; the fixed core is the same for all of them, and the
    method-specific extras live in ``info``.

    Attributes:
        log_z: point estimate (natural log). For a free energy F = −(1/β) log Z, see
            [`free_energy`][]; for a log ratio log(Z_1/Z_0), the ratio.
        stderr: standard error of ``log_z`` (0 for exact methods). ``info["stderr_source"]``
            says where it comes from (delta method, between-replica spread, ...).
        lower: a lower bound where the method gives one (stochastic for AIS/importance:
            E[log Ẑ] ≤ log Z by Jensen), else ``-inf``.
        upper: an upper bound where the method gives one, else ``+inf``.
        method: the method that produced it (``"kaufman"``, ``"ais"``, ``"bar"``, ...).
        reliable: ``False`` when a check the estimator ran failed (``warnings`` says which). A
            Python bool; a traced boolean array when the estimator ran under ``jit``/``vmap``
            (the checks still run; their messages cannot be written from traced values).
        warnings: human-readable reasons not to trust the estimate, with what to do.
        info: method-specific extras (ESS, log-weights, acceptance rates, ...).
    """

    log_z: Any
    stderr: Any
    lower: Any
    upper: Any
    method: str = eqx.field(static=True)
    reliable: Any
    warnings: tuple = eqx.field(static=True)
    info: dict

    def __init__(
        self,
        log_z,
        stderr=0.0,
        lower=-jnp.inf,
        upper=jnp.inf,
        method: str = "unknown",
        reliable: bool | None = None,
        warnings: tuple | list | None = None,
        info: dict | None = None,
        *,
        diagnostics: dict | None = None,
    ):
        """``diagnostics`` is the 0.1 name of ``info``; its ``"warnings"`` and ``"reliable"``
        entries, if present, become the fields of those names."""
        if info is not None and diagnostics is not None:
            raise TypeError("give info or diagnostics (its older name), not both")
        info = dict(info if info is not None else diagnostics or {})
        info_warnings = tuple(info.pop("warnings", ()))
        info_reliable = info.pop("reliable", None)
        warnings = info_warnings if warnings is None else tuple(warnings)
        if reliable is None:
            reliable = (not warnings) if info_reliable is None else info_reliable
        self.log_z = log_z
        self.stderr = stderr
        self.lower = lower
        self.upper = upper
        self.method = str(method)
        self.reliable = reliable if isinstance(reliable, jax.core.Tracer) else bool(reliable)
        self.warnings = tuple(str(w) for w in warnings)
        self.info = info

    @classmethod
    def exact(cls, log_z, method: str, **info) -> LogZ:
        """An exact result: zero stderr and ``lower = upper = log_z``."""
        log_z = jnp.asarray(log_z)
        return cls(log_z, jnp.zeros_like(log_z), log_z, log_z, method, True, (), info)

    @property
    def diagnostics(self) -> dict:
        """``info`` with ``warnings`` and ``reliable`` added (the 0.1 view; read-only copy)."""
        return {**self.info, "warnings": self.warnings, "reliable": self.reliable}

    def replace(self, **changes) -> LogZ:
        """A copy with some fields changed (``info`` entries are merged, not replaced)."""
        fields = {
            "log_z": self.log_z,
            "stderr": self.stderr,
            "lower": self.lower,
            "upper": self.upper,
            "method": self.method,
            "reliable": self.reliable,
            "warnings": self.warnings,
        }
        info = {**self.info, **changes.pop("info", {})}
        fields.update(changes)
        return LogZ(**fields, info=info)

    def free_energy(self, beta) -> Any:
        """F = −(1/β) log Z."""
        return -self.log_z / beta

    def __repr__(self) -> str:  # short and readable for REPL users
        try:
            text = (
                f"LogZ(log_z={float(self.log_z):.10g}, stderr={float(self.stderr):.3g}, "
                f"lower={float(self.lower):.10g}, upper={float(self.upper):.10g}, "
                f"method={self.method!r}, reliable={self.reliable}"
            )
        except (TypeError, ValueError):
            return f"LogZ(log_z={self.log_z}, method={self.method!r})"
        if self.warnings:
            text += f", warnings={len(self.warnings)}"
        return text + ")"
