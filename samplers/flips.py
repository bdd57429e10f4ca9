"""Heat-bath (Gibbs) flips of binary units for ANY log density.

[`HeatBath`][] is a heat-bath sampler for ±1 spins / {0, 1} bits of any log density: unit i
flips with probability σ(Δ_i), Δ_i = log p(x with x_i flipped) − log p(x). Units of one colour
are redrawn together, which is exact when they are conditionally independent (a proper
colouring of the interaction graph, e.g. [`samplers.greedy_coloring`][]); without ``colors``
every unit is its own colour (a sequential sweep, exact for any density). With
``multilinear=True`` all Δ_i come from one gradient: if log p is multilinear (affine in each
unit, as for Ising models, RBMs, Boltzmann machines with zero diagonal and independent bases)
then Δ_i = −2 s_i ∂_i log p (spins) or (1 − 2x_i) ∂_i log p (bits), exactly.

The position may be any pytree of float arrays (raveled into units, e.g. an RBM's ``(v, h)``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from samplers.base import check_domain
from samplers.coloring import check_colors
from samplers.kernel import Kernel

__all__ = ["HeatBath", "HeatBathInfo", "HeatBathState"]


class HeatBathState(NamedTuple):
    """The position only (the log density may change between steps)."""

    position: Any


class HeatBathInfo(NamedTuple):
    """``acceptance_rate``: the fraction of units that changed in the sweep."""

    acceptance_rate: jax.Array


def _color_blocks(colors, n: int):
    """(K, width) unit indices per colour, padded with n (dropped on scatter), and the mask."""
    colors = np.arange(n) if colors is None else np.asarray(colors)
    if colors.shape != (n,):
        raise ValueError(f"colors must have one entry per unit ({n}), got {colors.shape}")
    num_colors = int(colors.max()) + 1
    blocks = [np.flatnonzero(colors == c) for c in range(num_colors)]
    width = max(len(b) for b in blocks)
    idx = np.full((num_colors, width), n, dtype=np.int32)
    for c, b in enumerate(blocks):
        idx[c, : len(b)] = b
    return idx, idx < n


class HeatBath(Kernel):
    """Colour-blocked heat-bath sweep for binary units of any log density (module docstring).

    Args:
        domain: ``"spin"`` (±1) or ``"bits"`` ({0, 1}).
        colors: one colour 0..K−1 per unit of the raveled position, or None for one colour per
            unit (sequential sweep); static.
        multilinear: compute every Δ_i from one gradient (exact only for multilinear log p).
    """

    domain: str = eqx.field(static=True)
    colors: tuple | None = eqx.field(static=True)
    multilinear: bool = eqx.field(static=True)

    def __init__(self, domain: str, colors=None, multilinear: bool = False):
        self.domain = check_domain(domain)
        if colors is not None:
            colors, _ = check_colors(colors, min_colors=1)
            if colors.ndim != 1:
                raise ValueError(
                    f"colors must be 1-D (one colour per unit of the raveled position), got "
                    f"shape {colors.shape}"
                )
            colors = tuple(int(c) for c in colors)
        if not isinstance(multilinear, bool):
            raise TypeError(f"multilinear must be a bool, got {type(multilinear).__name__}")
        self.colors, self.multilinear = colors, multilinear

    def init(self, position, logdensity_fn, rng_key=None) -> HeatBathState:
        return HeatBathState(position)

    def _flip(self, z):
        return -z if self.domain == "spin" else 1.0 - z

    def _delta(self, logp, z, rows):
        """Δ_i = log p(z with unit i flipped) − log p(z) for the units ``rows``."""
        zi = z[rows]
        if self.multilinear:
            g = jax.grad(logp)(z)[rows]
            return -2.0 * zi * g if self.domain == "spin" else (1.0 - 2.0 * zi) * g
        lp0 = logp(z)
        return jax.vmap(lambda r, v: logp(z.at[r].set(self._flip(v))))(rows, zi) - lp0

    def step(self, key, state, logdensity_fn):
        z, unravel = ravel_pytree(state.position)
        n = z.shape[0]
        idx, mask = _color_blocks(self.colors, n)

        def logp(zz):
            return logdensity_fn(unravel(zz))

        def sweep_color(z, inp):
            rows, valid, k = inp
            zi = z[rows]
            delta = self._delta(logp, z, rows)
            u = jax.random.uniform(k, delta.shape, dtype=z.dtype)
            flip = (jnp.log(u) < jax.nn.log_sigmoid(delta)) & valid
            z = z.at[rows].set(jnp.where(flip, self._flip(zi), zi), mode="drop")
            return z, jnp.sum(flip)

        keys = jax.random.split(key, idx.shape[0])
        z, flips = jax.lax.scan(sweep_color, z, (jnp.asarray(idx), jnp.asarray(mask), keys))
        return HeatBathState(unravel(z)), HeatBathInfo(jnp.sum(flips) / n)
