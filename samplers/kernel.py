"""The one kernel contract: a [`Kernel`][] is a pytree Markov-kernel family.

A kernel knows how to move a chain but not which distribution it targets; the target, a log
density ``logdensity_fn(x) -> log p(x)`` (or a structured target from [`samplers.targets`][],
which is also a log density), is given at call time:

    state = kernel.init(position, logdensity_fn, rng_key=None)
    state, info = kernel.step(key, state, logdensity_fn)        # info.acceptance_rate: scalar
    algorithm = kernel(logdensity_fn)                            # blackjax SamplingAlgorithm
    algorithm.init(position, rng_key=None); algorithm.step(key, state)
    step_fn = kernel.build_kernel()            # step_fn(key, state, logdensity_fn)

So a kernel IS a factory ``logdensity_fn -> SamplingAlgorithm``. Kernels are equinox Modules:
real-valued parameters (step sizes, mass matrices) are array leaves, so a jitted function that
takes a kernel as an argument compiles once for all their values; structural options (domain,
colouring, counts) are static fields.

Any blackjax algorithm fits through [`Blackjax`][] (an algorithm class and its parameters)
or [`FromFactory`][] (a factory such as ``functools.partial(blackjax.mala, step_size=0.1)``);
[`as_kernel`][] turns whatever a user passes into a [`Kernel`][].
"""

from __future__ import annotations

import abc
import functools
import inspect
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from samplers.base import SamplingAlgorithm, check_positive

__all__ = ["Blackjax", "FromFactory", "Kernel", "as_kernel", "check_logdensity"]


def check_logdensity(logdensity_fn, name: str = "logdensity_fn"):
    """Raise a TypeError unless ``logdensity_fn`` is callable ``x -> log p(x)``."""
    if not callable(logdensity_fn):
        raise TypeError(
            f"{name} must be callable x -> log p(x), got {type(logdensity_fn).__name__}"
        )
    return logdensity_fn


class Kernel(eqx.Module):
    """A Markov kernel family whose target log density is given at call time (module docstring).

    Subclasses implement [`init`][] and [`step`][]; every info they return has a scalar
    ``acceptance_rate`` field.
    """

    @abc.abstractmethod
    def init(self, position, logdensity_fn: Callable, rng_key=None):
        """The chain state at ``position`` for the target ``logdensity_fn``."""

    @abc.abstractmethod
    def step(self, key, state, logdensity_fn: Callable):
        """One transition leaving ``logdensity_fn`` invariant: ``(state, info)``."""

    def __call__(self, logdensity_fn: Callable) -> SamplingAlgorithm:
        """Bind the target: a blackjax ``SamplingAlgorithm`` (``init(position, rng_key=None)``,
        ``step(key, state)``)."""
        check_logdensity(logdensity_fn)

        def init(position, rng_key=None):
            return self.init(position, logdensity_fn, rng_key)

        def step(key, state):
            return self.step(key, state, logdensity_fn)

        return SamplingAlgorithm(init, step)

    def build_kernel(self) -> Callable:
        """The low-level blackjax-shaped kernel ``kernel(key, state, logdensity_fn)``."""
        return self.step


class _ByIdentity:
    """A callable compared and hashed by identity (blackjax's algorithm objects are not
    hashable, and jit needs the static parts of a pytree to be)."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.__dict__["fn"], name)

    def __hash__(self):
        return id(self.fn)

    def __eq__(self, other):
        return isinstance(other, _ByIdentity) and other.fn is self.fn

    def __repr__(self):
        return repr(self.fn)


def _hashable(fn):
    try:
        hash(fn)
    except TypeError:
        return _ByIdentity(fn)
    return fn


def _as_leaf(value):
    """Float scalars become default-float jax arrays and float arrays jax arrays of their dtype,
    not weakly typed (traced leaves; one compilation for all values); a ``functools.partial``
    (e.g. a proposal ``partial(step, sigma=0.5)``) becomes a ``jax.tree_util.Partial`` with its
    arguments treated the same way; other values are kept."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float | np.floating):
        return jnp.asarray(value, dtype=jnp.result_type(float))
    if isinstance(value, np.ndarray | jax.Array) and jnp.issubdtype(value.dtype, jnp.inexact):
        return jnp.asarray(value, dtype=value.dtype)
    if isinstance(value, functools.partial) and not isinstance(value, jax.tree_util.Partial):
        return jax.tree_util.Partial(
            _hashable(value.func),
            *[_as_leaf(a) for a in value.args],
            **{k: _as_leaf(v) for k, v in value.keywords.items()},
        )
    return value


def _parameters(fn, skip: int) -> list | None:
    """The parameters of ``fn`` after its first ``skip``, or None when its signature cannot be
    read or takes ``*args``/``**kwargs``. A blackjax ``GenerateSamplingAPI`` (``blackjax.rmh``)
    is read through its top-level function."""
    fn = getattr(fn, "differentiable", fn)
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        return None
    return params[skip:]


