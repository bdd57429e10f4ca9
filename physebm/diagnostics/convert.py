"""Sampler traces as ArviZ data (``xarray.DataTree``).

ArviZ ≥ 1.0 represents a run as an ``xarray.DataTree``. A chain trace becomes

- ``/posterior``: one variable per leaf of the position pytree, dims
  ``(chain, draw, <name>_dim_0, ...)`` (ArviZ's name for the group that holds the sampled
  positions, whatever the sampler); an RBM's ``(v, h)`` is named ``v``, ``h``
  ([`position_names`][]);
- ``/sample_stats``: per-step statistics with dims ``(chain, draw)``, named as ArviZ expects:
  ``energy`` is the sampler's Hamiltonian (HMC/NUTS; what ``az.bfmi`` and
  ``az.plot_energy`` read; absent for samplers without one), ``model_energy`` the model
  energy E(x) of the chain state, ``acceptance_rate``, ``diverging`` and anything else passed
  in ``sample_stats``.

Importance-weighted runs (AIS, SMC, importance sampling) are converted by
[`physebm.diagnostics.estimates`][].
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any

import arviz_base
import jax
import numpy as np
import xarray as xr

from physebm.diagnostics._checks import as_numpy as _as_numpy
from physebm.diagnostics._checks import check_chain_axis as _check_chain_axis
from physebm.models import RBM

__all__ = ["chains_to_datatree", "position_names", "run_to_datatree"]

# blackjax info field -> ArviZ sample_stats name
_RENAME = {"is_divergent": "diverging", "acceptance_probability": "acceptance_rate"}
# blackjax info fields that are whole states, not per-step statistics
_SKIP = {"momentum", "proposal"}


@functools.singledispatch
def position_names(model) -> tuple[str, ...] | None:
    """Names of the leaves of a model's position pytree, or None (then ``x_0``, ``x_1``, ...).

    An RBM's position ``(v, h)`` is named ``("v", "h")``; another model type registers its own
    (``position_names.register(MyModel)``) or has a ``position_names`` attribute.
    """
    names = getattr(model, "position_names", None)
    return None if names is None else tuple(str(n) for n in names)


@position_names.register(RBM)
def _rbm_position_names(model: RBM) -> tuple[str, ...]:
    return ("v", "h")


def _leaf_name(path, prefix: str) -> str:
    """``x_0`` for tuple leaves, the key for dict leaves, the field name for NamedTuples."""
    parts = []
    for p in path:
        for attr in ("key", "name", "idx"):
            if hasattr(p, attr):
                parts.append(str(getattr(p, attr)))
                break
        else:
            parts.append(re.sub(r"\W", "", str(p)))
    if path and hasattr(path[0], "idx"):
        parts.insert(0, prefix)
    return "_".join(parts)


def _flatten_positions(positions, var_name: str, var_names) -> dict[str, Any]:
    if isinstance(positions, Mapping):
        return dict(positions)
    leaves = jax.tree_util.tree_flatten_with_path(positions)[0]
    if not leaves:
        raise ValueError("positions must hold at least one array, got an empty pytree")
    if var_names is not None:
        names = [var_names] if isinstance(var_names, str) else [str(n) for n in var_names]
        if len(names) != len(leaves) or len(set(names)) != len(names):
            raise ValueError(
                f"var_names must be {len(leaves)} distinct names, one per leaf of positions, "
                f"got {var_names!r}"
            )
        return {n: leaf for n, (_, leaf) in zip(names, leaves, strict=True)}
    if len(leaves) == 1:
        return {var_name: leaves[0][1]}
    return {_leaf_name(path, var_name): leaf for path, leaf in leaves}


def _sample_stat_items(sample_stats) -> dict[str, Any]:
    if sample_stats is None:
        return {}
    if isinstance(sample_stats, Mapping):
        items = dict(sample_stats)
    elif hasattr(sample_stats, "_asdict"):  # NamedTuple info of blackjax kernels
        items = sample_stats._asdict()
    else:
        raise TypeError(
            "sample_stats must be a mapping or a NamedTuple of per-step arrays, got "
            f"{type(sample_stats).__name__}"
        )
    out = {}
    for k, v in items.items():
        if k in _SKIP or v is None or not hasattr(v, "shape"):
            continue  # nested infos / None fields are not per-step arrays
        out[_RENAME.get(k, k)] = v
    return out


def chains_to_datatree(
    positions,
    *,
    energy=None,
    acceptance_rate=None,
    diverging=None,
    sample_stats=None,
    chain_axis: int = 0,
    var_name: str = "x",
    var_names: Sequence[str] | None = None,
    dims: Mapping[str, list[str]] | None = None,
    coords: Mapping[str, Any] | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.DataTree:
    """Convert a multi-chain trace to an ArviZ ``DataTree``.

    Args:
        positions: array of shape ``(num_chains, num_draws, *event_shape)`` or a pytree (dict,
            tuple, NamedTuple, equinox Module) of such arrays. A single array is named
            ``var_name``; dict leaves keep their keys; other leaves are named by ``var_names``
            or else from their pytree path (``x_0``, ``x_1`` for a tuple).
        energy: model energy E(x) of each chain state, shape ``(num_chains, num_draws)``;
            stored as ``sample_stats.model_energy`` (``sample_stats.energy`` is reserved for
            the sampler's Hamiltonian, as ArviZ expects).
        acceptance_rate: per-step acceptance probability, ``(num_chains, num_draws)``.
        diverging: per-step divergence flags, ``(num_chains, num_draws)``.
        sample_stats: further per-step statistics, a mapping or a blackjax info NamedTuple.
            blackjax names are mapped to ArviZ ones (``is_divergent`` -> ``diverging``), the
            state-valued fields ``momentum`` and ``proposal`` are dropped; a sampler field
            ``energy`` (the Hamiltonian H = −log p(x) + ½ pᵀM⁻¹p of HMC/NUTS) stays
            ``energy``, so ``az.bfmi`` and ``az.plot_energy`` read it.
        chain_axis: 0 when arrays are ``(chains, draws, ...)``, 1 when ``(draws, chains, ...)``
            (the layout of ``lax.scan`` over a ``vmap``-ed kernel).
        var_name: name of a single-array ``positions``.
        var_names: names of the leaves of a pytree ``positions`` in flattening order, e.g.
            ``("v", "h")`` (default: [`position_names`][] where the caller knows the model,
            else path names).
        dims: optional event-dimension names per variable, e.g. ``{"x": ["site"]}``; default
            ArviZ's ``<name>_dim_<i>``.
        coords: optional coordinate values for those dimensions.
        attrs: attributes stored on the root node (e.g. ``{"beta": 1.0, "sampler": "mala"}``).

    Returns:
        ``xarray.DataTree`` with groups ``posterior`` and, if any statistic was given,
        ``sample_stats``.

    Raises:
        ValueError: on a bad ``chain_axis``, arrays with fewer than 2 dims, or statistics whose
            leading shape is not ``(num_chains, num_draws)``.
        TypeError: on non-numeric arrays.
    """
    chain_axis = _check_chain_axis(chain_axis)
    pos = _flatten_positions(positions, var_name, var_names)
    post, shape = _posterior_arrays(pos, chain_axis)
    stats = _with_named_stats(_sample_stat_items(sample_stats), energy, acceptance_rate, diverging)
    stats_np = _stat_arrays(stats, shape, chain_axis)
    data = {"posterior": post}
    if stats_np:
        data["sample_stats"] = stats_np
    dims = dict(dims or {})
    _check_dims(dims, post)
    root_attrs = {k: v for k, v in (attrs or {}).items()}
    return arviz_base.from_dict(
        data,
        dims=dims,
        coords=dict(coords or {}),
        attrs={"/": root_attrs} if root_attrs else None,
    )


def _posterior_arrays(
    pos: dict[str, Any], chain_axis: int
) -> tuple[dict[str, np.ndarray], tuple[int, ...]]:
    """Position leaves as ``(chains, draws, ...)`` arrays, and the shared ``(chains, draws)``."""
    post: dict[str, np.ndarray] = {}
    shape = None
    for name, leaf in pos.items():
        a = _as_numpy(leaf, f"positions[{name!r}]")
        if a.ndim < 2:
            raise ValueError(
                f"positions[{name!r}] must have shape (num_chains, num_draws, ...), got "
                f"shape {a.shape}"
            )
        if chain_axis == 1:
            a = np.swapaxes(a, 0, 1)
        if shape is None:
            shape = a.shape[:2]
        elif a.shape[:2] != shape:
            raise ValueError(
                f"positions[{name!r}] has (chains, draws) = {a.shape[:2]}, but another leaf has "
                f"{shape}; all leaves must share them"
            )
        post[str(name)] = a
    return post, shape


def _with_named_stats(stats: dict[str, Any], energy, acceptance_rate, diverging) -> dict:
    """``stats`` plus the model energy as ``model_energy``, ``acceptance_rate``, ``diverging``.

    A sampler's own ``energy`` (the Hamiltonian of HMC) keeps its name, as ArviZ expects.
    """
    if energy is not None:
        stats["model_energy"] = energy
    if acceptance_rate is not None:
        stats["acceptance_rate"] = acceptance_rate
    if diverging is not None:
        stats["diverging"] = diverging
    return stats


def _stat_arrays(stats: dict[str, Any], shape, chain_axis: int) -> dict[str, np.ndarray]:
    """Per-step statistics as ``(chains, draws)``-leading arrays (``diverging`` as bool)."""
    stats_np: dict[str, np.ndarray] = {}
    for name, v in stats.items():
        a = _as_numpy(v, f"{name}")
        if a.ndim >= 2 and chain_axis == 1:
            a = np.swapaxes(a, 0, 1)
        if a.shape[:2] != shape:
            raise ValueError(
                f"{name} must have leading shape (num_chains, num_draws) = {shape} "
                f"(chain_axis={chain_axis}), got shape {np.shape(v)}"
            )
        stats_np[name] = a.astype(bool) if name == "diverging" else a
    return stats_np


def _check_dims(dims: dict[str, list[str]], post: dict[str, np.ndarray]) -> None:
    """Raise unless ``dims`` names every event dimension of each variable it lists."""
    for name, a in post.items():
        if name in dims and len(dims[name]) != a.ndim - 2:
            raise ValueError(
                f"dims[{name!r}] must name {a.ndim - 2} event dimension(s), got {dims[name]}"
            )


def run_to_datatree(
    result,
    *,
    energy_fn=None,
    energy=None,
    var_name: str = "x",
    var_names: Sequence[str] | None = None,
    dims: Mapping[str, list[str]] | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.DataTree:
    """Convert a ``samplers.run`` or ``physebm.sample`` result to an ArviZ ``DataTree``.

    Positions come from ``result.trace`` (``RunResult``) or ``result.samples``
    (``SampleResult``, whose ``sampler`` and ``beta`` become root attributes), leaves
    ``(chains, draws, ...)``; per-step statistics
    from ``result.info`` (``acceptance_rate``, ``is_divergent`` -> ``diverging``, the
    Hamiltonian ``energy`` of HMC/NUTS, ...), and the
    total of ``result.num_nonfinite`` (steps whose state was non-finite and was rejected) is
    stored as the root attribute ``num_nonfinite``, which [`summarize_chains`][] reports.

    Args:
        result: a ``samplers.RunResult`` run with ``keep_trace=True``, or a
            ``physebm.SampleResult``.
        energy_fn: optional ``x -> E(x)`` for one configuration; evaluated on every draw
            (``vmap`` over chains and draws) and stored as ``sample_stats.model_energy``; when
            it is a model, [`position_names`][] names the leaves of a pytree trace (an
            RBM's ``v``, ``h``).
        energy: precomputed model energies ``(chains, draws)`` instead of ``energy_fn``.
        var_name: name of a single-array trace.
        var_names: names of the leaves of a pytree trace (overrides the model's).
        dims: event-dimension names per variable.
        attrs: further root attributes (``beta``, sampler name, ...).

    Raises:
        ValueError: if the run kept no trace, or both ``energy`` and ``energy_fn`` are given.
    """
    trace = getattr(result, "trace", None)
    if trace is None:
        trace = getattr(result, "samples", None)  # physebm.SampleResult
    if trace is None:
        raise ValueError(
            "result has no trace (run with keep_trace=True; pass a samplers.RunResult or a "
            "physebm.SampleResult)"
        )
    if energy is not None and energy_fn is not None:
        raise ValueError("give energy or energy_fn, not both")
    if energy_fn is not None:
        if not callable(energy_fn):
            raise TypeError(f"energy_fn must be callable x -> E(x), got {type(energy_fn)}")
        energy = jax.vmap(jax.vmap(energy_fn))(trace)
        if var_names is None:
            var_names = position_names(energy_fn)
    root = {}
    for name in ("sampler", "beta"):  # recorded by physebm.sample
        value = getattr(result, name, None)
        if isinstance(value, str) or (value is not None and np.ndim(value) == 0):
            root[name] = value if isinstance(value, str) else float(value)
    root.update(attrs or {})
    nonfinite = getattr(result, "num_nonfinite", None)
    if nonfinite is not None:
        root["num_nonfinite"] = int(np.sum(np.asarray(nonfinite)))
    return chains_to_datatree(
        trace,
        energy=energy,
        sample_stats=getattr(result, "info", None),
        var_name=var_name,
        var_names=var_names,
        dims=dims,
        attrs=root,
    )
