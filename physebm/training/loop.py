"""The fit driver: minibatches, keys, compiled chunks of steps, NaN guard, checkpoints.

For step t (0-based) the driver feeds [`make_step`][]'s ``step``

    key_t, k = split(key_{t−1});   batch = data[perm_e[j·B:(j+1)·B]]   (epoch e, slot j)

with perm_e a permutation of the N examples drawn from a data key fixed at the start (minibatches
without replacement within an epoch, the remainder N mod B dropped); perm_e is drawn once per
epoch and carried from chunk to chunk, not drawn per step.

Steps run in calls of at most ``steps_per_call`` updates, one compiled loop (compiled once for
every call length and remainder). A call's steps are plain updates, as a hand-written
``lax.scan`` of ``make_step`` would run them: no per-step branch or select. The call reports
whether all its losses and its final parameters, optimizer and objective state are finite; when
not, it is run again from its start with a per-step guard (compiled only then) that discards the
first update whose loss, gradients or new parameters/state are not finite and everything after
it, so the run stops with the last finite parameters exactly as a guard at every step would. A
non-finite gradient or state that leaves no trace in any loss nor in the call's final state (an
optimizer that drops non-finite updates, such as ``optax.apply_if_finite``) does not stop the
run. How the steps are split into calls changes no result bit. A checkpoint stores everything
the loop carries (trainable parameters, optimizer state, objective state with persistent chains,
PRNG keys, step), so a resumed run is bit-identical to an uninterrupted one on the same machine.

Memory: the carry (parameters, optimizer and objective state), perm_e (N integers), and per
call its losses and aux scalars (``steps_per_call`` values each); the losses and history of the
whole run are gathered on the host.
"""

from __future__ import annotations

import functools
import math
import os
import time
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from physebm.objectives.base import check_count, check_data, num_examples, tree_take
from physebm.training._structural import structural
from physebm.training.checkpoint import (
    Checkpoint,
    check_resume,
    prepare_checkpoint,
    resume_or_start,
    save_or_warn,
)
from physebm.training.step import (
    TrainState,
    all_finite,
    check_objective,
    check_optimizer,
    make_step,
    trainable,
)
from samplers.progress import FIRST_CALL_STEPS, next_limit, show_progress
from samplers.sharding import batch_sharding, constrain, enter, restore

__all__ = ["FitResult", "NonFiniteLossWarning", "fit"]

MAX_CHUNK = 1000
"""The default (and largest) number of steps one compiled call can run."""


class NonFiniteLossWarning(UserWarning):
    """The loss or the gradients became NaN/inf; the fit stopped at the last finite parameters."""


