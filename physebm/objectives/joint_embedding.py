"""Joint-embedding (Siamese) energies and their contrastive and non-contrastive criteria.

A shared encoder Enc_θ maps both members of a pair to ℝ^d and a comparison C gives the energy

    E(x, y) = C(Enc_θ(x), Enc_θ(y)),   C ∈ {‖a − b‖ ("euclidean"), ‖a − b‖² ("squared"),
                                            −a·b/(‖a‖‖b‖) ("cosine")}.

[`joint_energy`][] builds it as ``energy_fn(params, x, y)``, so every conditional objective takes
it; the criteria:

* [`pair_loss`][] (Hadsell, Chopra & LeCun 2006, the square-square loss of LeCun et al. 2006):
  batch ``(x, y, similar)``, ℓ = s·E² + (1 − s)·max(0, m − E)²: similar pairs pulled together,
  dissimilar ones pushed past the margin m.
* InfoNCE: [`info_nce`][physebm.objectives.nce.info_nce] with
  ``joint_energy(..., metric="cosine")`` and β = 1/τ (the other pairs of the batch are the
  negatives).
* [`vicreg`][] (Bardes, Ponce & LeCun 2022), non-contrastive: invariance, a variance hinge and a
  covariance penalty on the two batches of embeddings, with the paper's weights 25/25/1.
* [`barlow_twins`][] (Zbontar, Jing, Misra, LeCun & Deny 2021), non-contrastive: the
  cross-correlation matrix of the two batch-standardised embeddings pushed towards the
  identity, (1 − C_ii)² on its diagonal and λ C_ij² off it.

Without the variance and covariance terms (``vicreg(variance_weight=0, covariance_weight=0)``, pure
invariance) nothing stops every input from mapping to one point (Barlow Twins' diagonal term
rules it out: a constant embedding has C = 0 and pays d): [`collapse_diagnostics`][]
reports the per-dimension spread and the effective rank of a batch of embeddings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp

from physebm.objectives.base import (
    Objective,
    check_choice,
    check_real,
    split_weights,
    weighted_mean,
)

__all__ = [
    "METRICS",
    "BarlowTwins",
    "BarlowTwinsTerms",
    "CollapseDiagnostics",
    "JointEnergy",
    "PairLoss",
    "VICReg",
    "VICRegTerms",
    "barlow_twins",
    "barlow_twins_terms",
    "collapse_diagnostics",
    "compare",
    "joint_energy",
    "linear_probe_accuracy",
    "pair_loss",
    "vicreg",
    "vicreg_terms",
]

METRICS = ("euclidean", "squared", "cosine")


def _call_params(params, x):
    return params(x)


def _safe_norm(v):
    """‖v‖ with a zero (not NaN) gradient at v = 0."""
    sq = jnp.sum(v**2)
    positive = sq > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


def compare(a, b, metric: str) -> jax.Array:
    """C(a, b): ‖a − b‖, ‖a − b‖² or −a·b/(‖a‖‖b‖) (0 when either is 0)."""
    a, b = jnp.ravel(a), jnp.ravel(b)
    if metric == "euclidean":
        return _safe_norm(a - b)
    if metric == "squared":
        return jnp.sum((a - b) ** 2)
    norms = _safe_norm(a) * _safe_norm(b)
    return -jnp.dot(a, b) / jnp.where(norms > 0, norms, 1.0)


class JointEnergy(eqx.Module):
    """E(params, x, y) = C(Enc(params, x), Enc(params, y)) with one shared encoder."""

    encoder_fn: Callable = eqx.field(static=True)
    metric: str = eqx.field(static=True)

    def embed(self, params, x) -> jax.Array:
        """Enc(params, xᵢ) for every example of the batch ``x``: shape (n, d)."""
        z = jax.vmap(lambda xi: jnp.ravel(self.encoder_fn(params, xi)))(x)
        return z

    def __call__(self, params, x, y) -> jax.Array:
        return compare(self.encoder_fn(params, x), self.encoder_fn(params, y), self.metric)


def joint_energy(encoder_fn: Callable | None = None, *, metric: str = "euclidean") -> JointEnergy:
    """The joint-embedding energy ``energy_fn(params, x, y)`` = C(Enc(x), Enc(y)).

    Args:
        encoder_fn: ``encoder_fn(params, x) -> embedding`` for ONE input (flattened to ℝ^d);
            ``None`` calls ``params(x)``.
        metric: ``"euclidean"`` ‖a − b‖ (Hadsell et al.'s D_W), ``"squared"`` ‖a − b‖²,
            ``"cosine"`` −cos(a, b) (with β = 1/τ in InfoNCE: the SimCLR/CLIP logits).
    """
    if encoder_fn is not None and not callable(encoder_fn):
        raise TypeError(
            "encoder_fn must be a callable encoder_fn(params, x) -> embedding (or None), got "
            f"{type(encoder_fn).__name__}"
        )
    return JointEnergy(
        _call_params if encoder_fn is None else encoder_fn, check_choice(metric, "metric", METRICS)
    )


def _as_joint(energy, name="energy"):
    if not isinstance(energy, JointEnergy):
        raise TypeError(f"{name} must be a JointEnergy (from joint_energy), got {energy!r}")
    return energy


class PairLoss(Objective):
    """L = wmean_i [sᵢ E(xᵢ, yᵢ)² + (1 − sᵢ) max(0, m − E(xᵢ, yᵢ))²]."""

    energy: JointEnergy
    margin: jax.Array

    def loss(self, params, batch, key, state):
        data, w = split_weights(batch)
        if not (isinstance(data, tuple) and len(data) == 3):
            raise ValueError("pair_loss needs batches (x, y, similar): pairs and 0/1 labels")
        x, y, similar = data
        e = jax.vmap(lambda xi, yi: self.energy(params, xi, yi))(x, y)
        s = jnp.asarray(similar, e.dtype)
        per = s * e**2 + (1 - s) * jax.nn.relu(self.margin - e) ** 2
        n_pos, n_neg = jnp.sum(s), jnp.sum(1 - s)
        aux = {
            "energy_similar": jnp.sum(s * e) / jnp.maximum(n_pos, 1),
            "energy_dissimilar": jnp.sum((1 - s) * e) / jnp.maximum(n_neg, 1),
            "margin_met": jnp.sum((1 - s) * (e >= self.margin)) / jnp.maximum(n_neg, 1),
        }
        return weighted_mean(per, w), (state, aux)


def pair_loss(energy: JointEnergy, *, margin=1.0) -> PairLoss:
    """Hadsell et al. (2006) contrastive pair loss on a `JointEnergy` (from `joint_energy`).

    Batch ``(x, y, similar)`` with ``similar`` 1 for pairs that should match, 0 otherwise;
    loss mean_i [sᵢ Eᵢ² + (1 − sᵢ) max(0, m − Eᵢ)²] (the paper's ½ factors dropped: the
    square-square loss of `physebm.objectives.margin` with E_C = E of a similar pair and E_I of
    a dissimilar one). Use ``metric="euclidean"`` for the paper's energy D_W = ‖G(x) − G(y)‖.
    Gradient: 2E∇E on similar pairs; −2(m − E)∇E on dissimilar pairs closer than m; none
    beyond it.
    """
    return PairLoss(_as_joint(energy), check_real(margin, "margin", positive=True))


def _two_view_embeddings(encoder_fn, params, batch, name):
    """(Enc(x), Enc(y)), each (n, d), of a batch ``(x, y)`` of two views (n ≥ 2, unweighted)."""
    data, w = split_weights(batch)
    if w is not None:
        raise ValueError(f"{name} takes no Weighted batches (its terms are batch statistics)")
    if not (isinstance(data, tuple) and len(data) == 2):
        raise ValueError(f"{name} needs batches (x, y) of two views of the same examples")
    x, y = data
    if jnp.shape(jax.tree.leaves(x)[0])[0] < 2:
        raise ValueError(f"{name} needs at least 2 examples per batch (a batch variance)")
    embed = JointEnergy(encoder_fn, "squared").embed
    return embed(params, x), embed(params, y)


def _check_encoder(encoder_fn):
    if encoder_fn is not None and not callable(encoder_fn):
        raise TypeError(f"encoder_fn must be callable or None, got {type(encoder_fn).__name__}")
    return _call_params if encoder_fn is None else encoder_fn


class VICRegTerms(NamedTuple):
    """s(Z, Z'), v(Z) + v(Z'), c(Z) + c(Z') (unweighted)."""

    invariance: jax.Array
    variance: jax.Array
    covariance: jax.Array


def vicreg_terms(z, z_prime, *, gamma=1.0, epsilon=1e-4) -> VICRegTerms:
    """The three VICReg terms of two (n, d) batches of embeddings (formulas in [`vicreg`][])."""
    n, d = z.shape
    invariance = jnp.sum((z - z_prime) ** 2) / n

    def variance(a):
        std = jnp.sqrt(jnp.var(a, axis=0, ddof=1) + epsilon)
        return jnp.mean(jax.nn.relu(gamma - std))

    def covariance(a):
        centred = a - jnp.mean(a, axis=0)
        cov = centred.T @ centred / (n - 1)
        return (jnp.sum(cov**2) - jnp.sum(jnp.diag(cov) ** 2)) / d

    return VICRegTerms(
        invariance,
        variance(z) + variance(z_prime),
        covariance(z) + covariance(z_prime),
    )


class VICReg(Objective):
    """L = λ s(Z, Z') + μ[v(Z) + v(Z')] + ν[c(Z) + c(Z')] over the batch (see [`vicreg`][])."""

    encoder_fn: Callable = eqx.field(static=True)
    invariance_weight: jax.Array
    variance_weight: jax.Array
    covariance_weight: jax.Array
    gamma: jax.Array
    epsilon: jax.Array

    def loss(self, params, batch, key, state):
        z, z_prime = _two_view_embeddings(self.encoder_fn, params, batch, "vicreg")
        t = vicreg_terms(z, z_prime, gamma=self.gamma, epsilon=self.epsilon)
        value = (
            self.invariance_weight * t.invariance
            + self.variance_weight * t.variance
            + self.covariance_weight * t.covariance
        )
        aux = {
            "invariance": t.invariance,
            "variance": t.variance,
            "covariance": t.covariance,
            "mean_std": jnp.mean(jnp.std(z, axis=0, ddof=1)),
        }
        return value, (state, aux)


def vicreg(
    encoder_fn: Callable | None = None,
    *,
    invariance_weight=25.0,
    variance_weight=25.0,
    covariance_weight=1.0,
    gamma=1.0,
    epsilon=1e-4,
) -> VICReg:
    """VICReg (Bardes, Ponce & LeCun 2022, eqs. 1–6) on batches ``(x, y)`` of paired views.

    With Z, Z' the (n, d) embeddings Enc(x), Enc(y):

    * invariance s(Z, Z') = (1/n) Σᵢ ‖zᵢ − z'ᵢ‖²;
    * variance v(Z) = (1/d) Σ_j max(0, γ − √(Var(z_·j) + ε)), Var with 1/(n − 1);
    * covariance c(Z) = (1/d) Σ_{j≠k} C(Z)²_jk, C(Z) = (1/(n − 1)) Σᵢ (zᵢ − z̄)(zᵢ − z̄)ᵀ;

    L = λ s + μ[v(Z) + v(Z')] + ν[c(Z) + c(Z')], defaults λ = μ = 25, ν = 1, γ = 1, ε = 1e-4 (the
    paper's). (Its reference code divides s by d as well and halves the variance term; the paper's
    formulas are used here.) μ = ν = 0 is pure invariance, which collapses.

    Args:
        encoder_fn: ``encoder_fn(params, x) -> embedding`` for one input; ``None``: ``params(x)``.
        invariance_weight, variance_weight, covariance_weight: λ, μ, ν ≥ 0.
        gamma: target standard deviation γ > 0 of each embedding dimension.
        epsilon: ε > 0 inside the square root (keeps the gradient finite at zero variance).
    """
    return VICReg(
        _check_encoder(encoder_fn),
        check_real(invariance_weight, "invariance_weight", nonnegative=True),
        check_real(variance_weight, "variance_weight", nonnegative=True),
        check_real(covariance_weight, "covariance_weight", nonnegative=True),
        check_real(gamma, "gamma", positive=True),
        check_real(epsilon, "epsilon", positive=True),
    )


class BarlowTwinsTerms(NamedTuple):
    """Σ_i (1 − C_ii)² and Σ_{i≠j} C_ij² of the cross-correlation C (unweighted)."""

    invariance: jax.Array
    redundancy: jax.Array


def barlow_twins_terms(z, z_prime, *, epsilon=1e-5) -> BarlowTwinsTerms:
    """The two Barlow Twins terms of two (n, d) batches of embeddings.

    Ẑ_·i = (Z_·i − mean Z_·i) / √(Var Z_·i + ε) (Var with 1/n), likewise Ẑ'; C = ẐᵀẐ'/n;
    invariance Σ_i (1 − C_ii)², redundancy Σ_{i≠j} C_ij² (see [`barlow_twins`][]).
    """
    n = z.shape[0]

    def standardise(a):
        centred = a - jnp.mean(a, axis=0)
        return centred / jnp.sqrt(jnp.mean(centred**2, axis=0) + epsilon)

    c = standardise(z).T @ standardise(z_prime) / n
    diag = jnp.diag(c)
    return BarlowTwinsTerms(jnp.sum((1 - diag) ** 2), jnp.sum(c**2) - jnp.sum(diag**2))


class BarlowTwins(Objective):
    """L = Σ_i (1 − C_ii)² + λ Σ_{i≠j} C_ij² over the batch (see [`barlow_twins`][])."""

    encoder_fn: Callable = eqx.field(static=True)
    redundancy_weight: jax.Array
    epsilon: jax.Array

    def loss(self, params, batch, key, state):
        z, z_prime = _two_view_embeddings(self.encoder_fn, params, batch, "barlow_twins")
        t = barlow_twins_terms(z, z_prime, epsilon=self.epsilon)
        aux = {
            "invariance": t.invariance,
            "redundancy": t.redundancy,
            "mean_std": jnp.mean(jnp.std(z, axis=0, ddof=1)),
        }
        return t.invariance + self.redundancy_weight * t.redundancy, (state, aux)


def barlow_twins(
    encoder_fn: Callable | None = None, *, redundancy_weight=5e-3, epsilon=1e-5
) -> BarlowTwins:
    """Barlow Twins (Zbontar, Jing, Misra, LeCun & Deny 2021, eq. 1) on batches ``(x, y)``.

    With Z, Z' the (n, d) embeddings Enc(x), Enc(y), each column standardised over the batch,

        Ẑ_·i = (Z_·i − mean Z_·i) / √(Var Z_·i + ε)   (Var with 1/n, as batch normalisation),

    and the d × d cross-correlation C = Ẑᵀ Ẑ' / n,

        L = Σ_i (1 − C_ii)² + λ Σ_i Σ_{j≠i} C_ij².

    The first (invariance) term makes the two views' standardised embeddings agree; the second
    (redundancy reduction) decorrelates the dimensions. L = 0 (up to ε) exactly when C = I:
    identical views whose standardised columns are orthonormal. A collapsed (constant)
    embedding has Ẑ = 0, C = 0 and L = d, so unlike pure invariance it is not a minimum.
    Defaults: λ = 5e-3 and ε = 1e-5 (the paper's, and its code's batch normalisation).

    Args:
        encoder_fn: ``encoder_fn(params, x) -> embedding`` for one input; ``None``: ``params(x)``.
        redundancy_weight: λ ≥ 0 on the off-diagonal term.
        epsilon: ε > 0 added to each batch variance (keeps the gradient finite at zero
            variance).

    Raises:
        TypeError: an ``encoder_fn`` that is not callable, or a non-numeric weight.
        ValueError: a negative ``redundancy_weight`` or an ``epsilon`` ≤ 0; at loss time, a
            batch that is not a pair ``(x, y)``, a ``Weighted`` batch or fewer than 2 examples.
    """
    return BarlowTwins(
        _check_encoder(encoder_fn),
        check_real(redundancy_weight, "redundancy_weight", nonnegative=True),
        check_real(epsilon, "epsilon", positive=True),
    )


class CollapseDiagnostics(NamedTuple):
    """Spread of a batch of embeddings (n, d).

    Attributes:
        std: (d,) per-dimension standard deviation (1/(n − 1)).
        min_std: the smallest of them (→ 0 under dimensional or complete collapse).
        singular_values: (min(n, d),) of the (centred) embedding matrix, descending.
        effective_rank: exp(−Σ_k p_k log p_k), p_k = σ_k / Σ σ (Roy & Vetterli 2007): 1 for
            rank-one embeddings, d for d equal singular values; 0 when every σ is 0.
    """

    std: jax.Array
    min_std: jax.Array
    singular_values: jax.Array
    effective_rank: jax.Array


def collapse_diagnostics(embeddings, *, center: bool = True) -> CollapseDiagnostics:
    """Per-dimension spread and effective rank of embeddings (n ≥ 2, d); ``center`` subtracts
    the batch mean before the singular values (a common offset is not spread)."""
    z = jnp.asarray(embeddings)
    if z.ndim != 2 or z.shape[0] < 2:
        raise ValueError(f"embeddings must have shape (n >= 2, d), got {z.shape}")
    std = jnp.std(z, axis=0, ddof=1)
    a = z - jnp.mean(z, axis=0) if center else z
    sv = jnp.linalg.svd(a, compute_uv=False)
    total = jnp.sum(sv)
    p = sv / jnp.where(total > 0, total, 1.0)
    entropy = -jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0))
    rank = jnp.where(total > 0, jnp.exp(entropy), 0.0)
    return CollapseDiagnostics(std, jnp.min(std), sv, rank)


