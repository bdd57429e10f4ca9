"""Use a Gibbs distribution inside a numpyro model, normalised wherever log Z is known.

[`GibbsDistribution`][] is the numpyro ``Distribution`` of p_β(x) = exp(−β E(x)) / Z(β):

    log_prob(x) = −β E(x) − log Z(β)

with log Z(β) taken, in this order, from a user-supplied ``log_z_fn(beta)``, or the exact route
of the model ([`physebm.partition.exact`][physebm.partition.exact.exact]: closed form, Kaufman,
transfer matrix, magnetisation sum, enumeration — all traceable and differentiable in β and in the
model's parameters), so β and the energy's parameters can be latent sites (e.g. β ~ Gamma with
observed configurations) and NUTS/SVI sample the right posterior.

Where log Z is unknown (a user energy, a model too large to enumerate) the density is
*doubly intractable* in β and the parameters: the likelihood of observed x needs Z(β, θ), and
dropping it biases their posterior or makes it improper (with β ~ Gamma(a, b) the
unnormalised posterior is Gamma(a, b + Σᵢ E(sᵢ)), improper when b + Σᵢ E(sᵢ) ≤ 0).
Then, by default (``normalized=None``), ``log_prob`` is the unnormalised ``−β E(x)`` —
exact for inference over x alone, where log Z is a constant — guarded: the first gradient
that reaches β or an energy parameter (NUTS, HMC, SVI with β or θ latent) raises
[`UnnormalizedDensityError`][], which names the options. ``normalized=False`` drops the
guard (you accept an unnormalised ``log_prob``); ``normalized=True`` refuses at construction
unless log Z is known. Gradient-free inference (numpyro's ``SA``, discrete Gibbs updates)
cannot be guarded: use ``normalized=True`` there.

* [`gibbs_factor`][] — ``numpyro.factor(name, log_prob(x))`` for configurations ``x`` (one,
  or a batch inside a ``numpyro.plate``).
* [`sample_gibbs`][] — the site ``name ~ GibbsDistribution`` (latent, or observed with
  ``obs=``).
"""

from __future__ import annotations

import functools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from jax.custom_derivatives import SymbolicZero
from numpyro.distributions import constraints

from physebm.gibbs import Gibbs

__all__ = [
    "GibbsDistribution",
    "SpinConstraint",
    "UnnormalizedDensityError",
    "gibbs_factor",
    "sample_gibbs",
]

_OPTIONS = (
    "Options: use a model with an exact log Z (physebm.partition.exact: Gaussian, Ising, "
    "CurieWeiss, BoltzmannMachine, RBM, or a type registered with "
    "physebm.models.capabilities.exact_routes); pass log_z_fn=beta -> log Z(beta) (a closed "
    "form, or a differentiable estimate you trust); keep beta and the energy's parameters fixed "
    "(inference over x alone needs no Z); or, knowing that the posterior of beta/parameters "
    "will then be biased, pass normalized=False."
)


class UnnormalizedDensityError(ValueError):
    """β or an energy parameter is a latent site of a Gibbs density whose log Z is unknown."""


class SpinConstraint(constraints.ParameterFreeConstraint):
    """numpyro support of ±1 spins: ``x ∈ {−1, +1}`` elementwise (a discrete support)."""

    is_discrete = True

    def __call__(self, x):
        return (x == 1) | (x == -1)

    def feasible_like(self, prototype):
        return jnp.ones_like(prototype)

    def __repr__(self) -> str:
        return "SpinConstraint()"


def _support(domain: str | None, ndim: int):
    base = {"spin": SpinConstraint(), "bits": constraints.boolean}.get(domain, constraints.real)
    return base if ndim == 0 else constraints.independent(base, ndim)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _guarded(fn, params, consts, x):
    """``fn(params, x, *consts)``; its JVP raises if ``params`` or ``consts`` carry a tangent."""
    return fn(params, x, *consts)


@functools.partial(_guarded.defjvp, symbolic_zeros=True)
def _guarded_jvp(fn, primals, tangents):
    params, consts, x = primals
    t_params, t_consts, t_x = tangents
    leaves = jax.tree_util.tree_leaves((t_params, t_consts))
    if any(not isinstance(t, SymbolicZero) for t in leaves):
        raise UnnormalizedDensityError(
            "GibbsDistribution: a gradient reaches beta or a parameter of the energy, so they "
            "are latent (or optimised) sites, but log Z(beta) of this energy is unknown and "
            "log_prob = -beta*E(x) omits it: the posterior of beta/parameters would be biased "
            "(a doubly-intractable likelihood). " + _OPTIONS
        )
    if isinstance(t_x, SymbolicZero):
        out = _guarded(fn, params, consts, x)
        return out, jnp.zeros_like(out)
    return jax.jvp(lambda x: fn(params, x, *consts), (x,), (t_x,))


