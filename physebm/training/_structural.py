"""Functions compared by what they compute, so that a jitted driver that takes them as static
arguments reuses its compilation for an equal function built again.

An optax optimizer is a pair of closures; ``optax.adam(1e-3)`` built twice gives two pairs that
compute the same thing but compare unequal (by identity), so ``jax.jit`` with the optimizer as
a static argument would recompile. `structural` wraps a function so that it is equal to
another exactly when both have the same code, the same globals (by identity), equal defaults
and equal closure contents, compared recursively: numbers, strings, None and other hashable
values by value, functions, ``functools.partial``, tuples (NamedTuples included), lists and
dicts structurally, and anything else (arrays included) by identity. Equal keys mean the same
computation, so sharing the compiled code is safe; a different constant (e.g. another learning
rate baked into ``optax.adam``) still gives a different key.
"""

from __future__ import annotations

import functools
import types
from typing import Any

__all__ = ["structural"]


class _Identity:
    """``obj`` compared and hashed by identity (kept alive so its id is not reused)."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __hash__(self):
        return id(self.obj)

    def __eq__(self, other):
        return isinstance(other, _Identity) and other.obj is self.obj


def _key(obj, seen: frozenset) -> Any:
    """The structural key of ``obj`` (module docstring); ``seen`` breaks reference cycles."""
    if id(obj) in seen:
        return _Identity(obj)
    seen = seen | {id(obj)}
    if isinstance(obj, types.FunctionType):
        cells = tuple(_cell_key(c, seen) for c in (obj.__closure__ or ()))
        kwdefaults = _key(obj.__kwdefaults__, seen)
        defaults = _key(obj.__defaults__, seen)
        return ("function", obj.__code__, _Identity(obj.__globals__), defaults, kwdefaults, cells)
    if isinstance(obj, functools.partial):
        return ("partial", _key(obj.func, seen), _key(obj.args, seen), _key(obj.keywords, seen))
    if isinstance(obj, tuple | list):
        return (type(obj), tuple(_key(x, seen) for x in obj))
    if isinstance(obj, dict):
        return (type(obj), tuple((_key(k, seen), _key(v, seen)) for k, v in obj.items()))
    if isinstance(obj, float):
        return (float, obj.hex())  # tells −0.0 from 0.0
    if obj is None or isinstance(obj, bool | int | complex | str | bytes | type):
        return (type(obj), obj)
    return _Identity(obj)


def _cell_key(cell, seen: frozenset) -> Any:
    try:
        contents = cell.cell_contents
    except ValueError:  # an empty cell
        return ("empty cell",)
    return _key(contents, seen)


class _Structural:
    """A callable equal to another exactly when their structural keys are equal."""

    def __init__(self, fn):
        self.fn = fn
        self.key = _key(fn, frozenset())
        self.__wrapped__ = fn  # inspect.signature reads fn's

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    def __hash__(self):
        return hash(self.key)

    def __eq__(self, other):
        return isinstance(other, _Structural) and other.key == self.key

    def __repr__(self):
        return f"structural({self.fn!r})"


def structural(fn):
    """``fn`` wrapped so that it compares and hashes by its structural key (module docstring);
    a key that cannot be hashed (an unhashable constant inside) falls back to identity."""
    wrapped = _Structural(fn)
    try:
        hash(wrapped)
    except TypeError:
        wrapped.key = _Identity(fn)
    return wrapped