def _label(fn) -> str:
    """A short name for an algorithm or factory in error messages."""
    fn = getattr(fn, "differentiable", fn)
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    return f"{getattr(fn, '__module__', None) or ''}.{name}".lstrip(".")


def _kernel_params(algorithm, build_kernel_kwargs: dict, params: dict) -> dict:
    """``params`` checked against the kernel ``kernel(key, state, logdensity_fn, **params)`` of
    ``algorithm.build_kernel(**build_kernel_kwargs)``; a name of the top-level API that the
    kernel calls otherwise, at the same position (``blackjax.rmh``'s ``proposal_generator`` is
    its kernel's ``transition_generator``), is renamed.

    Raises:
        TypeError: a parameter the kernel does not take, or a required one missing.
    """
    kernel = _parameters(algorithm.build_kernel(**build_kernel_kwargs), 3)
    if kernel is None:
        return params
    names = [p.name for p in kernel]
    top = [p.name for p in _parameters(algorithm, 1) or () if p.kind is not p.KEYWORD_ONLY]
    renamed = {}
    for name, value in params.items():
        i = top.index(name) if name in top and name not in names else None
        if i is not None and i < len(names) and names[i] not in top and names[i] not in params:
            name = names[i]
        renamed[name] = value
    label = _label(algorithm)
    unknown = [n for n in renamed if n not in names]
    missing = [p.name for p in kernel if p.default is p.empty and p.name not in renamed]
    if unknown or missing:
        what = f"unknown {unknown}" if unknown else f"missing {missing}"
        spelled = f" (top-level names {top} are accepted too)" if top and top != names else ""
        raise TypeError(
            f"params of {label}: {what}; its kernel takes {names}{spelled}; build_kernel "
            "options such as integrator go in build_kernel_kwargs"
        )
    return renamed


def _init_accepts_key(init_fn) -> bool:
    try:
        params = inspect.signature(init_fn).parameters.values()
    except (TypeError, ValueError):
        return True
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        return True
    return len(params) >= 2


def _init_with_key(init_fn, position, rng_key):
    if rng_key is None or not _init_accepts_key(init_fn):
        return init_fn(position)
    return init_fn(position, rng_key)


class Blackjax(Kernel):
    """Any blackjax-style algorithm class with its kernel parameters as array leaves.

    ``algorithm`` provides ``init(position, logdensity_fn)`` and ``build_kernel(**kwargs)``
    whose kernel is ``kernel(key, state, logdensity_fn, **params)`` (``blackjax.mala``,
    ``blackjax.hmc``, ``blackjax.nuts``, ...).

    ``params`` are checked against that kernel's signature when the kernel is built (a name it
    does not take, or a required one missing, is a ``TypeError`` that lists its parameters); a
    name of the algorithm's top-level API that its kernel spells otherwise is accepted
    (``blackjax.rmh``'s ``proposal_generator`` is its kernel's ``transition_generator``). A
    ``functools.partial`` parameter is stored as a ``jax.tree_util.Partial`` whose float
    arguments are leaves, so a proposal ``partial(step, sigma=0.5)`` has a traced σ.

    Example:
        >>> kernel = Blackjax(blackjax.mala, step_size=0.1)
        >>> kernel = Blackjax(blackjax.hmc, step_size=0.1, inverse_mass_matrix=jnp.ones(2),
        ...                   num_integration_steps=5)
        >>> def walk(key, x, sigma):   # rmh proposes a new position
        ...     return x + sigma * jax.random.normal(key, x.shape)
        >>> kernel = Blackjax(blackjax.rmh, proposal_generator=functools.partial(walk, sigma=0.5))
    """

    algorithm: Any = eqx.field(static=True)
    build_kernel_kwargs: tuple = eqx.field(static=True)
    params: dict

    def __init__(self, algorithm, build_kernel_kwargs: dict | None = None, **params):
        if not (hasattr(algorithm, "init") and hasattr(algorithm, "build_kernel")):
            raise TypeError(
                "algorithm must provide init(position, logdensity_fn) and build_kernel() (a "
                f"blackjax algorithm such as blackjax.mala), got {algorithm!r}"
            )
        if build_kernel_kwargs is not None and not isinstance(build_kernel_kwargs, dict):
            raise TypeError(
                f"build_kernel_kwargs must be a dict or None, got {type(build_kernel_kwargs)}"
            )
        params = _kernel_params(algorithm, build_kernel_kwargs or {}, params)
        if "step_size" in params:
            params["step_size"] = check_positive(params["step_size"], "step_size")
        self.algorithm = _hashable(algorithm)
        self.build_kernel_kwargs = tuple(sorted((build_kernel_kwargs or {}).items()))
        self.params = {k: _as_leaf(v) for k, v in params.items()}

    def init(self, position, logdensity_fn, rng_key=None):
        init_fn = self.algorithm.init
        if rng_key is not None and "rng_key" in inspect.signature(init_fn).parameters:
            return init_fn(position, logdensity_fn, rng_key=rng_key)
        return init_fn(position, logdensity_fn)

    def step(self, key, state, logdensity_fn):
        kernel = self.algorithm.build_kernel(**dict(self.build_kernel_kwargs))
        return kernel(key, state, logdensity_fn, **self.params)


