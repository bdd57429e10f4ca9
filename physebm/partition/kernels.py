"""The kernel each annealing estimator (AIS, reverse AIS, BDMC, TI, SMC) uses by default.

Every kernel is a [`samplers.Kernel`][]; this module only chooses one per model type.
[`default_kernel`][] is a `functools.singledispatch` registry: a model type registers
its own choice (``@default_kernel.register(MyModel)``); unregistered types get heat-bath flips
for spins/bits (a sequential sweep, exact for any log density) and MALA for real x, with a
step size adapted between temperatures towards [`MALA_TARGET_ACCEPTANCE`][].

Built-in choices: heat-bath flips in colour blocks of a proper colouring of the interaction
graph ([`samplers.greedy_coloring`][]), with every flip gain Δ_i from one gradient where the
log density along the path is multilinear (a pairwise model with zero diagonal, annealed from
a factorised base). The paths that have faster exact moves (the RBM marginal path, the Ising
lattice path) are chosen in `physebm.partition.ais.build_path`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

import samplers
from physebm.models import RBM, BoltzmannMachine, CurieWeiss, Ising
from physebm.partition import bases as B
from physebm.partition._target import num_units

__all__ = ["MALA_TARGET_ACCEPTANCE", "default_kernel", "resolve_kernel"]

MALA_TARGET_ACCEPTANCE = 0.574
"""Acceptance rate the default MALA step size is adapted towards (Roberts & Rosenthal 1998)."""


def _factorized(base) -> bool:
    independent = B.IndependentSpins | B.IndependentBits
    return isinstance(base, independent) or (
        isinstance(base, B.ProductBase) and all(isinstance(p, independent) for p in base.parts)
    )


def _heat_bath(base, colors=None, multilinear: bool = False) -> samplers.HeatBath:
    colors = None if colors is None else tuple(int(c) for c in colors)
    return samplers.HeatBath(base.domain, colors, multilinear and _factorized(base))


def _smallest_variance(base):
    """min_i Cov[x_i] = min_i Σ_j L_ij² of a Gaussian base (1 for other bases); a float when the
    base is concrete, a traced scalar inside jit."""
    if not isinstance(base, B.GaussianBase):
        return 1.0
    L = base.scale_tril
    if isinstance(L, jax.core.Tracer):
        return jnp.min(jnp.sum(L**2, axis=1))
    return float(np.min(np.sum(np.asarray(L) ** 2, axis=1)))


@functools.singledispatch
def default_kernel(model, base: B.Base) -> samplers.Kernel:
    """Default kernel for annealing ``model`` from ``base`` (module docstring).

    Raises:
        TypeError: the base's domain is neither spins, bits nor real.
    """
    if base.domain == "real":
        return samplers.MALA(0.5 * _smallest_variance(base) * num_units(base) ** (-1 / 3))
    if base.domain not in ("spin", "bits"):
        raise TypeError(f"no default kernel for a base of domain {base.domain!r}: pass kernel=")
    return _heat_bath(base)


@default_kernel.register(Ising)
def _ising(model: Ising, base):
    return _heat_bath(base, samplers.greedy_coloring(model.coupling_matrix()), True)


@default_kernel.register(BoltzmannMachine)
def _boltzmann(model: BoltzmannMachine, base):
    W = np.asarray(model.W)
    return _heat_bath(base, samplers.greedy_coloring(W), bool(np.all(np.diag(W) == 0)))


@default_kernel.register(RBM)
def _rbm(model: RBM, base):
    colors = np.r_[np.zeros(model.num_visible, int), np.ones(model.num_hidden, int)]
    return _heat_bath(base, colors, True)


@default_kernel.register(CurieWeiss)
def _curie_weiss(model: CurieWeiss, base):
    return _heat_bath(base)


def resolve_kernel(kernel, energy, base, target_acceptance):
    """``(kernel, target_acceptance)`` an estimator runs with.

    ``kernel=None`` takes [`default_kernel`][], adapting MALA's step size towards
    [`MALA_TARGET_ACCEPTANCE`][] unless ``target_acceptance`` says otherwise; any other
    value goes through [`samplers.as_kernel`][] (a samplers Kernel or a blackjax factory such
    as ``functools.partial(blackjax.mala, step_size=0.1)``) and is adapted only when
    ``target_acceptance`` is given. ``target_acceptance="default"`` means "the default".
    """
    if kernel is None:
        kernel = default_kernel(energy, base)
        if target_acceptance == "default":
            adapts = isinstance(kernel, samplers.MALA)
            target_acceptance = MALA_TARGET_ACCEPTANCE if adapts else None
    else:
        kernel = samplers.as_kernel(kernel)
        if target_acceptance == "default":
            target_acceptance = None
    if target_acceptance is not None and not 0.0 < float(target_acceptance) < 1.0:
        raise ValueError(f"target_acceptance must be in (0, 1) or None, got {target_acceptance}")
    return kernel, target_acceptance
