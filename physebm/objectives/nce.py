"""Noise-contrastive estimation: NCE with a learned log-normaliser, ranking NCE, InfoNCE.

NCE (Gutmann & Hyvärinen 2010, 2012). With noise p_n (exactly normalised, covering the data)
and ν noise samples per data point, the logit of "data vs noise" is

    a(u) = −β E_θ(u) + c − log p_n(u) − log ν,
    L(θ, c) = E_data softplus(−a(x)) + ν E_noise softplus(a(y)),

a logistic regression whose optimum, in a well-specified family, is p_θ = p_data with
c = −log Z_θ: NCE learns the normaliser. Everything goes through softplus (never log σ).

Ranking NCE (Jozefowicz et al. 2016; Ma & Collins 2018): K noise samples y₁..y_K per data
point y₀ = x⁺, a_k = −βE(y_k) − log p_n(y_k), L = −a₀ + logsumexp_k a_k; c cancels, so log Z is
not learned. InfoNCE (van den Oord et al. 2018) for conditional energies E(x, y): the other
answers in the batch are the negatives, L = −log softmax_j(−βE(xᵢ, y_j))_{j=i}.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp

from physebm.objectives.base import (
    Objective,
    batch_energy,
    check_count,
    check_energy_fn,
    check_real,
    num_examples,
    split_weights,
    weighted_mean,
)
from physebm.validation import check_beta

__all__ = [
    "NCEParams",
    "Noise",
    "gaussian_noise",
    "info_nce",
    "nce",
    "nce_params",
    "ranking_nce",
]


class Noise(NamedTuple):
    """A noise distribution with exact log density.

    Attributes:
        sample_fn: ``sample_fn(key, num) -> (num, ...)`` samples.
        log_prob_fn: ``log_prob_fn(y) -> scalar`` normalised log density of ONE sample.
    """

    sample_fn: Callable
    log_prob_fn: Callable


class NCEParams(NamedTuple):
    """Parameters trained by NCE with a learned normaliser: the energy's params and c ≈ −log Z."""

    energy: Any
    c: jax.Array


def nce_params(params, c=0.0) -> NCEParams:
    """Attach a learned log-normaliser c (initial value ``c``) to energy params for [`nce`][]."""
    return NCEParams(params, check_real(c, "c"))


def gaussian_noise(mean=None, cov=None, *, data=None, jitter: float = 1e-6) -> Noise:
    """Gaussian noise N(μ, Σ), given (``mean``, ``cov``) or fitted to ``data`` (N, d).

    Fitted: μ = sample mean, Σ = sample covariance (1/N) + ``jitter``·I (Σ must be PD).
    """
    if data is not None:
        if mean is not None or cov is not None:
            raise ValueError("give either data= or mean=/cov= to gaussian_noise, not both")
        data = jnp.asarray(data, dtype=jnp.result_type(float))
        if data.ndim != 2 or data.shape[0] < 2:
            raise ValueError(f"data must be an (N >= 2, d) array, got shape {data.shape}")
        mean = jnp.mean(data, 0)
        centred = data - mean
        cov = centred.T @ centred / data.shape[0] + jitter * jnp.eye(data.shape[1])
    if mean is None or cov is None:
        raise ValueError("gaussian_noise needs mean= and cov= (or data= to fit them)")
    mean = jnp.atleast_1d(jnp.asarray(mean, dtype=jnp.result_type(float)))
    cov = jnp.asarray(cov, dtype=mean.dtype)
    dim = mean.shape[0]
    if mean.ndim != 1 or cov.shape != (dim, dim):
        raise ValueError(f"mean must be (d,) and cov (d, d), got {mean.shape} and {cov.shape}")
    chol = jnp.linalg.cholesky(cov)
    if not isinstance(chol, jax.core.Tracer) and not bool(jnp.all(jnp.isfinite(chol))):
        raise ValueError("cov must be symmetric positive definite")
    log_norm = jnp.sum(jnp.log(jnp.diag(chol))) + 0.5 * dim * jnp.log(2 * jnp.pi)

    def sample_fn(key, num):
        return mean + jax.random.normal(key, (num, dim), mean.dtype) @ chol.T

    def log_prob_fn(y):
        z = jax.scipy.linalg.solve_triangular(chol, y - mean, lower=True)
        return -0.5 * z @ z - log_norm

    return Noise(sample_fn, log_prob_fn)


