"""Run many chains for many steps: vmap over chains, ``lax.scan`` over steps, compiled once.

``run(key, algorithm, positions, num_steps=...)`` initialises every chain with
``algorithm.init``, discards ``num_burnin`` steps, then keeps every ``thin``-th state. Keys:
step t of chain c uses ``split(split(key, T)[t], C)[c]`` (T = total steps, C = chains), so the
result depends on the key only — not on how the chains are laid out on devices.

Compile once: a kernel given as a pytree — ``run(key, kernel, positions,
logdensity_fn=target)`` with a [`Kernel`][], or a [`BoundKernel`][] — goes
through one module-level ``eqx.filter_jit`` driver that takes the key, the kernel, the target
and the positions as arguments, so a second call with the same shapes, kernel type and settings
and another key, β, step size or parameter values reuses the compiled code. A
``SamplingAlgorithm`` of closures (``samplers.mala(ld, 0.1)``, any blackjax algorithm) cannot
be compared across calls and is compiled on every call (inside an outer ``jax.jit`` it is
traced once per outer compilation, so wrapping the call in ``jax.jit`` also caches it).

Non-finite states: after each step, a chain whose new state has a NaN/inf floating leaf (a
log density that returned NaN, an overflowing step) keeps its previous state instead and the
event is counted in ``num_nonfinite`` (per chain). NaNs never reach the samples; callers decide
whether a non-zero count is an error (``physebm.sample`` raises). The guard is one select per
state leaf per step, a fixed cost per step: about 5 % of a NUTS step on a 2-D Gaussian with
256 chains on a 2-core CPU (``benchmarks/bench_user_calls.py``), less on costlier targets.

Memory: the carry is one kernel state per chain. ``keep_trace=True`` stores ``trace_fn(state)``
for every kept draw, (chains × draws × ...) in the state's own dtype (``int8`` spins stay
``int8``); burn-in steps and the steps thinned away are never stored. With the default
``trace_fn`` a state whose ``position`` is computed from its fields (the packed checkerboard
lattice) is stored packed and its ``position`` computed once over the whole trace after the
scan. Running means over draws (``mean``, and ``info`` when ``keep_trace=False``) are
accumulated only when asked: ``mean=True``, or by default when ``keep_trace=False``, in which
case a long run uses constant memory.

Sharding: pass ``mesh`` (a ``jax.sharding.Mesh``, Explicit or Auto axes) to spread the chains
over its ``axis_name`` axis (default: its only axis); the number of chains must be a multiple of
that axis's size (a ``ValueError`` before tracing otherwise). Each chain's draws depend on the
key only, so integer kernels give bit-identical samples to an unsharded run and float kernels
agree to rounding (`samplers.sharding`). The result comes back laid out on the mesh. Positions
already split over a mesh axis (``jax.device_put`` with a ``NamedSharding`` whose spec names an
axis for the leading, chain axis) need no ``mesh``: that mesh and axis are used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from samplers.base import check_count, tree_all_finite
from samplers.kernel import Kernel, check_logdensity
from samplers.progress import is_traced, run_segments, show_progress
from samplers.sharding import batch_sharding, constrain, enter, inferred, place, restore

__all__ = ["BoundKernel", "RunResult", "default_info_fn", "leading_size", "run", "run_states"]


class RunResult(NamedTuple):
    """Output of [`run`][].

    Attributes:
        state: final kernel state of every chain (leading axis: chains).
        trace: ``trace_fn(state)`` per kept draw, leaves shaped (chains, draws, ...) in the
            state's dtype; ``None`` when ``keep_trace=False``.
        info: per-draw scalar info (``info_fn``), leaves (chains, draws); with
            ``keep_trace=False`` their means over draws, leaves (chains,).
        mean: mean over kept draws of ``trace_fn(state)`` (as floats), leaves (chains, ...);
            ``None`` unless asked (``mean=True``, the default with ``keep_trace=False``).
        num_nonfinite: (chains,) number of steps whose new state was non-finite (rejected).
    """

    state: Any
    trace: Any
    info: Any
    mean: Any
    num_nonfinite: jax.Array


class BoundKernel(eqx.Module):
    """A [`Kernel`][] bound to its target, as a pytree ``SamplingAlgorithm``.

    ``init(position, rng_key=None) = kernel.init(position, logdensity_fn, rng_key)`` and
    ``step(key, state) = kernel.step(key, state, logdensity_fn)``. Unlike ``kernel(ld)`` (a
    pair of closures) it is a pytree whose array leaves are the kernel's parameters and the
    target's (β, couplings), so [`run`][] compiles once for all their values.
    """

    kernel: Kernel
    logdensity_fn: Callable

    def __init__(self, kernel: Kernel, logdensity_fn: Callable):
        if not isinstance(kernel, Kernel):
            raise TypeError(
                f"kernel must be a samplers Kernel (e.g. samplers.MALA(0.1)), got "
                f"{type(kernel).__name__}; wrap a blackjax factory with samplers.as_kernel"
            )
        self.kernel = kernel
        self.logdensity_fn = check_logdensity(logdensity_fn)

    def init(self, position, rng_key=None):
        return self.kernel.init(position, self.logdensity_fn, rng_key)

    def step(self, key, state):
        return self.kernel.step(key, state, self.logdensity_fn)


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


def _derived_position(state) -> bool:
    """Whether the state's ``position`` is a property computed from its fields (packed)."""
    return isinstance(getattr(type(state), "position", None), property)


