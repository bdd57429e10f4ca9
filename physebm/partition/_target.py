"""Turn ``model_or_gibbs`` + β into an energy, a β, a default base and exact samples."""

from __future__ import annotations

from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from physebm import enumeration
from physebm.gibbs import Gibbs, as_energy_pytree
from physebm.models import RBM, BoltzmannMachine, EnergyModel, Gaussian, Ising
from physebm.models import base as model_base
from physebm.models import capabilities as cap
from physebm.partition import bases as B
from physebm.validation import check_beta, check_scalar_energy

MAX_ENUMERATION_LOG2 = 20


class Target(NamedTuple):
    energy: Any  # pytree-callable x -> E(x)
    beta: jax.Array
    domain: str | None  # "spin", "bits", "real" or None when unknown


def resolve(model_or_gibbs, beta) -> Target:
    """Energy, β (as a traced-friendly array) and domain of a model or [`Gibbs`][].

    Raises:
        ValueError: β missing for a bare model, or not positive/finite.
        TypeError: the object is not callable.
    """
    if isinstance(model_or_gibbs, Gibbs):
        energy = model_or_gibbs.energy
        beta = model_or_gibbs.beta if beta is None else check_beta(beta)
    else:
        if not callable(model_or_gibbs):
            raise TypeError(
                "model_or_gibbs must be a physebm model, a physebm.Gibbs or a callable energy "
                f"x -> scalar, got {type(model_or_gibbs).__name__}"
            )
        if beta is None:
            raise ValueError("beta is required when model_or_gibbs is a model (not a Gibbs)")
        energy = as_energy_pytree(model_or_gibbs)
        beta = check_beta(beta)
    beta = jnp.asarray(beta, dtype=jnp.result_type(float))
    if beta.shape != ():
        raise ValueError(f"beta must be a scalar, got shape {beta.shape}")
    return Target(energy, beta, domain_of(energy))


def domain_of(energy) -> str | None:
    """The declared domain of ``energy`` ([`physebm.models.domain_of`][]): None for a callable."""
    return model_base.domain_of(energy)


def default_base(energy) -> B.Base:
    """Uniform spins/bits for the built-in discrete models, N(0, I) for a Gaussian model.

    The base comes from [`physebm.models.capabilities.default_base`][]; an object that is
    not an [`EnergyModel`][] but has ``domain`` and ``event_shape`` gets
    the uniform base of its domain.

    Raises:
        TypeError: no default exists (a user energy): pass ``base=``.
    """
    base = cap.default_base(energy)
    if base is None:  # a duck-typed model with domain and event_shape
        base = _uniform_base(energy)
    if base is None:
        raise TypeError(
            f"no default base for {type(energy).__name__}: pass base= (e.g. "
            "physebm.partition.bases.uniform_spins(shape) or bases.gaussian(mean, cov))"
        )
    return base


@cap.default_base.register(EnergyModel)
def _uniform_base(energy) -> B.Base | None:
    """Uniform over {−1, +1}^event_shape (spins) or {0, 1}^event_shape (bits), else None."""
    domain = getattr(energy, "domain", None)
    shape = getattr(energy, "event_shape", None)
    if domain == "spin" and shape is not None:
        return B.uniform_spins(shape)
    if domain == "bits" and shape is not None:
        return B.uniform_bits(shape)
    return None


@cap.default_base.register(RBM)
def _rbm_base(energy: RBM) -> B.Base:
    """Uniform bits on both layers (v, h)."""
    return B.product(B.uniform_bits(energy.num_visible), B.uniform_bits(energy.num_hidden))


@cap.default_base.register(Gaussian)
def _gaussian_base(energy: Gaussian) -> B.Base:
    """N(0, I) on ℝ^d."""
    dim, dtype = energy.dim, jnp.result_type(float)
    # numpy constants, so that the base (and the default kernel's step size) stay concrete
    # when the estimator runs under jit/vmap
    return B.GaussianBase(np.zeros(dim, dtype), np.eye(dim, dtype=dtype))


def num_units(base: B.Base) -> int:
    """Number of scalar units of one configuration of ``base`` (no sampling: shapes only)."""
    shapes = jax.eval_shape(lambda: base.sample(jax.random.key(0), 1))
    return int(sum(np.prod(leaf.shape[1:]) for leaf in jax.tree.leaves(shapes)))


