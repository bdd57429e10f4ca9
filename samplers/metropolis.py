"""Metropolis samplers for ±1 spins and {0,1} bits.

Single-site flip Metropolis (any log density)
    Propose flipping one unit i (s_i → −s_i, or x_i → 1 − x_i) and accept with probability
    min(1, p(x')/p(x)). A step makes ``num_flips`` proposals (default: one per unit, a sweep),
    at uniformly random sites (``order="random"``) or in index order (``order="systematic"``).

Colour-blocked Metropolis (pairwise energies, vectorised)
    With the local field φ_i of [`samplers.gibbs`][], the log-ratio of a single flip is

        spins:  log p(x')/p(x) = −2β s_i φ_i          bits:  log p(x')/p(x) = β (1 − 2x_i) φ_i

    and units of one colour are conditionally independent, so a whole colour is proposed and
    accepted in one vectorised operation. ``order="systematic"`` visits every colour per step;
    ``order="random"`` picks one colour uniformly at random (random scan over blocks).

Gibbs with gradients (Grathwohl et al. 2021)
    For a log density f that is differentiable in a continuous relaxation of x, the first-order
    estimate of the change from flipping unit i is d̃_i = (x'_i − x_i) ∂_i f(x). Choose i with
    q(i | x) = softmax(d̃(x)/2)_i, flip it, and accept with
    min(1, exp(f(x') − f(x)) q(i | x') / q(i | x)) — exact Metropolis–Hastings for any f.

Kernels: [`FlipMetropolis`][] and [`GibbsWithGradients`][] (any log density),
[`ColoredMetropolis`][] (a [`PairwiseBinary`][] target, β = 1 above);
[`metropolis`][], [`gibbs_with_gradients`][] and [`colored_metropolis`][] bind a target.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from samplers.base import SamplingAlgorithm, check_beta, check_count, check_domain, flip
from samplers.coloring import check_colors, freeze
from samplers.gibbs import init as _gibbs_init
from samplers.gibbs import pairwise_target
from samplers.kernel import Kernel, check_logdensity

__all__ = [
    "ColoredMetropolis",
    "FlipInfo",
    "FlipMetropolis",
    "FlipState",
    "GibbsWithGradients",
    "build_colored_kernel",
    "build_gwg_kernel",
    "build_kernel",
    "colored_metropolis",
    "gibbs_with_gradients",
    "init",
    "metropolis",
]

ORDERS = ("random", "systematic")


class FlipState(NamedTuple):
    """Position (float or int ±1 / {0,1} array) and its log density."""

    position: Any
    logdensity: jax.Array


class FlipInfo(NamedTuple):
    """Mean acceptance probability of the step's flip proposals."""

    acceptance_rate: jax.Array


def init(position, logdensity_fn: Callable) -> FlipState:
    """Position as an array, with log p(position)."""
    position = jnp.asarray(position)
    return FlipState(position, jnp.asarray(logdensity_fn(position)))


def _check_order(order):
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    return order


def _flip_at(x, i, domain):
    flat = x.reshape(-1)
    return flat.at[i].set(flip(flat[i], domain)).reshape(x.shape)


def build_kernel(domain: str = "spin", num_flips: int | None = None, order: str = "random"):
    """Single-site flip Metropolis on an arbitrary log density.

    Args:
        domain: ``"spin"`` (±1) or ``"bits"`` ({0,1}).
        num_flips: proposals per step (default: the number of units, one sweep).
        order: ``"random"`` sites or ``"systematic"`` (0, 1, ..., n−1, repeated).

    Returns:
        ``kernel(key, state, logdensity_fn) -> (state, info)``.
    """
    domain = check_domain(domain)
    order = _check_order(order)
    if num_flips is not None:
        num_flips = check_count(num_flips, "num_flips")

    def kernel(key, state: FlipState, logdensity_fn: Callable):
        n = state.position.size
        flips = n if num_flips is None else num_flips
        key_site, key_u = jax.random.split(key)
        if order == "random":
            sites = jax.random.randint(key_site, (flips,), 0, n)
        else:
            sites = jnp.arange(flips) % n
        log_u = jnp.log(jax.random.uniform(key_u, (flips,), jnp.result_type(float)))

        def body(t, carry):
            x, logp, total = carry
            proposal = _flip_at(x, sites[t], domain)
            logp_new = logdensity_fn(proposal)
            log_ratio = jnp.where(jnp.isnan(logp_new), -jnp.inf, logp_new - logp)
            accept = log_u[t] < log_ratio
            x = jnp.where(accept, proposal, x)
            logp = jnp.where(accept, logp_new, logp)
            return x, logp, total + jnp.exp(jnp.minimum(log_ratio, 0.0))

        zero = jnp.zeros((), jnp.result_type(float))
        x, logp, total = jax.lax.fori_loop(0, flips, body, (state.position, state.logdensity, zero))
        return FlipState(x, logp), FlipInfo(total / flips)

    return kernel


