"""Fit loop for any objective with an optax optimizer: jitted steps, NaN guard, checkpoints.

One update, for step t (0-based):

    key_t, k = split(key_{t−1});   batch = data[perm_e[j·B:(j+1)·B]]   (epoch e, slot j)
    (loss, (state, aux)), g = value_and_grad(objective.loss)(θ, batch, k, state)
    θ ← optax.apply_updates(θ, optimizer.update(g, opt_state, θ))

with perm_e a permutation of the N examples drawn from a data key fixed at the start (minibatches
without replacement within an epoch, the remainder N mod B dropped). Steps run in chunks inside
one ``lax.scan`` compiled once. If the loss, the gradients or the new parameters/state are not
finite, the update is discarded and the run stops with the last finite parameters. A
checkpoint stores everything the loop carries (parameters, optimizer state, objective state
with persistent chains, PRNG keys, step), so a resumed run is bit-identical to an uninterrupted
one on the same machine.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from physebm.objectives.base import check_count, num_examples, tree_take

__all__ = [
    "Checkpoint",
    "FitResult",
    "NonFiniteLossWarning",
    "fit",
    "load_checkpoint",
    "save_checkpoint",
]

MAX_CHUNK = 100


class NonFiniteLossWarning(UserWarning):
    """The loss or the gradients became NaN/inf; the fit stopped at the last finite parameters."""


class Checkpoint(NamedTuple):
    """Everything the fit loop carries between steps (the trainable part of the params)."""

    params: Any
    opt_state: Any
    objective_state: Any
    key: jax.Array
    data_key: jax.Array
    step: jax.Array


class FitResult(NamedTuple):
    """Outcome of :func:`fit`.

    Attributes:
        params: final parameters (the last finite ones if the run stopped early).
        opt_state: optimizer state matching ``params``.
        objective_state: objective state (e.g. PCD chains).
        key: PRNG key after the last step taken.
        step: number of updates applied since the very start (resumed runs included).
        losses: (num_taken,) loss of every update applied in this call.
        history: scalar entries of the objectives' aux dict, per update applied in this call.
        evals: list of ``(step, eval_fn(params, step))``.
        stopped_early: True when the non-finite guard stopped the run.
        message: why the run ended.
    """

    params: Any
    opt_state: Any
    objective_state: Any
    key: jax.Array
    step: int
    losses: np.ndarray
    history: dict
    evals: list
    stopped_early: bool
    message: str


# ---------------------------------------------------------------------------------------------
# checkpoints


def save_checkpoint(path: str | os.PathLike, tree) -> None:
    """Write the array leaves of ``tree`` to ``path`` (.npz), atomically.

    Non-array leaves are not stored: :func:`load_checkpoint` takes them from its template.
    """
    leaves = jax.tree.leaves(eqx.filter(tree, eqx.is_array))
    arrays = {f"leaf_{i:05d}": np.asarray(jax.device_get(leaf)) for i, leaf in enumerate(leaves)}
    path = os.fspath(path)
    tmp = path + ".tmp.npz"
    with open(tmp, "wb") as f:
        np.savez(f, num_leaves=np.asarray(len(leaves)), **arrays)
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike, like):
    """Read a checkpoint written by :func:`save_checkpoint` into the structure of ``like``.

    Raises:
        ValueError: the file's leaves do not match ``like`` in number, shape or dtype.
    """
    with np.load(os.fspath(path)) as f:
        stored = [f[f"leaf_{i:05d}"] for i in range(int(f["num_leaves"]))]
    arrays, static = eqx.partition(like, eqx.is_array)
    leaves, treedef = jax.tree.flatten(arrays)
    if len(stored) != len(leaves):
        raise ValueError(
            f"checkpoint {path} holds {len(stored)} arrays but the run expects {len(leaves)}: "
            "it was written for other params/optimizer/objective"
        )
    for i, (new, old) in enumerate(zip(stored, leaves, strict=True)):
        if new.shape != jnp.shape(old) or new.dtype != jnp.result_type(old):
            raise ValueError(
                f"checkpoint {path} array {i} has shape {new.shape} dtype {new.dtype}, expected "
                f"{jnp.shape(old)} {jnp.result_type(old)}"
            )
    restored = treedef.unflatten([jnp.asarray(a) for a in stored])
    return eqx.combine(restored, static)


# ---------------------------------------------------------------------------------------------
# the jitted chunk of steps


class _Carry(NamedTuple):
    state: Checkpoint
    ok: jax.Array


def _batch_indices(data_key, step, num_data: int, batch_size: int):
    steps_per_epoch = num_data // batch_size
    epoch, slot = jnp.divmod(step, steps_per_epoch)
    perm = jax.random.permutation(jax.random.fold_in(data_key, epoch), num_data)
    return jax.lax.dynamic_slice(perm, (slot * batch_size,), (batch_size,))


def _all_finite(tree) -> jax.Array:
    leaves = [
        jnp.all(jnp.isfinite(x))
        for x in jax.tree.leaves(tree)
        if eqx.is_array(x) and jnp.issubdtype(x.dtype, jnp.inexact)
    ]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def _scalars(aux) -> dict:
    if not isinstance(aux, dict):
        return {}
    return {k: v for k, v in aux.items() if eqx.is_array(v) and jnp.ndim(v) == 0}


@eqx.filter_jit
def _run_chunk(
    objective, optimizer, static_params, data, carry: _Carry, num_steps, chunk: int, batch_size: int
):
    num_data = num_examples(data)

    def update(state: Checkpoint):
        key, loss_key = jax.random.split(state.key)
        batch = tree_take(data, _batch_indices(state.data_key, state.step, num_data, batch_size))

        def loss_fn(dyn):
            params = eqx.combine(dyn, static_params)
            return objective.loss(params, batch, loss_key, state.objective_state)

        (loss, (obj_state, aux)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        finite = jnp.isfinite(loss) & _all_finite((grads, params, obj_state))
        new = Checkpoint(params, opt_state, obj_state, key, state.data_key, state.step + 1)
        return finite, loss, _scalars(aux), new

    out_shapes = jax.eval_shape(update, carry.state)

    def skip(state):
        finite, loss, scalars, _ = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), out_shapes)
        return finite, loss, scalars, state

    def body(carry: _Carry, _):
        active = carry.ok & (carry.state.step < num_steps)
        finite, loss, scalars, new = jax.lax.cond(active, update, skip, carry.state)
        take = active & finite
        state = jax.tree.map(lambda n, o: jnp.where(take, n, o), new, carry.state)
        return _Carry(state, carry.ok & (finite | ~active)), (loss, take, scalars)

    return jax.lax.scan(body, carry, None, length=chunk)


# ---------------------------------------------------------------------------------------------


def _chunk_length(eval_every: int, checkpoint_every: int, steps_per_call: int | None) -> int:
    if steps_per_call is not None:
        return check_count(steps_per_call, "steps_per_call")
    periods = [p for p in (eval_every, checkpoint_every) if p]
    if not periods:
        return MAX_CHUNK
    g = math.gcd(*periods)
    return max(d for d in range(1, min(g, MAX_CHUNK) + 1) if g % d == 0)


def _show_progress(progress: bool | None) -> bool:
    if progress is not None:
        return bool(progress)
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        return False
    return sys.stderr.isatty()


def _raw_key(key) -> jax.Array:
    key = jnp.asarray(key) if not isinstance(key, jax.Array) else key
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(key)
    if key.dtype != jnp.uint32 or key.shape != (2,):
        raise TypeError(
            f"key must be a PRNG key (jax.random.key(0) or PRNGKey(0)), got {key.dtype}{key.shape}"
        )
    return key


def _check_data(data, batch_size: int) -> int:
    num_data = num_examples(data)
    if batch_size > num_data:
        raise ValueError(
            f"batch_size must be <= the number of examples {num_data}, got {batch_size}"
        )
    return num_data


def fit(
    objective,
    params,
    data,
    optimizer: optax.GradientTransformation,
    *,
    key,
    num_steps: int,
    batch_size: int,
    eval_fn: Callable | None = None,
    eval_every: int = 0,
    checkpoint_path: str | os.PathLike | None = None,
    checkpoint_every: int = 0,
    resume: bool = False,
    on_nonfinite: str = "stop",
    steps_per_call: int | None = None,
    progress: bool | None = None,
) -> FitResult:
    """Minimise ``objective`` over ``params`` with an optax ``optimizer``.

    Each step draws a minibatch of ``batch_size`` examples (without replacement within an
    epoch) and applies θ ← θ + optimizer.update(∇_θ loss). Only the floating-point array leaves
    of ``params`` are trained (``eqx.partition``), so equinox Modules and plain dicts both work.

    Args:
        objective: an :class:`~physebm.objectives.Objective` (``init``/``loss``).
        params: initial parameters (any pytree).
        data: array or pytree of arrays with a shared leading axis of examples (e.g. ``x``,
            ``(x, y)``, or ``Weighted(x, w)``).
        optimizer: an ``optax.GradientTransformation``.
        key: PRNG key; split into the objective-init, data-order and per-step keys.
        num_steps: total number of updates (counted from the very start when resuming).
        batch_size: examples per update.
        eval_fn: ``eval_fn(params, step) -> value``, called every ``eval_every`` steps.
        eval_every: evaluation period (0: never).
        checkpoint_path: .npz file written every ``checkpoint_every`` steps and at the end.
        checkpoint_every: checkpoint period (0: only at the end, if a path is given).
        resume: continue from ``checkpoint_path`` when it exists (its key and step win over
            ``key``); the continuation is bit-identical to an uninterrupted run.
        on_nonfinite: ``"stop"`` (warn with :class:`NonFiniteLossWarning`, return the last
            finite parameters) or ``"raise"`` (``FloatingPointError``).
        steps_per_call: steps per compiled chunk (default: from the eval/checkpoint periods).
        progress: show a tqdm bar; default only on a terminal and not when ``CI=true``.

    Returns:
        :class:`FitResult`.
    """
    if not (
        callable(getattr(objective, "init", None)) and callable(getattr(objective, "loss", None))
    ):
        raise TypeError(
            f"objective must have init and loss methods, got {type(objective).__name__}"
        )
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"optimizer must be an optax.GradientTransformation, got {optimizer!r}")
    num_steps = check_count(num_steps, "num_steps", 0)
    batch_size = check_count(batch_size, "batch_size")
    eval_every = check_count(eval_every, "eval_every", 0)
    checkpoint_every = check_count(checkpoint_every, "checkpoint_every", 0)
    if on_nonfinite not in ("stop", "raise"):
        raise ValueError(f"on_nonfinite must be 'stop' or 'raise', got {on_nonfinite!r}")
    if eval_fn is not None and not callable(eval_fn):
        raise TypeError(f"eval_fn must be callable (params, step) -> value, got {eval_fn!r}")
    if eval_every and eval_fn is None:
        raise ValueError("eval_every > 0 needs an eval_fn")
    if (resume or checkpoint_every) and checkpoint_path is None:
        raise ValueError("resume=True / checkpoint_every > 0 need a checkpoint_path")
    _check_data(data, batch_size)
    chunk = _chunk_length(eval_every, checkpoint_every, steps_per_call)

    dyn, static = eqx.partition(params, eqx.is_inexact_array)
    if not jax.tree.leaves(dyn):
        raise TypeError(
            "params must contain floating-point arrays to train (Python floats and integer "
            "arrays are held fixed); wrap values with jnp.asarray(..., dtype=float)"
        )
    init_key, data_key, run_key = jax.random.split(_raw_key(key), 3)
    state = Checkpoint(
        dyn,
        optimizer.init(dyn),
        objective.init(params, init_key),
        run_key,
        data_key,
        jnp.asarray(0, jnp.int32),
    )
    if resume and os.path.exists(checkpoint_path):
        state = load_checkpoint(checkpoint_path, state)
    carry = _Carry(state, jnp.asarray(True))
    start = int(state.step)

    losses, history, evals = [], [], []
    bar = tqdm(
        total=num_steps,
        initial=min(start, num_steps),
        disable=not _show_progress(progress),
        desc="fit",
        unit="step",
    )
    step = start
    try:
        while step < num_steps and bool(carry.ok):
            carry, (loss, take, scalars) = _run_chunk(
                objective,
                optimizer,
                static,
                data,
                carry,
                jnp.asarray(num_steps),
                chunk,
                batch_size,
            )
            take = np.asarray(take)
            losses.append(np.asarray(loss)[take])
            history.append({k: np.asarray(v)[take] for k, v in scalars.items()})
            new_step = int(carry.state.step)
            bar.update(new_step - step)
            if take.any():
                bar.set_postfix(loss=f"{losses[-1][-1]:.4g}")
            crossed = range(step + 1, new_step + 1)
            step = new_step
            params_now = eqx.combine(carry.state.params, static)
            if eval_fn is not None and eval_every and any(s % eval_every == 0 for s in crossed):
                evals.append((step, eval_fn(params_now, step)))
            if checkpoint_every and any(s % checkpoint_every == 0 for s in crossed):
                save_checkpoint(checkpoint_path, carry.state)
    finally:
        bar.close()
    if checkpoint_path is not None:
        save_checkpoint(checkpoint_path, carry.state)

    stopped = not bool(carry.ok)
    if stopped:
        message = (
            f"fit stopped at update {step + 1}: the loss, gradients or updated parameters/state "
            f"became NaN/inf; returning the parameters after step {step} (last finite update). "
            "Lower the learning rate, add the energy regulariser alpha, or check the data."
        )
        if on_nonfinite == "raise":
            raise FloatingPointError(message)
        warnings.warn(message, NonFiniteLossWarning, stacklevel=2)
    else:
        message = f"completed {step} steps"
    keys = history[0].keys() if history else ()
    return FitResult(
        params=eqx.combine(carry.state.params, static),
        opt_state=carry.state.opt_state,
        objective_state=carry.state.objective_state,
        key=carry.state.key,
        step=step,
        losses=np.concatenate(losses) if losses else np.zeros(0),
        history={k: np.concatenate([h[k] for h in history]) for k in keys},
        evals=evals,
        stopped_early=stopped,
        message=message,
    )
