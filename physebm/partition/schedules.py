"""Annealing schedules 0 = t_0 < t_1 < … < t_K = 1 for AIS, TI and tempered SMC.

A schedule is a strictly increasing float array of K + 1 points in [0, 1]. The path it walks is
geometric between a normalised base q₀ and the target p̃_β(x) = exp(−βE(x)):

    log f_t(x) = (1 − t) log q₀(x) + t (−β E(x)),

so with a uniform base over spins/bits, t is the fraction of the target inverse temperature
(β_k = t_k β). ``num_temperatures`` is K, the number of annealing steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

__all__ = [
    "SCHEDULES",
    "check_schedule",
    "dense_near_target",
    "from_variance_profile",
    "geometric",
    "get",
    "linear",
    "salakhutdinov_murray",
    "sigmoid",
]


def _check_num(num_temperatures, minimum: int = 1) -> int:
    if isinstance(num_temperatures, bool) or not isinstance(num_temperatures, int | np.integer):
        raise TypeError(
            f"num_temperatures must be an integer >= {minimum}, "
            f"got {type(num_temperatures).__name__}"
        )
    if num_temperatures < minimum:
        raise ValueError(f"num_temperatures must be >= {minimum}, got {num_temperatures}")
    return int(num_temperatures)


def check_schedule(schedule, name: str = "schedule") -> np.ndarray:
    """Validate a schedule: 1-D, finite, t_0 = 0, t_K = 1, strictly increasing.

    Raises:
        ValueError: naming the first violation.
    """
    t = np.asarray(schedule, dtype=float)
    if t.ndim != 1 or t.shape[0] < 2:
        raise ValueError(f"{name} must be a 1-D array of at least 2 points, got shape {t.shape}")
    if not np.all(np.isfinite(t)):
        raise ValueError(f"{name} must be finite, got {t}")
    if t[0] != 0.0 or t[-1] != 1.0:
        raise ValueError(f"{name} must start at 0 and end at 1, got {t[0]} ... {t[-1]}")
    steps = np.diff(t)
    if np.any(steps <= 0):
        i = int(np.argmax(steps <= 0))
        raise ValueError(
            f"{name} must be strictly increasing, got t[{i}] = {t[i]} >= t[{i + 1}] = {t[i + 1]}"
        )
    return t


def linear(num_temperatures: int) -> np.ndarray:
    """t_k = k / K."""
    k = _check_num(num_temperatures)
    return np.linspace(0.0, 1.0, k + 1)


def geometric(num_temperatures: int, t_min: float = 1e-4) -> np.ndarray:
    """t_0 = 0, then K points spaced geometrically from ``t_min`` to 1 (dense near t = 0)."""
    k = _check_num(num_temperatures)
    if not (0.0 < t_min < 1.0):
        raise ValueError(f"t_min must be in (0, 1), got {t_min}")
    if k == 1:
        return np.array([0.0, 1.0])
    return np.concatenate([[0.0], np.geomspace(t_min, 1.0, k)])


def sigmoid(num_temperatures: int, radius: float = 4.0) -> np.ndarray:
    """Sigmoidal schedule of Grosse, Maddison & Salakhutdinov (2013): dense at both ends.

    t_k ∝ σ(−r + 2r k/K), affinely rescaled to run from 0 to 1.
    """
    k = _check_num(num_temperatures)
    if not radius > 0:
        raise ValueError(f"radius must be > 0, got {radius}")
    s = 1.0 / (1.0 + np.exp(-np.linspace(-radius, radius, k + 1)))
    t = (s - s[0]) / (s[-1] - s[0])
    t[0], t[-1] = 0.0, 1.0
    return t


def dense_near_target(
    num_temperatures: int, knots=(0.5, 0.9, 1.0), weights=(500, 4000, 10000)
) -> np.ndarray:
    """Piecewise-linear schedule with ``weights[i] / Σ weights`` of the K steps in segment i.

    Segment i runs from ``knots[i − 1]`` (0 for i = 0) to ``knots[i]``; steps are uniform inside
    a segment. The defaults are [`salakhutdinov_murray`][].
    """
    k = _check_num(num_temperatures, minimum=len(knots))
    knots = np.asarray(knots, dtype=float)
    weights = np.asarray(weights, dtype=float)
    if knots.shape != weights.shape or knots.ndim != 1:
        raise ValueError(
            f"knots and weights must be 1-D of equal length, got {knots.shape}, {weights.shape}"
        )
    if knots[-1] != 1.0 or np.any(np.diff(np.r_[0.0, knots]) <= 0):
        raise ValueError(f"knots must increase strictly from > 0 to 1, got {knots}")
    if np.any(weights <= 0):
        raise ValueError(f"weights must be positive, got {weights}")
    counts = np.maximum(1, np.floor(k * weights / weights.sum()).astype(int))
    counts[-1] += k - counts.sum()  # the remainder goes next to the target
    if counts[-1] < 1:
        raise ValueError(f"num_temperatures = {k} is too small for {len(knots)} segments")
    pieces, start = [np.array([0.0])], 0.0
    for end, n in zip(knots, counts, strict=True):
        pieces.append(np.linspace(start, end, n + 1)[1:])
        start = end
    return np.concatenate(pieces)


def salakhutdinov_murray(num_temperatures: int = 14500) -> np.ndarray:
    """Salakhutdinov & Murray (2008): steps of 1e-3 up to 0.5, 1e-4 up to 0.9, 1e-5 up to 1.

    With the default K = 14,500 the steps are exactly those; other K keep the proportions
    (500 : 4000 : 10000 of the steps in the three segments).
    """
    return dense_near_target(num_temperatures, (0.5, 0.9, 1.0), (500, 4000, 10000))


def from_variance_profile(
    t_grid,
    variance,
    *,
    num_temperatures: int | None = None,
    target_increment_variance: float | None = None,
) -> np.ndarray:
    """Adaptive schedule of equal thermodynamic length from a measured variance profile.

    With ℓ(x) = ∂_t log f_t(x) (the per-unit-t log-weight increment), the thermodynamic length
    is L = ∫₀¹ √Var_t[ℓ] dt. Points are placed so that each step covers L / K of it; then every
    step's log-weight increment has variance ≈ (L / K)². Either fix K, or give a target
    per-step increment variance v and K = ⌈L / √v⌉.

    Args:
        t_grid: increasing points in [0, 1] where the variance was measured (need not include
            the ends; the profile is extended flat).
        variance: Var_t[ℓ] at ``t_grid`` (non-negative; a small floor keeps every step finite).
        num_temperatures: K.
        target_increment_variance: v (exclusive with ``num_temperatures``).

    Returns:
        The schedule (K + 1 points).
    """
    if (num_temperatures is None) == (target_increment_variance is None):
        raise ValueError("give exactly one of num_temperatures or target_increment_variance")
    t_grid = np.asarray(t_grid, dtype=float)
    variance = np.asarray(variance, dtype=float)
    if t_grid.ndim != 1 or t_grid.shape != variance.shape or t_grid.shape[0] < 2:
        raise ValueError(
            "t_grid and variance must be 1-D of equal length >= 2, "
            f"got {t_grid.shape}, {variance.shape}"
        )
    if np.any(np.diff(t_grid) <= 0) or t_grid[0] < 0 or t_grid[-1] > 1:
        raise ValueError("t_grid must be strictly increasing inside [0, 1]")
    if np.any(~np.isfinite(variance)) or np.any(variance < 0):
        raise ValueError("variance must be finite and non-negative")
    fine = np.linspace(0.0, 1.0, 20001)
    sd = np.sqrt(np.interp(fine, t_grid, variance))
    sd = np.maximum(sd, 1e-6 * max(sd.max(), 1e-300))
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (sd[1:] + sd[:-1]) * np.diff(fine))])
    length = cum[-1]
    if num_temperatures is None:
        if not target_increment_variance > 0:
            raise ValueError(
                f"target_increment_variance must be > 0, got {target_increment_variance}"
            )
        num_temperatures = max(1, math.ceil(length / math.sqrt(target_increment_variance)))
    k = _check_num(num_temperatures)
    t = np.interp(np.linspace(0.0, length, k + 1), cum, fine)
    t[0], t[-1] = 0.0, 1.0
    # interpolation of a nearly flat cumulative can tie points: enforce strict increase
    t = np.maximum.accumulate(t)
    eps = 1e-12
    for i in range(1, k + 1):
        if t[i] <= t[i - 1]:
            t[i] = t[i - 1] + eps
    t = np.minimum(t, 1.0)
    t[-1] = 1.0
    return check_schedule(t)


SCHEDULES: dict[str, Callable[[int], np.ndarray]] = {
    "linear": linear,
    "geometric": geometric,
    "sigmoid": sigmoid,
    "salakhutdinov_murray": salakhutdinov_murray,
}


def get(schedule, num_temperatures: int) -> np.ndarray:
    """Resolve ``schedule`` (a name in `SCHEDULES`, a callable ``K -> array``, or an
    explicit array) into a validated array."""
    if isinstance(schedule, str):
        if schedule not in SCHEDULES:
            raise ValueError(
                f"schedule must be one of {sorted(SCHEDULES)} or an array, got {schedule!r}"
            )
        return check_schedule(SCHEDULES[schedule](num_temperatures))
    if callable(schedule):
        return check_schedule(schedule(num_temperatures))
    return check_schedule(schedule)
