"""Checkpoints of the fit loop: every array it carries, written atomically to one .npz file."""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Checkpoint", "load_checkpoint", "save_checkpoint"]


class Checkpoint(NamedTuple):
    """Everything the fit loop carries between steps (the trainable part of the params)."""

    params: Any
    opt_state: Any
    objective_state: Any
    key: jax.Array
    data_key: jax.Array
    step: jax.Array


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
