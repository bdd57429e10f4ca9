"""Colourings of interaction graphs for the colour-blocked kernels.

A proper colouring gives each unit a colour 0..K−1 such that no two interacting units share one;
units of one colour are then conditionally independent given the others and can be redrawn
together ([`samplers.ColoredGibbs`][], [`samplers.ColoredMetropolis`][],
[`samplers.HeatBath`][]). Kernels keep a colouring as a static field (it fixes the update
schedule), stored as nested tuples so that it is hashable.
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_colors", "checkerboard_colors", "freeze", "greedy_coloring"]


def checkerboard_colors(shape) -> np.ndarray:
    """Colour (Σ_d i_d) mod 2 of each site of a lattice: a proper 2-colouring of a square/cubic
    lattice with free boundaries, or periodic boundaries when every side is even."""
    shape = tuple(int(s) for s in shape)
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"shape must be a non-empty tuple of positive sides, got {shape}")
    return (np.indices(shape).sum(axis=0) % 2).astype(np.int32)


def greedy_coloring(W) -> np.ndarray:
    """A proper colouring of the graph with edges where W_ij ≠ 0 (i ≠ j), greedy in index
    order (two colours for a bipartite lattice with even periodic sides).

    Args:
        W: (n, n) coupling matrix (only its non-zero pattern matters).

    Returns:
        (n,) integer colours 0..K−1.
    """
    A = np.asarray(W) != 0
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"W must be a square (n, n) matrix, got shape {A.shape}")
    np.fill_diagonal(A, False)
    n = A.shape[0]
    colors = np.full(n, -1, dtype=int)
    for i in range(n):
        used = set(colors[A[i]].tolist())
        c = 0
        while c in used:
            c += 1
        colors[i] = c
    return colors


def check_colors(colors, min_colors: int = 2) -> tuple[np.ndarray, int]:
    """An integer array using every colour 0..K−1 with K ≥ ``min_colors``; returns (colors, K).

    Raises:
        TypeError: not an integer array with at least one dimension.
        ValueError: a negative colour, fewer than ``min_colors`` colours, or a colour unused.
    """
    colors = np.asarray(colors)
    if not np.issubdtype(colors.dtype, np.integer) or colors.ndim < 1 or colors.size == 0:
        raise TypeError(f"colors must be an integer array with one colour per site, got {colors!r}")
    if colors.min() < 0:
        raise ValueError(f"colors must be integers 0..K-1, got min {colors.min()}")
    num_colors = int(colors.max()) + 1
    missing = set(range(num_colors)) - set(np.unique(colors).tolist())
    if num_colors < min_colors or missing:
        raise ValueError(
            f"colors must use every colour 0..K-1 with K >= {min_colors}, got K = {num_colors}, "
            f"missing {sorted(missing)}"
        )
    return colors, num_colors


def freeze(colors) -> tuple:
    """Nested tuples of Python ints (hashable, for a static field); ``np.asarray`` inverts it."""
    colors = np.asarray(colors)
    if colors.ndim == 1:
        return tuple(int(c) for c in colors)
    return tuple(freeze(row) for row in colors)