def leading_size(tree, name) -> int:
    """The size of the leading (chain) axis shared by every leaf of ``tree``."""
    sizes = {int(jnp.shape(x)[0]) if jnp.ndim(x) > 0 else -1 for x in jax.tree.leaves(tree)}
    if not sizes:
        raise ValueError(f"{name} is empty: expected arrays with a leading chain axis")
    if -1 in sizes or len(sizes) != 1:
        raise ValueError(
            f"{name} must have one leading chain axis shared by all leaves, got leading sizes "
            f"{sorted(sizes)} (a scalar leaf has no chain axis)"
        )
    return sizes.pop()


class _Plan(NamedTuple):
    """The static settings of a run (hashed: part of the compilation cache key)."""

    num_steps: int
    num_burnin: int
    thin: int
    trace_fn: Callable | None
    info_fn: Callable
    keep_trace: bool
    mean: bool
    sharding: Any


def _plan(num_steps, num_burnin, thin, trace_fn, info_fn, keep_trace, mean, sharding):
    num_steps = check_count(num_steps, "num_steps")
    num_burnin = check_count(num_burnin, "num_burnin", minimum=0)
    thin = check_count(thin, "thin")
    if num_steps % thin:
        raise ValueError(f"num_steps ({num_steps}) must be a multiple of thin ({thin})")
    if trace_fn is not None and not callable(trace_fn):
        raise TypeError(f"trace_fn must be callable state -> pytree, got {trace_fn!r}")
    keep_trace = bool(keep_trace)
    mean = (not keep_trace) if mean is None else bool(mean)
    info_fn = default_info_fn if info_fn is None else info_fn
    return _Plan(num_steps, num_burnin, thin, trace_fn, info_fn, keep_trace, mean, sharding)


def _float_dtype(dtype):
    return dtype if jnp.issubdtype(dtype, jnp.inexact) else jnp.result_type(float)


def _as_float(x):
    x = jnp.asarray(x)
    return x.astype(_float_dtype(x.dtype))


def _float_zeros(shapes):
    return jax.tree.map(lambda s: jnp.zeros(s.shape, _float_dtype(s.dtype)), shapes)