def _check_noise(noise, data) -> Noise:
    if noise is None:
        if data is None:
            raise ValueError("give noise= (a Noise) or data= to fit the default Gaussian noise")
        return gaussian_noise(data=data)
    if data is not None:
        raise ValueError("give either noise= or data= (to fit a Gaussian noise), not both")
    if not (
        isinstance(noise, Noise)
        or (
            callable(getattr(noise, "sample_fn", None))
            and callable(getattr(noise, "log_prob_fn", None))
        )
    ):
        raise TypeError(
            f"noise must be a Noise(sample_fn, log_prob_fn), got {type(noise).__name__}"
        )
    return noise


class NCE(Objective):
    """L = wmean softplus(−a(x)) + ν mean softplus(a(y)), a = −βE + c − log p_n − log ν.

    Gradient: E_data[(1 − σ(a))∇a] − ν E_noise[σ(a)∇a] (logistic regression data vs noise).
    """

    energy_fn: Callable = eqx.field(static=True)
    beta: jax.Array
    noise: Noise = eqx.field(static=True)
    noise_ratio: float = eqx.field(static=True)
    learn_c: bool = eqx.field(static=True)

    def logit(self, energy_params, c, u):
        e = batch_energy(self.energy_fn, energy_params, u)
        log_pn = jax.vmap(self.noise.log_prob_fn)(u)
        return -self.beta * e + c - log_pn - jnp.log(self.noise_ratio)

    def loss(self, params, batch, key, state):
        if self.learn_c:
            if not isinstance(params, NCEParams):
                raise TypeError(
                    "nce(learn_c=True) trains NCEParams(energy, c); wrap the params with "
                    "physebm.objectives.nce_params(params)"
                )
            energy_params, c = params.energy, params.c
        else:
            energy_params, c = params, jnp.zeros(())
        x, w = split_weights(batch)
        num_noise = max(1, round(self.noise_ratio * num_examples(x)))
        y = jax.lax.stop_gradient(self.noise.sample_fn(key, num_noise))
        a_data = self.logit(energy_params, c, x)
        a_noise = self.logit(energy_params, c, y)
        loss = weighted_mean(jax.nn.softplus(-a_data), w) + self.noise_ratio * jnp.mean(
            jax.nn.softplus(a_noise)
        )
        accuracy = 0.5 * (
            weighted_mean((a_data > 0).astype(float), w) + jnp.mean((a_noise < 0).astype(float))
        )
        return loss, (state, {"c": c, "classifier_accuracy": accuracy})


def nce(
    energy_fn: Callable | None = None,
    *,
    noise: Noise | None = None,
    data=None,
    noise_ratio: float = 1.0,
    beta=1.0,
    learn_c: bool = True,
) -> NCE:
    """Noise-contrastive estimation with a learned log-normaliser c.

    Loss L = wmean_x softplus(−a(x)) + ν mean_y softplus(a(y)), y ~ p_n (ν·batch samples,
    stop_gradient), a(u) = −βE_θ(u) + c − log p_n(u) − log ν. Gradient (logistic regression):
    ∇L = −E_data[σ(−a)∇a] + ν E_noise[σ(a)∇a], zero (population) where exp(−βE_θ + c) =
    p_data, i.e. the model matches the data and c = −log Z_θ.

    Args:
        energy_fn: ``energy_fn(params, x) -> scalar``; ``None`` calls ``params(x)``.
        noise: a [`Noise`][] with exact normalised log density covering the data.
        data: instead of ``noise``, (N, d) data to fit the default Gaussian noise to.
        noise_ratio: ν > 0, noise samples per data sample (a Python number: it sets shapes).
        beta: inverse temperature β > 0.
        learn_c: train c (params must be [`NCEParams`][], see [`nce_params`][]); with
            ``False`` the energy must be self-normalised (c = 0).
    """
    if isinstance(noise_ratio, bool) or not isinstance(noise_ratio, int | float):
        raise TypeError(f"noise_ratio must be a positive Python number, got {noise_ratio!r}")
    return NCE(
        check_energy_fn(energy_fn),
        check_beta(beta, scalar=True),
        _check_noise(noise, data),
        float(check_real(noise_ratio, "noise_ratio", positive=True)),
        bool(learn_c),
    )


