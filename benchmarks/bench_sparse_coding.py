"""How many ISTA/FISTA iterations a trained LISTA encoder saves at equal error.

Sparse coding E(y, z) = ½‖y − Wz‖² + λ‖z‖₁ with a random unit-norm dictionary W (d × k) and data
y = W z₀ + noise from sparse z₀. For each depth T a `LISTA` encoder starts at T ISTA steps
(`LISTA.from_dictionary`) and is trained through `physebm.fit` on `lista_loss` (mean
E(y, z_T(y)), unsupervised). On held-out y the error of a code z is the mean energy gap
E(y, z) − F_∞(y) (F_∞ by FISTA to tol 1e-12). The table gives, per T, the gap of the trained
encoder, the first iteration t at which ISTA (and FISTA) from z = 0 reach a gap at most as
small, the iterations saved (t − T), and the wall time of the public calls at that equal
error: the encoder vs `sparse_code(..., max_iterations=t, tol=0)`, first call (compilation
included) and warm (median of 20), with the ratio. The per-iteration gaps come from
`sparse_code` with ``max_iterations = t, tol = 0`` for every t.

First, the iterations and wall time of `sparse_code` to tol 1e-10 for ISTA and FISTA (with
gradient restart) on the held-out y, first call and warm, with their ratios.

Run: python benchmarks/bench_sparse_coding.py [--steps 1500] [--depths 1 2 3 5]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import physebm
from physebm.models.sparse_coding import LISTA, SparseCodingEnergy, lista_loss, sparse_code


def make_problem(key, d: int, k: int, n: int, density: float, noise: float):
    k_w, k_z, k_m, k_n = jax.random.split(key, 4)
    W = jax.random.normal(k_w, (d, k))
    W = W / jnp.linalg.norm(W, axis=0)
    z = jax.random.normal(k_z, (n, k)) * (jax.random.uniform(k_m, (n, k)) < density)
    return W, z @ W.T + noise * jax.random.normal(k_n, (n, d))


def gaps(model, y, f_inf, method: str, max_t: int) -> np.ndarray:
    """Mean gap E(y, z_t) − F_∞ for t = 1..max_t iterations of ``method`` from z = 0."""
    out = np.empty(max_t)
    for t in range(1, max_t + 1):
        res = sparse_code(model.W, y, model.lam, method=method, max_iterations=t, tol=0.0)
        out[t - 1] = float(jnp.mean(res.energy - f_inf))
    return out


def convergence(model, y, tol: float) -> dict:
    """Iterations and wall time of ``sparse_code`` to ``tol`` for ISTA and FISTA (restart)."""
    out = {}
    for method in ("ista", "fista"):

        def call(method=method):
            return sparse_code(
                model.W, y, model.lam, method=method, tol=tol, max_iterations=100_000
            )

        first, warm = timed(call)
        res = call()
        out[method] = (first, warm, np.asarray(res.iterations), bool(jnp.all(res.converged)))
    print(f"sparse_code to tol={tol:g} on {y.shape[0]} test vectors (first call / warm median):")
    print("| method | mean iterations | max iterations | all converged | first ms | warm ms |")
    print("|---|---|---|---|---|---|")
    for method, (first, warm, its, conv) in out.items():
        print(
            f"| {method} | {its.mean():.1f} | {its.max()} | {conv} | {1e3 * first:.1f} "
            f"| {1e3 * warm:.2f} |"
        )
    (_, w_i, it_i, _), (_, w_f, it_f, _) = out["ista"], out["fista"]
    print(
        f"ISTA/FISTA: {it_i.mean() / it_f.mean():.1f}x the iterations, "
        f"{w_i / w_f:.1f}x the warm time\n"
    )
    return out


def timed(fn, repeats: int = 20) -> tuple[float, float]:
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - t0
    warm = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        warm.append(time.perf_counter() - t0)
    return first, float(np.median(warm))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dim", type=int, default=16)
    p.add_argument("--atoms", type=int, default=32)
    p.add_argument("--lam", type=float, default=0.1)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--depths", type=int, nargs="+", default=[1, 2, 3, 5])
    p.add_argument("--max-iterations", type=int, default=300)
    args = p.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    W, y = make_problem(jax.random.key(0), args.dim, args.atoms, 4096, 0.1, 0.05)
    train, test = y[:3072], y[3072:]
    model = SparseCodingEnergy(W, args.lam)
    convergence(model, test, 1e-10)
    f_inf = model.free_energy(test, tol=1e-12, max_iterations=20_000)
    curves = {m: gaps(model, test, f_inf, m, args.max_iterations) for m in ("ista", "fista")}
    print(
        f"d={args.dim} k={args.atoms} lambda={args.lam} train={train.shape[0]} "
        f"test={test.shape[0]} steps={args.steps}; error = mean E(y, z) - F_inf(y) on test"
    )
    print(
        "| T | LISTA gap | ISTA gap at T | ISTA t | saved | FISTA t | saved "
        "| LISTA first/warm ms | ISTA(t) first/warm ms | warm ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    rows = {}
    for T in args.depths:
        res = physebm.fit(
            lista_loss(model),
            LISTA.from_dictionary(W, args.lam, T),
            train,
            optax.adam(1e-3),
            key=jax.random.key(T),
            num_steps=args.steps,
            batch_size=256,
            progress=False,
        )
        encoder = res.params
        gap = float(jnp.mean(model.energy(test, encoder(test)) - f_inf))
        row = {"gap": gap, "ista_gap_T": float(curves["ista"][T - 1])}
        for m, curve in curves.items():
            hit = np.nonzero(curve <= gap)[0]
            row[m] = int(hit[0]) + 1 if hit.size else None
        t_ista = row["ista"] or args.max_iterations
        enc = jax.jit(lambda e, v: e(v))
        lista_time = timed(lambda enc=enc, encoder=encoder: enc(encoder, test))
        ista_time = timed(
            lambda t=t_ista: sparse_code(W, test, args.lam, method="ista", max_iterations=t, tol=0)
        )
        rows[T] = {**row, "lista_time": lista_time, "ista_time": ista_time}

        def fmt(t, T=T):
            return ("-", f">{args.max_iterations}") if t is None else (str(t), str(t - T))

        (ti, si), (tf, sf) = fmt(row["ista"]), fmt(row["fista"])
        print(
            f"| {T} | {gap:.3e} | {row['ista_gap_T']:.3e} | {ti} | {si} | {tf} | {sf} "
            f"| {1e3 * lista_time[0]:.1f}/{1e3 * lista_time[1]:.3f} "
            f"| {1e3 * ista_time[0]:.1f}/{1e3 * ista_time[1]:.3f} "
            f"| {ista_time[1] / lista_time[1]:.1f}x |"
        )
    return rows


if __name__ == "__main__":
    main()