def _stepper(step_fn, plan: _Plan, num_chains: int):
    """``one_step((states, bad), step_key)``: every chain one step, non-finite states rejected."""

    def one_chain(k, state):
        new, info = step_fn(k, state)
        finite = tree_all_finite(new)
        new = jax.tree.map(lambda a, b: jnp.where(finite, a, b), new, state)
        return new, plan.info_fn(info), ~finite

    def one_step(carry, step_key):
        states, bad = carry
        keys = constrain(jax.random.split(step_key, num_chains), plan.sharding)
        states, info, nonfinite = jax.vmap(one_chain)(keys, states)
        states = constrain(states, plan.sharding)
        return (states, bad + nonfinite.astype(jnp.int32)), info

    return one_step


def _sample(key, step_fn, init_fn, states, plan: _Plan) -> RunResult:
    """The whole run (traced once per compilation): init, burn-in, then the kept draws.

    Per draw d (a block of ``thin`` steps): the trace stores ``store(state)`` (the packed state
    itself when its position is derived, else ``trace_fn(state)``) and, when ``plan.mean``,
    adds ``trace_fn(state)`` (as floats) to a running sum; the running sum of the info is kept
    only without a trace. Means are the sums divided by the number of draws D.
    """
    states, keys = _start(key, init_fn, states, plan)
    num_chains = leading_size(states, "states")
    one_step = _stepper(step_fn, plan, num_chains)
    bad = jnp.zeros((num_chains,), jnp.int32)
    if plan.num_burnin:
        (states, bad), _ = jax.lax.scan(one_step, (states, bad), keys[: plan.num_burnin])
    draw, zeros = _drawer(one_step, plan, states, bad, keys[0])
    blocks = _blocks(keys, plan)
    ((states, bad), sums), out = jax.lax.scan(draw, ((states, bad), zeros), blocks)
    return _finish(states, bad, sums, out, plan)


def _start(key, init_fn, states, plan: _Plan):
    """The initialised states and the keys of all steps, ``split(key, num_burnin +
    num_steps)``."""
    states = constrain(states, plan.sharding)
    if init_fn is not None:
        states = constrain(jax.vmap(init_fn)(states), plan.sharding)
    return states, jax.random.split(key, plan.num_burnin + plan.num_steps)


def _blocks(keys, plan: _Plan):
    """The keys of the kept steps, (draws, thin, ...)."""
    num_draws = plan.num_steps // plan.thin
    return keys[plan.num_burnin :].reshape(num_draws, plan.thin, *keys.shape[1:])


def _trace_fns(plan: _Plan, states):
    """``(mean_fn, store_fn, packed)``: what a draw averages and stores (see `_sample`)."""
    mean_fn = _position if plan.trace_fn is None else plan.trace_fn
    packed = plan.trace_fn is None and _derived_position(states)
    return mean_fn, (lambda s: s) if packed else mean_fn, packed


def _drawer(one_step, plan: _Plan, states, bad, key):
    """``(draw, zero sums)``: ``draw(((states, bad), sums), block_keys) -> (carry, out)``, one
    kept draw of ``thin`` steps (see `_sample`)."""
    mean_fn, store_fn, _ = _trace_fns(plan, states)

    def draw(carry, block_keys):
        (states, bad), (sum_trace, sum_info) = carry
        if plan.thin == 1:  # no inner loop of one step (nor slices of its outputs)
            (states, bad), info = one_step((states, bad), block_keys[0])
        else:
            (states, bad), infos = jax.lax.scan(one_step, (states, bad), block_keys)
            info = jax.tree.map(lambda x: x[-1], infos)
        if plan.mean:
            traced = jax.vmap(mean_fn)(states)
            sum_trace = jax.tree.map(lambda a, x: a + _as_float(x), sum_trace, traced)
        if not plan.keep_trace:
            sum_info = jax.tree.map(lambda a, x: a + _as_float(x), sum_info, info)
        out = (jax.vmap(store_fn)(states), info) if plan.keep_trace else None
        return ((states, bad), (sum_trace, sum_info)), out

    return draw, _initial_sums(one_step, mean_fn, plan, states, bad, key)


