"""Progress bars for long compiled runs, kept on the host.

A run that shows progress is cut into a few calls of one compiled segment ``carry ←
segment(carry, start, stop)`` over the step range [start, stop), the bar (tqdm) moving between
calls; nothing runs on the host inside a compiled loop. The segment's bounds are traced, so
every call length shares one compilation, and the steps are the same steps (same keys, same
order) as in one call: the results are bit-identical. The first call runs
`FIRST_CALL_STEPS` steps (it compiles); later calls aim at `TARGET_SECONDS` each at
the time per step just measured.

Whether to show a bar: `show_progress` (``None`` = automatic: only when stderr is a
terminal and ``CI`` is not set); never inside ``jit``/``vmap`` (`is_traced`), where a run
is one compiled loop.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
from tqdm.auto import tqdm

__all__ = [
    "FIRST_CALL_STEPS",
    "TARGET_SECONDS",
    "is_traced",
    "next_limit",
    "run_segments",
    "show_progress",
]

TARGET_SECONDS = 0.25
"""Wall time aimed at per compiled call: fewer steps per call when steps are slow."""
FIRST_CALL_STEPS = 8
"""Steps of the first call (which compiles), before the time per step is known."""


def show_progress(progress: bool | None) -> bool:
    """``progress`` as a bool; ``None``: True only when stderr is a terminal and the ``CI``
    environment variable is not true/1/yes."""
    if progress is not None:
        return bool(progress)
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        return False
    return sys.stderr.isatty()


def is_traced(tree) -> bool:
    """Whether any leaf of ``tree`` is a tracer (the call runs inside jit, vmap or grad)."""
    return any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(tree))


def next_limit(limit: int, most: int, steps: int, seconds: float) -> int:
    """Steps per call for about `TARGET_SECONDS` at ``steps`` per ``seconds`` just
    measured, between 1 and ``most``."""
    if steps <= 0 or seconds <= 0:
        return limit
    return max(1, min(most, int(TARGET_SECONDS * steps / seconds)))


def run_segments(
    segment: Callable[[Any, int, int], Any],
    carry,
    num_steps: int,
    *,
    desc: str,
    unit: str = "step",
    start: int = 0,
) -> Any:
    """``carry ← segment(carry, a, b)`` over consecutive ranges covering [start, num_steps),
    with a tqdm bar of ``num_steps − start`` ``unit``s (module docstring). ``segment`` must run
    the steps a..b−1 exactly as one call over the whole range would."""
    limit, first = FIRST_CALL_STEPS, True
    with tqdm(total=num_steps - start, desc=desc, unit=unit) as bar:
        while start < num_steps:
            tic = time.perf_counter()
            stop = min(start + limit, num_steps)
            carry = jax.block_until_ready(segment(carry, start, stop))
            bar.update(stop - start)
            if not first:  # the first call's time includes the compilation
                limit = next_limit(limit, num_steps, stop - start, time.perf_counter() - tic)
            first, start = False, stop
    return carry
