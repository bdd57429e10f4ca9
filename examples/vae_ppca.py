"""Amortised variational free energy (VAE / IWAE bounds) on probabilistic PCA, where −log p(y)
is exact.

PPCA: z ~ N(0, I_k), y = Wz + μ + ε, ε ~ N(0, s²I_d). The joint energy is
E(y, z) = −log p(y, z) = ½‖z‖² + ‖y − Wz − μ‖²/(2s²) + const, so at β = 1 the free energy is
F(y) = −log p(y), p(y) = N(μ, WWᵀ + s²I), and the posterior is
N(Σ Wᵀ(y − μ)/s², Σ), Σ = (I + WᵀW/s²)⁻¹. For an encoder q(z | y) the IWAE bound
F_K(y) = −log (1/K) Σ_k p(y, z_k)/q(z_k | y) satisfies E[F_K] ≥ E[F_{K+1}] ≥ −log p(y), with
E[F_1] − (−log p) = KL(q ‖ posterior). Three encoders:

* the exact posterior: F_K = −log p(y) for every draw and every K (gap 0 to rounding);
* the mean-field one (exact mean, the diagonal of the posterior precision inverted): the
  K = 1 gap equals KL(q ‖ posterior) in closed form, and shrinks with K;
* a `LinearGaussianEncoder` trained by `physebm.fit` on the ELBO (`amortized_variational`,
  the PPCA energy held fixed), which closes the gap.

The gaps printed are the mean over held-out y of F_K − (−log p(y)), with the standard error over
y and repeated draws.

Run: python examples/vae_ppca.py [--quick]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import optax

from physebm import fit
from physebm.free_energies.amortized import (
    LinearGaussianEncoder,
    iwae_free_energy,
    linear_encoder,
)
from physebm.objectives.amortized import AmortizedParams, amortized_variational

D, K_LATENT, NOISE = 5, 2, 0.5


def ppca(key):
    k_w, k_mu = jax.random.split(key)
    return jax.random.normal(k_w, (D, K_LATENT)), 0.5 * jax.random.normal(k_mu, (D,))


def joint_energy(W, mu):
    """E(y, z) = −log p(y, z) of PPCA (normalised: its free energy is −log p(y))."""

    def energy(y, z):
        r = y - W @ z - mu
        return (
            0.5 * z @ z
            + 0.5 * r @ r / NOISE**2
            + 0.5 * K_LATENT * np.log(2 * np.pi)
            + 0.5 * D * np.log(2 * np.pi * NOISE**2)
        )

    return energy


def neg_log_p(W, mu, y):
    """−log N(y; μ, WWᵀ + s²I), exact."""
    cov = W @ W.T + NOISE**2 * jnp.eye(D)
    r = y - mu
    _, logdet = jnp.linalg.slogdet(cov)
    return 0.5 * (jnp.sum(r * jnp.linalg.solve(cov, r.T).T, -1) + logdet + D * np.log(2 * np.pi))


def gaussian_encoder(weight, bias, cov) -> LinearGaussianEncoder:
    L = jnp.linalg.cholesky(cov)
    return LinearGaussianEncoder(weight, bias, jnp.tril(L, -1), jnp.log(jnp.diag(L)))


def posterior_parts(W, mu):
    precision = jnp.eye(K_LATENT) + W.T @ W / NOISE**2
    weight = jnp.linalg.solve(precision, W.T) / NOISE**2
    return precision, weight, -weight @ mu


def kl_same_mean(cov_q, precision_p):
    """KL(N(m, S_q) ‖ N(m, P⁻¹)) = ½[tr(P S_q) − k − log det P − log det S_q]."""
    return 0.5 * (
        jnp.trace(precision_p @ cov_q)
        - K_LATENT
        - jnp.linalg.slogdet(precision_p)[1]
        - jnp.linalg.slogdet(cov_q)[1]
    )


def gaps(energy, encoder, y, exact, key, ks, repeats):
    """Mean over y and ``repeats`` draws of F_K(y) − (−log p(y)), and its standard error."""
    out = {}
    for K in ks:
        keys = jax.random.split(jax.random.fold_in(key, K), (y.shape[0], repeats))

        def per_y(yi, kk, K=K):
            return jax.vmap(
                lambda kj: iwae_free_energy(energy, encoder, yi, key=kj, num_samples=K)
            )(kk)

        f = jax.vmap(per_y)(y, keys)
        g = np.asarray(f - exact[:, None])
        per_y = g.mean(1)
        out[K] = (float(g.mean()), float(per_y.std(ddof=1) / np.sqrt(per_y.size)))
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer steps and draws (a smoke run)")
    args = p.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    k_model, k_data, k_test, k_init, k_fit, k_eval = jax.random.split(jax.random.key(0), 6)
    W, mu = ppca(k_model)
    energy = joint_energy(W, mu)

    def draw(key, n):
        kz, ke = jax.random.split(key)
        z = jax.random.normal(kz, (n, K_LATENT))
        return z @ W.T + mu + NOISE * jax.random.normal(ke, (n, D))

    train, test = draw(k_data, 2000), draw(k_test, 200)
    exact = neg_log_p(W, mu, test)
    precision, weight, bias = posterior_parts(W, mu)
    mean_field_cov = jnp.diag(1.0 / jnp.diag(precision))
    encoders = {
        "exact posterior": gaussian_encoder(weight, bias, jnp.linalg.inv(precision)),
        "mean-field": gaussian_encoder(weight, bias, mean_field_cov),
    }
    objective = amortized_variational(lambda _, y, z: energy(y, z), num_samples=1, bound="elbo")
    trained = fit(
        objective,
        AmortizedParams({}, linear_encoder(D, K_LATENT, key=k_init)),
        train,
        optax.adam(0.02),
        key=k_fit,
        num_steps=300 if args.quick else 2000,
        batch_size=100,
        progress=False,
    )
    encoders["ELBO-trained"] = trained.params.encoder
    ks, repeats = (1, 4, 16), 4 if args.quick else 64
    rows = {}
    print(f"PPCA d={D}, k={K_LATENT}, s={NOISE}: mean -log p(y) = {float(exact.mean()):.4f}")
    print("gap E[F_K] - (-log p(y)) over 200 held-out y (mean ± stderr)")
    for name, enc in encoders.items():
        rows[name] = gaps(energy, enc, test, exact, k_eval, ks, repeats)
        cells = "  ".join(f"K={K}: {m:.4f} ± {s:.4f}" for K, (m, s) in rows[name].items())
        print(f"  {name:16s} {cells}")
    f_exact = jax.vmap(
        lambda yi: iwae_free_energy(
            energy, encoders["exact posterior"], yi, key=k_eval, num_samples=16
        )
    )(test)
    max_exact = float(jnp.max(jnp.abs(f_exact - exact)))
    print(f"  exact posterior: max |F_16(y) - (-log p(y))| = {max_exact:.1e}")
    kl = float(kl_same_mean(mean_field_cov, precision))
    print(f"  mean-field KL(q || posterior) in closed form: {kl:.4f} (the K=1 gap)")
    return {
        "gaps": rows,
        "max_exact_gap": max_exact,
        "mean_field_kl": kl,
        "neg_log_p": float(exact.mean()),
    }


if __name__ == "__main__":
    main()