def _finish(states, bad, sums, out, plan: _Plan) -> RunResult:
    """The result from the final carry and the stacked per-draw outputs (draws first)."""
    num_draws = plan.num_steps // plan.thin
    sum_trace, sum_info = sums
    mean = jax.tree.map(lambda a: a / num_draws, sum_trace) if plan.mean else None
    if plan.keep_trace:
        trace, info = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), out)
        trace = trace.position if _trace_fns(plan, states)[2] else trace
    else:
        trace, info = None, jax.tree.map(lambda a: a / num_draws, sum_info)
    return RunResult(states, trace, info, mean, bad)


def _initial_sums(one_step, mean_fn, plan: _Plan, states, bad, key):
    """Zero running sums (float leaves) of the mean and the info, None where not kept."""
    shapes = jax.eval_shape(lambda s: (jax.vmap(mean_fn)(s), one_step((s, bad), key)[1]), states)
    trace_shapes, info_shapes = shapes
    sum_trace = _float_zeros(trace_shapes) if plan.mean else None
    sum_info = None if plan.keep_trace else _float_zeros(info_shapes)
    return sum_trace, sum_info


@eqx.filter_jit
def _run_pytree(key, algorithm, positions, plan: _Plan) -> RunResult:
    """The one module-level driver: ``algorithm`` is a pytree (array leaves traced)."""
    return _sample(key, algorithm.step, algorithm.init, positions, plan)


@eqx.filter_jit
def _segment_start(key, algorithm, positions, plan: _Plan):
    """``(carry, keys)`` of a run in segments: the carry ``((states, bad), sums, buffers)``
    holds zero per-draw buffers (draws first) where the trace is kept."""
    states, keys = _start(key, algorithm.init, positions, plan)
    num_chains = leading_size(states, "states")
    bad = jnp.zeros((num_chains,), jnp.int32)
    draw, zeros = _drawer(_stepper(algorithm.step, plan, num_chains), plan, states, bad, keys[0])
    buffers = None
    if plan.keep_trace:
        num_draws = plan.num_steps // plan.thin
        shapes = jax.eval_shape(draw, ((states, bad), zeros), _blocks(keys, plan)[0])[1]
        buffers = jax.tree.map(lambda x: jnp.zeros((num_draws, *x.shape), x.dtype), shapes)
    return ((states, bad), zeros, buffers), keys


@eqx.filter_jit(donate="all-except-first")
def _burn_segment(fixed, carry, start, stop, plan: _Plan):
    """Burn-in steps ``start..stop−1`` (the same steps as `_sample`'s scan)."""
    (algorithm, keys), (states_bad, sums, buffers) = fixed, carry
    one_step = _stepper(algorithm.step, plan, leading_size(states_bad[0], "states"))
    states_bad = jax.lax.fori_loop(start, stop, lambda i, c: one_step(c, keys[i])[0], states_bad)
    return states_bad, sums, buffers


@eqx.filter_jit(donate="all-except-first")
def _draw_segment(fixed, carry, start, stop, plan: _Plan):
    """Kept draws ``start..stop−1``, written into the carry's buffers at their index."""
    algorithm, keys = fixed
    states, bad = carry[0]
    one_step = _stepper(algorithm.step, plan, leading_size(states, "states"))
    draw, _ = _drawer(one_step, plan, states, bad, keys[0])
    blocks = _blocks(keys, plan)

    def body(i, carry):
        states_bad, sums, buffers = carry
        (states_bad, sums), out = draw((states_bad, sums), blocks[i])
        if plan.keep_trace:
            buffers = jax.tree.map(lambda b, x: b.at[i].set(x), buffers, out)
        return states_bad, sums, buffers

    return jax.lax.fori_loop(start, stop, body, carry)


@eqx.filter_jit
def _segment_finish(carry, plan: _Plan) -> RunResult:
    (states, bad), sums, buffers = carry
    return _finish(states, bad, sums, buffers, plan)


