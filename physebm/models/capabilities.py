"""Capability registries: what a model type can do, looked up by type, not by ``isinstance``.

Each capability is a `functools.singledispatch` function of the model (as lineax does for
operator properties). A model type gains a capability by registering an implementation, in
its own file when the implementation is intrinsic to the model, or next to the algorithm
otherwise (the built-in exact routes are registered in [`physebm.partition.exact`][])::

    from physebm.models import EnergyModel, capabilities
    from physebm.partition.exact import ExactRoute

    class Spins(EnergyModel):  # E(s) = −h Σ s_i, s_i ∈ {−1, +1}
        ...

    @capabilities.exact_routes.register(Spins)
    def _(model):
        n = model.num_units
        return {"closed_form": ExactRoute(
            lambda beta: n * jnp.logaddexp(beta * model.h, -beta * model.h), "closed_form", {})}

Dispatch follows the class hierarchy: a registration for a base class (e.g.
[`EnergyModel`][]) serves every subclass without its own. Each
registry documents its default, the value for a type nothing is registered for.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax

from physebm.models.base import EnergyModel, LatentEnergyModel, event_size

__all__ = [
    "DefaultSampler",
    "ExactSampler",
    "PairwiseForm",
    "analytic_free_energy",
    "default_base",
    "default_sampler",
    "exact_routes",
    "exact_sampler",
    "kernel_target",
    "latent_energies",
    "num_sites",
    "pairwise_form",
]


class ExactSampler(NamedTuple):
    """An exact sampler of p_β: ``sample_fn(key, beta, num)`` returns ``num`` independent draws.

    Attributes:
        name: what it does (``"closed_form"``, ``"magnetization"``, ``"enumeration"``, ...).
        sample_fn: ``(key, beta, num) -> positions`` with leading axis ``num`` (a tuple of such
            arrays for a position that is a tuple, e.g. an RBM's ``(v, h)``).
    """

    name: str
    sample_fn: Callable[[jax.Array, jax.Array, int], Any]


class PairwiseForm(NamedTuple):
    """A binary pairwise energy E(x) = −½ xᵀWx − bᵀx on the flattened units x of a model.

    Attributes:
        W: (n, n) symmetric couplings; W_ij = 0 means no edge (the sparsity pattern is the
            interaction graph, e.g. for a colouring). The diagonal may be non-zero: a constant
            ½ Σ W_ii for spins, an extra bias ½ W_ii on unit i for bits.
        b: (n,) fields.
        domain: ``"spin"`` (x ∈ {−1, +1}ⁿ) or ``"bits"`` (x ∈ {0, 1}ⁿ).
    """

    W: jax.Array
    b: jax.Array
    domain: str


class DefaultSampler(NamedTuple):
    """The kernel [`physebm.sample`][] uses for a model.

    Attributes:
        name: the kernel's name in ``SampleResult.sampler`` (``"checkerboard"``, ``"gibbs"``, ...).
        algorithm: a blackjax-style ``SamplingAlgorithm`` (``init``, ``step``) of p_β.
        position_dtype: dtype of the random initial positions the kernel expects (``int8`` for
            the checkerboard Ising kernel, float otherwise).
    """

    name: str
    algorithm: Any
    position_dtype: Any


@functools.singledispatch
def exact_routes(model) -> dict[str, Any] | None:
    """Every exact route to log Z(β) of ``model``, or why each does not apply.

    Used by [`physebm.partition.exact`][physebm.partition.exact.exact] (which picks the cheapest
    route that applies, in the order closed_form, independent, kaufman, magnetization_sum,
    transfer_matrix, enumeration, then any other registered name) and [`physebm.thermodynamics`][].

    Returns:
        A dict from route name to a `physebm.partition.exact.ExactRoute` (``log_z_fn``
        of a scalar β, traceable and differentiable) or to a string saying why that route does
        not apply to this instance (e.g. ``"needs h = 0"``). Default: None (no exact route).
    """
    return None


@functools.singledispatch
def exact_sampler(model) -> ExactSampler | None:
    """An exact sampler of p_β for ``model`` where one is cheap (AIS/SMC reference draws, EUBO).

    Returns:
        [`ExactSampler`][] ``(name, sample_fn(key, beta, num))``. Default: None.
    """
    return None


@functools.singledispatch
def default_base(model) -> Any:
    """The default base distribution (annealing start) of ``model`` for AIS, SMC, importance.

    The built-ins are registered in `physebm.partition._target`: uniform spins or bits on
    ``event_shape`` for a discrete [`EnergyModel`][], uniform bits on
    both layers of an RBM, N(0, I) for a Gaussian.

    Returns:
        A [`physebm.partition.bases.Base`][]. Default: None (the caller asks for ``base=``).
    """
    return None


@functools.singledispatch
def pairwise_form(model) -> PairwiseForm | None:
    """``model`` as a binary pairwise energy E(x) = −½ xᵀWx − bᵀx, or None.

    x is the model's position flattened in row-major order (an Ising lattice's sites
    ``s.ravel()``; an RBM's units x = (v, h) with W = [[0, W], [Wᵀ, 0]] and b = (b, c)). Used
    by mean-field and TAP ([`physebm.partition.variational`][]) and for graph colourings.

    Returns:
        [`PairwiseForm`][] ``(W, b, domain)`` whose energy equals ``model(x)`` exactly.
        Default: None (not a binary pairwise model).
    """
    return None


@functools.singledispatch
def default_sampler(model, beta, sampler: str | None) -> DefaultSampler | None:
    """The kernel [`physebm.sample`][] uses for ``model`` at β (registered in physebm.mcmc).

    Args:
        model: the model.
        beta: inverse temperature β > 0.
        sampler: the user's choice (None for the model's default, ``"gibbs"``, ...); an
            implementation raises ``ValueError`` for a choice it does not offer.

    Returns:
        [`DefaultSampler`][]. Default: None, meaning a continuous energy, sampled by a
        gradient-based kernel (NUTS by default).
    """
    return None


@functools.singledispatch
def analytic_free_energy(model) -> Callable[[Any, Any], jax.Array] | None:
    """``fn(x, beta)``: the free energy with the latent part of ``model`` summed analytically.

    F_β(x) = −(1/β) log Σ_z exp(−β E(x, z)), batched over the leading axes of x; ``beta`` may
    be the Python float ``math.inf`` for F_∞(x) = min_z E(x, z). The RBM registers its hidden
    layer sum (in [`physebm.models.rbm`][]). Default: None.
    """
    return None


@functools.singledispatch
def latent_energies(model) -> Callable[[Any], jax.Array] | None:
    """``fn(y) -> (..., K)``: the energies (E(y, k))_k over a discrete latent k, or None.

    Every [`LatentEnergyModel`][] returns its ``energies``
    (K-means, Gaussian mixture). Default: None.
    """
    return None


@latent_energies.register(LatentEnergyModel)
def _latent_model_energies(model: LatentEnergyModel):
    return model.energies


@functools.singledispatch
def num_sites(model) -> int:
    """Degrees of freedom of ``model`` (sites, spins, units or dimensions), for per-site values.

    Every [`EnergyModel`][] counts the scalar units of its
    ``event_shape`` (an RBM: n_v + n_h).

    Raises:
        TypeError: (default) ``model`` is not an EnergyModel and registers no count.
    """
    raise TypeError(f"model must be a built-in physebm model, got {type(model).__name__}")


@num_sites.register(EnergyModel)
def _energy_model_num_sites(model: EnergyModel) -> int:
    return event_size(model.event_shape)


@functools.singledispatch
def kernel_target(model, beta) -> Callable | None:
    """The log density x ↦ −βE(x) of ``model`` as a structured [`samplers.targets`][] target,
    or None (default) when the model has none.

    A structured target is a callable log density that also carries the couplings the fast
    kernels need: [`samplers.PeriodicIsing2D`][] (for [`samplers.Checkerboard`][]),
    [`samplers.PairwiseBinary`][] ([`samplers.ColoredGibbs`][],
    [`samplers.ColoredMetropolis`][]), [`samplers.BernoulliRBM`][]
    ([`samplers.BlockGibbs`][]). It equals −βE exactly, so every other kernel can use it
    too. [`physebm.sample`][] hands it to a kernel passed as ``sampler=``; without one the
    kernel gets [`physebm.Gibbs.log_unnormalized`][physebm.gibbs.Gibbs.log_unnormalized]. Registered
    in the model files.
    """
    return None
