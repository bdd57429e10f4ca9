"""A fingerprint of the settings a checkpoint was written under, to refuse a resume under others.

`fingerprint` describes ``fit``'s objective, optimizer, batch size and data as a flat
``{path: text}`` dict of strings, stable across processes, so that two runs compare entry by
entry and a mismatch names what changed (``objective.sigma``, ``optimizer…learning_rate``,
``batch_size``, ``data[0]``). The description walks the objects:

- ``equinox.Module`` s, dataclasses and NamedTuples by their type name and fields (β, σ, the
  margin, step sizes, counts are fields of the objectives and kernels);
- functions by ``__qualname__`` and, recursively, the contents of their closure cells by
  variable name (optax optimizers are closures: ``optax.adam(1e-3)`` keeps its learning rate,
  b1, b2 and eps there); ``functools.partial`` by function, args and keywords;
- arrays by dtype and shape, and by value when they have at most `MAX_INLINE` elements,
  otherwise by a SHA-256 of their bytes (the data: its shape, dtype and hash);
- numbers, strings, None by value; anything else by its type name.

The walk stops at depth `MAX_DEPTH` and after `MAX_ENTRIES` entries. Code is not
compared (a function edited under the same name matches), nor the PRNG key or ``num_steps``
(a resume may change both), nor hyperparameters that live in the optimizer *state*
(``optax.inject_hyperparams``): those are restored from the checkpoint.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import types

import jax
import numpy as np

__all__ = ["describe", "differences", "fingerprint"]

MAX_INLINE = 8
MAX_DEPTH = 10
MAX_ENTRIES = 4000


def fingerprint(objective, optimizer, data, batch_size: int) -> dict[str, str]:
    """``{path: text}`` of the settings a resume must share (module docstring)."""
    out: dict[str, str] = {"batch_size": str(int(batch_size))}
    out.update(describe(objective, "objective"))
    out.update(describe(optimizer, "optimizer"))
    leaves = jax.tree.leaves(data)
    for i, leaf in enumerate(leaves):
        out[f"data[{i}]"] = _array_text(np.asarray(jax.device_get(leaf)), inline=False)
    return out


def describe(obj, root: str) -> dict[str, str]:
    """The flat ``{path: text}`` description of ``obj`` under the name ``root``."""
    out: dict[str, str] = {}
    _walk(obj, root, out, frozenset(), 0)
    return out


def differences(stored: dict[str, str], current: dict[str, str], limit: int = 6) -> list[str]:
    """``"path: stored → current"`` for the entries that differ (missing ones as ``<none>``)."""
    keys = sorted(set(stored) | set(current))
    diff = [k for k in keys if stored.get(k) != current.get(k)]
    lines = [
        f"{k}: {_short(stored.get(k, '<none>'))} -> {_short(current.get(k, '<none>'))}"
        for k in diff[:limit]
    ]
    if len(diff) > limit:
        lines.append(f"... and {len(diff) - limit} more")
    return lines


def _short(text: str, width: int = 80) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _walk(obj, path: str, out: dict, seen: frozenset, depth: int) -> None:
    """Add the entries of ``obj`` at ``path`` to ``out`` (module docstring for the rules)."""
    if len(out) >= MAX_ENTRIES:
        return
    leaf = _leaf_text(obj)
    if leaf is not None:
        out[path] = leaf
        return
    if id(obj) in seen or depth >= MAX_DEPTH:
        out[path] = _type_name(obj)
        return
    seen = seen | {id(obj)}
    children = _children(obj)
    if children is None:
        out[path] = _type_name(obj)
        return
    out[path] = _type_name(obj)
    for name, child in children:
        _walk(child, f"{path}{name}", out, seen, depth + 1)


def _leaf_text(obj) -> str | None:
    """The text of a value compared as a whole, or None for a container to walk."""
    if obj is None or isinstance(obj, bool | int | str | bytes):
        return repr(obj)
    if isinstance(obj, float | complex | np.generic):
        return repr(obj.item() if isinstance(obj, np.generic) else obj)
    if isinstance(obj, jax.Array | np.ndarray):
        if isinstance(obj, jax.Array) and jax.dtypes.issubdtype(obj.dtype, jax.dtypes.prng_key):
            obj = jax.random.key_data(obj)
        return _array_text(np.asarray(jax.device_get(obj)), inline=True)
    if isinstance(obj, types.ModuleType):
        return f"module {obj.__name__}"
    if isinstance(obj, type):
        return f"class {obj.__qualname__}"
    return None


def _array_text(a: np.ndarray, inline: bool) -> str:
    """``dtype[shape] values`` for a small array, ``dtype[shape] sha256:…`` otherwise."""
    head = f"{a.dtype}{list(a.shape)}"
    if inline and a.size <= MAX_INLINE:
        return f"{head} {a.tolist()!r}"
    digest = hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:20]
    return f"{head} sha256:{digest}"


def _children(obj) -> list[tuple[str, object]] | None:
    """``(suffix, child)`` pairs of a container, or None for an opaque object."""
    if isinstance(obj, types.FunctionType):
        cells = zip(obj.__code__.co_freevars, obj.__closure__ or (), strict=True)
        return [(f".{n}", _cell(c)) for n, c in cells]
    if isinstance(obj, functools.partial):
        return [(".func", obj.func), (".args", obj.args), (".keywords", obj.keywords)]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return [(f".{f.name}", getattr(obj, f.name, None)) for f in dataclasses.fields(obj)]
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return [(f".{n}", getattr(obj, n)) for n in obj._fields]
    if isinstance(obj, tuple | list):
        return [(f"[{i}]", x) for i, x in enumerate(obj)]
    if isinstance(obj, dict):
        return [(f"[{k!r}]", v) for k, v in obj.items()]
    return None


def _cell(cell):
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell
        return None


def _type_name(obj) -> str:
    if isinstance(obj, types.FunctionType | types.BuiltinFunctionType):
        return f"function {obj.__qualname__}"
    return type(obj).__qualname__
