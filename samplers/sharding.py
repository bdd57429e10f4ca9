"""Spreading a batch (chains, particles, data) over the devices of a ``jax.sharding.Mesh``.

``batch_sharding(mesh, axis_name, size, name)`` checks, before any tracing, that ``axis_name``
is an axis of ``mesh`` and that ``size`` (the number of chains, particles or examples) is a
multiple of that axis's size, and returns the ``NamedSharding`` that splits a leading axis of
that size over it (``PartitionSpec(axis_name)``; the other mesh axes replicate).

Explicit and Auto axes alike: a mesh whose axis is ``Explicit`` (the default of
``jax.make_mesh``) is used through the same devices with ``Auto`` axis types, so the batch is
laid out by ``with_sharding_constraint`` and XLA's partitioner, and the kernels' code needs
no sharding annotations; ``device_put`` onto the user's own mesh (``restore``) gives the
results back with the user's axis types.

What is identical: every random draw depends on the key and the batch size only (JAX's
partitionable Threefry, the default), so per-element work is the same on any layout; integer
kernels (spins, bits) give bit-identical results, and float ones agree to rounding, since XLA
may fuse or block per-element arithmetic differently per shard shape, and reductions over the
batch (means, log-sum-exps) sum in another order.
"""

from __future__ import annotations

import contextlib

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

__all__ = [
    "batch_sharding",
    "constrain",
    "enter",
    "on_mesh",
    "place",
    "replicate",
    "restore",
    "to_mesh",
]


def _auto(mesh: Mesh) -> Mesh:
    """The mesh with every axis Auto (same devices and names)."""
    types = getattr(mesh, "axis_types", None)
    if types is None or all(t == AxisType.Auto for t in types):
        return mesh
    return mesh.update(axis_types=(AxisType.Auto,) * len(mesh.axis_names))


def batch_sharding(mesh, axis_name, size: int, name: str) -> NamedSharding | None:
    """The sharding of a leading batch axis of ``size`` over ``mesh``'s axis ``axis_name``.

    Args:
        mesh: a ``jax.sharding.Mesh`` (any axis types) or None (no sharding: returns None).
        axis_name: the mesh axis to split the batch over; None: the mesh's only axis.
        size: the batch size (chains, particles, examples): a multiple of the axis size.
        name: the argument's name in error messages (``"num_chains"``).

    Returns:
        ``NamedSharding(mesh with Auto axes, PartitionSpec(axis_name))``, or None.

    Raises:
        TypeError: ``mesh`` is not a Mesh.
        ValueError: ``axis_name`` is not an axis of ``mesh`` (or None for a mesh of several
            axes), or ``size`` is not a multiple of its size.
    """
    if mesh is None:
        return None
    if not isinstance(mesh, Mesh):
        raise TypeError(
            f"mesh must be a jax.sharding.Mesh (e.g. jax.make_mesh((4,), ('chains',))), got "
            f"{type(mesh).__name__}"
        )
    names = tuple(mesh.axis_names)
    if axis_name is None:
        if len(names) != 1:
            raise ValueError(f"axis_name must name one of the mesh axes {names}, got None")
        axis_name = names[0]
    if axis_name not in names:
        raise ValueError(f"axis_name {axis_name!r} is not an axis of the mesh (axes: {names})")
    devices = int(mesh.shape[axis_name])
    if int(size) % devices:
        raise ValueError(
            f"{name} ({int(size)}) must be a multiple of the size of mesh axis {axis_name!r} "
            f"({devices} devices), to split evenly over them: e.g. "
            f"{devices * max(1, int(size) // devices)} or {devices * (int(size) // devices + 1)}"
        )
    return NamedSharding(_auto(mesh), PartitionSpec(axis_name))


def on_mesh(sharding):
    """A context in which ``sharding``'s (Auto) mesh is JAX's current mesh, so that a call made
    under the user's ``jax.set_mesh`` of Explicit axes traces with Auto axes; a null context
    when ``sharding`` is None."""
    if sharding is None:
        return contextlib.nullcontext()
    return jax.set_mesh(sharding.mesh)


def inferred(tree):
    """``(mesh, axis_name)`` of a batch already laid out over devices: the mesh and the
    leading-axis name of the first leaf whose ``NamedSharding`` splits its leading axis over
    one mesh axis; ``(None, None)`` when no leaf is so split (or a leaf is traced)."""
    for x in jax.tree.leaves(tree):
        if not isinstance(x, jax.Array) or isinstance(x, jax.core.Tracer) or x.ndim == 0:
            continue
        s = x.sharding
        if isinstance(s, NamedSharding) and len(s.spec) and isinstance(s.spec[0], str):
            if s.mesh.shape[s.spec[0]] > 1:
                return s.mesh, s.spec[0]
    return None, None


def _leading(x, sharding):
    return sharding if np.ndim(x) > 0 else sharding.update(spec=PartitionSpec())


def constrain(tree, sharding):
    """``with_sharding_constraint`` of every leaf's leading axis (scalars replicated); the
    identity when ``sharding`` is None. For use inside ``jit``."""
    if sharding is None:
        return tree
    return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, _leading(x, sharding)), tree)


def replicate(tree, sharding):
    """Every leaf copied whole to every device of ``sharding``'s mesh (None: unchanged), in
    or out of ``jit``: small results (log-weights) that the host reads, also when the mesh
    spans several processes."""
    if sharding is None:
        return tree
    whole = sharding.update(spec=PartitionSpec())
    return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, whole), tree)


def place(tree, sharding):
    """``device_put`` of every leaf split along its leading axis (None: unchanged)."""
    if sharding is None:
        return tree
    return jax.tree.map(lambda x: jax.device_put(x, _leading(x, sharding)), tree)


def enter(sharding, args):
    """``(context, args)``: `on_mesh` and the array leaves of ``args`` moved onto the Auto
    mesh (`to_mesh`), for a call with ``sharding``; a null context and ``args`` unchanged when
    ``sharding`` is None or any leaf is traced (inside ``jit`` the caller's mesh rules)."""
    leaves = jax.tree.leaves(args)
    if sharding is None or any(isinstance(x, jax.core.Tracer) for x in leaves):
        return contextlib.nullcontext(), args
    return on_mesh(sharding), to_mesh(args, sharding.mesh)


def to_mesh(tree, mesh):
    """Leaves laid out on another mesh of the same devices (the same mesh with other axis
    types: the user's Explicit mesh and its Auto copy) moved onto ``mesh``, keeping their
    ``PartitionSpec``; other leaves (tracers, non-arrays, arrays on other devices) unchanged."""

    def move(x):
        if not isinstance(x, jax.Array) or isinstance(x, jax.core.Tracer):
            return x
        s = x.sharding
        if not isinstance(s, NamedSharding) or s.mesh is mesh or s.mesh == mesh:
            return x
        if s.mesh.axis_names != mesh.axis_names or s.mesh.devices.shape != mesh.devices.shape:
            return x
        if not np.array_equal(s.mesh.device_ids, mesh.device_ids):
            return x
        return jax.device_put(x, NamedSharding(mesh, s.spec))

    return jax.tree.map(move, tree)


def restore(tree, mesh, sharding):
    """A result laid out by ``sharding`` moved onto the user's ``mesh`` (its own axis types,
    `to_mesh`); unchanged when no sharding was used or the mesh already has Auto axes."""
    if sharding is None or sharding.mesh is mesh:
        return tree
    return to_mesh(tree, mesh)