def _is_unbound_algorithm(obj) -> bool:
    """A blackjax algorithm class (``blackjax.mala``) or a samplers constructor (``samplers.mala``)
    passed without its parameters."""
    return hasattr(obj, "init") and hasattr(obj, "build_kernel") and not isinstance(obj, Kernel)


def _check_factory_binds(factory) -> None:
    """Raise a TypeError when ``factory(logdensity_fn)`` would miss a required argument (a
    ``functools.partial`` of ``blackjax.rmh`` without its ``proposal_generator``); factories
    whose signature cannot be read are not checked."""
    if not isinstance(factory, functools.partial):
        return
    params = _parameters(factory.func, 0)
    if params is None:
        return
    signature = inspect.Signature(params)
    try:
        signature.bind(check_logdensity, *factory.args, **factory.keywords)
    except TypeError as error:
        raise TypeError(
            f"factory {_label(factory.func)} cannot be called as factory(logdensity_fn): "
            f"{error}; bind its parameters {list(signature.parameters)[1:]}"
        ) from None


def _is_bound_algorithm(obj) -> bool:
    """A ``SamplingAlgorithm`` (``init``/``step`` closures over one target), not a factory."""
    return (
        hasattr(obj, "init") and hasattr(obj, "step") and not hasattr(obj, "build_kernel")
    ) and not isinstance(obj, Kernel)


class FromFactory(Kernel):
    """A kernel from a factory ``logdensity_fn -> SamplingAlgorithm``.

    A ``functools.partial`` (e.g. ``functools.partial(blackjax.mala, step_size=0.1)``) is
    stored as a ``jax.tree_util.Partial`` whose float arguments are array leaves (nested
    partials too), so the step size is traced (and adapted by [`samplers.adapt_step_size`][]);
    any other callable (a lambda) is kept as it is. A partial that leaves a required argument
    unbound is a ``TypeError`` here, not at the first step.
    """

    factory: Callable

    def __init__(self, factory: Callable):
        if not callable(factory) or _is_unbound_algorithm(factory):
            raise TypeError(
                "factory must be a callable logdensity_fn -> SamplingAlgorithm with its "
                "parameters bound, e.g. functools.partial(blackjax.mala, step_size=0.1), got "
                f"{factory!r}"
            )
        _check_factory_binds(factory)
        self.factory = _as_leaf(factory)

    def init(self, position, logdensity_fn, rng_key=None):
        return _init_with_key(self.factory(logdensity_fn).init, position, rng_key)

    def step(self, key, state, logdensity_fn):
        return self.factory(logdensity_fn).step(key, state)


def as_kernel(obj, name: str = "kernel") -> Kernel:
    """A [`Kernel`][] from what a user passes as ``name``.

    Accepted: a samplers [`Kernel`][] (returned as it is, [`Blackjax`][] included), or
    a callable factory ``logdensity_fn -> SamplingAlgorithm`` (wrapped in
    [`FromFactory`][]).

    Raises:
        TypeError: anything else; a blackjax algorithm class / samplers constructor passed
            without its parameters (bind them with ``functools.partial``); a
            ``SamplingAlgorithm`` already bound to a log density (pass its factory).
    """
    if isinstance(obj, Kernel):
        return obj
    if _is_unbound_algorithm(obj):
        label = getattr(obj, "__name__", None) or type(obj).__name__
        raise TypeError(
            f"{name} is an algorithm without its parameters ({label}); bind them, e.g. "
            "functools.partial(blackjax.mala, step_size=0.1), or pass a samplers Kernel such "
            "as samplers.MALA(0.1)"
        )
    if _is_bound_algorithm(obj):
        raise TypeError(
            f"{name} is a SamplingAlgorithm already bound to one log density; the estimators "
            "and samplers move along their own targets (β, an annealing path), so pass its "
            "factory instead: functools.partial(blackjax.mala, step_size=0.1) or "
            "samplers.Blackjax(blackjax.mala, step_size=0.1)"
        )
    if callable(obj):
        return FromFactory(obj)
    raise TypeError(
        f"{name} must be a samplers Kernel (e.g. samplers.MALA(0.1)) or a blackjax factory "
        "logdensity_fn -> SamplingAlgorithm (e.g. functools.partial(blackjax.mala, "
        f"step_size=0.1)), got {type(obj).__name__}"
    )
