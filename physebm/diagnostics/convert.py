"""Sampler traces and AIS runs as ArviZ data (``xarray.DataTree``).

ArviZ ≥ 1.0 represents a run as an ``xarray.DataTree``. A chain trace becomes

- ``/posterior``: one variable per leaf of the position pytree, dims
  ``(chain, draw, <name>_dim_0, ...)`` (ArviZ's name for the group that holds the sampled
  positions, whatever the sampler);
- ``/sample_stats``: per-step statistics with dims ``(chain, draw)``: ``energy`` (the model
  energy E(x) of the chain state — *not* the Hamiltonian of HMC), ``acceptance_rate``,
  ``diverging`` and anything else passed in ``sample_stats``.

An AIS/SMC run becomes one ``/ais`` group with dims ``chain`` (one importance weight per
chain) and ``step`` (one per annealing transition).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import arviz_base
import jax
import numpy as np
import xarray as xr

__all__ = ["ais_to_datatree", "chains_to_datatree", "logz_to_datatree", "run_to_datatree"]

# blackjax info field -> ArviZ sample_stats name
_RENAME = {"is_divergent": "diverging", "acceptance_probability": "acceptance_rate"}
# blackjax info fields that are whole states, not per-step statistics
_SKIP = {"momentum", "proposal"}


def _as_numpy(x, name: str) -> np.ndarray:
    try:
        a = np.asarray(x)
    except Exception as err:  # a tracer or an object array
        raise TypeError(f"{name} must be an array of numbers, got {type(x).__name__}") from err
    if a.dtype == object or not (
        np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.bool_)
    ):
        raise TypeError(f"{name} must be numeric, got dtype {a.dtype}")
    return a


def _check_chain_axis(chain_axis: int) -> int:
    if isinstance(chain_axis, bool) or chain_axis not in (0, 1):
        raise ValueError(
            f"chain_axis must be 0 (arrays are chains x draws x ...) or 1 "
            f"(draws x chains x ...), got {chain_axis!r}"
        )
    return chain_axis


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


def _flatten_positions(positions, var_name: str) -> dict[str, Any]:
    if isinstance(positions, Mapping):
        return dict(positions)
    leaves = jax.tree_util.tree_flatten_with_path(positions)[0]
    if not leaves:
        raise ValueError("positions must hold at least one array, got an empty pytree")
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
    dims: Mapping[str, list[str]] | None = None,
    coords: Mapping[str, Any] | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.DataTree:
    """Convert a multi-chain trace to an ArviZ ``DataTree``.

    Args:
        positions: array of shape ``(num_chains, num_draws, *event_shape)`` or a pytree (dict,
            tuple, NamedTuple, equinox Module) of such arrays. A single array is named
            ``var_name``; dict leaves keep their keys; other leaves are named from their pytree
            path (``x_0``, ``x_1`` for a tuple ``(v, h)``).
        energy: model energy E(x) of each chain state, shape ``(num_chains, num_draws)``;
            stored as ``sample_stats.energy``.
        acceptance_rate: per-step acceptance probability, ``(num_chains, num_draws)``.
        diverging: per-step divergence flags, ``(num_chains, num_draws)``.
        sample_stats: further per-step statistics, a mapping or a blackjax info NamedTuple.
            blackjax names are mapped to ArviZ ones (``is_divergent`` -> ``diverging``), the
            state-valued fields ``momentum`` and ``proposal`` are dropped, and a
            sampler field ``energy`` (the Hamiltonian of HMC) is stored as
            ``sampler_energy`` when ``energy`` is also given.
        chain_axis: 0 when arrays are ``(chains, draws, ...)``, 1 when ``(draws, chains, ...)``
            (the layout of ``lax.scan`` over a ``vmap``-ed kernel).
        var_name: name of a single-array ``positions``.
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
    post, shape = _posterior_arrays(_flatten_positions(positions, var_name), chain_axis)
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
    """``stats`` plus the given ``energy``, ``acceptance_rate`` and ``diverging``.

    A sampler's own ``energy`` (the Hamiltonian of HMC) is renamed ``sampler_energy`` when
    the model ``energy`` is given.
    """
    if energy is not None:
        if "energy" in stats:
            stats["sampler_energy"] = stats.pop("energy")
        stats["energy"] = energy
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
    dims: Mapping[str, list[str]] | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.DataTree:
    """Convert a ``samplers.run`` or ``physebm.sample`` result to an ArviZ ``DataTree``.

    Positions come from ``result.trace`` (``RunResult``) or ``result.samples``
    (``SampleResult``, whose ``sampler`` and ``beta`` become root attributes), leaves
    ``(chains, draws, ...)``; per-step statistics
    from ``result.info`` (``acceptance_rate``, ``is_divergent`` -> ``diverging``, ...), and the
    total of ``result.num_nonfinite`` (steps whose state was non-finite and was rejected) is
    stored as the root attribute ``num_nonfinite``, which :func:`summarize_chains` reports.

    Args:
        result: a ``samplers.RunResult`` run with ``keep_trace=True``, or a
            ``physebm.SampleResult``.
        energy_fn: optional ``x -> E(x)`` for one configuration; evaluated on every draw
            (``vmap`` over chains and draws) and stored as ``sample_stats.energy``.
        energy: precomputed energies ``(chains, draws)`` instead of ``energy_fn``.
        var_name: name of a single-array trace.
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
        dims=dims,
        attrs=root,
    )


def ais_to_datatree(
    log_weights,
    *,
    log_increments=None,
    increment_variance=None,
    betas=None,
    chain_axis: int = 0,
    schedule_name: str = "beta",
    attrs: Mapping[str, Any] | None = None,
) -> xr.DataTree:
    """Convert an AIS/SMC run to an ArviZ ``DataTree`` with one group ``ais``.

    The final log importance weight of chain i is the sum of its increments,
    ``log w_i = Σ_t log_increments[i, t]``; the tree stores the running sums
    ``log_weight_path[i, t] = Σ_{s ≤ t} log_increments[i, s]`` for plots. NaN and +∞
    log-weights are kept as given and counted in the attribute ``num_invalid`` (the summaries
    and plots drop them); −∞ is a valid zero weight.

    Args:
        log_weights: final log-weights, shape ``(num_chains,)``.
        log_increments: per-transition log-weight increments, shape ``(num_chains, num_steps)``
            (or ``(num_steps, num_chains)`` with ``chain_axis=1``).
        increment_variance: variance over chains of each increment, shape ``(num_steps,)``
            (what :func:`physebm.partition.ais` records); computed from ``log_increments``
            when those are given.
        betas: the β schedule, length ``num_steps + 1`` (β_0 … β_T, increment t going from
            β_t to β_{t+1}) or ``num_steps`` (the β each increment reaches).
        chain_axis: axis of ``log_increments`` that indexes chains (0 or 1).
        schedule_name: name of the schedule coordinate: ``"beta"`` for inverse temperatures,
            ``"t"`` for the path parameter t ∈ [0, 1] of a geometric path
            (:mod:`physebm.partition.schedules`; β_t = t·β from a uniform base).
        attrs: attributes for the ``ais`` group (e.g. ``{"log_z": ..., "stderr": ...}``).

    Returns:
        ``xarray.DataTree`` with group ``ais``: ``log_weights (chain)`` and, when given,
        ``log_increments``/``log_weight_path (chain, step)``, ``increment_variance (step)``,
        with coordinate ``beta (step)`` (or ``schedule_name``) when ``betas`` is given.

    Raises:
        ValueError: on shapes that do not agree.
    """
    lw = _as_numpy(log_weights, "log_weights").astype(float)
    if lw.ndim != 1 or lw.size == 0:
        raise ValueError(f"log_weights must have shape (num_chains,), got shape {lw.shape}")
    n = lw.size
    ds = xr.Dataset({"log_weights": (("chain",), lw)}, coords={"chain": np.arange(n)})
    num_steps = None
    if log_increments is not None:
        inc = _increments_by_chain(log_increments, chain_axis, n)
        num_steps = inc.shape[1]
        ds = ds.assign(
            log_increments=(("chain", "step"), inc),
            log_weight_path=(("chain", "step"), np.cumsum(inc, axis=1)),
        )
        if increment_variance is None and n > 1:
            increment_variance = inc.var(axis=0, ddof=1)
    if increment_variance is not None:
        iv = _as_numpy(increment_variance, "increment_variance").astype(float).ravel()
        if num_steps is not None and iv.size != num_steps:
            raise ValueError(
                f"increment_variance must have num_steps = {num_steps} entries, got {iv.size}"
            )
        num_steps = iv.size
        ds = ds.assign(increment_variance=(("step",), iv))
    if num_steps is not None:
        ds = ds.assign_coords(step=np.arange(num_steps))
    if betas is not None:
        ds = _with_schedule(ds, betas, num_steps, schedule_name)
    ds.attrs.update(dict(attrs or {}))
    ds.attrs["num_invalid"] = int(np.sum(np.isnan(lw) | np.isposinf(lw)))
    return xr.DataTree.from_dict({"ais": ds})


def _increments_by_chain(log_increments, chain_axis: int, num_chains: int) -> np.ndarray:
    """``log_increments`` as a float ``(num_chains, num_steps)`` array, checked."""
    inc = _as_numpy(log_increments, "log_increments").astype(float)
    if inc.ndim != 2:
        raise ValueError(
            f"log_increments must have shape (num_chains, num_steps), got shape {inc.shape}"
        )
    if _check_chain_axis(chain_axis) == 1:
        inc = inc.T
    if inc.shape[0] != num_chains:
        raise ValueError(
            f"log_increments has {inc.shape[0]} chains (chain_axis={chain_axis}) but "
            f"log_weights has {num_chains}"
        )
    return inc


def _with_schedule(ds: xr.Dataset, betas, num_steps: int | None, schedule_name: str):
    """``ds`` with the schedule as a coordinate: ``schedule_name (step)``, the value each
    increment reaches (β_1 … β_T when given β_0 … β_T), or ``<schedule_name>_schedule
    (temperature)`` when there are no steps."""
    b = _as_numpy(betas, "betas").astype(float).ravel()
    if num_steps is None:
        return ds.assign_coords({f"{schedule_name}_schedule": ("temperature", b)})
    if b.size == num_steps + 1:
        b = b[1:]
    if b.size != num_steps:
        raise ValueError(
            f"betas must have num_steps + 1 = {num_steps + 1} or num_steps = "
            f"{num_steps} entries, got {b.size}"
        )
    return ds.assign_coords({schedule_name: ("step", b)})


def logz_to_datatree(result) -> xr.DataTree:
    """Convert an estimator result (:class:`physebm.LogZ`) to a ``DataTree`` group ``ais``.

    Reads from ``result.info``: ``"log_weights"`` (required), and when present
    ``"log_increments"`` (``(num_chains, num_steps)``), ``"increment_variance"``
    (``(num_steps,)``) and the schedule: ``"betas"`` (inverse temperatures, coordinate
    ``beta``) or ``"schedule"`` (path parameter t ∈ [0, 1], coordinate ``t``). Stores as
    attributes ``method``, ``log_z``, ``stderr``, ``lower``, ``upper``, ``reliable`` (0 or 1,
    so that the tree can be written to netCDF), ``warnings`` (a list of strings) and, when the
    result states it, ``stderr_source``.

    Raises:
        ValueError: when the result carries no ``log_weights`` (exact methods have none).
    """
    info = getattr(result, "info", None)
    if not isinstance(info, Mapping) or "log_weights" not in info:
        raise ValueError(
            "result.info must contain 'log_weights' (an AIS/SMC/importance result); "
            f"got keys {sorted(info) if isinstance(info, Mapping) else None}"
        )
    attrs = {"method": result.method}
    for k in ("log_z", "stderr", "lower", "upper"):
        attrs[k] = float(np.asarray(getattr(result, k)))
    attrs["reliable"] = int(bool(result.reliable))
    attrs["warnings"] = [str(w) for w in result.warnings]
    if isinstance(info.get("stderr_source"), str):
        attrs["stderr_source"] = info["stderr_source"]
    name = "beta" if "betas" in info else "t"
    betas = info.get("betas", info.get("schedule"))
    if betas is not None and np.ndim(betas) != 1:
        betas = None  # a callable or a name, not an array
    return ais_to_datatree(
        info["log_weights"],
        log_increments=info.get("log_increments"),
        increment_variance=info.get("increment_variance"),
        betas=betas,
        schedule_name=name,
        attrs=attrs,
    )