def _run_in_segments(key, algorithm, positions, plan: _Plan) -> RunResult:
    """`_run_pytree`'s run in a few compiled calls with a progress bar over the burn-in steps
    and the kept draws (`samplers.progress`): the same steps and keys, bit-identical
    results, one compilation of each segment for every call length."""
    carry, keys = _segment_start(key, algorithm, positions, plan)
    fixed, burnin = (algorithm, keys), plan.num_burnin

    def segment(carry, a, b):
        if a < burnin:
            stop = jnp.asarray(min(b, burnin))
            carry = _burn_segment(fixed, carry, jnp.asarray(a), stop, plan)
        if b > burnin:
            start, stop = jnp.asarray(max(a, burnin) - burnin), jnp.asarray(b - burnin)
            carry = _draw_segment(fixed, carry, start, stop, plan)
        return carry

    total = burnin + plan.num_steps // plan.thin
    carry = run_segments(segment, carry, total, desc="sample", unit="step")
    return _segment_finish(carry, plan)


def _run_closure(key, step_fn, init_fn, states, plan: _Plan) -> RunResult:
    """A driver compiled for this call (closures cannot key a compilation cache)."""
    return jax.jit(lambda k, s: _sample(k, step_fn, init_fn, s, plan))(key, states)


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
    mean: bool | None = None,
    mesh=None,
    axis_name: str | None = None,
) -> RunResult:
    """Like [`run`][], from already initialised (batched) kernel states and a step function.

    ``step_fn`` is a closure, so the driver is compiled on every call (wrap the call in
    ``jax.jit`` to cache it). The other arguments are as in [`run`][].

    Args:
        key: PRNG key.
        step_fn: ``(key, state) -> (state, info)`` for ONE chain.
        states: batched states, leading axis = chains.
    """
    if not callable(step_fn):
        raise TypeError("step_fn must be callable (key, state) -> (state, info)")
    num_chains = leading_size(states, "states")
    if mesh is None:
        mesh, axis_name = inferred(states)
    sharding = batch_sharding(mesh, axis_name, num_chains, "num_chains (leading axis of states)")
    plan = _plan(num_steps, num_burnin, thin, trace_fn, info_fn, keep_trace, mean, sharding)
    context, (key, states) = enter(plan.sharding, (key, states))
    with context:
        res = _run_closure(key, step_fn, None, place(states, plan.sharding), plan)
    return _restore(res, mesh, plan.sharding)


