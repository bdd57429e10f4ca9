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

Kernels get the log density x ↦ −βE(sg(θ), x) built from ``energy_fn``, or, with
``model_fn(params) -> EnergyModel``, the model's structured target
``capabilities.kernel_target(model, β)`` (see `physebm.objectives.structured`), so an RBM
trains by v → h → v block Gibbs ([`samplers.BlockGibbs`][]) on ``BernoulliRBM(βW, βb, βc)``
with the free-energy loss β(wmean F(v⁺) − mean F(sg(v⁻))).
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
from physebm.objectives.structured import (
    check_model_fn,
    check_structured_model,
    lift,
    model_energy_fn,
    model_target,
    visible,
)
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
    model_fn: Callable | None = eqx.field(static=True, default=None)

    def init(self, params, key):
        if self.model_fn is not None:
            check_structured_model(self.model_fn, params)
        return super().init(params, key)

    def loss(self, params, batch, key, state):
        x, w = split_weights(batch)
        check_float_data(x, self.float_data)
        if self.model_fn is None:
            energy_fn = self.energy_fn
            target = negative_logdensity(energy_fn, params, self.beta)
            negatives, acceptance = run_chains(self.kernel, target, x, key, self.num_steps)
        else:
            energy_fn = model_energy_fn(self.model_fn, self.beta)
            target = model_target(self.model_fn, params, self.beta)
            model = self.model_fn(params)
            start = lift(model, x)
            positions, acceptance = run_chains(self.kernel, target, start, key, self.num_steps)
            negatives = visible(model, positions)
        loss, aux = contrast(energy_fn, params, x, w, negatives, self.beta, self.alpha)
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
    model_fn: Callable | None = eqx.field(static=True, default=None)

    def init(self, params, key) -> PersistentBuffer:
        """A [`samplers.PersistentBuffer`][] filled with ``init_fn(key, num_chains)`` (as
        ``(v, 0)`` pairs for a latent ``model_fn`` model)."""
        positions = self.init_fn(key, self.num_chains)
        if num_examples(positions) != self.num_chains:
            raise ValueError(
                f"init_fn(key, {self.num_chains}) must return {self.num_chains} positions on "
                f"the leading axis, got {num_examples(positions)}"
            )
        if self.model_fn is None:
            return samplers.init_buffer(positions)
        model = check_structured_model(self.model_fn, params)
        return samplers.init_buffer(lift(model, positions))

    def loss(self, params, batch, key, state: PersistentBuffer):
        x, w = split_weights(batch)
        size = num_examples(x)
        if size > self.num_chains:
            raise ValueError(
                f"batch size {size} exceeds num_chains={self.num_chains}: the buffer must hold "
                "at least one chain per positive example"
            )
        if self.model_fn is None:
            energy_fn, noise_fn = self.energy_fn, self.init_fn
            target = negative_logdensity(energy_fn, params, self.beta)
        else:
            energy_fn = model_energy_fn(self.model_fn, self.beta)
            target = model_target(self.model_fn, params, self.beta)
            model = self.model_fn(params)

            def noise_fn(key, num):
                return lift(model, self.init_fn(key, num))

        buffer, negatives, info = samplers.advance(
            key,
            state,
            self.kernel(target),
            num_steps=self.num_steps,
            batch_size=None if size == self.num_chains else size,
            reinit_fraction=self.reinit_prob,
            noise_fn=noise_fn,
        )
        if self.model_fn is not None:
            negatives = visible(model, negatives)
        loss, aux = contrast(energy_fn, params, x, w, negatives, self.beta, self.alpha)
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
    model_fn: Callable | None = None,
) -> ContrastiveDivergence:
    """CD-k with any kernel: chains start at the data and run ``num_steps`` steps.

    Loss β(wmean E(x⁺) − mean E(sg(x⁻))) + α(wmean E(x⁺)² + mean E(x⁻)²). Its gradient
    estimates β(E_data[∇_θE] − E_{data·Kᵏ}[∇_θE]) (+ the α term), K the kernel.

    With ``model_fn`` the kernel gets the model's structured target and E is the model's
    energy of x; for an RBM, E = F_β(v) (the hidden layer summed out) and the chains are
    ``(v, h)`` pairs starting at ``(v⁺, 0)``, so k block-Gibbs steps h ~ p(h | v), v ~ p(v | h)
    give v⁻ and the gradient estimates β(E_data[∇F(v)] − E_{data·Kᵏ}[∇F(v)])::

        cd1 = contrastive_divergence(
            model_fn=lambda p: RBM(p["W"], p["b"], p["c"]), kernel=samplers.BlockGibbs()
        )

    Args:
        energy_fn: ``energy_fn(params, x) -> scalar``; ``None`` calls ``params(x)`` (or, with
            ``model_fn``, uses the model's energy).
        kernel: factory ``logdensity_fn -> SamplingAlgorithm`` (e.g.
            ``functools.partial(blackjax.mala, step_size=0.1)``, ``samplers`` kernels; a
            Gibbs/Metropolis kernel for bits or spins), or, with ``model_fn``, a kernel on the
            model's structured target (``samplers.BlockGibbs()`` for an RBM).
        num_steps: k ≥ 1.
        beta: inverse temperature β > 0 (the chains sample exp(−βE)).
        alpha: energy-magnitude regulariser weight α ≥ 0.
        model_fn: ``model_fn(params) -> EnergyModel`` registering
            ``capabilities.kernel_target`` (see `physebm.objectives.structured`); excludes
            ``energy_fn``. Needed by block/coloured Gibbs and checkerboard kernels.

    Raises:
        ValueError: a structured-target kernel without ``model_fn``, or both ``energy_fn`` and
            ``model_fn``.
    """
    kernel = as_kernel(kernel)
    model_fn = check_model_fn(model_fn, energy_fn, kernel)
    return ContrastiveDivergence(
        check_energy_fn(energy_fn),
        check_beta(beta, scalar=True),
        check_real(alpha, "alpha", nonnegative=True),
        kernel,
        check_count(num_steps, "num_steps"),
        model_fn,
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
    model_fn: Callable | None = None,
) -> PersistentContrastiveDivergence:
    """PCD with a replay buffer of ``num_chains`` persistent chains.

    Each loss call draws one chain per positive example (without replacement), re-seeds each
    from ``init_fn`` with probability ``reinit_prob``, runs ``num_steps`` kernel steps on
    −β E(sg(θ), ·), writes the chains back, and returns β(wmean E(x⁺) − mean E(sg(x⁻))) +
    α(E⁺² + E⁻²). Gradient ≈ β(E_data[∇_θE] − E_{p_θ}[∇_θE]). ``reinit_prob=0`` with
    ``num_chains`` = batch size is Tieleman's PCD.

    With ``model_fn`` (as in ``contrastive_divergence``) the kernel moves the model's
    structured target; for an RBM the buffer holds ``(v, h)`` pairs (``init_fn`` draws v, h
    starts at 0), each step is h ~ p(h | v) then v ~ p(v | h), and E = F_β(v): the
    Rao–Blackwellised gradient β(E_data[∇F(v)] − E_{p_θ}[∇F(v)]).

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
        model_fn: ``model_fn(params) -> EnergyModel`` with a registered kernel target;
            excludes ``energy_fn``.
    """
    kernel = as_kernel(kernel)
    model_fn = check_model_fn(model_fn, energy_fn, kernel)
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
        kernel,
        init_fn,
        check_count(num_chains, "num_chains"),
        check_count(num_steps, "num_steps"),
        float(reinit_prob),
        model_fn,
    )
