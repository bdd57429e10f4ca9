"""PCA and sparse coding as energy-based models, each checked against its classical solver.

* PCA: E(y, z) = ‖y − Wz‖², F_∞(y) = ‖(I − P_W) y‖². Minimising mean F_∞ over W by
  `physebm.fit` with `free_energy_loss` reaches the top-k principal subspace; the principal
  angles between span W and numpy's SVD subspace measure the agreement (0 = the same subspace).
* Sparse coding: E(y, z) = ½‖y − Wz‖² + λ‖z‖₁, F_∞ the Lasso. For W with orthonormal columns
  the minimiser is the soft threshold z* = S_λ(Wᵀy) in closed form; `sparse_code` (FISTA and
  ISTA) is compared with it.
* LISTA (Gregor & LeCun 2010): a T-layer encoder initialised as T ISTA steps and trained by
  `lista_loss` (mean E(y, z_T(y)) ≥ mean F_∞) on a random unit-norm overcomplete dictionary.
  Its held-out gap mean E(y, z_T) − mean F_∞ is compared with plain ISTA's after T steps, and
  the script prints how many ISTA iterations reach the trained encoder's gap (iterations saved).

Run: python examples/pca_and_sparse_coding.py [--quick]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import optax

from physebm import fit
from physebm.models.pca import PCAEnergy
from physebm.models.sparse_coding import (
    LISTA,
    SparseCodingEnergy,
    lista_loss,
    soft_threshold,
    sparse_code,
    unit_columns,
)
from physebm.objectives.free_energy import free_energy_loss


def principal_angles(A, B) -> np.ndarray:
    """Angles (rad) between span A and span B: arccos of the singular values of QₐᵀQ_b."""
    qa, qb = np.linalg.qr(np.asarray(A))[0], np.linalg.qr(np.asarray(B))[0]
    return np.arccos(np.clip(np.linalg.svd(qa.T @ qb)[1], -1.0, 1.0))


def pca_part(key, num_steps: int) -> dict:
    k_data, k_init, k_fit = jax.random.split(key, 3)
    n, d, k = 500, 8, 2
    scales = jnp.array([3.0, 2.0, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    y = jax.random.normal(k_data, (n, d)) * scales
    y = y - y.mean(0)
    res = fit(
        free_energy_loss(),
        PCAEnergy(0.1 * jax.random.normal(k_init, (d, k))),
        y,
        optax.adam(0.05),
        key=k_fit,
        num_steps=num_steps,
        batch_size=n,
        progress=False,
    )
    top = np.linalg.svd(np.asarray(y), full_matrices=False)[2][:k].T
    angles = principal_angles(res.params.W, top)
    svd_loss = float(np.sum(np.linalg.svd(np.asarray(y), compute_uv=False)[k:] ** 2) / n)
    fit_loss = float(jnp.mean(res.params.free_energy(y)))
    print(f"PCA: principal angles to the SVD subspace {np.array2string(angles, precision=2)} rad")
    print(
        f"     mean F_inf after fit {fit_loss:.6f}, SVD optimum (tail eigenvalues) {svd_loss:.6f}"
    )
    return {"angles": angles, "fit_loss": fit_loss, "svd_loss": svd_loss}


def soft_threshold_part(key) -> dict:
    k_w, k_y = jax.random.split(key)
    d, k, lam = 12, 6, 0.3
    W = jnp.linalg.qr(jax.random.normal(k_w, (d, k)))[0]  # orthonormal columns
    y = jax.random.normal(k_y, (200, d))
    exact = soft_threshold(y @ W, lam)
    out = {}
    for method in ("fista", "ista"):
        res = sparse_code(W, y, lam, method=method)
        err = float(jnp.max(jnp.abs(res.code - exact)))
        its = int(jnp.max(res.iterations))
        out[method] = {"max_error": err, "iterations": its}
        print(
            f"sparse code ({method}) vs soft threshold S_lam(W^T y): max |dz| {err:.1e}, {its} it"
        )
    return out


def lista_part(key, num_steps: int, layers=(1, 3)) -> list[dict]:
    k_w, k_train, k_test, k_fit = jax.random.split(key, 4)
    d, k, lam = 16, 32, 0.1
    W = unit_columns(jax.random.normal(k_w, (d, k)))
    model = SparseCodingEnergy(W, lam)

    # data from the model: sparse codes (4 active atoms of 32) through W plus a little noise
    def draw(key, n):
        ka, kb, kc = jax.random.split(key, 3)
        mask = jax.random.uniform(ka, (n, k)) < 4 / k
        z = mask * jax.random.normal(kb, (n, k))
        return z @ W.T + 0.05 * jax.random.normal(kc, (n, d))

    train, test = draw(k_train, 2048), draw(k_test, 512)
    f_inf = float(jnp.mean(sparse_code(W, test, lam, tol=1e-10).energy))
    # ISTA from z = 0: the gap after t steps, t = 1..400
    lipschitz = float(jnp.linalg.norm(W, ord=2) ** 2)

    def ista_step(z, _):
        z = soft_threshold(z - (z @ W.T - test) @ W / lipschitz, lam / lipschitz)
        return z, jnp.mean(model.energy(test, z)) - f_inf

    ista_gaps = np.asarray(jax.lax.scan(ista_step, jnp.zeros((test.shape[0], k)), None, 400)[1])
    rows = []
    for T in layers:
        res = fit(
            lista_loss(model),
            LISTA.from_dictionary(W, lam, T),
            train,
            optax.adam(3e-3),
            key=k_fit,
            num_steps=num_steps,
            batch_size=256,
            progress=False,
        )
        gap = float(jnp.mean(model.energy(test, jax.vmap(res.params)(test)))) - f_inf
        reach = next((t + 1 for t, g in enumerate(ista_gaps) if g <= gap), None)
        gap_t = float(ista_gaps[T - 1])
        rows.append({"T": T, "lista_gap": gap, "ista_gap": gap_t, "ista_iters": reach})
        saved = "n/a" if reach is None else f"{reach} ({reach - T} saved)"
        print(
            f"LISTA T={T}: held-out gap {gap:.4f} vs ISTA after {T} steps {gap_t:.4f};"
            f" ISTA iterations to reach it: {saved}"
        )
    return rows


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer training steps (a smoke run)")
    args = p.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    k_pca, k_st, k_lista = jax.random.split(jax.random.key(0), 3)
    return {
        "pca": pca_part(k_pca, 200 if args.quick else 600),
        "soft_threshold": soft_threshold_part(k_st),
        "lista": lista_part(k_lista, *((150, (2,)) if args.quick else (1500, (1, 2, 3, 5)))),
    }


if __name__ == "__main__":
    main()