def run(
    key,
    algorithm,
    positions,
    *,
    num_steps: int,
    logdensity_fn: Callable | None = None,
    num_burnin: int = 0,
    thin: int = 1,
    trace_fn: Callable | None = None,
    info_fn: Callable | None = None,
    keep_trace: bool = True,
    mean: bool | None = None,
    mesh=None,
    axis_name: str | None = None,
    progress: bool | None = False,
) -> RunResult:
    """Sample many chains of ``algorithm`` from ``positions``.

    Two ways to give the kernel:

    * ``run(key, kernel, positions, logdensity_fn=target, ...)`` with a
      [`Kernel`][] (or ``run(key, BoundKernel(kernel, target), ...)``): compiled
      once per shapes, kernel type and settings; a new key, β, step size or parameter values
      (array leaves of the kernel and the target) reuse the compiled code. Non-array parts
      (a target that is a plain function, ``trace_fn``, ``info_fn``) are compared by identity:
      define them once rather than as a new lambda per call.
    * ``run(key, algorithm, positions, ...)`` with a ``SamplingAlgorithm`` of closures (ours or
      any blackjax one): compiled on every call (outside an outer ``jax.jit``).

    Memory: one kernel state per chain, plus with ``keep_trace=True`` the trace, chains ×
    (num_steps / thin) × ``trace_fn(state)`` in the state's dtype; the running means (when
    asked) are one float ``trace_fn(state)`` per chain.

    Args:
        key: PRNG key.
        algorithm: a [`Kernel`][] (with ``logdensity_fn``), a
            [`BoundKernel`][], or a ``SamplingAlgorithm``: ``init(position)`` and
            ``step(key, state)`` for one chain.
        positions: initial positions, a pytree whose leaves share a leading chain axis.
        num_steps: steps after burn-in (a multiple of ``thin``); draws = num_steps / thin.
        logdensity_fn: the target when ``algorithm`` is a Kernel (a function, a structured
            target from [`samplers.targets`][], a pytree such as a bound method of an
            equinox Module); must be None otherwise.
        num_burnin: steps discarded first (never stored).
        thin: keep one state every ``thin`` steps (the others are never stored).
        trace_fn: ``state -> pytree`` recorded per draw (default: ``state.position``).
        info_fn: ``info -> pytree`` recorded per draw (default: the info's scalar fields);
            with ``thin > 1`` the info of the last step of each block of ``thin`` is kept.
        keep_trace: store the per-draw trace and info (True) or only the info's means (False).
        mean: accumulate the running mean of ``trace_fn(state)`` over draws into
            ``RunResult.mean`` (default: ``not keep_trace``; None in the result otherwise).
        mesh: optional ``jax.sharding.Mesh`` (Explicit or Auto axes) to spread the chains
            over its ``axis_name`` axis; the number of chains must be a multiple of its size.
            Integer kernels give bit-identical results to ``mesh=None``, float kernels agree
            to rounding. Default: the mesh and axis of ``positions`` when they are already
            split over one along their leading axis (sharded inputs), else no sharding.
        axis_name: mesh axis for chains (default: the mesh's only axis).
        progress: a tqdm bar over the burn-in steps and the kept draws (each ``thin`` steps):
            the run is then a few calls of compiled segments, bit-identical to one call and
            compiled once for every call length (`samplers.progress`); ``None`` shows it
            only on a terminal without ``CI=true``. Only for a pytree kernel (a Kernel with
            ``logdensity_fn``, a BoundKernel), never inside ``jit``/``vmap``.

    Returns:
        [`RunResult`][].

    Example:
        >>> res = samplers.run(key, samplers.MALA(0.5), jnp.zeros((8, 2)), num_steps=1000,
        ...                    logdensity_fn=lambda x: -0.5 * jnp.sum(x**2), num_burnin=100)
        >>> res.trace.shape   # (8, 1000, 2)
    """
    if logdensity_fn is not None:
        algorithm = BoundKernel(algorithm, logdensity_fn)
    elif isinstance(algorithm, Kernel):
        raise TypeError(
            f"algorithm is a samplers Kernel ({type(algorithm).__name__}); pass its target as "
            "logdensity_fn=, or a SamplingAlgorithm kernel(logdensity_fn)"
        )
    if not (hasattr(algorithm, "init") and hasattr(algorithm, "step")):
        raise TypeError(
            "algorithm must be a SamplingAlgorithm with init and step, got "
            f"{type(algorithm).__name__}"
        )
    num_chains = leading_size(positions, "positions")
    check_count(num_chains, "num_chains (leading axis of positions)")
    if mesh is None:
        mesh, axis_name = inferred(positions)
    sharding = batch_sharding(mesh, axis_name, num_chains, "num_chains (leading axis of positions)")
    plan = _plan(num_steps, num_burnin, thin, trace_fn, info_fn, keep_trace, mean, sharding)
    context, (key, algorithm, positions) = enter(plan.sharding, (key, algorithm, positions))
    with context:
        positions = place(positions, plan.sharding)
        if isinstance(algorithm, eqx.Module):
            if show_progress(progress) and not is_traced((key, algorithm, positions)):
                res = _run_in_segments(key, algorithm, positions, plan)
            else:
                res = _run_pytree(key, algorithm, positions, plan)
        else:
            res = _run_closure(key, algorithm.step, lambda x: algorithm.init(x), positions, plan)
    return _restore(res, mesh, plan.sharding)


def _restore(res: RunResult, mesh, sharding) -> RunResult:
    """The result on the user's mesh (its axis types), unless traced (`samplers.sharding`)."""
    if sharding is None or is_traced(res):
        return res
    return restore(res, mesh, sharding)
