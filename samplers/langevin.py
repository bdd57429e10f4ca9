"""Unadjusted Langevin algorithm (ULA), parametrised by the inverse temperature β.

Two equivalent forms of one Euler–Maruyama step of the overdamped Langevin diffusion whose
stationary law is p_β(x) ∝ exp(−β E(x)):

    energy form:       x' = x − η ∇E(x) + √(2η/β) ξ,           ξ ~ N(0, I)
    log-density form:  x' = x + ε ∇log p(x) + √(2ε) ξ,          log p = −β E,  ε = η/β

The kernels here consume a log density (the layer above passes ``x -> −β E(x)``), so their
``step_size`` is ε. [`ula_from_energy`][] takes (E, β, η) instead and converts, ε = η/β.

Many EBM codes write the step as x' = x − η ∇E(x) + σ ξ with a free "noise scale" σ. That is
the energy form at the inverse temperature β = 2η/σ² ([`effective_beta`][]): step 1 with
noise 0.01 samples p_β at β = 20,000, close to gradient descent. [`ula_from_noise`][] accepts
such a pair and says which β it implies.

ULA never rejects, so it is biased: for E = a x²/2 the chain's stationary variance is
1 / (β a (1 − η a / 2)) instead of 1 / (β a), an O(η) error (MALA removes it).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from samplers.base import SamplingAlgorithm, check_beta, check_positive
from samplers.kernel import Kernel, check_logdensity

__all__ = [
    "ULA",
    "LangevinInfo",
    "LangevinState",
    "NoisyLangevin",
    "build_kernel",
    "effective_beta",
    "init",
    "ula",
    "ula_from_energy",
    "ula_from_noise",
]


class LangevinState(NamedTuple):
    """Position with its log density and gradient (valid for the log density that made them)."""

    position: Any
    logdensity: jax.Array
    logdensity_grad: Any


class LangevinInfo(NamedTuple):
    """``acceptance_rate`` is 1: ULA never rejects (``samplers.run`` flags non-finite steps)."""

    acceptance_rate: jax.Array


def init(position, logdensity_fn: Callable) -> LangevinState:
    """Evaluate log p and ∇log p at ``position`` (a pytree of float arrays)."""
    logdensity, grad = jax.value_and_grad(logdensity_fn)(position)
    return LangevinState(position, logdensity, grad)


def build_kernel():
    """ULA kernel in log-density form, x' = x + ε ∇log p(x) + √(2ε) ξ.

    Returns:
        ``kernel(key, state, logdensity_fn, step_size) -> (state, info)``. The log density is an
        argument of each call, so a changed density (new β, new parameters, a minibatch
        estimate as in SGLD) needs no rebuild; the cached gradient in ``state`` must then be
        refreshed with `init`.
    """

    def kernel(key, state: LangevinState, logdensity_fn: Callable, step_size):
        leaves, treedef = jax.tree.flatten(state.position)
        keys = jax.random.split(key, len(leaves))
        noise = [
            jax.random.normal(k, jnp.shape(x), jnp.result_type(x))
            for k, x in zip(keys, leaves, strict=True)
        ]
        noise = jax.tree.unflatten(treedef, noise)
        scale = jnp.sqrt(2.0 * step_size)
        position = jax.tree.map(
            lambda x, g, n: x + step_size * g + scale * n,
            state.position,
            state.logdensity_grad,
            noise,
        )
        return init(position, logdensity_fn), LangevinInfo(jnp.ones((), jnp.result_type(float)))

    return kernel


class ULA(Kernel):
    """ULA kernel in log-density form, x' = x + ε ∇log p(x) + √(2ε) ξ, ε = ``step_size`` > 0.

    Example:
        >>> alg = ULA(0.05)(lambda x: -0.5 * jnp.sum(x**2))
        >>> state, info = alg.step(key, alg.init(jnp.zeros(2)))
    """

    step_size: jax.Array

    def __init__(self, step_size):
        self.step_size = check_positive(step_size, "step_size")

    def init(self, position, logdensity_fn, rng_key=None) -> LangevinState:
        return init(position, logdensity_fn)

    def step(self, key, state, logdensity_fn):
        return build_kernel()(key, state, logdensity_fn, self.step_size)


def ula(logdensity_fn: Callable, step_size) -> SamplingAlgorithm:
    """ULA on a log density: x' = x + ε ∇log p(x) + √(2ε) ξ with ε = ``step_size``.

    Args:
        logdensity_fn: ``x -> log p(x)`` up to a constant (for an energy: ``−β E(x)``).
        step_size: ε > 0 (for log p = −βE this is η/β, η the energy-form step).

    Returns:
        ``ULA(step_size)(logdensity_fn)``.
    """
    check_logdensity(logdensity_fn)
    return ULA(step_size)(logdensity_fn)


def ula_from_energy(energy_fn: Callable, beta, step_size) -> SamplingAlgorithm:
    """ULA in energy form, x' = x − η ∇E(x) + √(2η/β) ξ, targeting p_β ∝ exp(−β E).

    Args:
        energy_fn: ``x -> E(x)`` (scalar).
        beta: inverse temperature β > 0.
        step_size: η > 0, the step on the energy gradient.

    Returns:
        [`ula`][] on log p = −β E with ε = η / β (the same chain).
    """
    beta = check_beta(beta)
    step_size = check_positive(step_size, "step_size")
    return ula(lambda x: -beta * energy_fn(x), step_size / beta)


def effective_beta(step_size, noise_scale):
    """β = 2η/σ² implied by the update x' = x − η ∇E(x) + σ ξ.

    Args:
        step_size: η > 0.
        noise_scale: σ > 0, the standard deviation of the added Gaussian noise.

    Example:
        >>> effective_beta(1.0, 0.01)   # 20000.0: near-zero temperature
    """
    step_size = check_positive(step_size, "step_size")
    noise_scale = check_positive(noise_scale, "noise_scale")
    return 2.0 * step_size / noise_scale**2


class NoisyLangevin(NamedTuple):
    """ULA built from a (step, noise) pair, with the β and ε it implies.

    Attributes:
        algorithm: the ``SamplingAlgorithm`` (ULA on log p = −β E, step ε).
        beta: β = 2η/σ², the inverse temperature the chain actually samples.
        step_size: ε = η/β = σ²/2, the log-density-form step.
    """

    algorithm: SamplingAlgorithm
    beta: jax.Array
    step_size: jax.Array

    @property
    def init(self):
        return self.algorithm.init

    @property
    def step(self):
        return self.algorithm.step


def ula_from_noise(
    energy_fn: Callable, step_size, noise_scale, *, warn: bool = True
) -> NoisyLangevin:
    """Accept the common (η, σ) parametrisation x' = x − η ∇E(x) + σ ξ and state its β.

    The chain is ULA at β = 2η/σ² ([`effective_beta`][]): the same update, now with an
    explicit temperature. With ``warn=True`` (and concrete inputs) a ``UserWarning`` states
    the implied β so a hidden temperature never goes unnoticed.

    Returns:
        `NoisyLangevin` ``(algorithm, beta, step_size)``; it also has ``init``/``step``.
    """
    beta = effective_beta(step_size, noise_scale)
    if warn and not isinstance(beta, jax.core.Tracer):
        warnings.warn(
            f"Langevin step {float(np.asarray(step_size)):g} with noise "
            f"{float(np.asarray(noise_scale)):g} samples exp(-beta*E) at "
            f"beta = 2*step/noise**2 = {float(np.asarray(beta)):g}",
            UserWarning,
            stacklevel=2,
        )
    eps = 0.5 * jnp.asarray(noise_scale) ** 2
    return NoisyLangevin(ula(lambda x: -beta * energy_fn(x), eps), jnp.asarray(beta), eps)
