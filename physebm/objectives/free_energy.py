"""The energy loss on the free energy: minimise the mean F_β(y) of the data over the parameters.

    J(θ) = wmean_i F_β(θ; y_i),   F_β(y) = −(1/β) log ∫ exp(−β E(y, z)) dz,   F_∞ = min_z E

With no negative term this is LeCun et al.'s (2006) "energy loss": it only lowers the energy of
the data, so it trains a model whose *architecture* bounds the volume of low-energy
configurations (K-means, PCA with k < d, sparse coding with unit-norm atoms) and collapses any
other. For F_∞ evaluated at a minimiser z*(y) held fixed (``stop_gradient``), Danskin's
theorem gives the exact gradient ∇_θ F_∞(y) = ∇_θ E(y, z*), so a minimiser written as an
iterative solver need not be differentiated.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp

from physebm.objectives.base import Objective, check_float_data, split_weights, weighted_mean
from physebm.validation import check_beta

__all__ = ["FreeEnergyLoss", "free_energy_loss"]

FREE_ENERGY_NEEDS = "a free energy over continuous latents (real-valued y)"


class FreeEnergyLoss(Objective):
    """J = wmean_i F(params, y_i), with F = ``free_energy_fn(params, y)`` on the batch y."""

    float_data: ClassVar[str] = FREE_ENERGY_NEEDS
    free_energy_fn: Callable = eqx.field(static=True)

    def loss(self, params, batch, key, state):
        y, w = split_weights(batch)
        check_float_data(y, self.float_data)
        f = self.free_energy_fn(params, y)
        if jnp.ndim(f) != 1:
            raise TypeError(
                "free_energy_fn(params, y) must return one free energy per example, shape "
                f"(batch,), got shape {jnp.shape(f)}"
            )
        mean = weighted_mean(f, w)
        return mean, (state, {"free_energy": mean})


def free_energy_loss(free_energy_fn: Callable | None = None, *, beta=math.inf) -> FreeEnergyLoss:
    """The energy loss J = wmean_i F_β(params, y_i) (see the module docstring).

    Args:
        free_energy_fn: ``(params, y) -> (batch,)`` free energies of a batch y. None: the
            params are a model and F_β is [`physebm.free_energy`][] ``(params, y, beta)``
            (its analytic or latent-sum route, e.g. a `PCAEnergy` or a `KMeansEnergy`).
        beta: inverse temperature of the default route, ``math.inf`` (default) for
            F_∞ = min_z E(y, z); ignored when ``free_energy_fn`` is given.

    Raises:
        TypeError: ``free_energy_fn`` is not callable.
        ValueError: ``beta`` is not > 0 (or +∞).
    """
    if free_energy_fn is None:
        from physebm.free_energies.discrete import free_energy

        beta = beta if _is_inf(beta) else float(check_beta(beta, scalar=True))

        def free_energy_fn(params, y):
            return free_energy(params, y, beta)

    elif not callable(free_energy_fn):
        raise TypeError(
            "free_energy_fn must be a callable (params, y) -> free energies of shape (batch,), "
            f"got {type(free_energy_fn).__name__}"
        )
    return FreeEnergyLoss(free_energy_fn)


def _is_inf(beta) -> bool:
    return isinstance(beta, int | float) and not isinstance(beta, bool) and beta == math.inf
