"""The one signature every training objective shares, and the pieces they all use.

An objective is an [`Objective`][] (an ``equinox.Module``) built by a factory with
keyword-only hyperparameters::

    objective = physebm.objectives.score_matching(energy_fn, beta=1.0)
    state = objective.init(params, key)
    loss, (state, aux) = objective.loss(params, batch, key, state)

``energy_fn(params, x)`` (or ``energy_fn(params, x, y)`` for conditional energies) evaluates
ONE configuration; ``params`` is any pytree (a dict, an equinox Module, flax params). With
``energy_fn=None`` the params are the energy: ``E(x) = params(x)`` (e.g. a built-in model).

Sign convention: p_θ(x) = exp(−β E_θ(x)) / Z_θ; every loss is minimised. Negative samples always
pass through ``stop_gradient``. Real-valued hyperparameters (β, margins, step sizes) are array
leaves, so under ``eqx.filter_jit`` changing them does not recompile; counts are static.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import samplers
from physebm.validation import is_concrete
from samplers.base import check_count  # noqa: F401  (re-exported: the one count check)

__all__ = [
    "EmptyState",
    "Objective",
    "Weighted",
    "as_kernel",
    "batch_energy",
    "from_build_kernel",
    "run_chains",
]


class EmptyState(NamedTuple):
    """The state of a stateless objective."""


class Weighted(NamedTuple):
    """A batch with per-example weights: losses use Σ wᵢ ℓᵢ / Σ wᵢ instead of the mean.

    Use it to train on an exact distribution over a few distinct states (weights = p(x)).

    Attributes:
        data: the examples, leading axis = examples.
        weights: (num_examples,) non-negative weights.
    """

    data: Any
    weights: jax.Array


class Objective(eqx.Module):
    """Base class: ``init(params, key) -> state``, ``loss(params, batch, key, state)``.

    Objectives hash and compare by identity, so ``jax.jit(objective.loss)`` works (its
    hyperparameters are then compile-time constants); pass the objective as an argument of an
    ``eqx.filter_jit`` function to keep β and the other real hyperparameters traced.
    """

    float_data: ClassVar[str | None] = None
    """Why the objective needs floating-point x (`check_data` then checks the data
    before training), or None when integer/bool x are fine."""

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other) -> bool:
        return self is other

    def init(self, params, key) -> Any:
        """Initial objective state (empty for stateless objectives)."""
        return EmptyState()

    @abc.abstractmethod
    def loss(self, params, batch, key, state) -> tuple[jax.Array, tuple[Any, dict]]:
        """Return ``(scalar loss, (new state, aux dict))``."""


# ---------------------------------------------------------------------------------------------
# argument checks (messages name the argument and what was expected)


def check_energy_fn(energy_fn: Callable | None, name: str = "energy_fn") -> Callable:
    """``energy_fn(params, x)``; ``None`` means the params are the energy (``params(x)``)."""
    if energy_fn is None:
        return _call_params
    if not callable(energy_fn):
        raise TypeError(
            f"{name} must be a callable energy_fn(params, x) -> scalar (or None to call the "
            f"params themselves), got {type(energy_fn).__name__}"
        )
    return energy_fn


def _call_params(params, x, *rest):
    return params(x, *rest)


def check_real(value, name: str, *, positive: bool = False, nonnegative: bool = False):
    """A finite real scalar hyperparameter as a float array (a traced leaf)."""
    if isinstance(value, bool) or not isinstance(
        value, int | float | np.ndarray | jax.Array | np.generic
    ):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if not isinstance(value, jax.core.Tracer):
        arr = np.asarray(value)
        if arr.shape != () or not np.issubdtype(arr.dtype, np.number):
            raise ValueError(f"{name} must be a real scalar, got shape {arr.shape}")
        if not np.isfinite(arr):
            raise ValueError(f"{name} must be finite, got {arr}")
        if positive and arr <= 0:
            raise ValueError(f"{name} must be > 0, got {arr}")
        if nonnegative and arr < 0:
            raise ValueError(f"{name} must be >= 0, got {arr}")
    return jnp.asarray(value, dtype=jnp.result_type(float))


def check_choice(value, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


# ---------------------------------------------------------------------------------------------
# batches and energies


def split_weights(batch) -> tuple[Any, jax.Array | None]:
    """``(data, weights)`` of a [`Weighted`][] batch, ``(batch, None)`` otherwise."""
    if isinstance(batch, Weighted):
        return batch.data, jnp.asarray(batch.weights)
    return batch, None


def weighted_mean(values: jax.Array, weights: jax.Array | None) -> jax.Array:
    """Σ wᵢ vᵢ / Σ wᵢ (the plain mean when ``weights`` is None)."""
    if weights is None:
        return jnp.mean(values)
    weights = weights.astype(values.dtype)
    return jnp.sum(weights * values) / jnp.sum(weights)


def num_examples(batch) -> int:
    """Size of the leading axis shared by every leaf of ``batch``."""
    leaves = jax.tree.leaves(batch)
    if not leaves:
        raise ValueError("batch must contain at least one array")
    sizes = {jnp.shape(leaf)[0] if jnp.ndim(leaf) else None for leaf in leaves}
    if None in sizes or len(sizes) != 1:
        raise ValueError(
            "batch must be an array (or pytree of arrays) with one shared leading axis of "
            f"examples, got leading sizes {sorted(s for s in sizes if s is not None)}"
        )
    return sizes.pop()


def check_data(data, objective=None, name: str = "data") -> None:
    """Raise unless ``data`` is an array (or pytree of arrays) of real numbers (floats, ints or
    bools) sharing a leading axis of at least one example, finite where it is concrete float;
    its examples must be floating point where ``objective.float_data`` says so.

    Raises:
        TypeError: a leaf that is not a real numeric array (strings, objects, complex), or
            integer examples for an objective that needs floats.
        ValueError: no leaves, a leaf without a leading axis (a scalar), differing or zero
            leading sizes, or NaN/inf entries.
    """
    leaves = jax.tree.leaves(data)
    if not leaves:
        raise ValueError(f"{name} must be an array or a pytree of arrays, got {data!r}")
    for leaf in leaves:
        dt = leaf.dtype if hasattr(leaf, "dtype") else np.asarray(leaf).dtype
        real = jnp.issubdtype(dt, jnp.integer) or jnp.issubdtype(dt, jnp.floating)
        if not (real or dt == np.bool_):
            raise TypeError(f"{name} must hold real numeric arrays (float, int, bool), got {dt}")
        if jnp.ndim(leaf) < 1:
            raise ValueError(
                f"{name} must have a leading axis of examples (shape (num_examples, ...)), got "
                f"a scalar {leaf!r}; wrap a single example as data[None]"
            )
    sizes = sorted({jnp.shape(leaf)[0] for leaf in leaves})
    if len(sizes) != 1 or sizes[0] < 1:
        raise ValueError(
            f"{name} leaves must share one non-empty leading axis of examples, got leading "
            f"sizes {sizes}"
        )
    for leaf in leaves:
        if is_concrete(leaf) and jnp.issubdtype(jnp.result_type(leaf), jnp.floating):
            xp = jnp if isinstance(leaf, jax.Array) else np  # no copy of numpy data to device
            if not bool(xp.all(xp.isfinite(leaf))):
                raise ValueError(f"{name} contains NaN or inf; drop or repair those examples")
    need = getattr(objective, "float_data", None)
    if need:
        check_float_data(split_weights(data)[0], need, name)


def check_float_data(x, what: str, name: str = "batch (the data)") -> None:
    """Raise ``TypeError`` unless every leaf of the examples ``x`` is floating point (``what``
    says why: the objective differentiates with respect to x, or moves x continuously);
    dtypes only, so a traced batch is checked too."""
    for leaf in jax.tree.leaves(x):
        dt = jnp.result_type(leaf)
        if not jnp.issubdtype(dt, jnp.inexact):
            raise TypeError(
                f"{name} must be floating point for {what}, got dtype {dt}; pass data.astype(float)"
            )


def batch_energy(energy_fn: Callable, params, x, *rest) -> jax.Array:
    """E(params, xᵢ, ...) for every example on the leading axis, shape (batch,)."""
    energies = jax.vmap(lambda xi, *ri: energy_fn(params, xi, *ri))(x, *rest)
    if jnp.ndim(energies) != 1:
        raise TypeError(
            "energy_fn must return a scalar for one configuration, got shape "
            f"{jnp.shape(energies)[1:]} per example; sum over dimensions inside energy_fn"
        )
    return energies


def stop_gradient(tree):
    """``lax.stop_gradient`` on every array leaf, leaving non-array leaves alone."""
    return jax.tree.map(lambda a: jax.lax.stop_gradient(a) if eqx.is_array(a) else a, tree)


# ---------------------------------------------------------------------------------------------
# Markov kernels for negative samples (the blackjax contract)


def as_kernel(kernel, name: str = "kernel") -> samplers.Kernel:
    """The negative-sampling kernel as a [`samplers.Kernel`][] ([`samplers.as_kernel`][]).

    The same kernels as every estimator takes: a samplers Kernel (``samplers.MALA(0.1)``,
    ``samplers.HeatBath("spin")``) or any blackjax top-level algorithm with its parameters
    bound, e.g. ``functools.partial(blackjax.mala, step_size=0.1)``; a Kernel is itself a
    factory ``logdensity_fn -> SamplingAlgorithm``. For a low-level ``build_kernel()`` kernel
    use [`from_build_kernel`][].
    """
    return samplers.as_kernel(kernel, name)


def from_build_kernel(init_fn: Callable, kernel_fn: Callable, **kernel_params) -> Callable:
    """Turn a low-level kernel into a factory ``logdensity_fn -> SamplingAlgorithm``.

    Args:
        init_fn: ``init_fn(position, logdensity_fn) -> state`` (e.g. ``blackjax.mala.init``).
        kernel_fn: ``kernel_fn(key, state, logdensity_fn, **kernel_params) -> (state, info)``,
            the kernel returned by a ``build_kernel()``; it receives the log density at call time.
        **kernel_params: fixed keyword parameters of the kernel (step sizes, ...).
    """
    from blackjax.base import SamplingAlgorithm

    if not callable(init_fn) or not callable(kernel_fn):
        raise TypeError("init_fn and kernel_fn must be callables (a build_kernel() kernel)")

    def factory(logdensity_fn):
        return SamplingAlgorithm(
            lambda position, rng_key=None: init_fn(position, logdensity_fn),
            lambda key, state: kernel_fn(key, state, logdensity_fn, **kernel_params),
        )

    return factory


def run_chains(kernel: Callable, logdensity_fn: Callable, positions, key, num_steps: int):
    """Run one chain per example of ``positions`` for ``num_steps`` steps of ``kernel``.

    The chains are driven by [`samplers.run`][samplers.run.run] (vmap over chains, scan over steps;
    a step that would make a chain non-finite is rejected there).

    Args:
        kernel: factory ``logdensity_fn -> SamplingAlgorithm`` (see [`as_kernel`][]).
        logdensity_fn: log density of ONE configuration.
        positions: starting points, leading axis = chains (a pytree is fine).
        key: PRNG key.
        num_steps: number of kernel steps (static, ≥ 0).

    Returns:
        ``(final positions, acceptance)`` with ``acceptance`` the mean ``acceptance_rate`` of
        the kernel's info over chains and steps (1.0 when the info has none, or no steps ran).
    """
    if num_steps == 0:
        return positions, jnp.asarray(1.0)
    result = samplers.run(
        key,
        kernel(logdensity_fn),
        positions,
        num_steps=num_steps,
        keep_trace=False,
        trace_fn=lambda state: (),
    )
    return result.state.position, mean_acceptance(result.info)


def mean_acceptance(info) -> jax.Array:
    """Mean ``acceptance_rate`` of a [`samplers.run`][samplers.run.run] info summary (1.0 if
    absent)."""
    rate = info.get("acceptance_rate") if isinstance(info, dict) else None
    return jnp.asarray(1.0) if rate is None else jnp.mean(rate)


def tree_take(tree, index):
    """Index the leading axis of every leaf."""
    return jax.tree.map(lambda a: a[index], tree)
