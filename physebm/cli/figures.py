"""PNG figures of a comparison run (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    if os.environ.get("MPLBACKEND") is None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _density_grid(energy_fn, log_z: float, bounds: np.ndarray, n: int = 200):
    import jax
    import jax.numpy as jnp

    xs = np.linspace(*bounds[0], n)
    ys = np.linspace(*bounds[1], n)
    grid = jnp.asarray(np.stack(np.meshgrid(xs, ys, indexing="xy"), -1).reshape(-1, 2))
    logp = -np.asarray(jax.vmap(energy_fn)(grid)).reshape(n, n) - log_z
    return xs, ys, np.exp(logp)


def landscapes(run: dict, path: Path, energy_of) -> Path:
    """Learned densities p_θ = exp(−E_θ)/Z_θ side by side, with the data and the true density."""
    plt = _pyplot()
    results, bounds = run["results"], run["view"]
    n = len(results) + 1
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.4), squeeze=False)
    axes = axes[0]
    axes[0].scatter(run["test"][:, 0], run["test"][:, 1], s=1, alpha=0.4, color="k")
    title = "held-out data"
    if run["true_ll"] is not None:
        title += f"\ntrue LL = {run['true_ll']:.3f}"
    axes[0].set_title(title, fontsize=9)
    for ax, r in zip(axes[1:], results, strict=True):
        _, _, dens = _density_grid(energy_of(r), r.log_z_quad, bounds)
        ax.imshow(
            dens, origin="lower", extent=(*bounds[0], *bounds[1]), cmap="viridis", aspect="auto"
        )
        ax.set_title(f"{r.name}\nLL = {r.heldout_ll_quad:.3f}", fontsize=9)
    return _finish(fig, axes, bounds, path, "densities exp(-E)/Z learned by each objective")


def samples(run: dict, path: Path) -> Path:
    """Negative samples (replica exchange, β = 1 replica) of every model over the data."""
    plt = _pyplot()
    results, bounds = run["results"], run["view"]
    n = len(results)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.4), squeeze=False)
    for ax, r in zip(axes[0], results, strict=True):
        pts = r.chains.reshape(-1, 2)
        pts = pts[np.linspace(0, len(pts) - 1, min(len(pts), 4000)).astype(int)]
        ax.scatter(run["test"][:, 0], run["test"][:, 1], s=1, alpha=0.15, color="0.6")
        ax.scatter(pts[:, 0], pts[:, 1], s=1, alpha=0.3, color="C3")
        rh = r.chain_summary.max_rhat
        ax.set_title(
            f"{r.name}\nR-hat {rh:.3f}, ESS {r.chain_summary.min_ess_bulk:.0f}", fontsize=9
        )
    return _finish(fig, axes[0], bounds, path, "negative samples (red) over held-out data (grey)")


def _finish(fig, axes, bounds, path: Path, title: str) -> Path:
    """Same box and no ticks on every panel, a title, save as PNG, close."""
    for ax in axes:
        ax.set_xlim(*bounds[0])
        ax.set_ylim(*bounds[1])
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def losses(run: dict, path: Path) -> Path:
    """Training loss of every objective (each on its own scale)."""
    plt = _pyplot()
    results = run["results"]
    n = len(results)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 2.8), squeeze=False)
    for ax, r in zip(axes[0], results, strict=True):
        ax.plot(r.losses, lw=0.6)
        ax.set_title(r.name, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
