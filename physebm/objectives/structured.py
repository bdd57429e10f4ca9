"""Negative chains on a model's structured target (block Gibbs for an RBM, checkerboard, ...).

Kernels such as [`samplers.BlockGibbs`][] move a chain with the model's conditionals, so they
need more than a log density: a structured target from [`samplers.targets`][]. An objective
given ``model_fn(params) -> EnergyModel`` hands its kernel

    target = capabilities.kernel_target(model_fn(sg(θ)), β)

(for `physebm.models.RBM`: ``samplers.BernoulliRBM(βW, βb, βc)``), and scores examples with
the model's energy of the data x:

* a latent model (one that registers `capabilities.analytic_free_energy`, the RBM) is
  scored by its free energy F_β(v) = −(1/β) log Σ_h exp(−β E(v, h)), the hidden layer summed
  out: the Rao–Blackwellised gradient β(wmean ∇F(v⁺) − mean ∇F(v⁻)). Its chains live on
  pairs ``(v, h)``: a data point v starts as ``(v, 0)``, and since block Gibbs draws h ~ p(h | v)
  first, the hidden half of a position carries no information into the next step;
* any other model is scored by E(x) and its chains live on x.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp

import samplers
from physebm.models import capabilities
from physebm.objectives.base import stop_gradient

__all__ = [
    "STRUCTURED_KERNELS",
    "check_model_fn",
    "check_structured_model",
    "lift",
    "model_energy_fn",
    "model_target",
    "needs_structured_target",
    "visible",
]

STRUCTURED_KERNELS = (
    samplers.BlockGibbs,
    samplers.ColoredGibbs,
    samplers.ColoredMetropolis,
    samplers.Checkerboard,
)
"""Kernels that move a chain with a model's conditionals and need a structured target."""


def needs_structured_target(kernel) -> bool:
    """Whether ``kernel`` reads couplings off a structured target (not a plain log density)."""
    return isinstance(kernel, STRUCTURED_KERNELS)


def check_model_fn(model_fn, energy_fn, kernel) -> Callable | None:
    """``model_fn`` checked against ``energy_fn`` and ``kernel``.

    Raises:
        TypeError: ``model_fn`` is not callable.
        ValueError: both ``model_fn`` and ``energy_fn`` given, or a kernel that needs a
            structured target (block/coloured Gibbs, checkerboard) without ``model_fn``.
    """
    if model_fn is None:
        if needs_structured_target(kernel):
            raise ValueError(
                f"kernel={type(kernel).__name__}() needs a structured target (its model's "
                "conditionals), not the log density built from energy_fn: pass "
                "model_fn=lambda params: RBM(...) (a model with a registered "
                "capabilities.kernel_target) instead of energy_fn"
            )
        return None
    if not callable(model_fn):
        raise TypeError(
            f"model_fn must be a callable params -> EnergyModel, got {type(model_fn).__name__}"
        )
    if energy_fn is not None:
        raise ValueError(
            "pass energy_fn or model_fn, not both: with model_fn the loss uses the model's "
            "energy (its free energy F(v) for a latent model such as an RBM)"
        )
    return model_fn


def _registers(capability, model) -> bool:
    """Whether ``type(model)`` has its own implementation of a singledispatch ``capability``
    (looked up, not called: no arrays are built)."""
    return capability.dispatch(type(model)) is not capability.dispatch(object)


def check_structured_model(model_fn: Callable, params):
    """``model_fn(params)``, checked to register a kernel target (before tracing).

    A latent model must also have a pair ``(visible_shape, hidden_shape)`` as its event shape.

    Raises:
        TypeError: no registered ``capabilities.kernel_target``, or a latent model whose
            event shape is not such a pair.
    """
    model = model_fn(params)
    if not _registers(capabilities.kernel_target, model):
        raise TypeError(
            f"model_fn(params) returned {type(model).__name__}, which registers no "
            "capabilities.kernel_target (a structured target such as samplers.BernoulliRBM); "
            "use energy_fn with a log-density kernel instead"
        )
    if _registers(capabilities.analytic_free_energy, model):
        shape = getattr(model, "event_shape", None)
        if not (isinstance(shape, tuple) and len(shape) == 2 and isinstance(shape[1], tuple)):
            raise TypeError(
                f"model_fn(params) returned a latent model {type(model).__name__} whose "
                f"event_shape {shape!r} is not a pair (visible_shape, hidden_shape)"
            )
    return model


def model_target(model_fn: Callable, params, beta):
    """capabilities.kernel_target(model_fn(sg(θ)), β): what the kernel is given."""
    return capabilities.kernel_target(model_fn(stop_gradient(params)), beta)


def model_energy_fn(model_fn: Callable, beta) -> Callable:
    """``energy_fn(params, x)`` scoring one example: F_β(x) for a latent model, else E(x)."""

    def energy_fn(params, x):
        model = model_fn(params)
        free_energy = capabilities.analytic_free_energy(model)
        return model.energy(x) if free_energy is None else free_energy(x, beta)

    return energy_fn


def _hidden_shape(model):
    if not _registers(capabilities.analytic_free_energy, model):
        return None
    return model.event_shape[1]


def lift(model, x):
    """Chain positions for the examples ``x``: ``(x, 0)`` for a latent ``model``, else ``x``."""
    hidden = _hidden_shape(model)
    if hidden is None:
        return x
    dtype = jnp.result_type(x)
    return x, jnp.zeros((jnp.shape(x)[0], *hidden), dtype)


def visible(model, positions):
    """The examples of chain positions: ``v`` of ``(v, h)`` for a latent ``model``, else as
    is."""
    return positions if _hidden_shape(model) is None else positions[0]
