"""Diagnostic figures: each function returns a matplotlib ``Figure``; saving is the caller's.

Trace, rank and energy figures use ``arviz_plots`` (matplotlib backend); the AIS figure, which
``arviz_plots`` lacks, is plain matplotlib. The names end in ``_figure`` so they do not shadow
ArviZ's ``plot_*``. [`save_figure`][] writes a figure to a file and closes it, and
[`save_chain_plots`][] writes the trace, rank and energy figures of a run into a folder.
No display is needed: on a machine without one matplotlib picks its non-interactive backend.

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

__all__ = [
    "ais_figure",
    "energy_figure",
    "rank_figure",
    "save_chain_plots",
    "save_figure",
    "trace_figure",
]

#: File types [`save_figure`][] writes (matplotlib's raster and vector formats).
FIGURE_SUFFIXES = (".png", ".pdf", ".svg")


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
    if p.suffix.lower() not in FIGURE_SUFFIXES:
        raise ValueError(f"path must end in one of {', '.join(FIGURE_SUFFIXES)}, got {str(p)!r}")
    if not p.parent.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
    if not os.access(p.parent, os.W_OK):
        raise ValueError(f"cannot write to directory {str(p.parent)!r} (path={str(p)!r})")
    return p


def _reduced(dt: xr.DataTree, max_sites: int, with_energy: bool) -> xr.DataTree:
    """Posterior with each variable cut to ≤ max_sites sites (flattened), plus the model
    energy ``sample_stats.model_energy`` (as ``model_energy``)."""
    _check_max_sites(max_sites)
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


def _check_max_sites(max_sites) -> None:
    if isinstance(max_sites, bool) or not isinstance(max_sites, int) or max_sites < 1:
        raise ValueError(f"max_sites must be an int >= 1, got {max_sites!r}")


def _has_stat(dt: xr.DataTree, name: str) -> bool:
    return "sample_stats" in dt.children and name in dt["sample_stats"]


def _figure(pc):
    """The matplotlib ``Figure`` of an arviz-plots ``PlotCollection``."""
    return pc.get_viz("figure")


def save_figure(fig, path, *, dpi: int = 90) -> Path:
    """Write ``fig`` to ``path`` (``.png``, ``.pdf`` or ``.svg``) and close it.

    Args:
        fig: a matplotlib ``Figure``, e.g. from [`trace_figure`][] or [`ais_figure`][].
        path: output file; parent folders are created.
        dpi: resolution of raster output.

    Returns:
        The path written.
    """
    from matplotlib.figure import Figure

    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    p = _out_path(path)
    plt = _pyplot()
    try:
        fig.savefig(p, dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return p


def trace_figure(trace, *, max_sites: int = 4, with_energy: bool = True):
    """Trace figure (value against draw, one line per chain) of positions and model energy.

    Args:
        trace: a ``DataTree`` from [`chains_to_datatree`][] or an array/pytree of positions
            ``(num_chains, num_draws, ...)``.
        max_sites: number of sites shown per variable.
        with_energy: add the model energy E(x) (``sample_stats.model_energy``) when present.

    Returns:
        A matplotlib ``Figure`` (open: show it, or write it with [`save_figure`][]).
    """
    import arviz_plots

    _pyplot()
    dt = _reduced(_as_tree(trace), max_sites, with_energy)
    return _figure(arviz_plots.plot_trace(dt, backend="matplotlib"))


def rank_figure(trace, *, max_sites: int = 4, with_energy: bool = True):
    """Rank figure: each chain's ranks in the pooled draws (flat when the chains agree).

    Args:
        trace: a ``DataTree`` or positions, as in [`trace_figure`][].
        max_sites: number of sites shown per variable.
        with_energy: add the model energy when present.

    Returns:
        A matplotlib ``Figure``.
    """
    import arviz_plots

    _pyplot()
    dt = _reduced(_as_tree(trace), max_sites, with_energy)
    return _figure(arviz_plots.plot_rank(dt, backend="matplotlib"))


def energy_figure(trace):
    """Energy figure of HMC/NUTS: marginal vs transition distribution of the Hamiltonian, BFMI.

    Uses the sampler's Hamiltonian H in ``sample_stats.energy`` (as ``az.bfmi`` does);
    BFMI = Σ_t (H_t − H_{t−1})² / Σ_t (H_t − H̄)² per chain, low values (< 0.3) meaning the
    momentum resampling explores the energy slowly. Samplers without a Hamiltonian (Gibbs,
    MALA, Metropolis) have no BFMI; the model energy E(x) (``sample_stats.model_energy``) is
    in [`trace_figure`][] and [`rank_figure`][].

    Args:
        trace: a ``DataTree`` with ``sample_stats.energy``.

    Returns:
        A matplotlib ``Figure``.

    Raises:
        ValueError: when the trace has no sampler Hamiltonian.
    """
    import arviz_plots

    dt = _as_tree(trace)
    if not _has_stat(dt, "energy"):
        raise ValueError(
            "trace has no sample_stats.energy (the HMC/NUTS Hamiltonian, from the sampler's "
            "info); the energy plot and BFMI need one — the model energy E(x) "
            "(sample_stats.model_energy) is shown by trace_figure/rank_figure"
        )
    _pyplot()
    return _figure(arviz_plots.plot_energy(dt, backend="matplotlib"))


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
    _out_path(out / f"{prefix}trace.png")  # check the folder and max_sites before drawing
    _check_max_sites(max_sites)
    paths = {
        "trace": save_figure(trace_figure(dt, max_sites=max_sites), out / f"{prefix}trace.png"),
        "rank": save_figure(rank_figure(dt, max_sites=max_sites), out / f"{prefix}rank.png"),
    }
    if _has_stat(dt, "energy"):
        paths["energy"] = save_figure(energy_figure(dt), out / f"{prefix}energy.png")
    return paths


def ais_figure(run, *, max_paths: int = 64):
    """AIS diagnostics figure: log-weight paths over β, final log-weights, increment variance.

    Panels, as far as the run records them: running log-weight ``Σ_{s≤t} log_increments`` of
    up to ``max_paths`` chains against β (a fan that widens sharply marks where the schedule
    needs more temperatures); a histogram of the final log-weights titled with the weight ESS;
    the variance over chains of each increment against β (AIS's log-weight variance is the
    sum of these; equalising them is the aim of an adaptive schedule).

    Args:
        run: a ``DataTree`` from [`ais_to_datatree`][] / [`logz_to_datatree`][], a
            [`physebm.LogZ`][] with ``log_weights`` in its ``info``, or final
            log-weights ``(num_chains,)``.
        max_paths: number of chain paths drawn.

    Returns:
        A matplotlib ``Figure``.
    """
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
    except BaseException:
        plt.close(fig)
        raise
    return fig
