"""Hamiltonian Monte Carlo, NUTS and window adaptation: blackjax's kernels, with checks.

HMC simulates H(x, p) = −log p(x) + ½ pᵀ M⁻¹ p with ``num_integration_steps`` leapfrog steps of
size ε and accepts with probability min(1, exp(−ΔH)); NUTS (multinomial, iterative) chooses the
trajectory length itself. For log p = −β E, the potential is β E. Nothing is re-implemented:
these functions validate arguments and return blackjax's ``SamplingAlgorithm``, so a step
through them costs exactly what the blackjax step costs.
"""

from __future__ import annotations

from collections.abc import Callable

import blackjax
import jax.numpy as jnp
import numpy as np

from samplers.base import SamplingAlgorithm, check_count, check_positive, is_concrete

__all__ = ["build_hmc_kernel", "build_nuts_kernel", "hmc", "init", "nuts", "window_adaptation"]

init = blackjax.hmc.init
"""``init(position, logdensity_fn) -> HMCState`` (shared by HMC and NUTS)."""

build_hmc_kernel = blackjax.hmc.build_kernel
"""``build_hmc_kernel()(key, state, logdensity_fn, step_size, inverse_mass_matrix,
num_integration_steps)`` (blackjax)."""

build_nuts_kernel = blackjax.nuts.build_kernel
"""``build_nuts_kernel()(key, state, logdensity_fn, step_size, inverse_mass_matrix,
max_num_doublings=10)`` (blackjax)."""


def _check_logdensity(logdensity_fn):
    if not callable(logdensity_fn):
        raise TypeError(
            f"logdensity_fn must be callable x -> log p(x), got {type(logdensity_fn).__name__}"
        )


def _check_inverse_mass_matrix(inverse_mass_matrix):
    imm = jnp.asarray(inverse_mass_matrix)
    if imm.ndim not in (1, 2) or (imm.ndim == 2 and imm.shape[0] != imm.shape[1]):
        raise ValueError(
            "inverse_mass_matrix must be a vector (diagonal) or a square matrix, got shape "
            f"{imm.shape}"
        )
    if is_concrete(imm):
        a = np.asarray(imm)
        if not np.all(np.isfinite(a)):
            raise ValueError("inverse_mass_matrix must be finite")
        diag = a if a.ndim == 1 else np.diag(a)
        if np.any(diag <= 0):
            raise ValueError("inverse_mass_matrix must be positive definite (positive diagonal)")
    return imm


def hmc(
    logdensity_fn: Callable, step_size, inverse_mass_matrix, num_integration_steps: int, **kwargs
) -> SamplingAlgorithm:
    """HMC with a fixed number of leapfrog steps (``blackjax.hmc``).

    Args:
        logdensity_fn: ``x -> log p(x)`` (for an energy: ``−β E(x)``).
        step_size: leapfrog step ε > 0.
        inverse_mass_matrix: M⁻¹, a vector (diagonal) or a matrix matching the position size.
        num_integration_steps: L ≥ 1 leapfrog steps per proposal.
        **kwargs: passed to ``blackjax.hmc`` (``divergence_threshold``, ``integrator``).
    """
    _check_logdensity(logdensity_fn)
    step_size = check_positive(step_size, "step_size")
    imm = _check_inverse_mass_matrix(inverse_mass_matrix)
    num_integration_steps = check_count(num_integration_steps, "num_integration_steps")
    return blackjax.hmc(logdensity_fn, step_size, imm, num_integration_steps, **kwargs)


def nuts(logdensity_fn: Callable, step_size, inverse_mass_matrix, **kwargs) -> SamplingAlgorithm:
    """The No-U-Turn sampler (``blackjax.nuts``); ``kwargs``: ``max_num_doublings``, ..."""
    _check_logdensity(logdensity_fn)
    step_size = check_positive(step_size, "step_size")
    imm = _check_inverse_mass_matrix(inverse_mass_matrix)
    return blackjax.nuts(logdensity_fn, step_size, imm, **kwargs)


def window_adaptation(algorithm, logdensity_fn: Callable, **kwargs):
    """Stan-style warm-up of step size and (diagonal) mass matrix (``blackjax.window_adaptation``).

    Args:
        algorithm: ``blackjax.hmc``/``blackjax.nuts`` (or :data:`HMC`/:data:`NUTS` here).
        logdensity_fn: the target log density.
        **kwargs: ``target_acceptance_rate``, ``is_mass_matrix_diagonal``,
            ``num_integration_steps`` (HMC), ...

    Returns:
        blackjax's ``AdaptationAlgorithm``: ``(state, parameters), info = warmup.run(key, x0,
        num_steps)``; then ``nuts(logdensity_fn, **parameters)``.
    """
    _check_logdensity(logdensity_fn)
    return blackjax.window_adaptation(algorithm, logdensity_fn, **kwargs)


HMC = blackjax.hmc
"""blackjax's HMC factory (``init``, ``build_kernel``), for :func:`window_adaptation`."""

NUTS = blackjax.nuts
"""blackjax's NUTS factory (``init``, ``build_kernel``), for :func:`window_adaptation`."""