class FitResult(NamedTuple):
    """Outcome of [`fit`][].

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
# the jitted chunks of steps


class _Carry(NamedTuple):
    """What the driver carries between chunks: the state, whether every update so far was
    finite, and perm_e of the epoch of ``state.step`` (None until first needed; not saved in
    checkpoints, it is a function of the data key and the step)."""

    state: Checkpoint
    ok: jax.Array
    perm: jax.Array | None = None


def _epoch_permutation(data_key, epoch, num_data: int) -> jax.Array:
    """perm_e: the order of the N examples in epoch e."""
    return jax.random.permutation(jax.random.fold_in(data_key, epoch), num_data)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _permutation_at(state: Checkpoint, num_data: int, steps_per_epoch: int) -> jax.Array:
    """perm_e of the epoch e = step // (N // B) that ``state.step`` lies in."""
    return _epoch_permutation(state.data_key, state.step // steps_per_epoch, num_data)


def _scalars(aux) -> dict:
    if not isinstance(aux, dict):
        return {}
    return {k: v for k, v in aux.items() if eqx.is_array(v) and jnp.ndim(v) == 0}


def _updater(objective, optimizer, static_params, data, batch_size: int, sharding=None):
    """``update(ck, perm) -> (finite, loss, scalars, ck')``: step ``ck.step`` on the batch
    ``data[perm[j·B:(j+1)·B]]``, j = step mod (N // B), with ``perm`` its epoch's order; the
    batch laid out by ``sharding`` over devices (data parallel), when given."""
    step_fn = make_step(objective, optimizer).step
    steps_per_epoch = num_examples(data) // batch_size

    def update(ck: Checkpoint, perm):
        key, loss_key = jax.random.split(ck.key)
        start = (ck.step % steps_per_epoch) * batch_size
        batch = tree_take(data, jax.lax.dynamic_slice(perm, (start,), (batch_size,)))
        batch = constrain(batch, sharding)
        state = TrainState(eqx.combine(ck.params, static_params), ck.opt_state, ck.objective_state)
        new, info = step_fn(state, batch, loss_key)
        params = eqx.filter(new.params, eqx.is_inexact_array)
        new_ck = Checkpoint(
            params, new.opt_state, new.objective_state, key, ck.data_key, ck.step + 1
        )
        return info.finite, info.loss, _scalars(info.aux), new_ck

    return update, steps_per_epoch


@eqx.filter_jit
def _run_chunk(
    objective, optimizer, static_params, data, state: Checkpoint, perm, stop, num_steps,
    chunk: int, batch_size: int, sharding=None,
):  # fmt: skip
    """The steady-state chunk: n = min(chunk, stop − step) updates with no per-step guard.

    ``perm`` is perm_e of the epoch of ``state.step``. The updates run epoch segment by epoch
    segment (a ``while_loop``), each segment a ``fori_loop`` of plain updates writing its loss
    and aux scalars into buffers of length ``chunk``; a segment that ends an epoch draws the
    next epoch's perm_e (once per epoch, as a hand-written loop would). Every update is applied;
    ``all_finite`` — every loss finite, and the final parameters, optimizer and objective state
    finite — tells the caller whether to replay the chunk with the guard (`_run_guarded`).
    Checking the gradients and the state at every step (`StepInfo.finite`) would cost
    ~5 % of a small model's step; a NaN/inf there reaches the next loss or stays in the state.

    Returns:
        ``(state', perm', all_finite, (losses, taken, scalars))``, ``taken[i] = i < n``.
    """
    update, steps_per_epoch = _updater(
        objective, optimizer, static_params, data, batch_size, sharding
    )
    num_data = num_examples(data)
    n = jnp.clip(stop - state.step, 0, chunk)
    _, loss, scalars, _ = jax.eval_shape(update, state, perm)
    buffers = jax.tree.map(lambda s: jnp.zeros((chunk, *s.shape), s.dtype), (loss, scalars))

    def segment(loop):
        i, ck, perm, ok, bufs = loop
        stop = jnp.minimum(n, i + steps_per_epoch - ck.step % steps_per_epoch)

        def one(j, inner):
            ck, ok, bufs = inner
            finite, loss, scalars, ck = update(ck, perm)
            bufs = jax.tree.map(lambda b, v: b.at[j].set(v), bufs, (loss, scalars))
            return ck, ok & jnp.isfinite(loss), bufs

        ck, ok, bufs = jax.lax.fori_loop(i, stop, one, (ck, ok, bufs))
        perm = jax.lax.cond(
            (ck.step % steps_per_epoch == 0) & (ck.step < num_steps),
            lambda: _epoch_permutation(ck.data_key, ck.step // steps_per_epoch, num_data),
            lambda: perm,
        )
        return stop, ck, perm, ok, bufs

    start = (jnp.asarray(0, n.dtype), state, perm, jnp.asarray(True), buffers)
    loop = jax.lax.while_loop(lambda loop: loop[0] < n, segment, start)
    _, state, perm, ok, (losses, scalars) = loop
    ok = ok & all_finite((state.params, state.opt_state, state.objective_state))
    return state, perm, ok, (losses, jnp.arange(chunk) < n, scalars)


@eqx.filter_jit
def _run_guarded(
    objective, optimizer, static_params, data, carry: _Carry, num_steps, chunk: int,
    batch_size: int, sharding=None,
):  # fmt: skip
    """``chunk`` iterations of the guarded update (the replay of a chunk that met a non-finite
    update): an update is applied only while every update so far was finite and step <
    ``num_steps``, so the carry stops at the last finite state. Compiled only when needed."""
    update, steps_per_epoch = _updater(
        objective, optimizer, static_params, data, batch_size, sharding
    )
    num_data = num_examples(data)
    epoch = carry.state.step // steps_per_epoch
    perm = _epoch_permutation(carry.state.data_key, epoch, num_data)
    out_shapes = jax.eval_shape(update, carry.state, perm)

    def skip(ck, perm):
        finite, loss, scalars, _ = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), out_shapes)
        return finite, loss, scalars, ck

    def body(loop, _):
        carry, perm, perm_epoch = loop
        epoch = carry.state.step // steps_per_epoch
        perm = jax.lax.cond(
            epoch != perm_epoch,
            lambda: _epoch_permutation(carry.state.data_key, epoch, num_data),
            lambda: perm,
        )
        active = carry.ok & (carry.state.step < num_steps)
        finite, loss, scalars, new = jax.lax.cond(active, update, skip, carry.state, perm)
        take = active & finite
        state = jax.tree.map(lambda n, o: jnp.where(take, n, o), new, carry.state)
        carry = _Carry(state, carry.ok & (finite | ~active))
        return (carry, perm, epoch), (loss, take, scalars)

    (carry, _, _), out = jax.lax.scan(body, (carry, perm, epoch), None, length=chunk)
    return carry, out