def _guarded_log_unnormalized(gibbs: Gibbs, x) -> jax.Array:
    """−β E(x), whose derivative in β or in any parameter of E (array leaves of ``gibbs``, or
    traced values a plain energy function closes over) raises [`UnnormalizedDensityError`][].
    """
    params, static = eqx.partition(gibbs, eqx.is_inexact_array)

    def fn(p, x):
        return eqx.combine(p, static).log_unnormalized(x)

    converted, consts = jax.closure_convert(fn, params, x)
    return _guarded(lambda p, x, *c: converted(p, x, *c), params, tuple(consts), x)


def _event_shape(gibbs: Gibbs, event_shape) -> tuple[int, ...]:
    """``event_shape`` as a tuple of ints, from the argument or from ``gibbs.energy``."""
    if event_shape is None:
        event_shape = getattr(gibbs.energy, "event_shape", None)
        if event_shape is None:
            raise ValueError(
                "event_shape must be given (the shape of one configuration x) for an energy "
                f"without an event_shape attribute, got {type(gibbs.energy).__name__}"
            )
    shape = tuple(event_shape) if not isinstance(event_shape, int) else (event_shape,)
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise TypeError(
            "event_shape must be a tuple of ints (one array per configuration; a pair of "
            f"layers such as an RBM's (v, h) is not supported), got {event_shape!r}"
        )
    return shape


def _exact_method(energy) -> tuple[str | None, str]:
    """The exact route's name for ``energy`` (None when there is none) and why not."""
    from physebm.partition.exact import exact_route  # physebm.partition imports this module

    try:
        return exact_route(energy).method, ""
    except (TypeError, ValueError) as err:
        return None, str(err)


class GibbsDistribution(dist.Distribution):
    """numpyro distribution of p_β(x) = exp(−β E(x)) / Z(β) on configurations of ``event_shape``.

    ``log_prob(x) = −β E(x) − log Z(β)`` with log Z from ``log_z_fn`` or the model's exact
    route (differentiable in β and the model's parameters); see the module docstring for an
    energy whose log Z is unknown (``normalized``).

    Args:
        gibbs: the [`Gibbs`][] distribution (scalar β; β and the energy's
            parameters may be traced values, e.g. latent sites).
        event_shape: shape of one configuration x (default: ``gibbs.energy.event_shape``).
        log_z_fn: optional ``beta -> log Z(beta)`` (scalar, differentiable) of this energy;
            overrides the exact route.
        normalized: ``None`` (default): normalised when log Z is known, else the guarded
            unnormalised density; ``True``: raise unless log Z is known; ``False``: the
            unnormalised ``−β E(x)`` with no guard (cheaper when log Z is known but only x is
            latent).
        validate_args: numpyro's argument validation.

    Attributes:
        normalization: ``"log_z_fn"``, ``"exact:<route>"`` (e.g. ``"exact:kaufman"``),
            ``"unnormalized"`` or ``"unnormalized (guarded)"``.
        is_normalized: whether ``log_prob`` includes −log Z(β).

    Raises:
        TypeError: ``gibbs`` is not a [`Gibbs`][], or a bad ``event_shape``.
        ValueError: β is not a scalar; ``normalized=True`` and log Z is unknown;
            ``normalized=False`` with a ``log_z_fn``.
    """

    pytree_data_fields = ("gibbs",)
    pytree_aux_fields = ("log_z_fn", "normalization")

    def __init__(self, gibbs, event_shape=None, *, log_z_fn=None, normalized=None, **kwargs):
        if not isinstance(gibbs, Gibbs):
            raise TypeError(f"gibbs must be a physebm.Gibbs, got {type(gibbs).__name__}")
        if jnp.ndim(gibbs.beta) != 0:
            raise ValueError(f"gibbs.beta must be a scalar, got shape {jnp.shape(gibbs.beta)}")
        if normalized not in (None, True, False):
            raise ValueError(f"normalized must be None, True or False, got {normalized!r}")
        if log_z_fn is not None and not callable(log_z_fn):
            raise TypeError(f"log_z_fn must be callable beta -> log Z, got {type(log_z_fn)}")
        if log_z_fn is not None and normalized is False:
            raise ValueError("log_z_fn normalises the density: do not pass normalized=False")
        self.gibbs = gibbs
        self.log_z_fn = log_z_fn
        self.normalization = _normalization(gibbs.energy, log_z_fn, normalized)
        super().__init__((), _event_shape(gibbs, event_shape), **kwargs)

    @property
    def support(self):
        """ℝ, ``{−1, +1}`` (spins) or ``{0, 1}`` (bits) per unit, from ``gibbs.energy.domain``."""
        return _support(getattr(self.gibbs.energy, "domain", None), len(self.event_shape))

    @property
    def is_normalized(self) -> bool:
        return not self.normalization.startswith("unnormalized")

    def log_z(self) -> jax.Array:
        """log Z(β) as ``log_prob`` uses it (``log_z_fn`` or the exact route)."""
        if self.log_z_fn is not None:
            return jnp.asarray(self.log_z_fn(self.gibbs.beta))
        if not self.normalization.startswith("exact:"):
            raise ValueError(f"log Z(beta) is unknown here ({self.normalization}). " + _OPTIONS)
        from physebm.partition.exact import exact_route

        method = self.normalization.removeprefix("exact:")
        return exact_route(self.gibbs.energy, method).log_z_fn(self.gibbs.beta)

    def log_prob(self, value):
        """−β E(x) − log Z(β) for ``value`` of shape ``(*batch, *event_shape)``, shape ``batch``."""
        value = self._checked(value)
        if self.normalization == "unnormalized (guarded)":
            fn = functools.partial(_guarded_log_unnormalized, self.gibbs)
        else:
            fn = self.gibbs.log_unnormalized
        for _ in range(value.ndim - len(self.event_shape)):
            fn = jax.vmap(fn)
        out = fn(value)
        return out - self.log_z() if self.is_normalized else out

    def _checked(self, value) -> jax.Array:
        value = jnp.asarray(value)
        k = len(self.event_shape)
        if value.ndim < k or tuple(value.shape[value.ndim - k :]) != self.event_shape:
            raise ValueError(
                f"value must have shape (..., *event_shape) with event_shape {self.event_shape}, "
                f"got shape {value.shape}"
            )
        return value

    def sample(self, key, sample_shape=()):
        """Independent exact draws, shape ``sample_shape + batch_shape + event_shape``.

        Uses the model's exact sampler ([`physebm.models.capabilities.exact_sampler`][]:
        Gaussian closed form, Curie–Weiss magnetisation, enumeration of Ising and Boltzmann
        machines up to 2^24 states).

        Raises:
            NotImplementedError: the energy has no exact sampler.
        """
        from physebm.models.capabilities import exact_sampler

        sampler = exact_sampler(self.gibbs.energy)
        if sampler is None:
            raise NotImplementedError(
                f"GibbsDistribution.sample: this energy ({type(self.gibbs.energy).__name__}) has "
                "no exact sampler (physebm.models.capabilities.exact_sampler); draw approximate "
                "samples by MCMC with physebm.sample(model, key=..., beta=...), or make x a "
                "latent site and let numpyro's NUTS sample it (real-valued x)"
            )
        shape = tuple(sample_shape) + self.batch_shape
        num = math.prod(shape)
        x = sampler.sample_fn(key, self.gibbs.beta, num)
        return jnp.reshape(x, shape + self.event_shape)


