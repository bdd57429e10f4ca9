"""Amortised variational inference (VAE / IWAE) as a training objective.

The parameters are a pair ``(energy, encoder)`` ([`AmortizedParams`][]): a joint energy
E_θ(y, z) over data y and a continuous latent z, and an encoder q_φ(z | y) (a Gaussian,
reparameterised). The loss is the mean amortised free-energy bound of
[`physebm.free_energies.amortized`][]:

    elbo:  L = mean_i [ (1/K) Σ_k E_θ(yᵢ, z_ik) − H[q_φ(· | yᵢ)]/β ]
    iwae:  L = mean_i [ −(1/β) log (1/K) Σ_k exp(−βE_θ(yᵢ, z_ik)) / q_φ(z_ik | yᵢ) ]

with z_ik = μ_φ(yᵢ) + L_φ(yᵢ) ε_ik. Both are upper bounds on mean_i F_β(yᵢ) in expectation, so
minimising over φ tightens the bound and minimising over θ lowers the free energy of the data.
With E_θ = −log p_θ(y, z) (a normalised decoder and prior) and β = 1, F₁(y) = −log p_θ(y) and
this is the VAE (Kingma & Welling 2014) or IWAE (Burda et al. 2016) loss; for an unnormalised
E_θ the θ-gradient lowers F_β(data) only, with nothing pushing other energies up (an
architectural or regularised model must bound the volume of low energy).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp

from physebm.free_energies.amortized import iwae_free_energy, variational_free_energy_bound
from physebm.objectives.base import (
    Objective,
    check_choice,
    check_count,
    num_examples,
    split_weights,
    weighted_mean,
)
from physebm.validation import check_beta

__all__ = ["AmortizedParams", "AmortizedVariational", "amortized_variational"]

BOUNDS = ("elbo", "iwae")


class AmortizedParams(NamedTuple):
    """Trainable parameters of an amortised variational objective.

    Attributes:
        energy: parameters of the joint energy E_θ(y, z) (``{}`` or ``None`` to keep it fixed).
        encoder: parameters of q_φ(z | y), e.g. a
            [`LinearGaussianEncoder`][physebm.free_energies.amortized.LinearGaussianEncoder].
    """

    energy: Any
    encoder: Any


def _call_energy(params, y, z):
    return params(y, z)


def _call_encoder(params, y):
    return params(y)


class AmortizedVariational(Objective):
    """L = wmean_i F̂(yᵢ), F̂ the ``elbo`` or ``iwae`` bound with K = ``num_samples`` draws."""

    energy_fn: Callable = eqx.field(static=True)
    encoder_fn: Callable = eqx.field(static=True)
    beta: jax.Array
    num_samples: int = eqx.field(static=True)
    bound: str = eqx.field(static=True)

    def free_energy(self, params, y, key) -> jax.Array:
        """The bound F̂(y) for one y (``params`` an [`AmortizedParams`][])."""
        energy, encoder = params

        def e(yi, z):
            return self.energy_fn(energy, yi, z)

        def q(yi):
            return self.encoder_fn(encoder, yi)

        fn = variational_free_energy_bound if self.bound == "elbo" else iwae_free_energy
        return fn(e, q, y, self.beta, key=key, num_samples=self.num_samples)

    def loss(self, params, batch, key, state):
        if not (isinstance(params, tuple) and len(params) == 2):
            raise TypeError(
                "params must be AmortizedParams(energy, encoder) (a pair), got "
                f"{type(params).__name__}"
            )
        y, w = split_weights(batch)
        keys = jax.random.split(key, num_examples(y))
        per = jax.vmap(lambda yi, k: self.free_energy(params, yi, k))(y, keys)
        return weighted_mean(per, w), (state, {"free_energy_bound": jnp.mean(per)})


def amortized_variational(
    energy_fn: Callable | None = None,
    encoder_fn: Callable | None = None,
    *,
    num_samples: int = 1,
    bound: str = "elbo",
    beta=1.0,
) -> AmortizedVariational:
    """Train a joint energy and a Gaussian encoder by the amortised free-energy bound.

    Args:
        energy_fn: ``energy_fn(energy_params, y, z) -> E(y, z)``; ``None`` calls
            ``params.energy(y, z)``.
        encoder_fn: ``encoder_fn(encoder_params, y) -> GaussianBase`` for q(z | y); ``None``
            calls ``params.encoder(y)``.
        num_samples: K, latent draws per example.
        bound: ``"elbo"``: (1/K) Σ_k E(y, z_k) − H[q]/β (entropy in closed form);
            ``"iwae"``: −(1/β) log (1/K) Σ_k exp(−βE(y, z_k))/q(z_k | y), tighter as K grows.
        beta: inverse temperature β > 0.

    Returns:
        An `AmortizedVariational` over ``params = AmortizedParams(energy, encoder)``; its
        aux ``free_energy_bound`` is the batch mean of the bound.
    """
    for fn, name in ((energy_fn, "energy_fn"), (encoder_fn, "encoder_fn")):
        if fn is not None and not callable(fn):
            raise TypeError(f"{name} must be callable or None, got {type(fn).__name__}")
    return AmortizedVariational(
        _call_energy if energy_fn is None else energy_fn,
        _call_encoder if encoder_fn is None else encoder_fn,
        check_beta(beta, scalar=True),
        check_count(num_samples, "num_samples"),
        check_choice(bound, "bound", BOUNDS),
    )
