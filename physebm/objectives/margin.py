"""Margin and contrastive losses of LeCun, Chopra, Hadsell, Ranzato & Huang (2006).

Per example the model gives energies ``energies[k]`` to a set of candidate answers, one of which
(index ``correct``) is right. E_C = energies[correct]; E_I is the energy of the MOST OFFENDING
incorrect answer, computed as min over valid k ≠ correct (``mask`` marks which candidates count,
e.g. sampled answers farther than ε from the correct one). Every loss is minimised:

    energy                 E_C
    generalized perceptron E_C − min_k E_k
    hinge                  max(0, m + E_C − E_I)
    log                    log(1 + exp(E_C − E_I))
    LVQ2                   min(M, max(0, E_C − E_I))
    MCE                    σ(E_C − E_I)
    square-square          E_C² + max(0, m − E_I)²
    square-exponential     E_C² + γ exp(−E_I)
    NLL / MMI              E_C + (1/β) log Σ_k exp(−β E_k)
    MEE                    1 − exp(−β E_C) / Σ_k exp(−β E_k)
    general margin         H(E_C, E_I, m), e.g. [F⁺ − F⁻ + m]₊ (LeCun 2020)
    group (InfoNCE-style)  −log(e^{−βE_C} / Σ_k e^{−βE_k}) = β·NLL

[`margin_objective`][] builds the training objective for a conditional energy
``energy_fn(params, x, y)`` over a discrete answer set, or for sampled negatives.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp

from physebm.objectives.base import (
    Objective,
    batch_energy,
    check_energy_fn,
    check_real,
    split_weights,
    stop_gradient,
    weighted_mean,
)
from physebm.validation import check_beta

__all__ = [
    "GENERAL_MARGIN_H",
    "LOSSES",
    "MarginObjective",
    "energy_loss",
    "general_margin_loss",
    "group_loss",
    "hinge_loss",
    "log_loss",
    "lvq2_loss",
    "margin_objective",
    "mce_loss",
    "mee_loss",
    "most_offending",
    "nll_loss",
    "perceptron_loss",
    "square_exponential_loss",
    "square_square_loss",
]


def _valid(energies, mask):
    return jnp.ones(energies.shape, bool) if mask is None else jnp.asarray(mask, bool)


def most_offending(energies, correct, mask=None) -> tuple[jax.Array, jax.Array]:
    """(E_I, index): the lowest energy among valid answers other than ``correct``.

    E_I = +∞ (index of the correct answer) when no incorrect answer is valid.
    """
    k = jnp.arange(energies.shape[-1])
    valid = _valid(energies, mask) & (k != correct)
    candidates = jnp.where(valid, energies, jnp.inf)
    index = jnp.argmin(candidates)
    return candidates[index], jnp.where(valid[index], index, correct)


def _e_c(energies, correct):
    return energies[correct]


def energy_loss(energies, correct, mask=None, **_):
    """L = E_C (no contrastive term: collapses unless the architecture prevents it)."""
    return _e_c(energies, correct)


def perceptron_loss(energies, correct, mask=None, **_):
    """L = E_C − min_k E_k over valid answers (margin 0)."""
    valid = _valid(energies, mask) | (jnp.arange(energies.shape[-1]) == correct)
    return _e_c(energies, correct) - jnp.min(jnp.where(valid, energies, jnp.inf))


def hinge_loss(energies, correct, mask=None, *, margin=1.0, **_):
    """L = max(0, m + E_C − E_I)."""
    e_i, _ = most_offending(energies, correct, mask)
    return jax.nn.relu(margin + _e_c(energies, correct) - e_i)


def log_loss(energies, correct, mask=None, **_):
    """L = log(1 + exp(E_C − E_I)) = softplus(E_C − E_I)."""
    e_i, _ = most_offending(energies, correct, mask)
    return jax.nn.softplus(_e_c(energies, correct) - e_i)


def lvq2_loss(energies, correct, mask=None, *, saturation=1.0, **_):
    """L = min(M, max(0, E_C − E_I)), M = ``saturation``."""
    e_i, _ = most_offending(energies, correct, mask)
    return jnp.minimum(saturation, jax.nn.relu(_e_c(energies, correct) - e_i))


def mce_loss(energies, correct, mask=None, **_):
    """L = σ(E_C − E_I) (minimum classification error)."""
    e_i, _ = most_offending(energies, correct, mask)
    return jax.nn.sigmoid(_e_c(energies, correct) - e_i)


def square_square_loss(energies, correct, mask=None, *, margin=1.0, **_):
    """L = E_C² + max(0, m − E_I)² (for non-negative energies)."""
    e_i, _ = most_offending(energies, correct, mask)
    return _e_c(energies, correct) ** 2 + jax.nn.relu(margin - e_i) ** 2


def square_exponential_loss(energies, correct, mask=None, *, gamma=1.0, **_):
    """L = E_C² + γ exp(−E_I) (for non-negative energies)."""
    e_i, _ = most_offending(energies, correct, mask)
    return _e_c(energies, correct) ** 2 + gamma * jnp.exp(-e_i)


def _log_partition(energies, mask, beta):
    return jax.nn.logsumexp(jnp.where(_valid(energies, mask), -beta * energies, -jnp.inf))


def nll_loss(energies, correct, mask=None, *, beta=1.0, **_):
    """L = E_C + (1/β) log Σ_k exp(−β E_k) (negative log-likelihood / MMI, free energy form)."""
    mask = _valid(energies, mask) | (jnp.arange(energies.shape[-1]) == correct)
    return _e_c(energies, correct) + _log_partition(energies, mask, beta) / beta


def mee_loss(energies, correct, mask=None, *, beta=1.0, **_):
    """L = 1 − exp(−β E_C) / Σ_k exp(−β E_k) (minimum empirical error)."""
    mask = _valid(energies, mask) | (jnp.arange(energies.shape[-1]) == correct)
    return 1.0 - jnp.exp(-beta * _e_c(energies, correct) - _log_partition(energies, mask, beta))


def group_loss(energies, correct, mask=None, *, beta=1.0, **_):
    """L = −log(e^{−βE_C} / Σ_k e^{−βE_k}) (InfoNCE-style group loss; = β·NLL)."""
    return beta * nll_loss(energies, correct, mask, beta=beta)


GENERAL_MARGIN_H: dict[str, Callable] = {
    "hinge": lambda fp, fn, m: jax.nn.relu(fp - fn + m),
    "double_hinge": lambda fp, fn, m: jax.nn.relu(fp) + jax.nn.relu(m - fn),
    "square_square": lambda fp, fn, m: jax.nn.relu(fp) ** 2 + jax.nn.relu(m - fn) ** 2,
}


def general_margin_loss(energies, correct, mask=None, *, margin=1.0, h_fn="hinge", **_):
    """L = H(F⁺, F⁻, m) with F⁺ = E_C, F⁻ = E_I; ``h_fn`` a name in GENERAL_MARGIN_H or a
    callable H(F⁺, F⁻, m), increasing in F⁺ and decreasing in F⁻ where F⁻ − F⁺ < m."""
    h = GENERAL_MARGIN_H[h_fn] if isinstance(h_fn, str) else h_fn
    e_i, _ = most_offending(energies, correct, mask)
    return h(_e_c(energies, correct), e_i, margin)


LOSSES: dict[str, Callable] = {
    "energy": energy_loss,
    "perceptron": perceptron_loss,
    "hinge": hinge_loss,
    "log": log_loss,
    "lvq2": lvq2_loss,
    "mce": mce_loss,
    "square_square": square_square_loss,
    "square_exponential": square_exponential_loss,
    "nll": nll_loss,
    "mee": mee_loss,
    "general": general_margin_loss,
    "group": group_loss,
}


class MarginObjective(Objective):
    """L = wmean_i ℓ(energies_i, correct_i); ℓ one of `LOSSES`, E_I computed per example.

    Gradient: Σ_k ∂ℓ/∂E_k ∇_θE_θ(x, y_k): push down the correct answer, pull up the offending
    ones (only the most offending for the E_I losses, all of them for NLL/MEE/group).
    """

    energy_fn: Callable = eqx.field(static=True)
    loss_name: str = eqx.field(static=True)
    answers: jax.Array | None
    negatives_fn: Callable | None = eqx.field(static=True)
    h_fn: str | Callable = eqx.field(static=True)
    margin: jax.Array
    beta: jax.Array
    gamma: jax.Array
    saturation: jax.Array
    epsilon: jax.Array | None

    def answer_energies(self, params, x) -> jax.Array:
        """Energies of every answer for each example: shape (batch, num_answers)."""
        return jax.vmap(
            lambda xi: batch_energy(lambda p, y: self.energy_fn(p, xi, y), params, self.answers)
        )(x)

    def predict(self, params, x) -> jax.Array:
        """Index of the lowest-energy answer for each example (answer-set mode)."""
        if self.answers is None:
            raise ValueError("predict needs an answer set (margin_objective(answers=...))")
        return jnp.argmin(self.answer_energies(params, x), axis=1)

    def candidates(self, params, batch, key):
        """(energies (B, K), correct (B,), mask (B, K), weights)."""
        data, w = split_weights(batch)
        if self.answers is not None:
            x, y = data
            energies = self.answer_energies(params, x)
            correct = jnp.asarray(y, jnp.int32)
            return energies, correct, jnp.ones(energies.shape, bool), w
        negatives = stop_gradient(self.negatives_fn(key, stop_gradient(params), data))
        conditional = isinstance(data, tuple)
        x, y = data if conditional else (data, data)
        if conditional:
            e_pos = batch_energy(self.energy_fn, params, x, y)
            e_neg = jax.vmap(
                lambda xi, yn: batch_energy(lambda p, yk: self.energy_fn(p, xi, yk), params, yn)
            )(x, negatives)
        else:
            e_pos = batch_energy(self.energy_fn, params, x)
            e_neg = jax.vmap(lambda xn: batch_energy(self.energy_fn, params, xn))(negatives)
        energies = jnp.concatenate([e_pos[:, None], e_neg], axis=1)
        mask = jnp.ones(energies.shape, bool)
        if self.epsilon is not None:
            dist = jnp.sqrt(
                jnp.sum((negatives - y[:, None]) ** 2, axis=tuple(range(2, negatives.ndim)))
            )
            mask = mask.at[:, 1:].set(dist > self.epsilon)
        return energies, jnp.zeros(energies.shape[0], jnp.int32), mask, w

    def loss(self, params, batch, key, state):
        energies, correct, mask, w = self.candidates(params, batch, key)
        fn = LOSSES[self.loss_name]
        hyper = {
            "margin": self.margin,
            "beta": self.beta,
            "gamma": self.gamma,
            "saturation": self.saturation,
            "h_fn": self.h_fn,
        }
        per = jax.vmap(lambda e, c, m: fn(e, c, m, **hyper))(energies, correct, mask)
        e_i, _ = jax.vmap(most_offending)(energies, correct, mask)
        e_c = jnp.take_along_axis(energies, correct[:, None], axis=1)[:, 0]
        aux = {
            "energy_correct": jnp.mean(e_c),
            "accuracy": jnp.mean(e_c < e_i),
            "margin_met": jnp.mean(e_i - e_c >= self.margin),
        }
        return weighted_mean(per, w), (state, aux)


def margin_objective(
    energy_fn: Callable,
    *,
    loss: str = "hinge",
    answers=None,
    negatives_fn: Callable | None = None,
    margin=1.0,
    beta=1.0,
    gamma=1.0,
    saturation=1.0,
    epsilon=None,
    h_fn: str | Callable = "hinge",
) -> MarginObjective:
    """Train with a LeCun et al. (2006) loss; ``loss`` one of `LOSSES`.

    Answer-set mode (``answers``): batch ``(x, y)`` with y the index of the correct answer;
    energies E(params, x, answers[k]) for every k. ``answers`` is an int K (answers 0..K−1) or an
    array of K answer values.

    Sampled mode (``negatives_fn(key, params, data) -> (B, K, ...)``, params already behind
    stop_gradient): for a batch ``(x, y)`` the negatives replace y in E(params, x, ·); for a plain
    batch x they are negative configurations of E(params, ·). Candidates within ε (``epsilon``,
    Euclidean) of the positive are excluded from E_I and the sums. NLL/MEE/group then sum over
    the positive and the sampled negatives.

    Loss wmean_i ℓ(E_i), gradient Σ_k ∂ℓ/∂E_k ∇_θE_k (negatives never receive gradient through
    their positions). Hyperparameters: ``margin`` m, ``beta`` β (NLL, MEE, group), ``gamma`` γ
    (square-exponential), ``saturation`` M (LVQ2), ``h_fn`` (general margin loss).

    Raises:
        ValueError: unknown ``loss``, or not exactly one of ``answers``/``negatives_fn``.
    """
    if not callable(energy_fn):
        raise TypeError("energy_fn must be a callable energy_fn(params, x, y) -> scalar")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {tuple(LOSSES)}, got {loss!r}")
    if (answers is None) == (negatives_fn is None):
        raise ValueError("give exactly one of answers= (a discrete answer set) or negatives_fn=")
    if answers is not None:
        if isinstance(answers, int) and not isinstance(answers, bool):
            if answers < 2:
                raise ValueError(f"answers must be >= 2 (number of answers), got {answers}")
            answers = jnp.arange(answers)
        answers = jnp.asarray(answers)
        if answers.ndim < 1 or answers.shape[0] < 2:
            raise ValueError(f"answers must hold at least 2 answers, got shape {answers.shape}")
    elif not callable(negatives_fn):
        raise TypeError("negatives_fn must be callable (key, params, data) -> negatives")
    if isinstance(h_fn, str) and h_fn not in GENERAL_MARGIN_H:
        raise ValueError(f"h_fn must be one of {tuple(GENERAL_MARGIN_H)} or a callable")
    return MarginObjective(
        check_energy_fn(energy_fn),
        loss,
        answers,
        negatives_fn,
        h_fn,
        check_real(margin, "margin", nonnegative=True),
        check_beta(beta, scalar=True),
        check_real(gamma, "gamma", positive=True),
        check_real(saturation, "saturation", positive=True),
        None if epsilon is None else check_real(epsilon, "epsilon", nonnegative=True),
    )
