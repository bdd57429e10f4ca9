"""The rest of the energy-based taxonomy on the digits of ``physebm compare --dataset digits``.

Beside the RBMs (C1/C2), each method below is trained on the same binarised 8×8 training digits
and scored on the same held-out digits by what it can be scored by:

* **reconstruction** — mean ‖x − x̂(x)‖² per held-out image (bits flipped or missed, for a
  binary x̂), with x̂ the model's reconstruction;
* **F_∞** — mean min_z E(x, z), where the model defines the minimum (PCA: the squared distance
  to span W; K-means: to the nearest centre; sparse coding: the Lasso value);
* **LL** — a held-out log-likelihood in nats per image, comparable with the RBMs' exact one: a
  continuous density p on ℝ⁶⁴ is fitted to dequantised digits y = x + u, u ~ U[0, 1)⁶⁴, and
  E_u log p(x + u) ≤ log P(x), P(x) = ∫_{[0,1)⁶⁴} p(x + u) du a distribution on the bits
  (Theis, van den Oord & Bethge 2016): a lower bound, estimated over R draws of u (and, for
  the VAE, of the IWAE latents, a bound of the bound) with the standard error of that Monte
  Carlo mean;
* **probe** — for joint embeddings, the test accuracy of a ridge linear probe on the frozen
  embeddings of clean digits (`linear_probe_accuracy`), and their effective rank
  (`collapse_diagnostics`).

Each result also carries a ``check`` — the closed form the method is compared with.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import optax
import scipy.linalg

from physebm.datasets import distort_digits
from physebm.free_energies.amortized import iwae_free_energy
from physebm.models import KMeansEnergy
from physebm.models.pca import PCAEnergy
from physebm.models.sparse_coding import (
    SparseCodingEnergy,
    dictionary_learning_loss,
    unit_columns,
)
from physebm.objectives import info_nce
from physebm.objectives.amortized import AmortizedParams, amortized_variational
from physebm.objectives.autoencoder import denoising_autoencoder
from physebm.objectives.free_energy import free_energy_loss
from physebm.objectives.joint_embedding import (
    barlow_twins,
    collapse_diagnostics,
    joint_energy,
    linear_probe_accuracy,
    pair_loss,
    vicreg,
)
from physebm.partition.bases import GaussianBase
from physebm.training import fit

#: name → (taxonomy family, one-line description)
FAMILY_METHODS = {
    "pca": ("A1", "PCA: E = ‖y − Wz‖², k = 12, fit on mean F_∞"),
    "ppca": ("A1", "probabilistic PCA, k = 12, maximum likelihood in closed form"),
    "kmeans": ("A1", "K-means: E = ‖y − w_k‖², K = 10, fit on mean F_∞"),
    "sparse": ("A2", "sparse coding, 32 unit atoms, λ = 0.5, fit on mean F_∞ (FISTA)"),
    "vae": ("A2", "VAE: Gaussian decoder, 8 latents, ELBO by fit, IWAE K = 64"),
    "dae": ("C3", "denoising auto-encoder, σ = 0.5, one hidden layer of 64"),
    "pair": ("C2", "joint embedding, square-square pair loss (margin 1)"),
    "infonce": ("C2", "joint embedding, InfoNCE (cosine, β = 10)"),
    "vicreg": ("A2", "joint embedding, VICReg (weights 25/32, 25, 1)"),
    "barlow": ("A2", "joint embedding, Barlow Twins (λ = 0.1)"),
}

LATENT, CLUSTERS, ATOMS, PENALTY, VAE_LATENT, HIDDEN, EMBED = 12, 10, 32, 0.5, 8, 64, 32
LL_DRAWS, IWAE_SAMPLES = 8, 64
#: the views of the joint embeddings (`distort_digits`), ``VIEW_PAIRS`` pairs per digit
VIEW, VIEW_PAIRS = {"max_shift": 1, "flip_prob": 0.05, "thicken_prob": 0.2}, 4
EMBEDDINGS = ("pair", "infonce", "vicreg", "barlow")


@dataclass
class DigitsData:
    """Binary training and held-out digits, (n, 64) floats, with int32 labels."""

    train: jax.Array
    train_labels: jax.Array
    test: jax.Array
    test_labels: jax.Array


@dataclass
class FamilyResult:
    """One trained method and its held-out scores (``None`` where the model defines none)."""

    name: str
    family: str
    description: str
    seconds: float
    check: str = ""
    reconstruction: float | None = None
    free_energy: float | None = None
    log_likelihood: float | None = None
    log_likelihood_stderr: float | None = None
    probe_accuracy: float | None = None
    effective_rank: float | None = None
    atoms: np.ndarray | None = field(default=None, repr=False)
    embedding: np.ndarray | None = field(default=None, repr=False)

    def summary(self) -> dict:
        """The scores as plain numbers (for ``results.json``)."""
        keys = (
            "family",
            "description",
            "seconds",
            "check",
            "reconstruction",
            "free_energy",
            "log_likelihood",
            "log_likelihood_stderr",
            "probe_accuracy",
            "effective_rank",
        )
        return {k: getattr(self, k) for k in keys}


def run_family(name: str, data: DigitsData, *, num_steps: int, batch_size: int, lr, key):
    """Train ``name`` (a key of `FAMILY_METHODS`) on ``data.train`` and score it; ``lr`` is
    Adam's learning rate (a number or an optax schedule)."""
    print(f"[{name}] {FAMILY_METHODS[name][1]}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    train = dict(num_steps=num_steps, batch_size=min(batch_size, data.train.shape[0]), lr=lr)
    result = _METHODS[name](data, key, **train)
    family, description = FAMILY_METHODS[name]
    result.update(seconds=time.perf_counter() - t0)
    return FamilyResult(name=name, family=family, description=description, **result)


def _fit(objective, params, data, key, *, num_steps, batch_size, lr):
    return fit(
        objective,
        params,
        data,
        optax.adam(lr),
        key=key,
        num_steps=num_steps,
        batch_size=batch_size,
        progress=False,
    ).params


def _mean_sq(a, b) -> float:
    return float(jnp.mean(jnp.sum((a - b) ** 2, axis=-1)))


def _mc_mean(draws) -> tuple[float, float]:
    """Mean over examples and R draws (n, R), and the Monte Carlo standard error of that mean
    over the draws alone: √(Σᵢ Var_r(ℓᵢ)/R)/n (the held-out set is fixed, as for the RBMs)."""
    draws = np.asarray(draws)
    n, r = draws.shape
    return float(draws.mean()), float(np.sqrt(draws.var(axis=1, ddof=1).sum() / r) / n)


# ---- A1: PCA, probabilistic PCA, K-means ------------------------------------------------------


def _pca(data, key, **train):
    k_init, k_fit = jax.random.split(key)
    mean = data.train.mean(0)
    W0 = 0.1 * jax.random.normal(k_init, (data.train.shape[1], LATENT))
    W = _fit(free_energy_loss(), PCAEnergy(W0), data.train - mean, k_fit, **train).W
    model = PCAEnergy(W)
    top = np.linalg.svd(np.asarray(data.train - mean), full_matrices=False)[2][:LATENT].T
    f_inf = float(jnp.mean(model.free_energy(data.test - mean)))
    svd_f = _mean_sq(data.test - mean, (data.test - mean) @ top @ top.T)
    max_angle = float(np.max(scipy.linalg.subspace_angles(np.asarray(W), top)))
    return {
        "reconstruction": _mean_sq(data.test, mean + model.reconstruct(data.test - mean)),
        "free_energy": f_inf,
        "check": f"largest principal angle to the SVD subspace {max_angle:.3f} "
        f"rad; held-out F_∞ {f_inf:.3f} vs the SVD's {svd_f:.3f}",
        "atoms": np.asarray(jnp.linalg.qr(W)[0].T),
    }


def _dequantise(key, x, copies: int = 1):
    """y = x + u, u ~ U[0, 1)^d, ``copies`` draws stacked: (copies·n, d)."""
    u = jax.random.uniform(key, (copies, *x.shape), dtype=x.dtype)
    return (x[None] + u).reshape(-1, x.shape[-1])


def ppca_fit(y, k: int):
    """Maximum-likelihood probabilistic PCA (Tipping & Bishop 1999) of data y (n, d).

    With S = U Λ Uᵀ the covariance of y (1/(n − 1)), s² = mean of the d − k smallest
    eigenvalues and W = U_k (Λ_k − s²I)^{1/2} maximise the likelihood of N(μ, WWᵀ + s²I),
    μ = mean y, exactly (W up to a rotation). Returns ``(mu, W, s2)``.
    """
    mu = y.mean(0)
    lam, U = jnp.linalg.eigh(jnp.cov(y, rowvar=False))
    lam, U = lam[::-1], U[:, ::-1]
    s2 = jnp.mean(lam[k:])
    return mu, U[:, :k] * jnp.sqrt(lam[:k] - s2), s2


def gaussian_log_density(mu, cov, y) -> jax.Array:
    """log N(y; μ, C) for each row of y (`GaussianBase.log_prob` with L = cholesky(C))."""
    return jax.vmap(GaussianBase(mu, jnp.linalg.cholesky(cov)).log_prob)(y)


def _ppca(data, key, **train):
    k_train, k_test = jax.random.split(key)
    y = _dequantise(k_train, data.train)
    mu, W, s2 = ppca_fit(y, LATENT)
    cov = W @ W.T + s2 * jnp.eye(W.shape[0])
    y_test = _dequantise(k_test, data.test, LL_DRAWS).reshape(LL_DRAWS, -1, W.shape[0])
    ll, se = _mc_mean(jax.vmap(lambda yy: gaussian_log_density(mu, cov, yy))(y_test).T)
    ll_train = float(jnp.mean(gaussian_log_density(mu, cov, y)))
    # reconstruction: the posterior mean of the cell centre x + ½, shifted back
    M = W.T @ W + s2 * jnp.eye(LATENT)
    proj = W @ jnp.linalg.solve(M, W.T)
    recon = mu + (data.test + 0.5 - mu) @ proj.T - 0.5
    return {
        "reconstruction": _mean_sq(data.test, recon),
        "log_likelihood": ll,
        "log_likelihood_stderr": se,
        "check": f"closed-form maximum likelihood (train LL bound {ll_train:.2f}); "
        f"s² = {float(s2):.4f}",
    }


def _kmeans(data, key, **train):
    k_init, k_fit = jax.random.split(key)
    idx = jax.random.choice(k_init, data.train.shape[0], (CLUSTERS,), replace=False)
    centers = _fit(free_energy_loss(), KMeansEnergy(data.train[idx]), data.train, k_fit, **train)
    centers = centers.centers
    d2 = jnp.sum((data.test[:, None] - centers) ** 2, axis=-1)
    nearest = centers[jnp.argmin(d2, axis=1)]
    # one Lloyd step from the fitted centres: a fixed point moves them by ~0
    assign = jnp.argmin(jnp.sum((data.train[:, None] - centers) ** 2, axis=-1), axis=1)
    onehot = jax.nn.one_hot(assign, CLUSTERS, dtype=data.train.dtype)
    counts = onehot.sum(0)
    lloyd = jnp.where(counts[:, None] > 0, onehot.T @ data.train / counts[:, None], centers)
    return {
        "reconstruction": _mean_sq(data.test, nearest),
        "free_energy": float(jnp.mean(jnp.min(d2, axis=1))),
        "check": f"one Lloyd step moves the centres by at most "
        f"{float(jnp.max(jnp.linalg.norm(lloyd - centers, axis=1))):.3f} (a fixed point: 0)",
        "atoms": np.asarray(centers),
    }


# ---- A2: sparse coding, VAE --------------------------------------------------------------------


def _sparse(data, key, **train):
    k_init, k_fit = jax.random.split(key)
    idx = jax.random.choice(k_init, data.train.shape[0], (ATOMS,), replace=False)
    V0 = data.train[idx].T + 0.01 * jax.random.normal(k_init, (data.train.shape[1], ATOMS))
    V = _fit(dictionary_learning_loss(PENALTY), V0, data.train, k_fit, **train)
    model = SparseCodingEnergy(unit_columns(V), PENALTY)
    code = model.encode(data.test, tol=1e-8)
    active = float(jnp.mean(jnp.sum(jnp.abs(code.code) > 0, axis=1)))
    return {
        "reconstruction": _mean_sq(data.test, code.code @ model.W.T),
        "free_energy": float(jnp.mean(code.energy)),
        "check": f"largest violation of the Lasso optimality conditions "
        f"{_lasso_kkt_violation(model.W, data.test, code.code):.1e}; {active:.1f} active "
        f"atoms of {ATOMS} per digit",
        "atoms": np.asarray(model.W.T),
    }


def _lasso_kkt_violation(W, y, z) -> float:
    """max_j of |g_j − λ sign z_j| (z_j ≠ 0) or max(|g_j| − λ, 0) (z_j = 0), g = Wᵀ(y − Wz):
    0 exactly at a minimiser of ½‖y − Wz‖² + λ‖z‖₁."""
    g = (y - z @ W.T) @ W
    active = jnp.abs(z) > 0
    v = jnp.where(active, jnp.abs(g - PENALTY * jnp.sign(z)), jax.nn.relu(jnp.abs(g) - PENALTY))
    return float(jnp.max(v))


def _mlp_init(key, sizes, scale=1.0):
    params = []
    keys = jax.random.split(key, len(sizes) - 1)
    for k, m, n in zip(keys, sizes[:-1], sizes[1:], strict=True):
        params.append({"W": scale * jax.random.normal(k, (n, m)) / math.sqrt(m), "b": jnp.zeros(n)})
    return params


def _mlp(params, x, act=jnp.tanh):
    for layer in params[:-1]:
        x = act(layer["W"] @ x + layer["b"])
    return params[-1]["W"] @ x + params[-1]["b"]


def _vae_energy(params, y, z):
    """E(y, z) = −log p(y, z) = ½‖z‖² + ½Σ((y − D(z))/σ)² + Σ log σ + ((d + k)/2) log 2π."""
    mean = _mlp(params["decoder"], z)
    log_sigma = params["log_sigma"]
    r = (y - mean) * jnp.exp(-log_sigma)
    d, k = y.shape[-1], z.shape[-1]
    return 0.5 * z @ z + 0.5 * r @ r + jnp.sum(log_sigma) + 0.5 * (d + k) * math.log(2 * math.pi)


def _vae_encoder(params, y) -> GaussianBase:
    out = _mlp(params, y)
    return GaussianBase(out[:VAE_LATENT], jnp.diag(jnp.exp(out[VAE_LATENT:])))


def _vae(data, key, **train):
    k_dec, k_enc, k_deq, k_fit, k_test = jax.random.split(key, 5)
    d = data.train.shape[1]
    params = AmortizedParams(
        {
            "decoder": _mlp_init(k_dec, (VAE_LATENT, HIDDEN, d)),
            "log_sigma": jnp.full(d, math.log(0.5)),
        },
        _mlp_init(k_enc, (d, HIDDEN, 2 * VAE_LATENT), scale=0.1),
    )
    objective = amortized_variational(_vae_energy, _vae_encoder, bound="elbo")
    params = _fit(objective, params, _dequantise(k_deq, data.train, 2), k_fit, **train)
    energy, encoder = params

    def bound(yi, k):
        return -iwae_free_energy(
            lambda yy, z: _vae_energy(energy, yy, z),
            lambda yy: _vae_encoder(encoder, yy),
            yi,
            key=k,
            num_samples=IWAE_SAMPLES,
        )

    n = data.test.shape[0]
    k_u, k_z = jax.random.split(k_test)
    y_test = _dequantise(k_u, data.test, LL_DRAWS)
    keys = jax.random.split(k_z, y_test.shape[0])
    draws = jax.vmap(bound)(y_test, keys).reshape(LL_DRAWS, n).T
    ll, se = _mc_mean(draws)
    elbo = float(
        -jnp.mean(
            jax.vmap(lambda yi, k: objective.free_energy(params, yi, k))(y_test[:n], keys[:n])
        )
    )
    mean_z = jax.vmap(lambda x: _vae_encoder(encoder, x + 0.5).mean)(data.test)
    recon = jax.vmap(lambda z: _mlp(energy["decoder"], z))(mean_z) - 0.5
    return {
        "reconstruction": _mean_sq(data.test, recon),
        "log_likelihood": ll,
        "log_likelihood_stderr": se,
        "check": f"IWAE (K = {IWAE_SAMPLES}) bound {ll:.2f} ≥ ELBO {elbo:.2f}, as it must be",
    }


# ---- C3: denoising auto-encoder ------------------------------------------------------------------

DAE_SIGMA = 0.5


def _dae_reconstruct(params, x):
    return jax.nn.sigmoid(_mlp(params, x))


def _dae(data, key, **train):
    k_init, k_fit, k_noise = jax.random.split(key, 3)
    params = _mlp_init(k_init, (data.train.shape[1], HIDDEN, data.train.shape[1]))
    params = _fit(
        denoising_autoencoder(_dae_reconstruct, sigma=DAE_SIGMA), params, data.train, k_fit, **train
    )
    recon = jax.vmap(lambda x: _dae_reconstruct(params, x))
    noisy = data.test + DAE_SIGMA * jax.random.normal(k_noise, data.test.shape)
    denoised = _mean_sq(data.test, recon(noisy))
    mean_only = _mean_sq(data.test, data.train.mean(0))
    return {
        "reconstruction": _mean_sq(data.test, recon(data.test)),
        "check": f"denoises σ = {DAE_SIGMA} noise to {denoised:.2f} (noisy input "
        f"{_mean_sq(data.test, noisy):.2f}; the mean digit {mean_only:.2f})",
    }


# ---- joint embeddings ----------------------------------------------------------------------------


def _encoder(params, x):
    """Enc(x) = W₂ tanh(W₁x + b₁) + b₂, 64 → 128 → 32."""
    return _mlp(params, x)


def _views(key, x):
    """``VIEW_PAIRS`` pairs of independent `distort_digits` views of every digit."""
    k1, k2 = jax.random.split(key)
    tiled = jnp.tile(x, (VIEW_PAIRS, 1))
    return distort_digits(k1, tiled, **VIEW), distort_digits(k2, tiled, **VIEW)


def _embedding_scores(params, data) -> dict:
    embed = jax.vmap(lambda x: _encoder(params, x))
    z, z_test = embed(data.train), embed(data.test)
    diag = collapse_diagnostics(z_test)
    centred = np.asarray(z_test - z_test.mean(0))
    top2 = np.linalg.svd(centred, full_matrices=False)[2][:2].T
    return {
        "probe_accuracy": float(
            linear_probe_accuracy(z, data.train_labels, z_test, data.test_labels)
        ),
        "effective_rank": float(diag.effective_rank),
        "embedding": centred @ top2,
        "check": f"smallest per-dimension std {float(diag.min_std):.2e} (collapse: 0)",
    }


def _embed_fit(objective, batches, data, key, **train):
    k_init, k_fit = jax.random.split(key)
    params = _mlp_init(k_init, (data.train.shape[1], 2 * HIDDEN, EMBED))
    return _embedding_scores(_fit(objective, params, batches, k_fit, **train), data)


def _pair(data, key, **train):
    k_views, k_perm, k_fit = jax.random.split(key, 3)
    x, y = _views(k_views, data.train)
    n = x.shape[0]
    other = y[jax.random.permutation(k_perm, n)]
    batches = (
        jnp.concatenate([x, x]),
        jnp.concatenate([y, other]),
        jnp.concatenate([jnp.ones(n), jnp.zeros(n)]),
    )
    return _embed_fit(pair_loss(joint_energy(_encoder), margin=1.0), batches, data, k_fit, **train)


def _infonce(data, key, **train):
    k_views, k_fit = jax.random.split(key)
    energy = joint_energy(_encoder, metric="cosine")
    return _embed_fit(
        info_nce(energy, beta=10.0), _views(k_views, data.train), data, k_fit, **train
    )


def _vicreg(data, key, **train):
    k_views, k_fit = jax.random.split(key)
    objective = vicreg(_encoder, invariance_weight=25.0 / EMBED)
    return _embed_fit(objective, _views(k_views, data.train), data, k_fit, **train)


def _barlow(data, key, **train):
    k_views, k_fit = jax.random.split(key)
    objective = barlow_twins(_encoder, redundancy_weight=0.1)
    return _embed_fit(objective, _views(k_views, data.train), data, k_fit, **train)


def raw_pixel_probe(data: DigitsData) -> float:
    """Linear-probe accuracy on the raw pixels: the reference for the embeddings."""
    return float(linear_probe_accuracy(data.train, data.train_labels, data.test, data.test_labels))


_METHODS = {
    "pca": _pca,
    "ppca": _ppca,
    "kmeans": _kmeans,
    "sparse": _sparse,
    "vae": _vae,
    "dae": _dae,
    "pair": _pair,
    "infonce": _infonce,
    "vicreg": _vicreg,
    "barlow": _barlow,
}
