"""Shared pieces of the kernels: the blackjax contract, argument checks, finiteness tests.

Every sampler in this package follows the blackjax contract:

* ``init(position, ...) -> State`` and ``step(key, state) -> (state, info)``, bundled as a
  `blackjax.base.SamplingAlgorithm`;
* a module-level ``build_kernel()`` whose kernel takes the target (a log density, a
  local-field function, conditional samplers, ...) *at call time*, so annealing, tempering and
  persistent chains can change the target without rebuilding anything.

Nothing here knows what an energy is: the layer above maps energies to log densities.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from blackjax.base import SamplingAlgorithm

__all__ = [
    "SamplingAlgorithm",
    "check_beta",
    "check_beta_ladder",
    "check_count",
    "check_domain",
    "check_positive",
    "is_concrete",
    "tree_all_finite",
]

DOMAINS = ("spin", "bits")


def is_concrete(x) -> bool:
    """True when ``x`` holds values (not a tracer inside jit/vmap/grad)."""
    return not isinstance(x, jax.core.Tracer)


def check_positive(value, name: str):
    """Return ``value`` as a float array; raise if a concrete entry is not positive and finite.

    Traced values (inside jit) are passed through unchecked: they cannot be inspected.

    Raises:
        TypeError: ``value`` is not a real number or array.
        ValueError: a concrete entry is NaN, infinite, or ≤ 0.
    """
    if isinstance(value, bool) or not isinstance(
        value, int | float | np.ndarray | jax.Array | np.generic
    ):
        raise TypeError(f"{name} must be a positive real number, got {type(value).__name__}")
    if not is_concrete(value):
        return value
    arr = np.asarray(value)
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real-valued, got dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {arr}")
    if np.any(arr <= 0):
        raise ValueError(f"{name} must be > 0, got {arr}")
    return jnp.asarray(value, dtype=jnp.result_type(float))


def check_beta(beta, name: str = "beta"):
    """An inverse temperature β > 0 and finite (checked when concrete), as a float array."""
    return check_positive(beta, name)


def check_beta_ladder(betas, name: str = "betas"):
    """A 1-D, strictly increasing ladder of positive finite inverse temperatures.

    Raises:
        ValueError: not 1-D, fewer than 2 rungs, a rung ≤ 0 or non-finite, or not increasing.
    """
    betas = check_positive(betas, name)
    shape = jnp.shape(betas)
    if len(shape) != 1 or shape[0] < 2:
        raise ValueError(
            f"{name} must be a 1-D array of at least 2 inverse temperatures, got {shape}"
        )
    if is_concrete(betas) and not np.all(np.diff(np.asarray(betas)) > 0):
        raise ValueError(
            f"{name} must be strictly increasing (hot to cold), got {np.asarray(betas)}"
        )
    return betas


def check_count(n, name: str, minimum: int = 1) -> int:
    """A Python integer ≥ ``minimum`` (counts are static: they set array shapes)."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {type(n).__name__}")
    if n < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {n}")
    return int(n)


def check_fraction(p, name: str) -> float:
    """A probability in [0, 1] given as a Python number."""
    if isinstance(p, bool) or not isinstance(p, int | float | np.floating | np.integer):
        raise TypeError(f"{name} must be a number in [0, 1], got {type(p).__name__}")
    if not (0.0 <= float(p) <= 1.0) or math.isnan(float(p)):
        raise ValueError(f"{name} must be in [0, 1], got {p}")
    return float(p)


def check_domain(domain: str) -> str:
    """``"spin"`` (x ∈ {−1, +1}) or ``"bits"`` (x ∈ {0, 1})."""
    if domain not in DOMAINS:
        raise ValueError(
            f"domain must be one of {DOMAINS} (±1 spins or {{0,1}} bits), got {domain!r}"
        )
    return domain


def tree_all_finite(tree: Any) -> jax.Array:
    """True when every inexact (floating) leaf of ``tree`` is finite everywhere."""
    leaves = [
        jnp.all(jnp.isfinite(x))
        for x in jax.tree.leaves(tree)
        if jnp.issubdtype(jnp.result_type(x), jnp.inexact)
    ]
    if not leaves:
        return jnp.asarray(True)
    return jnp.all(jnp.stack(leaves))


def flip(x, domain: str):
    """Flip a ±1 spin (x → −x) or a {0,1} bit (x → 1 − x), keeping the dtype."""
    return -x if domain == "spin" else (1 - x).astype(x.dtype)
