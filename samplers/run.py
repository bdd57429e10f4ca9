"""Run many chains for many steps: vmap over chains, ``lax.scan`` over steps, one compilation.

``run(key, algorithm, positions, num_steps=...)`` initialises every chain with
``algorithm.init``, discards ``num_burnin`` steps, then keeps every ``thin``-th state. Keys:
step t of chain c uses ``split(split(key, T)[t], C)[c]`` (T = total steps, C = chains), so the
result depends on the key only — not on how the chains are laid out on devices.

Non-finite states: after each step, a chain whose new state has a NaN/inf floating leaf (a
log density that returned NaN, an overflowing step) keeps its previous state instead and the
event is counted in ``num_nonfinite`` (per chain). NaNs never reach the samples; callers decide
whether a non-zero count is an error (``physebm.sample`` raises).

Memory: ``keep_trace=True`` stores ``trace_fn(state)`` for every kept draw, (chains × draws ×
...); ``keep_trace=False`` keeps only running means over draws (``mean`` and ``info``), so long
runs use constant memory.

Sharding: pass ``mesh`` (a ``jax.sharding.Mesh``) to spread the chains over its ``axis_name``
axis; the samples are identical to an unsharded run with the same key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from samplers.base import check_count, tree_all_finite

__all__ = ["RunResult", "default_info_fn", "leading_size", "run", "run_states"]


class RunResult(NamedTuple):
    """Output of :func:`run`.

    Attributes:
        state: final kernel state of every chain (leading axis: chains).
        trace: ``trace_fn(state)`` per kept draw, leaves shaped (chains, draws, ...); ``None``
            when ``keep_trace=False``.
        info: per-draw scalar info (``info_fn``), leaves (chains, draws); with
            ``keep_trace=False`` their means over draws, leaves (chains,).
        mean: mean over kept draws of ``trace_fn(state)`` (as floats), leaves (chains, ...).
        num_nonfinite: (chains,) number of steps whose new state was non-finite (rejected).
    """

    state: Any
    trace: Any
    info: Any
    mean: Any
    num_nonfinite: jax.Array


def default_info_fn(info) -> dict:
    """The scalar fields of a kernel's info NamedTuple (acceptance_rate, is_divergent, ...).

    An info class may name the fields to keep in a ``summary_fields`` class attribute (e.g. the
    per-pair swap rates of replica exchange, which are vectors).
    """
    fields = getattr(type(info), "summary_fields", None)
    if fields is not None:
        return {name: jnp.asarray(getattr(info, name)) for name in fields}
    if hasattr(info, "_asdict"):
        items = info._asdict().items()
    elif isinstance(info, dict):
        items = info.items()
    else:
        return {}
    out = {}
    for name, value in items:
        if isinstance(value, jax.Array | np.ndarray | float | int | bool | np.generic):
            value = jnp.asarray(value)
            if value.ndim == 0:
                out[name] = value
    return out


def _position(state):
    return state.position


def leading_size(tree, name) -> int:
    sizes = {int(jnp.shape(x)[0]) if jnp.ndim(x) > 0 else -1 for x in jax.tree.leaves(tree)}
    if not sizes:
        raise ValueError(f"{name} is empty: expected arrays with a leading chain axis")
    if -1 in sizes or len(sizes) != 1:
        raise ValueError(
            f"{name} must have one leading chain axis shared by all leaves, got leading sizes "
            f"{sorted(sizes)} (a scalar leaf has no chain axis)"
        )
    return sizes.pop()


def _constrain(tree, sharding):
    if sharding is None:
        return tree
    return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, sharding), tree)


def run_states(
    key,
    step_fn: Callable,
    states,
    *,
    num_steps: int,
    num_burnin: int = 0,
    thin: int = 1,
    trace_fn: Callable | None = None,
    info_fn: Callable | None = None,
    keep_trace: bool = True,
    mesh=None,
    axis_name: str = "chains",
) -> RunResult:
    """Like :func:`run`, from already initialised (batched) kernel states and a step function.

    Args:
        key: PRNG key.
        step_fn: ``(key, state) -> (state, info)`` for ONE chain.
        states: batched states, leading axis = chains.
        (other arguments as in :func:`run`)
    """
    return _run(
        key,
        step_fn,
        None,
        states,
        num_steps=num_steps,
        num_burnin=num_burnin,
        thin=thin,
        trace_fn=trace_fn,
        info_fn=info_fn,
        keep_trace=keep_trace,
        mesh=mesh,
        axis_name=axis_name,
    )


def _run(
    key,
    step_fn,
    init_fn,
    states,
    *,
    num_steps,
    num_burnin,
    thin,
    trace_fn,
    info_fn,
    keep_trace,
    mesh,
    axis_name,
) -> RunResult:
    num_steps = check_count(num_steps, "num_steps")
    num_burnin = check_count(num_burnin, "num_burnin", minimum=0)
    thin = check_count(thin, "thin")
    if num_steps % thin:
        raise ValueError(f"num_steps ({num_steps}) must be a multiple of thin ({thin})")
    if not callable(step_fn):
        raise TypeError("step_fn must be callable (key, state) -> (state, info)")
    num_chains = leading_size(states, "states")
    num_draws = num_steps // thin
    trace_fn = _position if trace_fn is None else trace_fn
    info_fn = default_info_fn if info_fn is None else info_fn
    sharding = None if mesh is None else NamedSharding(mesh, PartitionSpec(axis_name))

    def one_chain(k, state):
        new, info = step_fn(k, state)
        finite = tree_all_finite(new)
        new = jax.tree.map(lambda a, b: jnp.where(finite, a, b), new, state)
        return new, info_fn(info), ~finite

    def one_step(carry, step_key):
        states, bad = carry
        keys = _constrain(jax.random.split(step_key, num_chains), sharding)
        states, info, nonfinite = jax.vmap(one_chain)(keys, states)
        states = _constrain(states, sharding)
        return (states, bad + nonfinite.astype(jnp.int32)), info

    def as_float(x):
        x = jnp.asarray(x)
        return x if jnp.issubdtype(x.dtype, jnp.inexact) else x.astype(jnp.result_type(float))

    def draw(carry, block_keys):
        (states, bad), acc = carry
        (states, bad), infos = jax.lax.scan(one_step, (states, bad), block_keys)
        info = jax.tree.map(lambda x: x[-1], infos)
        traced = jax.vmap(trace_fn)(states)
        acc_trace, acc_info = acc
        acc_trace = jax.tree.map(lambda a, x: a + as_float(x), acc_trace, traced)
        acc_info = jax.tree.map(lambda a, x: a + as_float(x), acc_info, info)
        out = (traced, info) if keep_trace else None
        return ((states, bad), (acc_trace, acc_info)), out

    @jax.jit
    def go(key, states):
        states = _constrain(states, sharding)
        if init_fn is not None:
            states = _constrain(jax.vmap(init_fn)(states), sharding)
        keys = jax.random.split(key, num_burnin + num_steps)
        bad = jnp.zeros((num_chains,), jnp.int32)
        if num_burnin:
            (states, bad), _ = jax.lax.scan(one_step, (states, bad), keys[:num_burnin])
        shapes = jax.eval_shape(
            lambda s: (
                jax.vmap(trace_fn)(s),
                jax.vmap(lambda k, x: one_chain(k, x)[1])(jax.random.split(key, num_chains), s),
            ),
            states,
        )
        zeros = jax.tree.map(
            lambda s: jnp.zeros(
                s.shape,
                s.dtype if jnp.issubdtype(s.dtype, jnp.inexact) else jnp.result_type(float),
            ),
            shapes,
        )
        blocks = keys[num_burnin:].reshape(num_draws, thin, *keys.shape[1:])
        ((states, bad), (sum_trace, sum_info)), out = jax.lax.scan(
            draw, ((states, bad), zeros), blocks
        )
        mean = jax.tree.map(lambda a: a / num_draws, sum_trace)
        if keep_trace:
            trace, info = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), out)
        else:
            trace, info = None, jax.tree.map(lambda a: a / num_draws, sum_info)
        return RunResult(states, trace, info, mean, bad)

    if sharding is not None:
        states = jax.device_put(states, sharding)
    return go(key, states)


def run(
    key,
    algorithm,
    positions,
    *,
    num_steps: int,
    num_burnin: int = 0,
    thin: int = 1,
    trace_fn: Callable | None = None,
    info_fn: Callable | None = None,
    keep_trace: bool = True,
    mesh=None,
    axis_name: str = "chains",
) -> RunResult:
    """Sample many chains of ``algorithm`` from ``positions``.

    Args:
        key: PRNG key.
        algorithm: a ``SamplingAlgorithm`` (ours or any blackjax one): ``init(position)`` and
            ``step(key, state)`` for one chain.
        positions: initial positions, a pytree whose leaves share a leading chain axis.
        num_steps: steps after burn-in (a multiple of ``thin``); draws = num_steps / thin.
        num_burnin: steps discarded first.
        thin: keep one state every ``thin`` steps.
        trace_fn: ``state -> pytree`` recorded per draw (default: ``state.position``).
        info_fn: ``info -> pytree`` recorded per draw (default: the info's scalar fields);
            with ``thin > 1`` the info of the last step of each block of ``thin`` is kept.
        keep_trace: store the per-draw trace and info (True) or only their means (False).
        mesh: optional ``jax.sharding.Mesh`` to shard chains over its ``axis_name`` axis.
        axis_name: mesh axis for chains.

    Returns:
        :class:`RunResult`.

    Example:
        >>> alg = samplers.mala(lambda x: -0.5 * jnp.sum(x**2), 0.5)
        >>> res = samplers.run(key, alg, jnp.zeros((8, 2)), num_steps=1000, num_burnin=100)
        >>> res.trace.shape   # (8, 1000, 2)
    """
    if not (hasattr(algorithm, "init") and hasattr(algorithm, "step")):
        raise TypeError(
            "algorithm must be a SamplingAlgorithm with init and step, got "
            f"{type(algorithm).__name__}"
        )
    num_chains = leading_size(positions, "positions")
    check_count(num_chains, "num_chains (leading axis of positions)")
    return _run(
        key,
        algorithm.step,
        lambda x: algorithm.init(x),
        positions,
        num_steps=num_steps,
        num_burnin=num_burnin,
        thin=thin,
        trace_fn=trace_fn,
        info_fn=info_fn,
        keep_trace=keep_trace,
        mesh=mesh,
        axis_name=axis_name,
    )
