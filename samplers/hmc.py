"""Hamiltonian Monte Carlo and NUTS: blackjax's kernels as pytree [`Kernel`][] s.

HMC simulates H(x, p) = −log p(x) + ½ pᵀ M⁻¹ p with ``num_integration_steps`` leapfrog steps of
size ε and accepts with probability min(1, exp(−ΔH)); NUTS (multinomial, iterative) chooses the
trajectory length itself. For log p = −β E, the potential is β E. Nothing is re-implemented:
[`HMC`][] and [`NUTS`][] call blackjax's ``build_kernel()``, so a step through them costs
exactly what the blackjax step costs. ``inverse_mass_matrix=None`` is the identity (a vector
of ones the size of the raveled position).
"""

from __future__ import annotations

from collections.abc import Callable

import blackjax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from blackjax.mcmc.integrators import velocity_verlet
from jax.flatten_util import ravel_pytree

from samplers.base import SamplingAlgorithm, check_count, check_positive, is_concrete
from samplers.kernel import Kernel, check_logdensity

__all__ = ["HMC", "NUTS", "build_hmc_kernel", "build_nuts_kernel", "hmc", "init", "nuts"]

init = blackjax.hmc.init
"""``init(position, logdensity_fn) -> HMCState`` (shared by HMC and NUTS)."""

build_hmc_kernel = blackjax.hmc.build_kernel
"""``build_hmc_kernel()(key, state, logdensity_fn, step_size, inverse_mass_matrix,
num_integration_steps)`` (blackjax)."""

build_nuts_kernel = blackjax.nuts.build_kernel
"""``build_nuts_kernel()(key, state, logdensity_fn, step_size, inverse_mass_matrix,
max_num_doublings=10)`` (blackjax)."""


def check_inverse_mass_matrix(inverse_mass_matrix):
    """M⁻¹ as a vector (diagonal) or square matrix, finite with a positive diagonal (if concrete);
    None (the identity) is passed through."""
    if inverse_mass_matrix is None:
        return None
    imm = jnp.asarray(inverse_mass_matrix)
    if not jnp.issubdtype(imm.dtype, jnp.inexact):
        imm = imm.astype(jnp.result_type(float))
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


def _mass(imm, position):
    if imm is not None:
        return imm
    flat, _ = ravel_pytree(position)
    return jnp.ones(flat.shape, flat.dtype)


class _Hamiltonian(Kernel):
    """Fields and step shared by [`HMC`][] and [`NUTS`][] (they differ in the blackjax
    ``build_kernel`` and its trajectory-length argument, `_trajectory`)."""

    step_size: jax.Array
    inverse_mass_matrix: jax.Array | None
    divergence_threshold: float = eqx.field(static=True)
    integrator: Callable = eqx.field(static=True)

    def _trajectory(self):
        raise NotImplementedError

    def init(self, position, logdensity_fn, rng_key=None):
        return init(position, logdensity_fn)

    def step(self, key, state, logdensity_fn):
        build, length = self._trajectory()
        kernel = build(self.integrator, self.divergence_threshold)
        imm = _mass(self.inverse_mass_matrix, state.position)
        return kernel(key, state, logdensity_fn, self.step_size, imm, length)


def _common(step_size, inverse_mass_matrix, divergence_threshold, integrator):
    step_size = check_positive(step_size, "step_size")
    return (
        step_size,
        check_inverse_mass_matrix(inverse_mass_matrix),
        divergence_threshold,
        integrator,
    )


class HMC(_Hamiltonian):
    """HMC with L = ``num_integration_steps`` leapfrog steps of size ε = ``step_size`` and
    inverse mass matrix M⁻¹ (``None``: identity); blackjax's kernel.

    Args:
        step_size: ε > 0 (array leaf).
        inverse_mass_matrix: M⁻¹, a vector (diagonal) or matrix (array leaf), or None.
        num_integration_steps: L ≥ 1 (static).
        divergence_threshold: |ΔH| above which a step counts as divergent (static).
        integrator: a blackjax integrator (static; default velocity Verlet).
    """

    num_integration_steps: int = eqx.field(static=True)

    def __init__(
        self,
        step_size,
        inverse_mass_matrix=None,
        num_integration_steps: int = 10,
        *,
        divergence_threshold: float = 1000,
        integrator: Callable = velocity_verlet,
    ):
        (self.step_size, self.inverse_mass_matrix, self.divergence_threshold, self.integrator) = (
            _common(step_size, inverse_mass_matrix, divergence_threshold, integrator)
        )
        self.num_integration_steps = check_count(num_integration_steps, "num_integration_steps")

    def _trajectory(self):
        return build_hmc_kernel, self.num_integration_steps


class NUTS(_Hamiltonian):
    """The No-U-Turn sampler (blackjax's multinomial NUTS) with step ε = ``step_size``, inverse
    mass matrix M⁻¹ (``None``: identity) and at most ``max_num_doublings`` trajectory doublings
    (static); ``divergence_threshold`` and ``integrator`` as for [`HMC`][].
    """

    max_num_doublings: int = eqx.field(static=True)

    def __init__(
        self,
        step_size,
        inverse_mass_matrix=None,
        max_num_doublings: int = 10,
        *,
        divergence_threshold: float = 1000,
        integrator: Callable = velocity_verlet,
    ):
        (self.step_size, self.inverse_mass_matrix, self.divergence_threshold, self.integrator) = (
            _common(step_size, inverse_mass_matrix, divergence_threshold, integrator)
        )
        self.max_num_doublings = check_count(max_num_doublings, "max_num_doublings")

    def _trajectory(self):
        return build_nuts_kernel, self.max_num_doublings


def _required_imm(inverse_mass_matrix):
    if inverse_mass_matrix is None:
        raise ValueError("inverse_mass_matrix must be a vector or a matrix, got None")
    return inverse_mass_matrix


def hmc(
    logdensity_fn: Callable, step_size, inverse_mass_matrix, num_integration_steps: int, **kwargs
) -> SamplingAlgorithm:
    """HMC with a fixed number of leapfrog steps: ``HMC(...)(logdensity_fn)``.

    Args:
        logdensity_fn: ``x -> log p(x)`` (for an energy: ``−β E(x)``).
        step_size: leapfrog step ε > 0.
        inverse_mass_matrix: M⁻¹, a vector (diagonal) or a matrix matching the position size.
        num_integration_steps: L ≥ 1 leapfrog steps per proposal.
        **kwargs: ``divergence_threshold``, ``integrator`` (as in ``blackjax.hmc``).
    """
    check_logdensity(logdensity_fn)
    imm = _required_imm(inverse_mass_matrix)
    return HMC(step_size, imm, num_integration_steps, **kwargs)(logdensity_fn)


def nuts(logdensity_fn: Callable, step_size, inverse_mass_matrix, **kwargs) -> SamplingAlgorithm:
    """The No-U-Turn sampler ``NUTS(...)(logdensity_fn)``; ``kwargs``: ``max_num_doublings``,
    ``divergence_threshold``, ``integrator``."""
    check_logdensity(logdensity_fn)
    return NUTS(step_size, _required_imm(inverse_mass_matrix), **kwargs)(logdensity_fn)
