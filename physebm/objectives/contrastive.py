"""Contrastive divergence (CD-k) and persistent contrastive divergence (PCD, replay buffer).

Both minimise the likelihood surrogate

    L(θ) = β (wmean E_θ(x⁺) − mean E_θ(stop_gradient(x⁻))) + α (wmean E_θ(x⁺)² + mean E_θ(x⁻)²)

and differ only in where the negative chains x⁻ start. CD-k: at the data, k kernel steps
(Hinton 2002); biased, the CD update is not the gradient of any objective, and its fixed point
equals the ML one only when the kernel leaves p_θ exactly invariant and the model can match the
data. PCD (Tieleman 2008): chains persist across parameter updates in a
[`samplers.PersistentBuffer`][]; each update draws ``batch`` chains from it, re-seeds each
with probability ``reinit_prob`` from ``init_fn`` (the replay buffer of Du & Mordatch 2019),
runs k steps and writes them back ([`samplers.advance`][]).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp

import samplers
from physebm.objectives.base import (
    Objective,
    as_kernel,
    check_count,
    check_energy_fn,
    check_float_data,
    check_real,
    mean_acceptance,
    num_examples,
    run_chains,
    split_weights,
)
from physebm.objectives.likelihood import contrast, negative_logdensity
from physebm.validation import check_beta
from samplers.persistent import PersistentBuffer

__all__ = [
    "ContrastiveDivergence",
    "PersistentContrastiveDivergence",
    "contrastive_divergence",
    "persistent_contrastive_divergence",
]


class ContrastiveDivergence(Objective):
    """CD-k: x⁻ = k kernel steps from x⁺; loss β(wmean E(x⁺) − mean E(x⁻)) + α(E⁺² + E⁻²).

    The update estimates β(E_data[∇E] − E_{data·Kᵏ}[∇E]), not the ML gradient, unless k → ∞.
    """

    float_data: ClassVar[str] = "contrastive divergence (its chains start at the data)"
    energy_fn: Callable = eqx.field(static=True)
    beta: jax.Array
    alpha: jax.Array
    kernel: samplers.Kernel
    num_steps: int = eqx.field(static=True)

    def loss(self, params, batch, key, state):
        x, w = split_weights(batch)
        check_float_data(x, self.float_data)
        logdensity_fn = negative_logdensity(self.energy_fn, params, self.beta)
        negatives, acceptance = run_chains(self.kernel, logdensity_fn, x, key, self.num_steps)
        loss, aux = contrast(self.energy_fn, params, x, w, negatives, self.beta, self.alpha)
        return loss, (state, {**aux, "acceptance_rate": acceptance})


class PersistentContrastiveDivergence(Objective):
    """PCD: x⁻ = k kernel steps from chains drawn out of a persistent buffer.

    Loss β(wmean E(x⁺) − mean E(x⁻)) + α(E⁺² + E⁻²); with slowly changing θ the chains stay
    near p_θ, so the update approximates the ML gradient β(E_data[∇E] − E_{p_θ}[∇E]).
    """

    energy_fn: Callable = eqx.field(static=True)
    beta: jax.Array
    alpha: jax.Array
    kernel: samplers.Kernel
    init_fn: Callable = eqx.field(static=True)
    num_chains: int = eqx.field(static=True)
    num_steps: int = eqx.field(static=True)
    reinit_prob: float = eqx.field(static=True)

    def init(self, params, key) -> PersistentBuffer:
        """A [`samplers.PersistentBuffer`][] filled with ``init_fn(key, num_chains)``."""
        positions = self.init_fn(key, self.num_chains)
        if num_examples(positions) != self.num_chains:
            raise ValueError(
                f"init_fn(key, {self.num_chains}) must return {self.num_chains} positions on "
                f"the leading axis, got {num_examples(positions)}"
            )
        return samplers.init_buffer(positions)

    def loss(self, params, batch, key, state: PersistentBuffer):
        x, w = split_weights(batch)
        size = num_examples(x)
        if size > self.num_chains:
            raise ValueError(
                f"batch size {size} exceeds num_chains={self.num_chains}: the buffer must hold "
                "at least one chain per positive example"
            )
        logdensity_fn = negative_logdensity(self.energy_fn, params, self.beta)
        buffer, negatives, info = samplers.advance(
            key,
            state,
            self.kernel(logdensity_fn),
            num_steps=self.num_steps,
            batch_size=None if size == self.num_chains else size,
            reinit_fraction=self.reinit_prob,
            noise_fn=self.init_fn,
        )
        loss, aux = contrast(self.energy_fn, params, x, w, negatives, self.beta, self.alpha)
        aux = {
            **aux,
            "acceptance_rate": mean_acceptance(info.info),
            "reseeded": jnp.mean(info.reinitialized),
        }
        return loss, (buffer, aux)


def contrastive_divergence(
    energy_fn: Callable | None = None,
    *,
    kernel: Callable,
    num_steps: int = 1,
    beta=1.0,
    alpha=0.0,
) -> ContrastiveDivergence:
    """CD-k with any kernel: chains start at the data and run ``num_steps`` steps.

    Loss β(wmean E(x⁺) − mean E(sg(x⁻))) + α(wmean E(x⁺)² + mean E(x⁻)²). Its gradient
    estimates β(E_data[∇_θE] − E_{data·Kᵏ}[∇_θE]) (+ the α term), K the kernel.

    Args:
        energy_fn: ``energy_fn(params, x) -> scalar``; ``None`` calls ``params(x)``.
        kernel: factory ``logdensity_fn -> SamplingAlgorithm`` (e.g.
            ``functools.partial(blackjax.mala, step_size=0.1)``, ``samplers`` kernels; a
            Gibbs/Metropolis kernel for bits or spins).
        num_steps: k ≥ 1.
        beta: inverse temperature β > 0 (the chains sample exp(−βE)).
        alpha: energy-magnitude regulariser weight α ≥ 0.
    """
    return ContrastiveDivergence(
        check_energy_fn(energy_fn),
        check_beta(beta, scalar=True),
        check_real(alpha, "alpha", nonnegative=True),
        as_kernel(kernel),
        check_count(num_steps, "num_steps"),
    )


def persistent_contrastive_divergence(
    energy_fn: Callable | None = None,
    *,
    kernel: Callable,
    init_fn: Callable,
    num_chains: int,
    num_steps: int = 1,
    reinit_prob=0.05,
    beta=1.0,
    alpha=0.0,
) -> PersistentContrastiveDivergence:
    """PCD with a replay buffer of ``num_chains`` persistent chains.

    Each loss call draws one chain per positive example (without replacement), re-seeds each
    from ``init_fn`` with probability ``reinit_prob``, runs ``num_steps`` kernel steps on
    −β E(sg(θ), ·), writes the chains back, and returns β(wmean E(x⁺) − mean E(sg(x⁻))) +
    α(E⁺² + E⁻²). Gradient ≈ β(E_data[∇_θE] − E_{p_θ}[∇_θE]). ``reinit_prob=0`` with
    ``num_chains`` = batch size is Tieleman's PCD.

    Args:
        energy_fn: ``energy_fn(params, x) -> scalar``; ``None`` calls ``params(x)``.
        kernel: factory ``logdensity_fn -> SamplingAlgorithm``.
        init_fn: ``init_fn(key, num) -> positions`` with leading axis ``num`` (noise, random
            bits/spins, ...); fills the buffer and re-seeds chains.
        num_chains: buffer size (≥ the batch size).
        num_steps: kernel steps per update, k ≥ 1.
        reinit_prob: probability in [0, 1] of re-seeding a drawn chain from ``init_fn``.
        beta: inverse temperature β > 0.
        alpha: energy-magnitude regulariser weight α ≥ 0.
    """
    if not callable(init_fn):
        raise TypeError(f"init_fn must be callable (key, num) -> positions, got {init_fn!r}")
    if isinstance(reinit_prob, bool) or not isinstance(reinit_prob, int | float):
        raise TypeError(f"reinit_prob must be a Python number in [0, 1], got {reinit_prob!r}")
    if not 0.0 <= reinit_prob <= 1.0:
        raise ValueError(f"reinit_prob must be in [0, 1], got {reinit_prob}")
    return PersistentContrastiveDivergence(
        check_energy_fn(energy_fn),
        check_beta(beta, scalar=True),
        check_real(alpha, "alpha", nonnegative=True),
        as_kernel(kernel),
        init_fn,
        check_count(num_chains, "num_chains"),
        check_count(num_steps, "num_steps"),
        float(reinit_prob),
    )
