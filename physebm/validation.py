"""Argument checks for the public API (one module, imported by its real path): each message names
the argument and what it expects."""

from __future__ import annotations

import math
import operator

import jax
import jax.numpy as jnp
import numpy as np

WEIGHT_SUM_ATOL = 1e-6
"""Tolerance on |Σ_k w_k − 1| of weights that must form a distribution (mixture weights)."""


def is_concrete(x) -> bool:
    """True when ``x`` holds values (not a tracer under jit/vmap/grad)."""
    return not isinstance(x, jax.core.Tracer)


def check_flag(value, name: str) -> bool:
    """Return ``value`` if it is ``True`` or ``False``; raise a TypeError naming ``name``
    otherwise (a truthy string or array would silently pick a branch)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def check_beta(beta, name: str = "beta", allow_inf: bool = False, scalar: bool = False):
    """Return ``beta`` as an array, raising if a concrete value is not positive and finite.

    Args:
        beta: inverse temperature, a scalar or an array of them.
        name: argument name used in error messages.
        allow_inf: accept β = +∞ (the zero-temperature limit) where the caller supports it.
        scalar: require a scalar β (shape ``()``; checked on tracers too, shapes are static).

    Raises:
        TypeError: if ``beta`` is not numeric.
        ValueError: if any concrete entry is ≤ 0, NaN, or infinite (unless ``allow_inf``), or
            ``scalar`` and β is not a scalar.
    """
    if isinstance(beta, bool) or not (
        isinstance(beta, int | float | np.ndarray | jax.Array | np.generic)
    ):
        raise TypeError(
            f"{name} must be a positive real number or array, got {type(beta).__name__}"
        )
    if scalar and np.shape(beta) != ():
        raise ValueError(
            f"{name} must be a scalar inverse temperature, got an array of shape "
            f"{np.shape(beta)}; call the function once per β (or jax.vmap over β)"
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


def check_parameter(x, name: str, dtype=float) -> jax.Array:
    """``x`` as a real float array, raising if it is complex, not numeric, or (when concrete)
    holds NaN or ±inf; a traced ``x`` is checked for its dtype only (values unchecked)."""
    dt = getattr(x, "dtype", None)
    if dt is None:
        dt = np.asarray(x).dtype
    if np.issubdtype(dt, np.complexfloating):
        raise TypeError(f"{name} must be real-valued, got complex dtype {dt}")
    if not (np.issubdtype(dt, np.number) or dt == np.bool_):
        raise TypeError(f"{name} must be a real numeric array, got dtype {dt}")
    arr = jnp.asarray(x, dtype=dtype)
    if is_concrete(arr):
        bad = ~np.isfinite(np.asarray(arr))
        if bad.ndim == 0 and bad:
            raise ValueError(f"{name} must be finite, got {np.asarray(arr)}")
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"{name} must be finite, got {int(bad.sum())} NaN/inf entr"
                f"{'y' if bad.sum() == 1 else 'ies'} (first at index {where})"
            )
    return arr


def check_positive_definite(A, name: str, atol: float = 1e-10, why: str = "") -> jax.Array:
    """``A`` (a matrix, or a stack ``(..., d, d)``), raising unless each matrix is symmetric
    and positive definite (smallest eigenvalue > 0); checked when concrete. ``why`` is
    appended to the message (e.g. ``": Z diverges"``)."""
    A = jnp.asarray(A)
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise ValueError(f"{name} must be square (..., d, d) matrices, got shape {A.shape}")
    if not is_concrete(A):
        return A
    a = np.asarray(A)
    asym = float(np.max(np.abs(a - np.swapaxes(a, -1, -2)), initial=0.0))
    if not asym <= atol:
        raise ValueError(f"{name} must be symmetric, max |{name} - {name}.T| = {asym:.3g}")
    eig_min = np.linalg.eigvalsh(a).min(axis=-1) if a.size else np.ones(1)
    if not np.all(eig_min > 0):
        k = int(np.argmin(eig_min))
        where = f" (matrix {k})" if a.ndim > 2 else ""
        raise ValueError(
            f"{name} must be positive definite, smallest eigenvalue {eig_min.min():.3g}{where}{why}"
        )
    return A


def check_distribution(w, name: str) -> None:
    """Raise ``ValueError`` unless a concrete ``w`` is non-negative and sums to one (within
    `WEIGHT_SUM_ATOL`); a traced ``w`` is not checked."""
    if not is_concrete(w):
        return
    a = np.asarray(w)
    if np.any(a < 0):
        raise ValueError(f"{name} must be non-negative mixture weights, got {a}")
    if not abs(float(a.sum()) - 1.0) <= WEIGHT_SUM_ATOL:
        raise ValueError(
            f"{name} must sum to 1 (mixture weights), got sum {float(a.sum()):.6g}; "
            f"pass {name} / {name}.sum() to normalise"
        )


def check_sizes(shape, name: str = "shape", minimum: int = 1) -> tuple[int, ...]:
    """``shape`` (an int or a sequence of them) as a tuple of Python ints, raising unless every
    entry is an integer (``operator.index``: not 2.5, not 4.0, not a bool) ≥ ``minimum``."""
    entries = (shape,) if not isinstance(shape, tuple | list) else tuple(shape)
    out = []
    for s in entries:
        if isinstance(s, bool | np.bool_):
            raise TypeError(f"{name} must hold integers >= {minimum}, got {shape!r}")
        try:
            out.append(operator.index(s))
        except TypeError:
            raise TypeError(f"{name} must hold integers >= {minimum}, got {shape!r}") from None
    if any(s < minimum for s in out):
        raise ValueError(f"{name} must hold integers >= {minimum}, got {shape!r}")
    return tuple(out)


def check_key(key, name: str = "key"):
    """Return ``key`` unless it is not one JAX PRNG key: a typed key of shape ``()``
    (``jax.random.key``) or legacy ``uint32[2]`` data (``jax.random.PRNGKey``). Only the dtype
    and shape are read, so a traced key (under jit/vmap) is checked too."""
    dt, shape = getattr(key, "dtype", None), getattr(key, "shape", None)
    if dt is not None and jax.dtypes.issubdtype(dt, jax.dtypes.prng_key):
        if shape != ():
            raise ValueError(
                f"{name} must be a single PRNG key, got a key array of shape {shape}; "
                f"vmap over keys, or pass {name}[0]"
            )
        return key
    if isinstance(key, jax.Array | np.ndarray) and dt == np.uint32 and shape == (2,):
        return key
    got = type(key).__name__ if dt is None else f"{type(key).__name__} {dt}{list(shape)}"
    raise TypeError(
        f"{name} must be a JAX PRNG key (jax.random.key(0) or jax.random.PRNGKey(0)), got {got}"
    )


def log2(n: int) -> float:
    return math.log2(n) if n > 0 else 0.0