class FlipMetropolis(Kernel):
    """Single-site flip Metropolis on any log density of ±1 spins or {0,1} bits.

    Args:
        domain: ``"spin"`` or ``"bits"``.
        num_flips: proposals per step (default: the number of units, one sweep); static.
        order: ``"random"`` sites or ``"systematic"`` (0, 1, ..., n−1, repeated); static.
    """

    domain: str = eqx.field(static=True)
    num_flips: int | None = eqx.field(static=True)
    order: str = eqx.field(static=True)

    def __init__(self, domain: str, num_flips: int | None = None, order: str = "random"):
        self.domain = check_domain(domain)
        self.num_flips = None if num_flips is None else check_count(num_flips, "num_flips")
        self.order = _check_order(order)

    def init(self, position, logdensity_fn, rng_key=None) -> FlipState:
        return init(position, logdensity_fn)

    def step(self, key, state, logdensity_fn):
        return build_kernel(self.domain, self.num_flips, self.order)(key, state, logdensity_fn)


def metropolis(
    logdensity_fn: Callable,
    domain: str = "spin",
    num_flips: int | None = None,
    order: str = "random",
) -> SamplingAlgorithm:
    """Single-site flip Metropolis sampler: ``FlipMetropolis(domain, num_flips, order)(ld)``."""
    check_logdensity(logdensity_fn)
    return FlipMetropolis(domain, num_flips, order)(logdensity_fn)


def build_colored_kernel(colors, domain: str = "spin", order: str = "systematic"):
    """Colour-blocked Metropolis with local fields (module docstring).

    Returns:
        ``kernel(key, state, local_field_fn, beta) -> (state, info)`` on a
        `BlockGibbsState`.
    """
    colors, num_colors = check_colors(colors)
    domain = check_domain(domain)
    order = _check_order(order)
    masks = jnp.asarray([colors == c for c in range(num_colors)])

    def update(key, x, mask, local_field_fn, beta):
        phi = local_field_fn(x)
        xf = x.astype(phi.dtype)
        log_ratio = -2.0 * beta * xf * phi if domain == "spin" else beta * (1.0 - 2.0 * xf) * phi
        log_u = jnp.log(jax.random.uniform(key, x.shape, phi.dtype))
        accept = mask & (log_u < log_ratio)
        rate = jnp.sum(jnp.where(mask, jnp.exp(jnp.minimum(log_ratio, 0.0)), 0.0)) / jnp.sum(mask)
        return jnp.where(accept, flip(x, domain), x), rate

    def kernel(key, state, local_field_fn: Callable, beta):
        x = state.position
        if x.shape != colors.shape:
            raise ValueError(
                f"position must have the colouring's shape {colors.shape}, got {x.shape}"
            )
        if order == "random":
            key_c, key_u = jax.random.split(key)
            c = jax.random.randint(key_c, (), 0, num_colors)
            x, rate = update(key_u, x, masks[c], local_field_fn, beta)
        else:
            rates = []
            for c, k in enumerate(jax.random.split(key, num_colors)):
                x, r = update(k, x, masks[c], local_field_fn, beta)
                rates.append(r)
            rate = jnp.mean(jnp.stack(rates))
        return _gibbs_init(x), FlipInfo(rate)

    return kernel


def colored_metropolis(
    local_field_fn: Callable, beta, colors, domain: str = "spin", order: str = "systematic"
) -> SamplingAlgorithm:
    """Vectorised colour-blocked Metropolis of p_β for a pairwise model given its local field.

    Args:
        local_field_fn: ``x -> φ`` (see [`samplers.gibbs`][]).
        beta: inverse temperature β > 0.
        colors: a proper colouring (integer array of the position's shape).
        domain: ``"spin"`` or ``"bits"``.
        order: ``"systematic"`` (all colours per step) or ``"random"`` (one random colour).
    """
    beta = check_beta(beta)
    kernel = build_colored_kernel(colors, domain, order)

    def step(key, state):
        return kernel(key, state, local_field_fn, beta)

    return SamplingAlgorithm(_gibbs_init, step)


