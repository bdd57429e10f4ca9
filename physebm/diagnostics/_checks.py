"""Small helpers shared by the diagnostics modules (argument checks, worst-site lookup)."""

from __future__ import annotations

import math

import numpy as np


def site_label(arr: np.ndarray, flat_index: int, index=None, event_shape=None) -> str:
    """``[i, j]`` label of a site; ``index`` maps positions in a subsample to flat sites."""
    if arr.ndim == 0:
        return ""
    if index is not None:
        flat_index, shape = int(index[flat_index]), event_shape
    else:
        shape = arr.shape
    return "[" + ", ".join(str(int(i)) for i in np.unravel_index(flat_index, shape)) + "]"


def nan_arg(arr: np.ndarray, worst: str) -> tuple[float, int]:
    """(value, flat index) of the worst finite entry, or (nan, 0) if none is finite."""
    flat = np.asarray(arr, dtype=float).ravel()
    ok = np.isfinite(flat)
    if not ok.any():
        return math.nan, 0
    idx = np.where(ok)[0]
    j = idx[np.argmax(flat[idx])] if worst == "max" else idx[np.argmin(flat[idx])]
    return float(flat[j]), int(j)


def positive(value, name: str, allow_zero: bool = False) -> float:
    """``value`` as a float, raising unless it is a finite real > 0 (≥ 0 with allow_zero)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return v


def as_numpy(x, name: str) -> np.ndarray:
    """``x`` as a numeric (number or bool) numpy array; ``TypeError`` naming ``name`` if not."""
    try:
        a = np.asarray(x)
    except Exception as err:  # a tracer or an object array
        raise TypeError(f"{name} must be an array of numbers, got {type(x).__name__}") from err
    if a.dtype == object or not (
        np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.bool_)
    ):
        raise TypeError(f"{name} must be numeric, got dtype {a.dtype}")
    return a


def check_chain_axis(chain_axis: int) -> int:
    """``chain_axis`` if it is 0 or 1, else ``ValueError``."""
    if isinstance(chain_axis, bool) or chain_axis not in (0, 1):
        raise ValueError(
            f"chain_axis must be 0 (arrays are chains x draws x ...) or 1 "
            f"(draws x chains x ...), got {chain_axis!r}"
        )
    return chain_axis