def _normalization(energy, log_z_fn, normalized) -> str:
    """How ``log_prob`` is normalised (see `GibbsDistribution.normalization`)."""
    if log_z_fn is not None:
        return "log_z_fn"
    if normalized is False:
        return "unnormalized"
    method, reason = _exact_method(energy)
    if method is not None:
        return f"exact:{method}"
    if normalized:
        raise ValueError(
            f"normalized=True needs log Z(beta), which is unknown for this energy ({reason}). "
            + _OPTIONS
        )
    return "unnormalized (guarded)"


def gibbs_factor(name: str, gibbs: Gibbs, x, *, event_shape=None, log_z_fn=None, normalized=None):
    """``numpyro.factor(name, log p_β(x))`` with ``log p_β(x) = −β E(x) − log Z(β)``.

    ``x`` is one configuration or a batch ``(*batch, *event_shape)`` (e.g. observations inside
    a ``numpyro.plate``; the factor then has shape ``batch``). ``event_shape``, ``log_z_fn`` and
    ``normalized`` are those of [`GibbsDistribution`][].
    """
    d = GibbsDistribution(gibbs, event_shape, log_z_fn=log_z_fn, normalized=normalized)
    return numpyro.factor(name, d.log_prob(x))


def sample_gibbs(
    name: str, gibbs: Gibbs, event_shape=None, *, obs=None, log_z_fn=None, normalized=None
):
    """The site ``name ~ GibbsDistribution(gibbs, event_shape, ...)`` (observed with ``obs``).

    As a latent site of real-valued x, NUTS/HMC sample x ~ p_β; as an observed site, its
    ``log_prob`` is the normalised likelihood of ``obs`` (see [`GibbsDistribution`][]).
    """
    d = GibbsDistribution(gibbs, event_shape, log_z_fn=log_z_fn, normalized=normalized)
    return numpyro.sample(name, d, obs=obs)