def linear_probe_accuracy(
    train_embeddings, train_labels, test_embeddings, test_labels, *, ridge=1e-3
):
    """Test accuracy of a ridge-regression linear probe on frozen embeddings.

    With Z̄ = [Z, 1] (train embeddings and a bias column) and one-hot targets Y (classes
    0..K−1, K = max label + 1), B = (Z̄ᵀZ̄ + λI)⁻¹Z̄ᵀY (λ = ``ridge`` · n, the bias
    unpenalised); a test point is assigned argmax_k [z, 1]·B_k. A closed form: no optimiser,
    no randomness.

    Raises:
        ValueError: embeddings that are not (n, d) with one integer label per row.
    """
    ridge = check_real(ridge, "ridge", nonnegative=True)
    parts = []
    for z, y, name in (
        (train_embeddings, train_labels, "train"),
        (test_embeddings, test_labels, "test"),
    ):
        z, y = jnp.asarray(z), jnp.asarray(y)
        if z.ndim != 2 or y.shape != (z.shape[0],) or not jnp.issubdtype(y.dtype, jnp.integer):
            raise ValueError(
                f"{name}_embeddings must be (n, d) and {name}_labels (n,) integers, got "
                f"{z.shape} and {y.shape} {y.dtype}"
            )
        parts.append((jnp.concatenate([z, jnp.ones((z.shape[0], 1), z.dtype)], axis=1), y))
    (a, y), (a_test, y_test) = parts
    num_classes = int(jnp.maximum(jnp.max(y), jnp.max(y_test))) + 1
    penalty = ridge * a.shape[0] * jnp.eye(a.shape[1]).at[-1, -1].set(0.0)
    b = jnp.linalg.solve(a.T @ a + penalty, a.T @ jax.nn.one_hot(y, num_classes, dtype=a.dtype))
    return jnp.mean(jnp.argmax(a_test @ b, axis=1) == y_test)