# ---------------------------------------------------------------------------------------------
# the driver


def _chunk_length(eval_every: int, checkpoint_every: int, steps_per_call: int | None) -> int:
    if steps_per_call is not None:
        return check_count(steps_per_call, "steps_per_call")
    periods = [p for p in (eval_every, checkpoint_every) if p]
    if not periods:
        return MAX_CHUNK
    g = math.gcd(*periods)
    return max(d for d in range(1, min(g, MAX_CHUNK) + 1) if g % d == 0)


def _raw_key(key) -> jax.Array:
    key = jnp.asarray(key) if not isinstance(key, jax.Array) else key
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(key)
    if key.dtype != jnp.uint32 or key.shape != (2,):
        raise TypeError(
            f"key must be a PRNG key (jax.random.key(0) or PRNGKey(0)), got {key.dtype}{key.shape}"
        )
    return key


class _Settings(NamedTuple):
    """The keyword arguments of [`fit`][]; ``chunk`` is ``steps_per_call`` until checked."""

    num_steps: int
    batch_size: int
    eval_fn: Callable | None
    eval_every: int
    checkpoint_path: str | os.PathLike | None
    checkpoint_every: int
    resume: bool
    on_nonfinite: str
    chunk: int | None
    progress: bool | None
    fingerprint: dict | None = None
    sharding: Any = None


def _check_settings(data, settings: _Settings) -> _Settings:
    """Validated settings: counts checked, the chunk length and progress flag resolved."""
    s = settings._replace(
        num_steps=check_count(settings.num_steps, "num_steps", 0),
        batch_size=check_count(settings.batch_size, "batch_size"),
        eval_every=check_count(settings.eval_every, "eval_every", 0),
        checkpoint_every=check_count(settings.checkpoint_every, "checkpoint_every", 0),
        resume=check_resume(settings.resume),
        progress=show_progress(settings.progress),
    )
    if s.on_nonfinite not in ("stop", "raise"):
        raise ValueError(f"on_nonfinite must be 'stop' or 'raise', got {s.on_nonfinite!r}")
    if s.eval_fn is not None and not callable(s.eval_fn):
        raise TypeError(f"eval_fn must be callable (params, step) -> value, got {s.eval_fn!r}")
    if s.eval_every and s.eval_fn is None:
        raise ValueError("eval_every > 0 needs an eval_fn")
    if (s.resume or s.checkpoint_every) and s.checkpoint_path is None:
        raise ValueError("resume=True / checkpoint_every > 0 need a checkpoint_path")
    num_data = num_examples(data)
    if s.batch_size > num_data:
        raise ValueError(
            f"batch_size must be <= the number of examples {num_data}, got {s.batch_size}"
        )
    return s._replace(chunk=_chunk_length(s.eval_every, s.checkpoint_every, s.chunk))


def _initial_state(objective, optimizer, params, key, settings: _Settings) -> Checkpoint:
    """The carry at step 0 (keys split into init, data order, run), or the checkpoint's."""
    init_key, data_key, run_key = jax.random.split(_raw_key(key), 3)
    state = make_step(objective, optimizer).init(params, init_key)
    start = Checkpoint(
        trainable(params),
        state.opt_state,
        state.objective_state,
        run_key,
        data_key,
        jnp.asarray(0, jnp.int32),
    )
    s = settings
    return resume_or_start(start, s.checkpoint_path, s.resume, s.fingerprint, s.num_steps)


def _crossed(period: int, start: int, stop: int) -> bool:
    """Whether a multiple of ``period`` lies in (start, stop]."""
    return bool(period) and stop // period > start // period


def _init_outside_chunks(params):
    raise AssertionError("the compiled chunk applies updates only; init runs in _initial_state")


def _chunk_optimizer(optimizer):
    """The optimizer as the compiled chunk sees it: for an optax ``GradientTransformation``, its
    ``update`` compared by what it computes (`physebm.training._structural`) and no
    ``init`` (the chunk never initialises), so the chunk compiled for ``optax.adam(1e-3)`` is
    reused by another ``optax.adam(1e-3)``, and for ``optax.inject_hyperparams(optax.adam)(
    learning_rate=lr)`` whatever ``lr`` (it lives in the optimizer state). Other optimizers
    (``optax.MultiSteps``) are returned as they are (compared by identity)."""
    if not isinstance(optimizer, optax.GradientTransformation):
        return optimizer
    return optimizer._replace(init=_init_outside_chunks, update=structural(optimizer.update))


