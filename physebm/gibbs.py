"""The Gibbs–Boltzmann distribution of an energy at inverse temperature β.

    p_β(x) = exp(−β E(x)) / Z(β)

β is a traced array leaf: changing it never recompiles a jitted function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from physebm.validation import check_beta, check_scalar_energy


def as_energy_pytree(energy: Callable) -> Any:
    """Make a callable usable as a pytree leaf-holder.

    An ``equinox.Module`` (or any pytree that is callable) is kept as is; a plain Python
    function is wrapped in ``jax.tree_util.Partial`` so that jit treats it as static.
    """
    if not callable(energy):
        raise TypeError(f"energy must be callable x -> scalar, got {type(energy).__name__}")
    if isinstance(energy, eqx.Module | jax.tree_util.Partial):
        return energy
    return jax.tree_util.Partial(energy)


class Gibbs(eqx.Module):
    """Gibbs–Boltzmann distribution p_β(x) ∝ exp(−β E(x)).

    Args:
        energy: a callable ``x -> scalar`` (an equinox Module, a built-in model, or a function).
        beta: inverse temperature β > 0 (a scalar; kept as a traced array leaf).

    Example:
        >>> g = Gibbs(lambda x: 0.5 * x @ x, beta=2.0)
        >>> g.log_unnormalized(jnp.ones(3))  # −β E(x) = −3
    """

    energy: Any
    beta: jax.Array

    def __init__(self, energy: Callable, beta=1.0):
        self.energy = as_energy_pytree(energy)
        self.beta = check_beta(beta, scalar=True)

    def energy_value(self, x) -> jax.Array:
        """E(x) for one configuration; raises ``TypeError`` if E does not return a scalar."""
        return check_scalar_energy(jnp.asarray(self.energy(x)), "energy")

    def potential(self, x) -> jax.Array:
        """β E(x): the potential energy in numpyro's sense (negative unnormalised log density)."""
        return self.beta * self.energy_value(x)

    def log_unnormalized(self, x) -> jax.Array:
        """log p̃_β(x) = −β E(x)."""
        return -self.beta * self.energy_value(x)

    @property
    def logdensity_fn(self) -> Callable[[Any], jax.Array]:
        """``x -> −β E(x)``, ready for any blackjax kernel."""
        return self.log_unnormalized

    def with_beta(self, beta) -> Gibbs:
        """The same energy at another inverse temperature (no recompilation under jit)."""
        return Gibbs(self.energy, beta)

    def score(self, x) -> jax.Array:
        """∇ₓ log p_β(x) = −β ∇ₓE(x)."""
        return jax.grad(self.log_unnormalized)(x)
