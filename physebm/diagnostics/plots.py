"""Diagnostic plots written to PNG files, with no display needed.

Trace, rank and energy plots use ``arviz_plots`` (matplotlib backend); the AIS plot, which
``arviz_plots`` lacks, is plain matplotlib. Each function writes one PNG and returns its path;
figures are closed after saving so long runs do not leak memory.

Positions with many sites (an 8×8 image, a 32×32 lattice) are reduced to their first
``max_sites`` sites (in C order) so the figure stays readable.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import xarray as xr

from physebm.diagnostics.ais import tree_log_weights
from physebm.diagnostics.convert import chains_to_datatree
from physebm.diagnostics.estimates import ais_to_datatree, logz_to_datatree
from physebm.diagnostics.stats import weight_ess

__all__ = ["plot_ais", "plot_energy", "plot_rank", "plot_trace", "save_chain_plots"]


def _pyplot():
    # Figures are only saved and closed, never shown; on a machine without a display
    # matplotlib's automatic backend choice is the non-interactive Agg.
    import matplotlib.pyplot as plt

    return plt


def _as_tree(trace) -> xr.DataTree:
    if isinstance(trace, xr.DataTree):
        return trace
    return chains_to_datatree(trace)


def _out_path(path) -> Path:
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    p = Path(path)
    if p.suffix.lower() != ".png":
        raise ValueError(f"path must end in .png, got {str(p)!r}")
    if not p.parent.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
    if not os.access(p.parent, os.W_OK):
        raise ValueError(f"cannot write to directory {str(p.parent)!r} (path={str(p)!r})")
    return p


def _reduced(dt: xr.DataTree, max_sites: int, with_energy: bool) -> xr.DataTree:
    """Posterior with each variable cut to ≤ max_sites sites (flattened), plus the model
    energy ``sample_stats.model_energy`` (as ``model_energy``)."""
    if isinstance(max_sites, bool) or not isinstance(max_sites, int) or max_sites < 1:
        raise ValueError(f"max_sites must be an int >= 1, got {max_sites!r}")
    post = dt["posterior"].to_dataset()
    data = {}
    dims = {}
    for name, da in post.data_vars.items():
        a = da.transpose("chain", "draw", ...).values
        c, d = a.shape[:2]
        if a.ndim == 2:
            data[str(name)] = a
            continue
        flat = a.reshape(c, d, -1)[:, :, :max_sites]
        data[str(name)] = flat
        dims[str(name)] = [f"{name}_site"]
    if with_energy and _has_stat(dt, "model_energy"):
        data["model_energy"] = dt["sample_stats"]["model_energy"].transpose("chain", "draw").values
    import arviz_base

    return arviz_base.from_dict({"posterior": data}, dims=dims)


def _has_stat(dt: xr.DataTree, name: str) -> bool:
    return "sample_stats" in dt.children and name in dt["sample_stats"]


def _save(pc, path: Path) -> Path:
    plt = _pyplot()
    fig = pc.get_viz("figure")
    try:
        fig.savefig(path, dpi=90, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def plot_trace(trace, path, *, max_sites: int = 4, with_energy: bool = True) -> Path:
    """Trace plot (value against draw, one line per chain) of positions and model energy.

    Args:
        trace: a ``DataTree`` from [`chains_to_datatree`][] or an array/pytree of positions
            ``(num_chains, num_draws, ...)``.
        path: output ``.png`` file; parent folders are created.
        max_sites: number of sites shown per variable.
        with_energy: add the model energy E(x) (``sample_stats.model_energy``) when present.

    Returns:
        The path written.
    """
    import arviz_plots

    p = _out_path(path)
    _pyplot()
    dt = _reduced(_as_tree(trace), max_sites, with_energy)
    return _save(arviz_plots.plot_trace(dt, backend="matplotlib"), p)


def plot_rank(trace, path, *, max_sites: int = 4, with_energy: bool = True) -> Path:
    """Rank plot: histograms of each chain's ranks in the pooled draws (flat when mixed).

    Args:
        trace: a ``DataTree`` or positions, as in [`plot_trace`][].
        path: output ``.png`` file.
        max_sites: number of sites shown per variable.
        with_energy: add the model energy when present.

    Returns:
        The path written.
    """
    import arviz_plots

    p = _out_path(path)
    _pyplot()
    dt = _reduced(_as_tree(trace), max_sites, with_energy)
    return _save(arviz_plots.plot_rank(dt, backend="matplotlib"), p)


def plot_energy(trace, path) -> Path:
    """Energy plot of HMC/NUTS: marginal vs transition distribution of the Hamiltonian, BFMI.

    Uses the sampler's Hamiltonian H in ``sample_stats.energy`` (as ``az.bfmi`` does);
    BFMI = Σ_t (H_t − H_{t−1})² / Σ_t (H_t − H̄)² per chain, low values (< 0.3) meaning the
    momentum resampling explores the energy slowly. Samplers without a Hamiltonian (Gibbs,
    MALA, Metropolis) have no BFMI; the model energy E(x) (``sample_stats.model_energy``) is
    in [`plot_trace`][] and [`plot_rank`][].

    Args:
        trace: a ``DataTree`` with ``sample_stats.energy``.
        path: output ``.png`` file.

    Returns:
        The path written.

    Raises:
        ValueError: when the trace has no sampler Hamiltonian.
    """
    import arviz_plots

    dt = _as_tree(trace)
    if not _has_stat(dt, "energy"):
        raise ValueError(
            "trace has no sample_stats.energy (the HMC/NUTS Hamiltonian, from the sampler's "
            "info); the energy plot and BFMI need one — the model energy E(x) "
            "(sample_stats.model_energy) is shown by plot_trace/plot_rank"
        )
    p = _out_path(path)
    _pyplot()
    return _save(arviz_plots.plot_energy(dt, backend="matplotlib"), p)


def save_chain_plots(trace, out_dir, *, prefix: str = "", max_sites: int = 4) -> dict[str, Path]:
    """Write ``{prefix}trace.png``, ``{prefix}rank.png`` and, with a sampler Hamiltonian
    (HMC/NUTS), ``{prefix}energy.png``.

    Args:
        trace: a ``DataTree`` or positions.
        out_dir: output folder (created if missing).
        prefix: file-name prefix, e.g. ``"pcd_"``.
        max_sites: number of sites shown per variable.

    Returns:
        Mapping ``{"trace": path, "rank": path[, "energy": path]}``.
    """
    dt = _as_tree(trace)
    out = Path(out_dir)
    paths = {
        "trace": plot_trace(dt, out / f"{prefix}trace.png", max_sites=max_sites),
        "rank": plot_rank(dt, out / f"{prefix}rank.png", max_sites=max_sites),
    }
    if _has_stat(dt, "energy"):
        paths["energy"] = plot_energy(dt, out / f"{prefix}energy.png")
    return paths


def plot_ais(run, path, *, max_paths: int = 64) -> Path:
    """AIS diagnostics: log-weight paths over β, final log-weights, increment variance.

    Panels, as far as the run records them: running log-weight ``Σ_{s≤t} log_increments`` of
    up to ``max_paths`` chains against β (a fan that widens sharply marks where the schedule
    needs more temperatures); a histogram of the final log-weights titled with the weight ESS;
    the variance over chains of each increment against β (AIS's log-weight variance is the
    sum of these; equalising them is the aim of an adaptive schedule).

    Args:
        run: a ``DataTree`` from [`ais_to_datatree`][] / [`logz_to_datatree`][], a
            [`physebm.LogZ`][] with ``log_weights`` in its ``info``, or final
            log-weights ``(num_chains,)``.
        path: output ``.png`` file.
        max_paths: number of chain paths drawn.

    Returns:
        The path written.
    """

    p = _out_path(path)
    if isinstance(max_paths, bool) or not isinstance(max_paths, int) or max_paths < 1:
        raise ValueError(f"max_paths must be an int >= 1, got {max_paths!r}")
    if isinstance(run, xr.DataTree):
        dt = run
    elif hasattr(run, "info"):  # a LogZ
        dt = logz_to_datatree(run)
    else:
        dt = ais_to_datatree(run)
    lw = tree_log_weights(dt)
    ds = dt["annealing"].to_dataset() if "annealing" in dt.children else xr.Dataset()
    valid = lw[~(np.isnan(lw) | np.isposinf(lw))]
    panels = ["paths"] if "log_weight_path" in ds else []
    panels.append("weights")
    if "increment_variance" in ds:
        panels.append("variance")
    x, xlabel = None, "step"
    for name, label in (("beta", "beta"), ("t", "path parameter t"), ("step", "step")):
        if name in ds.coords:
            x, xlabel = ds[name].values, label
            break
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    try:
        for ax, panel in zip(axes[0], panels, strict=True):
            if panel == "paths":
                paths = ds["log_weight_path"].transpose("chain", "draw", "step").values[0]
                for row in paths[:max_paths]:
                    ax.plot(x, row, lw=0.7, alpha=0.6)
                ax.set(xlabel=xlabel, ylabel="running log-weight", title="log-weight paths")
            elif panel == "variance":
                iv = ds["increment_variance"].values
                ax.plot(x, iv)
                ax.set(xlabel=xlabel, ylabel="Var over chains", title="increment variance")
                if np.all(iv[np.isfinite(iv)] > 0):
                    ax.set_yscale("log")
            else:
                finite = valid[np.isfinite(valid)]
                bins = max(5, min(50, int(math.sqrt(max(finite.size, 1)))))
                ax.hist(finite, bins=bins, color="C0", alpha=0.8)
                e = float(weight_ess(valid)) if valid.size else 0.0
                ax.set(
                    xlabel="final log-weight",
                    ylabel="chains",
                    title=f"weight ESS {e:.1f} / {valid.size}",
                )
        fig.tight_layout()
        fig.savefig(p, dpi=90)
    finally:
        plt.close(fig)
    return p
