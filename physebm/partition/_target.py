"""Turn ``model_or_gibbs`` + β into an energy, a β, a default base and exact samples."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln, logsumexp

from physebm import enumeration
from physebm._validation import check_beta
from physebm.gibbs import Gibbs, as_energy_pytree
from physebm.models import RBM, BoltzmannMachine, CurieWeiss, Gaussian, Ising
from physebm.partition import bases as B

MAX_ENUMERATION_LOG2 = 20


class Target(NamedTuple):
    energy: Any  # pytree-callable x -> E(x)
    beta: jax.Array
    domain: str | None  # "spin", "bits", "real" or None when unknown


def resolve(model_or_gibbs, beta) -> Target:
    """Energy, β (as a traced-friendly array) and domain of a model or :class:`Gibbs`.

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
    if isinstance(energy, RBM):
        return "bits"
    if isinstance(energy, Gaussian):
        return "real"
    return getattr(energy, "domain", None)


def default_base(energy) -> B.Base:
    """Uniform spins/bits for the built-in discrete models, N(0, I) for a Gaussian model.

    Raises:
        TypeError: no default exists (a user energy): pass ``base=``.
    """
    if isinstance(energy, RBM):
        return B.product(B.uniform_bits(energy.num_visible), B.uniform_bits(energy.num_hidden))
    if isinstance(energy, Gaussian):
        return B.gaussian(jnp.zeros(energy.dim))
    domain = getattr(energy, "domain", None)
    shape = getattr(energy, "event_shape", None)
    if domain == "spin" and shape is not None:
        return B.uniform_spins(shape)
    if domain == "bits" and shape is not None:
        return B.uniform_bits(shape)
    raise TypeError(
        f"no default base for {type(energy).__name__}: pass base= (e.g. "
        "physebm.partition.bases.uniform_spins(shape) or bases.gaussian(mean, cov))"
    )


def num_units(base: B.Base) -> int:
    """Number of scalar units of one configuration of ``base`` (no sampling: shapes only)."""
    shapes = jax.eval_shape(lambda: base.sample(jax.random.key(0), 1))
    return int(sum(np.prod(leaf.shape[1:]) for leaf in jax.tree.leaves(shapes)))


def check_base(base) -> B.Base:
    if not isinstance(base, B.Base):
        raise TypeError(
            f"base must be a physebm.partition.bases.Base (e.g. bases.gaussian(...)), got "
            f"{type(base).__name__}"
        )
    return base


def _categorical_rows(key, log_p, states, num):
    idx = jax.random.categorical(key, log_p, shape=(num,))
    return jnp.asarray(states)[idx]


def exact_sampler_name(energy) -> str | None:
    """Which exact sampler :func:`exact_samples` would use, or None."""
    if isinstance(energy, Gaussian):
        return "closed_form"
    if isinstance(energy, CurieWeiss):
        return "magnetization"
    if (
        isinstance(energy, RBM)
        and min(energy.num_visible, energy.num_hidden) <= MAX_ENUMERATION_LOG2
    ):
        return "enumeration"
    if isinstance(energy, BoltzmannMachine) and energy.num_units <= MAX_ENUMERATION_LOG2:
        return "enumeration"
    if isinstance(energy, Ising) and energy.num_sites <= MAX_ENUMERATION_LOG2:
        return "enumeration"
    return None


def exact_samples(energy, beta, key, num: int):
    """Exact samples of p_β for the built-in models where that is cheap, else None.

    Gaussian: closed form. CurieWeiss: magnetisation from its exact law, then a uniformly
    random placement. RBM: enumerate the smaller layer's marginal, then the other layer's
    conditional. BoltzmannMachine / Ising with ≤ 20 units: enumeration.
    """
    name = exact_sampler_name(energy)
    if name is None:
        return None
    if isinstance(energy, Gaussian):
        return energy.sample(key, beta, num)
    if isinstance(energy, CurieWeiss):
        n = energy.N
        k = jnp.arange(n + 1)
        log_binom = gammaln(n + 1.0) - gammaln(k + 1.0) - gammaln(n - k + 1.0)
        log_p = log_binom - beta * energy.energy_of_magnetization(2.0 * k - n)
        k1, k2 = jax.random.split(key)
        ups = jax.random.categorical(k1, log_p, shape=(num,))
        ranks = jnp.argsort(jax.random.uniform(k2, (num, n)), axis=1)  # random permutation
        return jnp.where(ranks < ups[:, None], 1.0, -1.0)
    if isinstance(energy, RBM):
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
    # BoltzmannMachine / Ising by enumeration of every configuration
    shape = energy.event_shape
    n = int(np.prod(shape))
    states = enumeration.states(n, energy.domain).reshape(-1, *shape)
    log_p = -beta * jax.vmap(energy)(jnp.asarray(states))
    return _categorical_rows(key, log_p, states, num)