def _chunk(objective, optimizer, static, data, carry: _Carry, stop: int, settings: _Settings):
    """The updates from ``carry.state.step`` to ``stop`` (at most ``settings.chunk``): the
    unguarded `_run_chunk`, replayed from the same start with the guarded
    `_run_guarded` when one of its updates was not finite."""
    chunk, batch_size = settings.chunk, settings.batch_size
    perm = carry.perm
    if perm is None:
        num_data = num_examples(data)
        perm = _permutation_at(carry.state, num_data, num_data // batch_size)
    state, perm, ok, out = _run_chunk(
        objective, optimizer, static, data, carry.state, perm, jnp.asarray(stop),
        jnp.asarray(settings.num_steps), chunk, batch_size, settings.sharding,
    )  # fmt: skip
    if bool(ok):
        return _Carry(state, ok, perm), out
    start = carry._replace(perm=None)
    return _run_guarded(
        objective, optimizer, static, data, start, jnp.asarray(stop), chunk, batch_size,
        settings.sharding,
    )  # fmt: skip


def _next_stop(step: int, limit: int, chunk: int, num_steps: int) -> int:
    """Where the next call ends: ``limit`` steps on, but not past the next multiple of
    ``chunk`` (so that calls end on every evaluation and checkpoint period) nor ``num_steps``."""
    return min(step + limit, (step // chunk + 1) * chunk, num_steps)


def _drive(objective, optimizer, static, data, carry: _Carry, settings: _Settings):
    """Run chunks until ``num_steps`` or a non-finite update; evaluate and checkpoint."""
    optimizer = _chunk_optimizer(optimizer)
    losses, history, evals = [], [], []
    step, num_steps = int(carry.state.step), settings.num_steps
    bar = tqdm(
        total=num_steps,
        initial=min(step, num_steps),
        disable=not settings.progress,
        desc="fit",
        unit="step",
    )
    # Without a bar nothing is gained by short calls: each costs a few ms of dispatch.
    limit = min(settings.chunk, FIRST_CALL_STEPS) if settings.progress else settings.chunk
    first = True
    try:
        while step < num_steps and bool(carry.ok):
            start_time = time.perf_counter()
            stop = _next_stop(step, limit, settings.chunk, num_steps)
            carry, (loss, take, scalars) = _chunk(
                objective, optimizer, static, data, carry, stop, settings
            )
            take = np.asarray(take)
            losses.append(np.asarray(loss)[take])
            history.append({k: np.asarray(v)[take] for k, v in scalars.items()})
            new_step = int(carry.state.step)
            bar.update(new_step - step)
            if take.any():
                bar.set_postfix(loss=f"{losses[-1][-1]:.4g}")
            if settings.progress and not first:  # the first call's time includes compiling
                limit = next_limit(
                    limit, settings.chunk, new_step - step, time.perf_counter() - start_time
                )
            first = False
            crossed_eval = _crossed(settings.eval_every, step, new_step)
            crossed_checkpoint = _crossed(settings.checkpoint_every, step, new_step)
            step = new_step
            if settings.eval_fn is not None and crossed_eval:
                evals.append(
                    (step, settings.eval_fn(eqx.combine(carry.state.params, static), step))
                )
            if crossed_checkpoint:
                save_or_warn(settings.checkpoint_path, carry.state, settings.fingerprint)
    finally:
        bar.close()
    return carry, losses, history, evals


def _result(carry: _Carry, static, losses, history, evals, on_nonfinite: str) -> FitResult:
    """Assemble [`FitResult`][]; warn or raise when the non-finite guard stopped the run."""
    step = int(carry.state.step)
    stopped = not bool(carry.ok)
    if stopped:
        message = (
            f"fit stopped at update {step + 1}: the loss, gradients or updated parameters/state "
            f"became NaN/inf; returning the parameters after step {step} (last finite update). "
            "Lower the learning rate, add the energy regulariser alpha, or check the data."
        )
        if on_nonfinite == "raise":
            raise FloatingPointError(message)
        warnings.warn(message, NonFiniteLossWarning, stacklevel=3)
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
    resume: bool | str = False,
    on_nonfinite: str = "stop",
    steps_per_call: int | None = None,
    progress: bool | None = None,
    mesh=None,
    axis_name: str | None = None,
) -> FitResult:
    """Minimise ``objective`` over ``params`` with an optax ``optimizer``.

    Each step draws a minibatch of ``batch_size`` examples (without replacement within an
    epoch) and applies [`make_step`][]'s update θ ← θ + optimizer.update(∇_θ loss). Only the
    floating-point array leaves of ``params`` are trained (``eqx.partition``), so equinox
    Modules and plain dicts both work.

    Args:
        objective: an [`Objective`][physebm.objectives.Objective] (``init``/``loss``).
        params: initial parameters (any pytree).
        data: array or pytree of arrays with a shared leading axis of examples (e.g. ``x``,
            ``(x, y)``, or ``Weighted(x, w)``): real numbers, finite (checked before training;
            a 1-D array is a batch of scalar examples). Objectives that differentiate with
            respect to x or start chains at the data (score matching, CD) need float x.
        optimizer: any object with ``init``/``update`` (duck-typed): an optax
            ``GradientTransformation``, ``optax.MultiSteps``, or a transformation that needs
            ``value``, ``grad`` or ``value_fn`` (``optax.lbfgs``,
            ``optax.contrib.reduce_on_plateau``), which get them when their ``update`` accepts
            them (read once from its signature; `make_step`). An optax optimizer built again
            with the same constants
            reuses the compiled steps; to sweep a learning rate without recompiling, inject
            it: ``optax.inject_hyperparams(optax.adam)(learning_rate=lr)``.
        key: PRNG key; split into the objective-init, data-order and per-step keys.
        num_steps: total number of updates (counted from the very start when resuming).
        batch_size: examples per update.
        eval_fn: ``eval_fn(params, step) -> value``, called every ``eval_every`` steps.
        eval_every: evaluation period (0: never).
        checkpoint_path: .npz file written (atomically) every ``checkpoint_every`` steps and at
            the end; its folder must exist and be writable (checked before training). A save
            that fails warns (``CheckpointWarning``) and the run goes on.
        checkpoint_every: checkpoint period (0: only at the end, if a path is given).
        resume: ``True``: continue from ``checkpoint_path`` when it exists (its key and step win
            over ``key``; a warning when it does not); the continuation is bit-identical to an
            uninterrupted run. The checkpoint's settings fingerprint (objective and its
            hyperparameters, optimizer, batch size, data shape and hash) must match, else a
            ``CheckpointError``; ``"force"`` resumes anyway, with a warning.
        on_nonfinite: when an update's loss, gradients or new parameters/state are NaN/inf
            (see the module docstring for how it is detected): ``"stop"`` (warn with
            [`NonFiniteLossWarning`][], return the parameters before that update) or
            ``"raise"`` (``FloatingPointError``).
        steps_per_call: the most steps one compiled call runs (default: the largest divisor
            ≤ 1000 of the eval/checkpoint periods, 1000 without them). Calls end on multiples
            of it; with a progress bar they run fewer steps when steps are slow (about 0.25 s
            per call, so the bar moves). How the steps are split into calls changes no result
            bit.
        progress: show a tqdm bar; default only on a terminal and not when ``CI=true``.
        mesh: a ``jax.sharding.Mesh`` (Explicit or Auto axes) for data-parallel training:
            each minibatch is split over its ``axis_name`` axis (``batch_size`` must be a
            multiple of that axis's size), the parameters are replicated and their gradients
            summed across devices by XLA. The minibatches and keys are those of ``mesh=None``;
            the parameters agree to float rounding (the batch mean sums in another order).
        axis_name: the mesh axis of the batch (default: the mesh's only axis).

    Returns:
        [`FitResult`][].
    """
    check_objective(objective)
    check_optimizer(optimizer)
    check_data(data, objective)
    settings = _check_settings(
        data,
        _Settings(
            num_steps, batch_size, eval_fn, eval_every, checkpoint_path, checkpoint_every,
            resume, on_nonfinite, steps_per_call, progress,
        ),
    )  # fmt: skip
    sharding = batch_sharding(mesh, axis_name, settings.batch_size, "batch_size")
    fingerprint = prepare_checkpoint(checkpoint_path, objective, optimizer, data, batch_size)
    settings = settings._replace(fingerprint=fingerprint, sharding=sharding)
    context, (objective, params, data) = enter(sharding, (objective, params, data))
    with context:
        static = eqx.filter(params, eqx.is_inexact_array, inverse=True)
        state = _initial_state(objective, optimizer, params, key, settings)
        carry, losses, history, evals = _drive(
            objective, optimizer, static, data, _Carry(state, jnp.asarray(True)), settings
        )
        if settings.checkpoint_path is not None:
            save_or_warn(settings.checkpoint_path, carry.state, fingerprint)
        res = _result(carry, static, losses, history, evals, settings.on_nonfinite)
    return restore(res, mesh, sharding)