def check_energy_output(energy, base: B.Base) -> None:
    """Raise ``TypeError`` unless ``energy`` returns a scalar for one draw of ``base``.

    Shapes only (``jax.eval_shape``: one trace, no computation), and only for a user energy;
    the built-in models return scalars by construction.
    """
    if isinstance(energy, EnergyModel):
        return
    draws = jax.eval_shape(lambda: base.sample(jax.random.key(0), 1))
    one = jax.tree.map(lambda d: jax.ShapeDtypeStruct(d.shape[1:], d.dtype), draws)
    out = _energy_of_one.eval_shape(energy, one)  # cached: a second call does not retrace
    check_scalar_energy(out, "model_or_gibbs (the energy)")


@jax.jit
def _energy_of_one(energy, x):
    return energy(x)


def check_base(base) -> B.Base:
    if not isinstance(base, B.Base):
        raise TypeError(
            f"base must be a physebm.partition.bases.Base (e.g. bases.gaussian(...)), got "
            f"{type(base).__name__}"
        )
    return base


def _categorical_rows(key, log_p, states, num):
    """``num`` rows of ``states`` drawn with probabilities ∝ exp(log_p), by inverting the CDF:
    index = #{k : F_k ≤ u}, u ~ U(0, 1) scaled to the total — O(K + num log K) work and num
    uniforms (Gumbel-max would draw num × K of them)."""
    cdf = jnp.cumsum(jnp.exp(log_p - jnp.max(log_p)))
    u = jax.random.uniform(key, (num,), cdf.dtype) * cdf[-1]
    idx = jnp.minimum(jnp.searchsorted(cdf, u, side="right"), cdf.shape[0] - 1)
    return jnp.asarray(states)[idx]


def exact_sampler_name(energy) -> str | None:
    """Which exact sampler `exact_samples` would use, or None."""
    sampler = cap.exact_sampler(energy)
    return None if sampler is None else sampler.name


def exact_samples(energy, beta, key, num: int):
    """Exact samples of p_β for the built-in models where that is cheap, else None.

    Gaussian: closed form. CurieWeiss: magnetisation from its exact law, then a uniformly
    random placement. RBM: enumerate the smaller layer's marginal, then the other layer's
    conditional. BoltzmannMachine / Ising with ≤ 20 units: enumeration. Any model type that
    registers [`physebm.models.capabilities.exact_sampler`][].
    """
    if cap.exact_sampler(energy) is None:
        return None
    return _sample_exactly(energy, jnp.asarray(beta), key, num)


@eqx.filter_jit
def _sample_exactly(energy, beta, key, num: int):
    """The registered exact sampler, compiled once per model structure and ``num``."""
    return cap.exact_sampler(energy).sample_fn(key, beta, num)


@cap.exact_sampler.register(RBM)
def _rbm_exact_sampler(energy: RBM) -> cap.ExactSampler | None:
    """The smaller layer from its enumerated marginal ∝ exp(−β F_β), the other given it."""
    if min(energy.num_visible, energy.num_hidden) > MAX_ENUMERATION_LOG2:
        return None

    def sample_fn(key, beta, num: int):
        k1, k2 = jax.random.split(key)
        if energy.num_hidden <= energy.num_visible:
            hs = enumeration.states(energy.num_hidden, "bits")
            log_p = -beta * energy.free_energy_hidden(jnp.asarray(hs), beta)
            h = _categorical_rows(k1, log_p - logsumexp(log_p), hs, num)
            p_v = energy.visible_probs(h, beta)
            v = (jax.random.uniform(k2, p_v.shape) < p_v).astype(float)
        else:
            vs = enumeration.states(energy.num_visible, "bits")
            log_p = -beta * energy.free_energy(jnp.asarray(vs), beta)
            v = _categorical_rows(k1, log_p - logsumexp(log_p), vs, num)
            p_h = energy.hidden_probs(v, beta)
            h = (jax.random.uniform(k2, p_h.shape) < p_h).astype(float)
        return (v, h)

    return cap.ExactSampler("enumeration", sample_fn)


@cap.exact_sampler.register(BoltzmannMachine)
@cap.exact_sampler.register(Ising)
def _enumeration_exact_sampler(energy) -> cap.ExactSampler | None:
    """Every configuration of ``event_shape`` (≤ 2^20), drawn with probability ∝ exp(−β E)."""
    shape = energy.event_shape
    n = int(np.prod(shape))
    if n > MAX_ENUMERATION_LOG2:
        return None

    def sample_fn(key, beta, num: int):
        states = enumeration.states(n, energy.domain).reshape(-1, *shape)
        log_p = -beta * jax.vmap(energy)(jnp.asarray(states))
        return _categorical_rows(key, log_p, states, num)

    return cap.ExactSampler("enumeration", sample_fn)
