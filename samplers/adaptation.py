"""Adaptation of kernel parameters.

* [`adapt_step_size`][]: one multiplicative step-size update from an observed acceptance
  rate (used between temperatures by annealing estimators),

      log ε ← log ε + clip(2 (ā − a*), −1, 1)        (ā NaN or infinite ↦ −1),

  on any [`Kernel`][] with a ``step_size`` field, a [`Blackjax`][]
  kernel with a ``step_size`` parameter, or a [`FromFactory`][] whose
  ``jax.tree_util.Partial`` has a ``step_size`` keyword. Pure and jittable; ε stays a leaf.
* [`window_adaptation`][]: Stan-style warm-up of step size and mass matrix (blackjax's).
"""

from __future__ import annotations

from collections.abc import Callable

import blackjax
import equinox as eqx
import jax
import jax.numpy as jnp

from samplers.hmc import HMC, NUTS
from samplers.kernel import Blackjax, FromFactory, Kernel, check_logdensity

__all__ = ["adapt_step_size", "window_adaptation"]


def _step_size_path(kernel):
    """A ``where`` function for ``eqx.tree_at`` locating the step size, or None."""
    if isinstance(kernel, Blackjax):
        return (lambda k: k.params["step_size"]) if "step_size" in kernel.params else None
    if isinstance(kernel, FromFactory):
        factory = kernel.factory
        if isinstance(factory, jax.tree_util.Partial) and "step_size" in factory.keywords:
            return lambda k: k.factory.keywords["step_size"]
        return None
    if isinstance(getattr(kernel, "step_size", None), jax.Array):
        return lambda k: k.step_size
    return None


def adapt_step_size(kernel: Kernel, acceptance, target_acceptance) -> Kernel:
    """ε ← ε · exp(clip(2 (acceptance − target_acceptance), −1, 1)), NaN acceptance ↦ ε/e.

    Args:
        kernel: a [`Kernel`][]; returned unchanged when it has no step size.
        acceptance: observed mean acceptance rate ā (scalar, may be traced).
        target_acceptance: a* in (0, 1).

    Returns:
        The kernel with the updated step size (same pytree structure: no recompilation).

    Example:
        >>> adapt_step_size(samplers.MALA(0.1), 0.8, 0.5).step_size   # 0.1·e^0.6 = 0.18221
    """
    if not isinstance(kernel, Kernel):
        raise TypeError(f"kernel must be a samplers Kernel, got {type(kernel).__name__}")
    if isinstance(target_acceptance, bool) or not isinstance(target_acceptance, int | float):
        raise TypeError(
            f"target_acceptance must be a number in (0, 1), got {type(target_acceptance).__name__}"
        )
    if not 0.0 < target_acceptance < 1.0:
        raise ValueError(f"target_acceptance must be in (0, 1), got {target_acceptance}")
    where = _step_size_path(kernel)
    if where is None:
        return kernel
    step_size = where(kernel)
    delta = jnp.clip(2.0 * (jnp.asarray(acceptance) - target_acceptance), -1.0, 1.0)
    delta = jnp.where(jnp.isfinite(delta), delta, -1.0)
    new = (step_size * jnp.exp(delta)).astype(jnp.result_type(step_size))
    return eqx.tree_at(where, kernel, new)


_BLACKJAX = {HMC: blackjax.hmc, NUTS: blackjax.nuts}


def window_adaptation(algorithm, logdensity_fn: Callable, **kwargs):
    """Stan-style warm-up of step size and (diagonal) mass matrix (``blackjax.window_adaptation``).

    Args:
        algorithm: ``blackjax.hmc``/``blackjax.nuts``, or [`HMC`][] /
            [`NUTS`][] (the class, or an instance: an HMC instance supplies its
            ``num_integration_steps`` unless given in ``kwargs``).
        logdensity_fn: the target log density.
        **kwargs: ``target_acceptance_rate``, ``is_mass_matrix_diagonal``,
            ``num_integration_steps`` (HMC), ...

    Returns:
        blackjax's ``AdaptationAlgorithm``: ``(state, parameters), info = warmup.run(key, x0,
        num_steps)``; then ``samplers.NUTS(**parameters)`` or ``nuts(logdensity_fn,
        **parameters)``.
    """
    check_logdensity(logdensity_fn)
    if isinstance(algorithm, HMC):
        kwargs.setdefault("num_integration_steps", algorithm.num_integration_steps)
    if isinstance(algorithm, HMC | NUTS):
        algorithm = type(algorithm)
    algorithm = _BLACKJAX.get(algorithm, algorithm) if isinstance(algorithm, type) else algorithm
    return blackjax.window_adaptation(algorithm, logdensity_fn, **kwargs)
