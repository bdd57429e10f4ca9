"""Argument checks for the public API (one module, imported by its real path): each message names
the argument and what it expects."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np


def is_concrete(x) -> bool:
    """True when ``x`` holds values (not a tracer under jit/vmap/grad)."""
    return not isinstance(x, jax.core.Tracer)


def check_beta(beta, name: str = "beta", allow_inf: bool = False):
    """Return ``beta`` as an array, raising if a concrete value is not positive and finite.

    Args:
        beta: inverse temperature, a scalar or an array of them.
        name: argument name used in error messages.
        allow_inf: accept β = +∞ (the zero-temperature limit) where the caller supports it.

    Raises:
        TypeError: if ``beta`` is not numeric.
        ValueError: if any concrete entry is ≤ 0, NaN, or infinite (unless ``allow_inf``).
    """
    if isinstance(beta, bool) or not (
        isinstance(beta, int | float | np.ndarray | jax.Array | np.generic)
    ):
        raise TypeError(
            f"{name} must be a positive real number or array, got {type(beta).__name__}"
        )
    if not is_concrete(beta):
        return beta
    b = np.asarray(beta)
    if not np.issubdtype(b.dtype, np.number) or np.iscomplexobj(b):
        raise TypeError(f"{name} must be real-valued, got dtype {b.dtype}")
    if np.any(np.isnan(b)):
        raise ValueError(f"{name} must be a positive finite inverse temperature, got NaN")
    if not allow_inf and np.any(np.isinf(b)):
        raise ValueError(
            f"{name} must be finite, got {b}; use the beta -> inf limit function (e.g. "
            "free_energy(..., beta=math.inf) where supported) for zero temperature"
        )
    if np.any(b <= 0):
        raise ValueError(f"{name} must be > 0 (inverse temperature), got {b}")
    return jnp.asarray(beta, dtype=jnp.result_type(float))


def check_shape(x, expected: tuple[int, ...], name: str):
    """Raise ``ValueError`` unless ``x.shape`` ends with ``expected``; return ``x`` as an array."""
    x = jnp.asarray(x)
    n = len(expected)
    if x.ndim < n or tuple(x.shape[x.ndim - n :]) != tuple(expected):
        raise ValueError(f"{name} must have trailing shape {tuple(expected)}, got shape {x.shape}")
    return x


def check_square_symmetric(W, name: str, atol: float = 1e-10):
    """Raise unless ``W`` is a square symmetric matrix (checked when concrete)."""
    W = jnp.asarray(W)
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise ValueError(f"{name} must be a square (n, n) matrix, got shape {W.shape}")
    if is_concrete(W):
        Wn = np.asarray(W)
        if not np.allclose(Wn, Wn.T, atol=atol, rtol=0):
            err = float(np.max(np.abs(Wn - Wn.T)))
            raise ValueError(f"{name} must be symmetric, max |{name} - {name}.T| = {err:.3g}")
    return W


def check_enumerable(num_states_log2: float, limit_log2: float, what: str, alternative: str):
    """Raise ``ValueError`` when exact enumeration of 2**num_states_log2 states is too large."""
    if num_states_log2 > limit_log2:
        raise ValueError(
            f"{what} has 2^{num_states_log2:g} states, more than the exact-enumeration limit "
            f"2^{limit_log2:g}; use an estimator instead ({alternative})"
        )


def check_scalar_energy(value, name: str = "energy"):
    """Raise ``TypeError`` unless an energy evaluated at one point is a scalar."""
    shape = getattr(value, "shape", None)
    if shape is None or shape != ():
        raise TypeError(
            f"{name} must return a scalar for a single configuration, got shape {shape}; "
            "sum over dimensions or vmap over the batch outside the energy"
        )
    return value


def log2(n: int) -> float:
    return math.log2(n) if n > 0 else 0.0
