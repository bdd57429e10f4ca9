"""Blocked Gibbs samplers for discrete pairwise models: colour-by-colour and bipartite.

Colour-blocked (checkerboard) Gibbs
    For a pairwise energy E(x) = −½ xᵀWx − bᵀx the conditional of one unit given all others
    depends on the others only through its *local field* φ_i (see ``local_field_fn``):

        spins x_i ∈ {−1, +1}:  p(x_i = +1 | rest) = σ(2β φ_i),  φ_i = Σ_{j≠i} W_ij x_j + b_i
        bits  x_i ∈ {0, 1}:    p(x_i = 1 | rest)  = σ(β φ_i),   φ_i = Σ_{j≠i} W_ij x_j + b_i + ½W_ii

    Units of one colour of a proper colouring (no two neighbours share a colour) are
    conditionally independent, so a whole colour is redrawn at once; one step visits every
    colour in order (one sweep). A square lattice with even sides is 2-coloured by (i + j) mod 2;
    [`samplers.lattice`][] has a faster specialised kernel for that case.

Bipartite block Gibbs
    For a bipartite model (an RBM, x = (v, h)) one step draws h ~ p(h | v) then v ~ p(v | h)
    from user-given conditional samplers, or from the Bernoulli-RBM conditionals

        p_β(h_j = 1 | v) = σ(β (c_j + vᵀW_{:j})),   p_β(v_i = 1 | h) = σ(β (b_i + W_{i:}h)).

Both kernels draw x_i = [logit + Logistic noise > 0], which equals Bernoulli(σ(logit)) exactly
and never overflows for large |logit|.

Kernels: [`ColoredGibbs`][] on a [`PairwiseBinary`][] target (β inside
W and b, so β = 1 above) and [`BlockGibbs`][] on a [`BernoulliRBM`][];
[`colored_gibbs`][] and [`block_gibbs`][] take a local-field function or two conditional
samplers instead and run the same low-level kernels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from samplers.base import SamplingAlgorithm, check_beta, check_domain
from samplers.coloring import check_colors, checkerboard_colors, freeze
from samplers.gaussian_rbm import GaussianBernoulliRBM
from samplers.kernel import Kernel
from samplers.targets import BernoulliRBM, PairwiseBinary, bernoulli_from_logit, require_target

__all__ = [
    "BlockGibbs",
    "BlockGibbsState",
    "ColoredGibbs",
    "GibbsInfo",
    "bernoulli_from_logit",
    "bernoulli_rbm_conditionals",
    "block_gibbs",
    "build_block_kernel",
    "build_colored_kernel",
    "checkerboard_colors",
    "colored_gibbs",
    "init",
    "pairwise_target",
]

HINT = "use HeatBath for an arbitrary log density"


class BlockGibbsState(NamedTuple):
    """State of a Gibbs chain: just the position (nothing cached goes stale)."""

    position: Any


class GibbsInfo(NamedTuple):
    """Gibbs steps always accept; ``acceptance_rate`` is 1 for a uniform ``run`` summary."""

    acceptance_rate: jax.Array


def init(position, rng_key=None) -> BlockGibbsState:
    """Wrap a position (an array, or the pytree ``(v, h)`` for a bipartite model)."""
    return BlockGibbsState(jax.tree.map(jnp.asarray, position))


def gibbs_info() -> GibbsInfo:
    """``GibbsInfo(acceptance_rate=1)``."""
    return GibbsInfo(jnp.ones((), dtype=jnp.result_type(float)))


def build_colored_kernel(colors, domain: str = "spin"):
    """Colour-by-colour Gibbs kernel for ±1 spins or {0,1} bits.

    Args:
        colors: integer array of the position's shape, a proper colouring with colours 0..K−1
            (units of one colour must not interact). Static: it fixes the update schedule.
        domain: ``"spin"`` (x ∈ {−1,+1}) or ``"bits"`` (x ∈ {0,1}).

    Returns:
        ``kernel(key, state, local_field_fn, beta) -> (state, info)``, one sweep over all
        colours; ``local_field_fn(x) -> φ`` (same shape as x) may change between calls.
    """
    colors, num_colors = check_colors(colors)
    domain = check_domain(domain)
    scale = 2.0 if domain == "spin" else 1.0
    masks = [colors == c for c in range(num_colors)]

    def kernel(key, state: BlockGibbsState, local_field_fn: Callable, beta):
        x = state.position
        if x.shape != colors.shape:
            raise ValueError(
                f"position must have the colouring's shape {colors.shape}, got {x.shape}"
            )
        for mask, k in zip(masks, jax.random.split(key, num_colors), strict=True):
            phi = local_field_fn(x)
            new = bernoulli_from_logit(k, scale * beta * phi, domain, x.dtype)
            x = jnp.where(mask, new, x)
        return BlockGibbsState(x), gibbs_info()

    return kernel


def colored_gibbs(
    local_field_fn: Callable, beta, colors, domain: str = "spin"
) -> SamplingAlgorithm:
    """Colour-blocked (checkerboard) Gibbs sampler of p_β(x) ∝ exp(−β E(x)).

    Args:
        local_field_fn: ``x -> φ`` with φ_i the local field of unit i (module docstring).
        beta: inverse temperature β > 0 (a traced array is fine).
        colors: a proper colouring of the units (see [`checkerboard_colors`][]).
        domain: ``"spin"`` (±1) or ``"bits"`` ({0,1}).

    Example:
        >>> colors = checkerboard_colors((4, 4))
        >>> alg = colored_gibbs(lambda s: jnp.roll(s, 1, 0) + jnp.roll(s, -1, 0)
        ...                     + jnp.roll(s, 1, 1) + jnp.roll(s, -1, 1), 0.4, colors)
        >>> state, info = alg.step(key, alg.init(jnp.ones((4, 4))))
    """
    beta = check_beta(beta)
    kernel = build_colored_kernel(colors, domain)

    def step(key, state):
        return kernel(key, state, local_field_fn, beta)

    return SamplingAlgorithm(init, step)


def pairwise_target(target, domain: str, kernel: str) -> PairwiseBinary:
    """``target`` checked to be a PairwiseBinary in ``domain``.

    Raises:
        TypeError: ``target`` is not a [`PairwiseBinary`][].
        ValueError: its domain differs from ``domain``.
    """
    target = require_target(target, PairwiseBinary, kernel, HINT)
    if target.domain != domain:
        raise ValueError(f"{kernel} has domain {domain!r} but its target has {target.domain!r}")
    return target


class ColoredGibbs(Kernel):
    """Colour-by-colour Gibbs sweep on a [`PairwiseBinary`][] target:
    p(x_i = +1 | rest) = σ(2φ_i) (spins) or p(x_i = 1 | rest) = σ(φ_i) (bits), φ its local field.

    Args:
        colors: a proper colouring with the position's shape (colours 0..K−1, K ≥ 2), e.g.
            [`greedy_coloring`][] of W or [`checkerboard_colors`][]; static.
        domain: ``"spin"`` or ``"bits"`` (must match the target's).
    """

    colors: tuple = eqx.field(static=True)
    domain: str = eqx.field(static=True)

    def __init__(self, colors, domain: str):
        self.colors = freeze(check_colors(colors)[0])
        self.domain = check_domain(domain)

    def init(self, position, logdensity_fn, rng_key=None) -> BlockGibbsState:
        return init(position)

    def step(self, key, state, logdensity_fn):
        target = pairwise_target(logdensity_fn, self.domain, "ColoredGibbs")
        kernel = build_colored_kernel(np.asarray(self.colors), self.domain)
        return kernel(key, state, target.local_field, 1.0)


def build_block_kernel():
    """Bipartite block Gibbs kernel on positions ``(v, h)``.

    Returns:
        ``kernel(key, state, sample_h_given_v_fn, sample_v_given_h_fn) -> (state, info)``:
        h ~ p(h | v) with ``sample_h_given_v_fn(key, v)``, then v ~ p(v | h) with
        ``sample_v_given_h_fn(key, h)``.
    """

    def kernel(key, state: BlockGibbsState, sample_h_given_v_fn, sample_v_given_h_fn):
        v, _ = state.position
        key_h, key_v = jax.random.split(key)
        h = sample_h_given_v_fn(key_h, v)
        v = sample_v_given_h_fn(key_v, h)
        return BlockGibbsState((v, h)), gibbs_info()

    return kernel


def block_gibbs(sample_h_given_v_fn: Callable, sample_v_given_h_fn: Callable) -> SamplingAlgorithm:
    """Block Gibbs sampler for a bipartite model from its two conditional samplers.

    Args:
        sample_h_given_v_fn: ``(key, v) -> h`` drawing the hidden layer given the visible one.
        sample_v_given_h_fn: ``(key, h) -> v`` drawing the visible layer given the hidden one.

    Returns:
        A ``SamplingAlgorithm`` on positions ``(v, h)``; one step is h | v then v | h.
    """
    if not callable(sample_h_given_v_fn) or not callable(sample_v_given_h_fn):
        raise TypeError("sample_h_given_v_fn and sample_v_given_h_fn must be callables (key, x)")
    kernel = build_block_kernel()

    def step(key, state):
        return kernel(key, state, sample_h_given_v_fn, sample_v_given_h_fn)

    return SamplingAlgorithm(init, step)


class BlockGibbs(Kernel):
    """Bipartite block Gibbs on a [`BernoulliRBM`][] target, positions
    ``(v, h)`` of bits: h ~ p(h | v) = σ(c + vᵀW), then v ~ p(v | h) = σ(b + Wh) (one step);
    or on a ``samplers.gaussian_rbm.GaussianBernoulliRBM`` (real v, the same two draws)."""

    def init(self, position, logdensity_fn, rng_key=None) -> BlockGibbsState:
        v, h = position
        return init((v, h))

    def step(self, key, state, logdensity_fn):
        target = logdensity_fn
        if not isinstance(target, GaussianBernoulliRBM):
            target = require_target(target, BernoulliRBM, "BlockGibbs", HINT)
        kernel = build_block_kernel()
        return kernel(key, state, target.sample_h_given_v, target.sample_v_given_h)


def bernoulli_rbm_conditionals(W, b, c, beta) -> tuple[Callable, Callable]:
    """The two conditional samplers of a Bernoulli RBM E(v,h) = −bᵀv − cᵀh − vᵀWh at β.

    p_β(h_j = 1 | v) = σ(β (c_j + vᵀW_{:j})) and p_β(v_i = 1 | h) = σ(β (b_i + W_{i:}h)); bits
    {0, 1} in the dtype of the conditioning layer.

    Returns:
        ``(sample_h_given_v_fn, sample_v_given_h_fn)`` for [`block_gibbs`][].
    """
    W, b, c = jnp.asarray(W), jnp.asarray(b), jnp.asarray(c)
    if W.ndim != 2 or b.shape != (W.shape[0],) or c.shape != (W.shape[1],):
        raise ValueError(
            f"W must be (n_visible, n_hidden) with b (n_visible,) and c (n_hidden,), got "
            f"W {W.shape}, b {b.shape}, c {c.shape}"
        )
    beta = check_beta(beta)

    def sample_h_given_v(key, v):
        return bernoulli_from_logit(key, beta * (c + v @ W), "bits", v.dtype)

    def sample_v_given_h(key, h):
        return bernoulli_from_logit(key, beta * (b + W @ h), "bits", h.dtype)

    return sample_h_given_v, sample_v_given_h
