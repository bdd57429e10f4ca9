"""`physebm.save` and `physebm.load`: trained parameters, models and results in one ``.npz`` file.

A file holds the array leaves of the tree (``leaf_00000 …``, in ``jax.tree.leaves`` order of its
array leaves) and a JSON header ``header`` with the format name and version, the library version
and, where the tree is made only of plain containers and library types, its structure:

- ``dict`` (string keys), ``list``, ``tuple``, ``None``, Python ``bool``/``int``/``float``/``str``;
- arrays (JAX or NumPy, any dtype numpy can store; PRNG key arrays as their raw key data);
- ``NamedTuple``\\s and equinox Modules defined in ``physebm``, ``samplers`` or ``optax`` (a
  [`physebm.models.RBM`][], a [`physebm.LogZ`][], a [`physebm.FitResult`][], an optax state).

Such a file loads without a template: ``physebm.load(path)``. Any other pytree (your own equinox
network, a flax state) is saved by its array leaves and loads into a template of the same
structure: ``physebm.load(path, like=template)``, the way ``equinox.tree_deserialise_leaves``
does; the template supplies everything that is not an array. Nothing is unpickled: a file names
its types, and only types from the three packages above are rebuilt.

Writing is atomic (a temporary file renamed over the target), and an existing file is never
replaced unless ``overwrite=True``.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from physebm.fileio import read_npz, write_npz_atomic

__all__ = ["FORMAT", "SaveError", "load", "save"]

#: Name and version of the file format written by [`save`][].
FORMAT = ("physebm.save", 1)

#: Packages whose NamedTuple and equinox Module types a file may name.
_TRUSTED = ("physebm", "samplers", "optax")


class SaveError(ValueError):
    """A file that is not a physebm save, is corrupt, or does not fit the template."""


def _is_key(x) -> bool:
    return isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _is_leaf_array(x) -> bool:
    return isinstance(x, jax.Array | np.ndarray | np.generic)


def _array_leaves(tree) -> list:
    """The array leaves of ``tree`` in ``jax.tree.leaves`` order (the file's leaf order)."""
    return [x for x in jax.tree.leaves(tree, is_leaf=_is_leaf_array) if _is_leaf_array(x)]


def _type_path(cls) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _trusted(cls) -> bool:
    return cls.__module__.split(".")[0] in _TRUSTED


class _Encoder:
    """The JSON structure of a tree; ``None`` from `encode` when some node has no encoding."""

    def __init__(self, index: dict[int, int]):
        self.index = index

    def encode(self, x):
        if _is_leaf_array(x):
            i = self.index.get(id(x))
            if i is None:
                raise _NotEncodable
            return {"array": i, "key": str(jax.random.key_impl(x)) if _is_key(x) else None}
        if x is None or isinstance(x, bool | int | str):
            return {"value": x}
        if isinstance(x, float):
            return {"float": repr(x)}  # inf and nan survive
        if isinstance(x, tuple) and hasattr(x, "_fields"):
            return self._fields("namedtuple", x, {f: getattr(x, f) for f in x._fields})
        if isinstance(x, eqx.Module):
            # the fields the instance holds (a class default it never set stays the default)
            own = vars(x)
            fields = {f.name: own[f.name] for f in dataclasses.fields(x) if f.name in own}
            return self._fields("module", x, fields)
        if isinstance(x, dict):
            if not all(isinstance(k, str) for k in x):
                raise _NotEncodable
            return {"dict": [[k, self.encode(v)] for k, v in x.items()]}
        if isinstance(x, list | tuple):
            return {type(x).__name__: [self.encode(v) for v in x]}
        raise _NotEncodable

    def _fields(self, kind: str, x, fields: dict):
        if not _trusted(type(x)):
            raise _NotEncodable
        return {kind: _type_path(type(x)), "fields": {k: self.encode(v) for k, v in fields.items()}}


class _NotEncodable(Exception):
    pass


def save(path, tree, *, overwrite: bool = False):
    """Write ``tree`` (parameters, a model, a result) to the ``.npz`` file ``path``.

    Args:
        path: output file; it must end in ``.npz`` and its folder must exist.
        tree: any pytree. Plain containers and library types are stored with their structure
            (module docstring); other pytrees by their array leaves, for ``load(path, like=)``.
        overwrite: replace an existing file. By default an existing file is an error.

    Returns:
        The path written, as a ``str``.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        ValueError: ``path`` does not end in ``.npz``, names a folder, or its folder is missing.
    """
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = os.fspath(path)
    if not path.endswith(".npz"):
        raise ValueError(f"path must end in .npz, got {path!r}")
    if os.path.isdir(path):
        raise ValueError(f"path {path!r} is a folder; give a file name ending in .npz")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"path {path!r}: its folder {folder!r} does not exist (create it first)")
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be a bool, got {overwrite!r}")
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path!r} exists; pass overwrite=True to replace it")
    arrays = _array_leaves(tree)
    index = {}
    for i, x in enumerate(arrays):
        index.setdefault(id(x), i)
    try:
        structure = _Encoder(index).encode(tree)
    except _NotEncodable:
        structure = None
    from physebm import __version__

    header = {
        "format": FORMAT[0],
        "version": FORMAT[1],
        "physebm": __version__,
        "structure": structure,
        "num_leaves": len(arrays),
    }
    stored = {
        f"leaf_{i:05d}": np.asarray(jax.random.key_data(x) if _is_key(x) else jax.device_get(x))
        for i, x in enumerate(arrays)
    }
    stored["header"] = np.asarray(json.dumps(header))
    write_npz_atomic(path, stored)
    return path