class RankingNCE(Objective):
    """L = mean_i[−a₀ + logsumexp_{k=0..K} a_k], a_k = −βE(y_k) − log p_n(y_k), y₀ = xᵢ.

    Gradient: β(∇E(x) − Σ_k softmax(a)_k ∇E(y_k)), a self-normalised importance estimate of the
    ML gradient; c cancels, so log Z is not learned.
    """

    energy_fn: Callable = eqx.field(static=True)
    beta: jax.Array
    noise: Noise = eqx.field(static=True)
    num_noise: int = eqx.field(static=True)

    def loss(self, params, batch, key, state):
        x, w = split_weights(batch)
        size = num_examples(x)
        y = jax.lax.stop_gradient(self.noise.sample_fn(key, size * self.num_noise))

        def logits(u):
            return -self.beta * batch_energy(self.energy_fn, params, u) - jax.vmap(
                self.noise.log_prob_fn
            )(u)

        a0 = logits(x)
        a = logits(y).reshape(size, self.num_noise)
        per = -a0 + jax.nn.logsumexp(jnp.concatenate([a0[:, None], a], axis=1), axis=1)
        return weighted_mean(per, w), (state, {})


def ranking_nce(
    energy_fn: Callable | None = None,
    *,
    noise: Noise | None = None,
    data=None,
    num_noise: int = 16,
    beta=1.0,
) -> RankingNCE:
    """Ranking NCE with K = ``num_noise`` noise samples per data point (see `RankingNCE`).

    Loss mean_i[−a₀ + logsumexp_k a_k], a_k = −βE(y_k) − log p_n(y_k); gradient
    β(∇E(x) − Σ_k w_k ∇E(y_k)), w = softmax(a). The normaliser is not identified.
    """
    return RankingNCE(
        check_energy_fn(energy_fn),
        check_beta(beta, scalar=True),
        _check_noise(noise, data),
        check_count(num_noise, "num_noise"),
    )


class InfoNCE(Objective):
    """L = mean_i[βE(xᵢ, yᵢ) + log Σ_j exp(−βE(xᵢ, y_j))], j over the batch's answers.

    Gradient: β(∇E(xᵢ, yᵢ) − Σ_j softmax_j(−βE(xᵢ, y_j)) ∇E(xᵢ, y_j)).
    """

    energy_fn: Callable = eqx.field(static=True)
    beta: jax.Array

    def loss(self, params, batch, key, state):
        (x, y), w = split_weights(batch)
        energies = jax.vmap(
            lambda xi: batch_energy(lambda p, yj: self.energy_fn(p, xi, yj), params, y)
        )(x)
        logits = -self.beta * energies
        per = -jnp.diagonal(logits) + jax.nn.logsumexp(logits, axis=1)
        accuracy = jnp.mean(jnp.argmax(logits, axis=1) == jnp.arange(logits.shape[0]))
        return weighted_mean(per, w), (state, {"accuracy": accuracy})


def info_nce(energy_fn: Callable, *, beta=1.0) -> InfoNCE:
    """InfoNCE for a conditional energy ``energy_fn(params, x, y)``: batch ``(x, y)`` pairs.

    Loss mean_i −log softmax_j(−βE(xᵢ, y_j))_i (other answers in the batch are the negatives);
    gradient β(∇E(xᵢ, yᵢ) − E_{softmax}[∇E(xᵢ, y_j)]). Its optimum makes exp(−βE(x, y))
    proportional to p(y | x)/p(y) (van den Oord et al. 2018).
    """
    if not callable(energy_fn):
        raise TypeError("energy_fn must be a callable energy_fn(params, x, y) -> scalar")
    return InfoNCE(energy_fn, check_beta(beta, scalar=True))
