"""K-means → soft K-means → GMM through one free energy at inverse temperature β.

The latent-variable energy E(y, k) = ‖y − w_k‖² has the free energy over the cluster index

    F_β(y) = −(1/β) log Σ_k exp(−β ‖y − w_k‖²).

Minimising the data average of F_β over the centres w is *deterministic annealing*
(Rose, Gurewitz & Fox 1990): the fixed point w_k = Σ_y q_β(k|y) y / Σ_y q_β(k|y) is soft K-means
(EM with isotropic variance 1/(2β)); β → ∞ is K-means (F_∞ = min_k ‖y − w_k‖², the distortion).
At small β every centre sits at the data mean; the first split is a phase transition at

    β_c = 1 / (2 λ_max(C)),   C = data covariance,

which this script locates numerically and compares with the formula. The full GMM energy gives
F₁(y) = −log p_GMM(y): the last table reports the held-out log-likelihood of the annealed
solution read as a GMM with variance 1/(2β).

Run: python examples/kmeans_to_gmm.py [--num-samples 600] [--num-iters 200]
"""

from __future__ import annotations

import argparse
import math

import jax
import jax.numpy as jnp
import numpy as np

from physebm import free_energy, responsibilities
from physebm.models import GMMEnergy, KMeansEnergy


def make_data(key, num_samples: int):
    means = jnp.array([[-3.0, 0.0], [3.0, 0.5], [0.0, 3.5]])
    k1, k2 = jax.random.split(key)
    labels = jax.random.randint(k1, (num_samples,), 0, 3)
    return means[labels] + 0.7 * jax.random.normal(k2, (num_samples, 2))


@jax.jit
def em_step(centers, y, beta):
    """w_k ← Σ_y q_β(k|y) y / Σ_y q_β(k|y) (the stationary point of mean F_β)."""
    q = responsibilities(KMeansEnergy(centers).energies(y), beta)
    return (q.T @ y) / jnp.maximum(q.sum(0)[:, None], 1e-300)


def heldout_log_likelihood(centers, y_test, beta, weights):
    """Mean log p_GMM(y) of the centres read as a GMM with variance 1/(2β): −mean F₁(y)."""
    var = 1.0 / (2.0 * beta)
    gmm = GMMEnergy(centers, jnp.stack([var * jnp.eye(2)] * centers.shape[0]), weights)
    return -float(jnp.mean(free_energy(gmm, y_test, 1.0)))


def anneal(y, y_test, betas, num_iters: int, key):
    centers = jnp.broadcast_to(jnp.mean(y, 0), (3, 2))
    path = []
    for beta, k in zip(betas, jax.random.split(key, len(betas)), strict=True):
        # a small kick at every β: a symmetric (collapsed) solution must be unstable to split
        centers = centers + 1e-2 * jax.random.normal(k, centers.shape)
        for _ in range(num_iters):
            centers = em_step(centers, y, beta)
        spread = float(jnp.max(jnp.linalg.norm(centers - centers.mean(0), axis=1)))
        f = float(jnp.mean(free_energy(KMeansEnergy(centers), y, beta)))
        d = float(jnp.mean(free_energy(KMeansEnergy(centers), y, math.inf)))
        weights = responsibilities(KMeansEnergy(centers).energies(y), beta).mean(0)
        ll = heldout_log_likelihood(centers, y_test, beta, weights)
        path.append((float(beta), spread, f, d, ll))
    return path


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--num-samples", type=int, default=600)
    p.add_argument("--num-iters", type=int, default=200)
    p.add_argument("--num-betas", type=int, default=24)
    args = p.parse_args(argv)
    if args.num_samples < 10:
        raise SystemExit("--num-samples must be >= 10")
    jax.config.update("jax_enable_x64", True)
    key_data, key_test, key_init = jax.random.split(jax.random.key(0), 3)
    y = make_data(key_data, args.num_samples)
    y_test = make_data(key_test, args.num_samples)
    lam_max = float(np.linalg.eigvalsh(np.cov(np.asarray(y).T, bias=True)).max())
    beta_c = 1.0 / (2.0 * lam_max)
    betas = beta_c * np.geomspace(0.25, 40.0, args.num_betas)
    path = anneal(y, y_test, betas, args.num_iters, key_init)
    print(f"data covariance lambda_max = {lam_max:.4f}  ->  predicted beta_c = {beta_c:.4f}")
    print(
        f"{'beta':>9} {'beta/beta_c':>11} {'spread':>8} {'mean F_beta':>12} {'distortion':>11}"
        f" {'held-out LL':>12}"
    )
    for beta, spread, f, d, ll in path:
        print(f"{beta:9.4f} {beta / beta_c:11.3f} {spread:8.4f} {f:12.5f} {d:11.5f} {ll:12.5f}")
    collapsed = [b for b, s, *_ in path if s <= 0.05]
    split = [b for b, s, *_ in path if s > 0.05]
    lo = max(collapsed) if collapsed else float("nan")
    hi = min(split) if split else float("nan")
    print(f"first split observed between beta = {lo:.4f} and {hi:.4f} (formula: {beta_c:.4f})")
    best = max(path, key=lambda r: r[4])
    print(
        f"held-out log-likelihood is highest at beta = {best[0]:.4f}, i.e. cluster variance "
        f"1/(2 beta) = {1 / (2 * best[0]):.3f} (data were drawn with variance {0.7**2:.3f})"
    )
    return {"beta_c": beta_c, "split_interval": (lo, hi), "path": path, "best_beta": best[0]}


if __name__ == "__main__":
    main()
