"""Importance-weighted runs (AIS, SMC, importance sampling) as ArviZ data (``xarray.DataTree``).

The tree keeps ArviZ's sample dimensions ``(chain, draw)`` wherever there is one value per
particle, so ``az.summary``, ``az.ess`` and arviz-plots accept it (their default group is
``posterior``). Here ``draw`` indexes the particles of one run (AIS chains, importance
samples) or the independent SMC replicas, and ``chain`` is a single run (size 1):

- ``/`` (root) attributes: ``method``, ``log_z``, ``stderr``, ``lower``, ``upper``,
  ``reliable`` (0/1), ``warnings`` (strings), ``stderr_source`` when the result states it,
  and ``num_invalid`` (NaN/+∞ log-weights);
- ``/posterior``: ``log_weights`` and ``weights`` (self-normalised, Σ = 1 over the valid
  particles, NaN where invalid) for AIS and importance sampling; ``replica_log_z`` (one log Ẑ
  per independent replica) for SMC, whose results keep no per-particle weights. So
  ``az.summary(tree)`` reports the mean, sd, ESS and MCSE of these per-particle (per-replica)
  quantities — *not* of positions, and not the importance-weight ESS
  ([`physebm.diagnostics.summarize_ais`][] gives that);
- ``/annealing`` (AIS): ``log_increments`` and ``log_weight_path`` (running sums)
  ``(chain, draw, step)``, ``increment_variance (step)``, with coordinate ``beta (step)`` (or
  ``t``, the path parameter); (SMC) ``num_steps`` and ``final_tempering_param``
  ``(chain, draw)`` per replica and the first replica's ``tempering_schedule (step)``;
- ``/particles`` (AIS, when recorded): the final particle positions ``x (chain, draw, ...)``,
  *unweighted* — weight them by ``posterior.weights``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr
from scipy.special import logsumexp

from physebm.diagnostics._checks import as_numpy, check_chain_axis

__all__ = ["ais_to_datatree", "logz_to_datatree"]

_SAMPLE_DIMS = ("chain", "draw")


def _per_particle(a: np.ndarray, *extra: str) -> tuple[tuple[str, ...], np.ndarray]:
    """``a`` (particles, ...) as a ``(chain=1, draw=particles, ...)`` variable."""
    return (*_SAMPLE_DIMS, *extra), a[None]


def _dataset(variables: dict, num_draws: int, coords: dict | None = None) -> xr.Dataset:
    coords = {"chain": [0], "draw": np.arange(num_draws), **(coords or {})}
    ds = xr.Dataset(variables, coords=coords)
    ds.attrs["sample_dims"] = list(_SAMPLE_DIMS)
    return ds


def _weight_variables(lw: np.ndarray) -> dict:
    """``log_weights`` and self-normalised ``weights`` (NaN for NaN/+∞ log-weights)."""
    valid = ~(np.isnan(lw) | np.isposinf(lw))
    weights = np.full(lw.shape, np.nan)
    if valid.any() and np.isfinite(lw[valid]).any():
        weights[valid] = np.exp(lw[valid] - logsumexp(lw[valid]))
    return {"log_weights": _per_particle(lw), "weights": _per_particle(weights)}


def ais_to_datatree(
    log_weights,
    *,
    log_increments=None,
    increment_variance=None,
    betas=None,
    chain_axis: int = 0,
    schedule_name: str = "beta",
    final_samples=None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.DataTree:
    """Convert an AIS (or importance-sampling) run to an ArviZ ``DataTree`` (module layout).

    The final log importance weight of particle i is the sum of its increments,
    ``log w_i = Σ_t log_increments[i, t]``; ``annealing.log_weight_path[0, i, t] =
    Σ_{s ≤ t} log_increments[i, s]``. NaN and +∞ log-weights are kept as given and counted in
    the root attribute ``num_invalid`` (the summaries and plots drop them); −∞ is a valid zero
    weight.

    Args:
        log_weights: final log-weights, shape ``(num_particles,)``.
        log_increments: per-transition log-weight increments, ``(num_particles, num_steps)``
            (or ``(num_steps, num_particles)`` with ``chain_axis=1``).
        increment_variance: variance over particles of each increment, ``(num_steps,)``
            (what [`physebm.partition.ais`][physebm.partition.ais.ais] records); computed from
            ``log_increments`` when those are given.
        betas: the schedule, length ``num_steps + 1`` (β_0 … β_T, increment t going from
            β_t to β_{t+1}) or ``num_steps`` (the β each increment reaches).
        chain_axis: axis of ``log_increments`` that indexes particles (0 or 1).
        schedule_name: name of the schedule coordinate: ``"beta"`` for inverse temperatures,
            ``"t"`` for the path parameter t ∈ [0, 1] of a geometric path.
        final_samples: optional final positions ``(num_particles, ...)``, stored in
            ``/particles`` as ``x``.
        attrs: root attributes (e.g. ``{"log_z": ..., "stderr": ...}``).

    Returns:
        ``xarray.DataTree`` with groups ``posterior``, and ``annealing``/``particles`` when
        there is data for them.

    Raises:
        ValueError: on shapes that do not agree.
    """
    lw = as_numpy(log_weights, "log_weights").astype(float)
    if lw.ndim != 1 or lw.size == 0:
        raise ValueError(f"log_weights must have shape (num_particles,), got shape {lw.shape}")
    n = lw.size
    groups = {"posterior": _dataset(_weight_variables(lw), n)}
    annealing = _annealing(log_increments, increment_variance, chain_axis, n)
    if betas is not None:
        annealing = _with_schedule(annealing, betas, schedule_name, n)
    if annealing is not None:
        groups["annealing"] = annealing
    if final_samples is not None:
        x = as_numpy(final_samples, "final_samples")
        if x.ndim < 1 or x.shape[0] != n:
            raise ValueError(
                f"final_samples must have shape ({n}, ...) (one row per particle), got {x.shape}"
            )
        dims = tuple(f"x_dim_{i}" for i in range(x.ndim - 1))
        groups["particles"] = _dataset({"x": _per_particle(x, *dims)}, n)
    tree = xr.DataTree.from_dict(groups)
    tree.attrs.update(dict(attrs or {}))
    tree.attrs["num_invalid"] = int(np.sum(np.isnan(lw) | np.isposinf(lw)))
    return tree


def _annealing(log_increments, increment_variance, chain_axis, n) -> xr.Dataset | None:
    """The ``annealing`` group of an AIS run, or None when nothing per step is given."""
    variables: dict = {}
    num_steps = None
    if log_increments is not None:
        inc = _increments_by_particle(log_increments, chain_axis, n)
        num_steps = inc.shape[1]
        variables["log_increments"] = _per_particle(inc, "step")
        variables["log_weight_path"] = _per_particle(np.cumsum(inc, axis=1), "step")
        if increment_variance is None and n > 1:
            increment_variance = inc.var(axis=0, ddof=1)
    if increment_variance is not None:
        iv = as_numpy(increment_variance, "increment_variance").astype(float).ravel()
        if num_steps is not None and iv.size != num_steps:
            raise ValueError(
                f"increment_variance must have num_steps = {num_steps} entries, got {iv.size}"
            )
        num_steps = iv.size
        variables["increment_variance"] = (("step",), iv)
    if num_steps is None:
        return None
    return _dataset(variables, n, {"step": np.arange(num_steps)})


def _increments_by_particle(log_increments, chain_axis: int, num: int) -> np.ndarray:
    """``log_increments`` as a float ``(num_particles, num_steps)`` array, checked."""
    inc = as_numpy(log_increments, "log_increments").astype(float)
    if inc.ndim != 2:
        raise ValueError(
            f"log_increments must have shape (num_particles, num_steps), got shape {inc.shape}"
        )
    if check_chain_axis(chain_axis) == 1:
        inc = inc.T
    if inc.shape[0] != num:
        raise ValueError(
            f"log_increments has {inc.shape[0]} particles (chain_axis={chain_axis}) but "
            f"log_weights has {num}"
        )
    return inc


def _with_schedule(ds: xr.Dataset | None, betas, schedule_name: str, n: int) -> xr.Dataset:
    """``ds`` with the schedule as coordinate ``schedule_name (step)``: the value each
    increment reaches (β_1 … β_T when given β_0 … β_T). Without steps (``ds`` None), the
    schedule is kept as given in ``<schedule_name>_schedule (temperature)``."""
    b = as_numpy(betas, "betas").astype(float).ravel()
    if ds is None:
        return _dataset({}, n, {f"{schedule_name}_schedule": ("temperature", b)})
    num_steps = ds.sizes["step"]
    if b.size == num_steps + 1:
        b = b[1:]
    if b.size != num_steps:
        raise ValueError(
            f"betas must have num_steps + 1 = {num_steps + 1} or num_steps = "
            f"{num_steps} entries, got {b.size}"
        )
    return ds.assign_coords({schedule_name: ("step", b)})


def _result_attrs(result) -> dict:
    """Root attributes of an estimator result (netCDF-writable: numbers and strings)."""
    attrs = {"method": result.method}
    for k in ("log_z", "stderr", "lower", "upper"):
        attrs[k] = float(np.asarray(getattr(result, k)))
    attrs["reliable"] = int(bool(result.reliable))
    attrs["warnings"] = [str(w) for w in result.warnings]
    if isinstance(result.info.get("stderr_source"), str):
        attrs["stderr_source"] = result.info["stderr_source"]
    return attrs


def logz_to_datatree(result) -> xr.DataTree:
    """Convert an AIS, SMC or importance-sampling [`physebm.LogZ`][] to a ``DataTree``.

    Reads from ``result.info``: AIS/importance — ``"log_weights"``, and when present
    ``"log_increments"``, ``"increment_variance"``, the schedule (``"betas"``: inverse
    temperatures, coordinate ``beta``; or ``"schedule"``: path parameter t ∈ [0, 1],
    coordinate ``t``) and ``"final_samples"`` (a single array); SMC — ``"replica_log_z"``,
    ``"num_steps"``, ``"final_tempering_param"``, ``"tempering_schedule"``. The result's
    fields become root attributes (module docstring).

    Raises:
        ValueError: when the result carries neither ``log_weights`` nor ``replica_log_z``
            (exact methods, thermodynamic integration, BAR).
    """
    info = getattr(result, "info", None)
    if not isinstance(info, Mapping) or not ({"log_weights", "replica_log_z"} & set(info)):
        raise ValueError(
            "result.info must contain 'log_weights' (an AIS or importance-sampling result) or "
            "'replica_log_z' (an SMC result); got keys "
            f"{sorted(info) if isinstance(info, Mapping) else None}"
        )
    attrs = _result_attrs(result)
    if "log_weights" not in info:
        return _smc_tree(info, attrs)
    name = "beta" if "betas" in info else "t"
    betas = info.get("betas", info.get("schedule"))
    if betas is not None and np.ndim(betas) != 1:
        betas = None  # a callable or a name, not an array
    samples = info.get("final_samples")
    if samples is not None and not hasattr(samples, "shape"):
        samples = None  # a pytree (e.g. an RBM's (v, h)) is not stored
    return ais_to_datatree(
        info["log_weights"],
        log_increments=info.get("log_increments"),
        increment_variance=info.get("increment_variance"),
        betas=betas,
        schedule_name=name,
        final_samples=samples,
        attrs=attrs,
    )


def _smc_tree(info: Mapping, attrs: dict) -> xr.DataTree:
    """SMC: ``posterior.replica_log_z`` and the per-replica annealing record."""
    r = as_numpy(info["replica_log_z"], "replica_log_z").astype(float).ravel()
    annealing: dict = {}
    for key in ("num_steps", "final_tempering_param"):
        if key in info and np.size(info[key]) == r.size:
            annealing[key] = _per_particle(as_numpy(info[key], key).ravel())
    coords = None
    if "tempering_schedule" in info:
        schedule = as_numpy(info["tempering_schedule"], "tempering_schedule").ravel()
        annealing["tempering_schedule"] = (("step",), schedule.astype(float))
        coords = {"step": np.arange(schedule.size)}
    groups = {"posterior": _dataset({"replica_log_z": _per_particle(r)}, r.size)}
    if annealing:
        groups["annealing"] = _dataset(annealing, r.size, coords)
    tree = xr.DataTree.from_dict(groups)
    tree.attrs.update(attrs)
    tree.attrs["num_invalid"] = int(np.sum(~np.isfinite(r)))
    return tree
