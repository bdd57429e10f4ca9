"""The pure update of any objective by any optax optimizer: ``make_step`` -> ``(init, step)``.

    (loss, (s', aux)), g = value_and_grad(objective.loss)(θ, batch, key, s)
    θ' = optax.apply_updates(θ, optimizer.update(g, opt_state, θ))

with θ the floating-point array leaves of the parameters (the others are held fixed).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

__all__ = [
    "StepInfo",
    "TrainState",
    "Trainer",
    "all_finite",
    "check_objective",
    "check_optimizer",
    "make_step",
    "trainable",
]


class TrainState(NamedTuple):
    """What one update reads and writes.

    Attributes:
        params: the full parameter pytree; only its floating-point array leaves are trained
            (``eqx.is_inexact_array``), the others are carried unchanged.
        opt_state: optimizer state of the trainable leaves
            ``eqx.filter(params, eqx.is_inexact_array)``.
        objective_state: the objective's state (e.g. persistent chains).
    """

    params: Any
    opt_state: Any
    objective_state: Any


class StepInfo(NamedTuple):
    """What one update reports.

    Attributes:
        loss: the scalar loss at the parameters before the update.
        finite: True when the loss, the gradients, the new trainable parameters and the new
            objective state are all finite ([`fit`][] discards the update otherwise).
        aux: the objective's aux (a dict of diagnostics for the built-in objectives).
    """

    loss: jax.Array
    finite: jax.Array
    aux: Any


class Trainer(NamedTuple):
    """The ``(init, step)`` pair of [`make_step`][] (optax / blackjax style)."""

    init: Callable[[Any, jax.Array], TrainState]
    step: Callable[[TrainState, Any, jax.Array], tuple[TrainState, StepInfo]]


def check_objective(objective) -> None:
    """Raise ``TypeError`` unless ``objective`` has ``init`` and ``loss`` methods."""
    if not (
        callable(getattr(objective, "init", None)) and callable(getattr(objective, "loss", None))
    ):
        raise TypeError(
            f"objective must have init and loss methods, got {type(objective).__name__}"
        )


def check_optimizer(optimizer) -> None:
    """Raise ``TypeError`` unless ``optimizer`` has callable ``init`` and ``update`` (any optax
    ``GradientTransformation``, ``optax.MultiSteps``, or another object with that pair)."""
    if not (
        callable(getattr(optimizer, "init", None)) and callable(getattr(optimizer, "update", None))
    ):
        raise TypeError(
            "optimizer must have init(params) and update(updates, state, params) methods (an "
            "optax.GradientTransformation or a wrapper such as optax.MultiSteps), got "
            f"{optimizer!r}"
        )


EXTRA_ARGS = ("value", "grad", "value_fn")
"""The keywords [`make_step`][] passes to an ``update`` that accepts them."""


def extra_args_accepted(update) -> tuple[str, ...]:
    """The names in `EXTRA_ARGS` that ``update`` accepts: all of them when it takes
    ``**kwargs`` (every optax ``GradientTransformationExtraArgs``, ``optax.MultiSteps``), those
    it names otherwise (a plain ``update(updates, state, params=None)``: none); none when its
    signature cannot be read. Read once, when the step is built."""
    try:
        params = inspect.signature(update).parameters.values()
    except (TypeError, ValueError):
        return ()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return EXTRA_ARGS
    names = {p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
    return tuple(n for n in EXTRA_ARGS if n in names)


def trainable(params):
    """The trained part of ``params``: its floating-point array leaves, None elsewhere.

    Raises:
        TypeError: ``params`` holds no floating-point array.
    """
    dyn = eqx.filter(params, eqx.is_inexact_array)
    if not jax.tree.leaves(dyn):
        raise TypeError(
            "params must contain floating-point arrays to train (Python floats and integer "
            "arrays are held fixed); wrap values with jnp.asarray(..., dtype=float)"
        )
    return dyn


def make_step(objective, optimizer) -> Trainer:
    """The pure update of ``objective`` by ``optimizer``, as an ``(init, step)`` pair.

    ``init(params, key) -> TrainState`` sets ``opt_state = optimizer.init(θ)`` and
    ``objective_state = objective.init(params, key)``, with θ the floating-point array leaves of
    ``params``. ``step(state, batch, key) -> (state, StepInfo)`` computes

        (loss, (s', aux)), g = value_and_grad(objective.loss)(θ, batch, key, s)
        u, opt_state' = optimizer.update(g, opt_state, θ [, value=loss, grad=g, value_fn])
        θ' = optax.apply_updates(θ, u)

    where each keyword goes to an ``update`` that accepts it (`extra_args_accepted`,
    read once here: ``optax.lbfgs``, ``optax.contrib.reduce_on_plateau``, ``optax.MultiSteps``
    and every optax ``GradientTransformationExtraArgs`` take them; a plain ``update(updates,
    state, params)`` gets none); ``value_fn(θ)`` is the loss on the same batch, key and state.
    Both functions are pure; ``step`` jits (``eqx.filter_jit``, or ``jax.jit`` when the params
    are arrays only), vmaps and scans. It applies every update:
    discarding a non-finite one (``StepInfo.finite``) is the caller's choice, as [`fit`][]
    does.

    Args:
        objective: an [`Objective`][physebm.objectives.Objective] (``init``/``loss``).
        optimizer: an ``optax.GradientTransformation``, or any object with ``init``/``update``
            such as ``optax.MultiSteps``.

    Raises:
        TypeError: ``objective`` or ``optimizer`` lacks the methods above.
    """
    check_objective(objective)
    check_optimizer(optimizer)
    accepted = extra_args_accepted(optimizer.update)

    def init(params, key) -> TrainState:
        return TrainState(params, optimizer.init(trainable(params)), objective.init(params, key))

    def step(state: TrainState, batch, key) -> tuple[TrainState, StepInfo]:
        dyn, static = eqx.partition(state.params, eqx.is_inexact_array)

        def loss_fn(d):
            return objective.loss(eqx.combine(d, static), batch, key, state.objective_state)

        (loss, (obj_state, aux)), grads = jax.value_and_grad(loss_fn, has_aux=True)(dyn)
        extra = {"value": loss, "grad": grads, "value_fn": lambda d: loss_fn(d)[0]}
        extra = {name: extra[name] for name in accepted}
        updates, opt_state = optimizer.update(grads, state.opt_state, dyn, **extra)
        dyn = optax.apply_updates(dyn, updates)
        finite = jnp.isfinite(loss) & all_finite((grads, dyn, obj_state))
        new = TrainState(eqx.combine(dyn, static), opt_state, obj_state)
        return new, StepInfo(loss, finite, aux)

    return Trainer(init, step)


def all_finite(tree) -> jax.Array:
    """True when every floating-point array leaf of ``tree`` is finite (no NaN/inf)."""
    leaves = [
        jnp.all(jnp.isfinite(x))
        for x in jax.tree.leaves(tree)
        if eqx.is_array(x) and jnp.issubdtype(x.dtype, jnp.inexact)
    ]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)
