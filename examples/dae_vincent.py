"""A denoising auto-encoder is denoising score matching (Vincent 2011), checked on Gaussian data.

Data x ~ N(μ, C). The DAE loss E‖r(x + σz) − x‖² is minimised over all r by the posterior mean
r*(x̃) = E[x | x̃] = μ + C(C + σ²I)⁻¹(x̃ − μ), linear, so a linear r(x) = Ax + b trained by
`physebm.fit` on `denoising_autoencoder` should reach A* = C(C + σ²I)⁻¹, b* = (I − A*)μ. Its
score reading s(x) = (r(x) − x)/σ² (`dae_score`) is then −(C + σ²I)⁻¹(x − μ), the score of
the noised density p_σ = N(μ, C + σ²I) and denoising score matching's optimum; a quadratic
energy ½(x − m)ᵀP(x − m) trained by `denoising_score_matching` on the same data gives
P → (C + σ²I)⁻¹ for comparison. Per sample, on the same noise, the DAE loss is exactly 2σ⁴
times DSM's for the energy whose score is the DAE's (printed as a ratio). `dae_energy` (the line
integral of the score) equals the closed-form quadratic −[½xᵀ(A − I)x + bᵀx]/σ² of the
symmetric part, and `dae_asymmetry` says how symmetric the learnt Jacobian A is.

Run: python examples/dae_vincent.py [--quick]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import optax

from physebm import fit
from physebm.objectives.autoencoder import (
    dae_asymmetry,
    dae_energy,
    dae_score,
    denoising_autoencoder,
)
from physebm.objectives.score_matching import denoising_score_matching

D, SIGMA = 3, 0.5


def linear(params, x):
    return params["A"] @ x + params["b"]


def quadratic(params, x):
    P = 0.5 * (params["P"] + params["P"].T)
    r = x - params["m"]
    return 0.5 * r @ P @ r


def rel(a, b) -> float:
    return float(jnp.linalg.norm(a - b) / jnp.linalg.norm(b))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer samples and steps (a smoke run)")
    args = p.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    k_c, k_data, k_dae, k_dsm, k_id = jax.random.split(jax.random.key(0), 5)
    M = jax.random.normal(k_c, (D, D))
    C = M @ M.T / D + 0.2 * jnp.eye(D)
    mu = jnp.array([1.0, -0.5, 0.25])
    n, steps = (4000, 300) if args.quick else (20000, 3000)
    x = mu + jax.random.normal(k_data, (n, D)) @ jnp.linalg.cholesky(C).T
    noised_precision = jnp.linalg.inv(C + SIGMA**2 * jnp.eye(D))
    A_star = C @ noised_precision

    def train(objective, init, key):
        return fit(
            objective,
            init,
            x,
            optax.adam(0.01),
            key=key,
            num_steps=steps,
            batch_size=200,
            progress=False,
        ).params

    dae = train(
        denoising_autoencoder(linear, sigma=SIGMA), {"A": jnp.eye(D), "b": jnp.zeros(D)}, k_dae
    )
    dsm = train(
        denoising_score_matching(quadratic, sigma=SIGMA),
        {"P": jnp.eye(D), "m": jnp.zeros(D)},
        k_dsm,
    )
    score_matrix = (dae["A"] - jnp.eye(D)) / SIGMA**2  # s(x) = score_matrix x + b / σ²
    P_dsm = 0.5 * (dsm["P"] + dsm["P"].T)
    out = {
        "A_error": rel(dae["A"], A_star),
        "b_error": rel(dae["b"], (jnp.eye(D) - A_star) @ mu),
        "dae_score_vs_optimum": rel(score_matrix, -noised_precision),
        "dae_score_vs_dsm": rel(score_matrix, -P_dsm),
        "dsm_vs_optimum": rel(P_dsm, noised_precision),
        "asymmetry": float(dae_asymmetry(linear, dae, x[0])),
    }
    print(f"DAE on N(mu, C), d={D}, sigma={SIGMA}, n={n}, {steps} Adam steps")
    print(f"  ||A - C(C+s^2 I)^-1|| / ||.|| = {out['A_error']:.3f}, b error {out['b_error']:.3f}")
    print(f"  DAE score matrix (A - I)/s^2 vs -(C+s^2 I)^-1: {out['dae_score_vs_optimum']:.3f}")
    print(f"  DSM-trained precision vs (C+s^2 I)^-1: {out['dsm_vs_optimum']:.3f}")
    print(f"  DAE score vs DSM score: {out['dae_score_vs_dsm']:.3f} (relative Frobenius)")

    # the loss identity on the same noise, for a symmetric A so that a potential exists
    sym = {"A": 0.5 * (dae["A"] + dae["A"].T), "b": dae["b"]}

    def potential(params, xi):  # −∇E = (r(x) − x)/σ²
        return -(0.5 * xi @ (params["A"] - jnp.eye(D)) @ xi + params["b"] @ xi) / SIGMA**2

    batch = x[:256]
    loss_dae = denoising_autoencoder(linear, sigma=SIGMA).loss(sym, batch, k_id, ())[0]
    loss_dsm = denoising_score_matching(potential, sigma=SIGMA).loss(sym, batch, k_id, ())[0]
    out["loss_ratio"] = float(loss_dae / (2 * SIGMA**4 * loss_dsm))
    print(f"  DAE loss / (2 sigma^4 DSM loss) on the same noise: {out['loss_ratio']:.12f}")

    pts = x[:16]
    line = jax.vmap(lambda xi: dae_energy(linear, sym, xi, sigma=SIGMA))(pts)
    closed = jax.vmap(lambda xi: potential(sym, xi))(pts)
    s_check = jax.vmap(lambda xi: dae_score(linear, sym, xi, sigma=SIGMA))(pts)
    grad = jax.vmap(jax.grad(lambda xi: potential(sym, xi)))(pts)
    out["energy_error"] = float(jnp.max(jnp.abs(line - closed)))
    out["score_grad_error"] = float(jnp.max(jnp.abs(s_check + grad)))
    print(f"  dae_energy vs closed-form quadratic: max |dE| {out['energy_error']:.1e}")
    print(f"  dae_score vs -grad E: max {out['score_grad_error']:.1e}")
    print(f"  Jacobian asymmetry ||A - A^T|| / ||A|| of the trained DAE: {out['asymmetry']:.3f}")
    return out


if __name__ == "__main__":
    main()
