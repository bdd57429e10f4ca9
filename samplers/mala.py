"""Metropolis-adjusted Langevin (MALA): blackjax's kernel, with argument checks.

Proposal (log-density form, the same step as [`samplers.langevin`][]):

    x* = x + ε ∇log p(x) + √(2ε) ξ,   accepted with probability
    min(1, p(x*) q(x | x*) / (p(x) q(x* | x))),  q(y | x) = N(y; x + ε ∇log p(x), 2ε I).

For log p = −β E, ε = η/β with η the step on ∇E. The accept/reject step removes ULA's O(ε)
bias: the chain leaves p exactly invariant.
"""

from __future__ import annotations

from collections.abc import Callable

import blackjax
import jax
from blackjax.mcmc.mala import MALAInfo, MALAState

from samplers.base import SamplingAlgorithm, check_positive
from samplers.kernel import Kernel, check_logdensity

__all__ = ["MALA", "MALAInfo", "MALAState", "build_kernel", "init", "mala"]

init = blackjax.mala.init
"""``init(position, logdensity_fn) -> MALAState`` (blackjax)."""

build_kernel = blackjax.mala.build_kernel
"""``build_kernel()() -> kernel(key, state, logdensity_fn, step_size)`` (blackjax)."""


class MALA(Kernel):
    """MALA with step ε = ``step_size`` > 0: blackjax's ``init`` and ``build_kernel()`` (a step
    costs what blackjax's costs).

    Example:
        >>> alg = MALA(0.3)(lambda x: -0.5 * jnp.sum(x**2))
        >>> state, info = alg.step(key, alg.init(jnp.zeros(2)))   # info.acceptance_rate
    """

    step_size: jax.Array

    def __init__(self, step_size):
        self.step_size = check_positive(step_size, "step_size")

    def init(self, position, logdensity_fn, rng_key=None) -> MALAState:
        return init(position, logdensity_fn)

    def step(self, key, state, logdensity_fn):
        return build_kernel()(key, state, logdensity_fn, self.step_size)


def mala(logdensity_fn: Callable, step_size) -> SamplingAlgorithm:
    """MALA targeting ``logdensity_fn`` with step ε = ``step_size`` > 0: ``MALA(step_size)(ld)``.

    Example:
        >>> alg = mala(lambda x: -0.5 * jnp.sum(x**2), step_size=0.3)
        >>> state, info = alg.step(key, alg.init(jnp.zeros(2)))   # info.acceptance_rate
    """
    check_logdensity(logdensity_fn)
    return MALA(step_size)(logdensity_fn)