def _read(path: str) -> tuple[dict, list[np.ndarray]]:
    def read(f):
        header = json.loads(str(f["header"]))
        return header, [f[f"leaf_{i:05d}"] for i in range(int(header["num_leaves"]))]

    message = f"{path!r} is corrupt, truncated or not written by physebm.save"
    header, leaves = read_npz(path, read, SaveError, message)
    if header.get("format") != FORMAT[0] or header.get("version", 0) > FORMAT[1]:
        raise SaveError(
            f"{path!r} has format {header.get('format')!r} version {header.get('version')!r}; "
            f"this physebm reads {FORMAT[0]!r} up to version {FORMAT[1]}"
        )
    return header, leaves


def _resolve(path_text: str):
    module, _, qualname = path_text.partition(":")
    if module.split(".")[0] not in _TRUSTED:
        raise SaveError(f"the file names type {path_text!r}, outside {', '.join(_TRUSTED)}")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _decode(node, leaves: list):
    if "array" in node:
        a = leaves[node["array"]]
        impl = node.get("key")
        return jnp.asarray(a) if impl is None else jax.random.wrap_key_data(a, impl=impl)
    if "value" in node:
        return node["value"]
    if "float" in node:
        return float(node["float"])
    if "dict" in node:
        return {k: _decode(v, leaves) for k, v in node["dict"]}
    if "list" in node:
        return [_decode(v, leaves) for v in node["list"]]
    if "tuple" in node:
        return tuple(_decode(v, leaves) for v in node["tuple"])
    fields = {k: _decode(v, leaves) for k, v in node["fields"].items()}
    cls = _resolve(node.get("namedtuple") or node["module"])
    if "namedtuple" in node:
        return cls(**fields)
    obj = object.__new__(cls)  # the stored fields were valid; __init__ would re-derive them
    for name, value in fields.items():
        object.__setattr__(obj, name, value)
    return obj


def load(path, *, like=None):
    """Read a file written by [`save`][].

    Args:
        path: the ``.npz`` file.
        like: a template of the saved tree (same structure, any values). Needed when the tree
            held types other than plain containers and library types; with it, the array leaves
            are checked against the template's in number, shape and dtype and put in its place,
            and every non-array part comes from the template.

    Returns:
        The tree, with JAX arrays as leaves.

    Raises:
        FileNotFoundError: no file at ``path``.
        SaveError (a ValueError): the file is not a physebm save or is corrupt; it needs
            ``like=`` and none was given; or its arrays do not fit ``like``.
    """
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = os.fspath(path)
    header, leaves = _read(path)
    if like is None:
        if header["structure"] is None:
            raise SaveError(
                f"{path!r} holds a tree of types physebm cannot rebuild by name (for example "
                "your own equinox network); pass like=<a tree of the same structure>, such as "
                "the freshly initialised parameters"
            )
        return _decode(header["structure"], leaves)
    template = _array_leaves(like)
    if len(template) != len(leaves):
        raise SaveError(
            f"{path!r} holds {len(leaves)} arrays but like= has {len(template)}: it was saved "
            "from another structure"
        )
    new = []
    for i, (a, t) in enumerate(zip(leaves, template, strict=True)):
        t_data = jax.random.key_data(t) if _is_key(t) else t
        if a.shape != np.shape(t_data) or a.dtype != jnp.result_type(t_data):
            raise SaveError(
                f"{path!r} array {i} has shape {a.shape} dtype {a.dtype}; like= expects "
                f"{np.shape(t_data)} {jnp.result_type(t_data)}"
            )
        a = jnp.asarray(a)
        new.append(jax.random.wrap_key_data(a, impl=jax.random.key_impl(t)) if _is_key(t) else a)
    it = iter(new)
    return jax.tree.map(
        lambda x: next(it) if _is_leaf_array(x) else x, like, is_leaf=_is_leaf_array
    )