class ColoredMetropolis(Kernel):
    """Colour-blocked Metropolis on a [`PairwiseBinary`][] target
    (module docstring, β = 1): flips of one colour proposed and accepted together.

    Args:
        colors: a proper colouring with the position's shape (K ≥ 2 colours); static.
        domain: ``"spin"`` or ``"bits"`` (must match the target's).
        order: ``"systematic"`` (all colours per step) or ``"random"`` (one random colour).
    """

    colors: tuple = eqx.field(static=True)
    domain: str = eqx.field(static=True)
    order: str = eqx.field(static=True)

    def __init__(self, colors, domain: str, order: str = "systematic"):
        self.colors = freeze(check_colors(colors)[0])
        self.domain = check_domain(domain)
        self.order = _check_order(order)

    def init(self, position, logdensity_fn, rng_key=None):
        return _gibbs_init(position)

    def step(self, key, state, logdensity_fn):
        target = pairwise_target(logdensity_fn, self.domain, "ColoredMetropolis")
        kernel = build_colored_kernel(np.asarray(self.colors), self.domain, self.order)
        return kernel(key, state, target.local_field, 1.0)


class GWGState(NamedTuple):
    """Position with log density f and the flip-gain estimates d̃ (for q(i | x))."""

    position: Any
    logdensity: jax.Array
    flip_gain: jax.Array


def _gwg_init(position, logdensity_fn, domain):
    x = jnp.asarray(position)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    logp, grad = jax.value_and_grad(logdensity_fn)(x)
    gain = (flip(x, domain) - x) * grad
    return GWGState(x, logp, gain.reshape(-1))


def build_gwg_kernel(domain: str = "spin"):
    """Gibbs-with-gradients kernel: ``kernel(key, state, logdensity_fn) -> (state, info)``."""
    domain = check_domain(domain)

    def kernel(key, state: GWGState, logdensity_fn: Callable):
        key_i, key_u = jax.random.split(key)
        log_q = jax.nn.log_softmax(state.flip_gain / 2.0)
        i = jax.random.categorical(key_i, log_q)
        proposal = _gwg_init(_flip_at(state.position, i, domain), logdensity_fn, domain)
        log_q_back = jax.nn.log_softmax(proposal.flip_gain / 2.0)[i]
        log_ratio = proposal.logdensity - state.logdensity + log_q_back - log_q[i]
        log_ratio = jnp.where(jnp.isnan(log_ratio), -jnp.inf, log_ratio)
        accept = jnp.log(jax.random.uniform(key_u, (), log_q.dtype)) < log_ratio
        new = jax.tree.map(lambda a, b: jnp.where(accept, a, b), proposal, state)
        return new, FlipInfo(jnp.exp(jnp.minimum(log_ratio, 0.0)))

    return kernel


class GibbsWithGradients(Kernel):
    """Gibbs with gradients (module docstring) on a differentiable log density of ±1 spins or
    {0,1} bits (``domain``); positions are kept as floats. One step is one informed flip."""

    domain: str = eqx.field(static=True)

    def __init__(self, domain: str):
        self.domain = check_domain(domain)

    def init(self, position, logdensity_fn, rng_key=None) -> GWGState:
        return _gwg_init(position, logdensity_fn, self.domain)

    def step(self, key, state, logdensity_fn):
        return build_gwg_kernel(self.domain)(key, state, logdensity_fn)


def gibbs_with_gradients(logdensity_fn: Callable, domain: str = "spin") -> SamplingAlgorithm:
    """Gibbs with gradients (Grathwohl et al. 2021) for a differentiable discrete log density:
    ``GibbsWithGradients(domain)(logdensity_fn)``.

    ``logdensity_fn`` must accept float arrays (the relaxation used for ∇f); positions are kept
    as floats with values in {−1, +1} or {0, 1}. One step is one (informed) flip proposal.
    """
    check_logdensity(logdensity_fn)
    return GibbsWithGradients(domain)(logdensity_fn)
