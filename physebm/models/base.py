"""The model protocol: what every physebm model is, whatever it can do.

A model is an `equinox.Module` with

- ``domain``: ``"spin"`` (units ±1), ``"bits"`` (units in {0, 1}) or ``"real"`` (ℝ^d);
- ``event_shape``: the shape of one position x (for a position that is a tuple of arrays, such
  as an RBM's ``(v, h)``, the tuple of their shapes);
- ``energy(x)``: the scalar energy E(x) of one position, also reached by calling the model.

Its Gibbs distribution at inverse temperature β is p_β(x) = exp(−β E(x)) / Z(β). What a model
can do beyond that (an exact log Z, an exact sampler, a default kernel, a pairwise form, ...)
is not a method: it is looked up by type in the registries of
[`physebm.models.capabilities`][], so a new model gains a capability by registering it in its
own file, without editing the library.

A user energy that is not an [`EnergyModel`][] (any callable ``x -> scalar``) is treated as
a real-valued energy; [`domain_of`][] returns None for it.
"""

# No ``from __future__ import annotations`` here: equinox must see the AbstractVar annotation
# itself, so that a subclass may override ``domain`` by a property or a defaulted field.
import abc
from typing import Any

import equinox as eqx
import jax
import numpy as np

DOMAINS = ("spin", "bits", "real")
"""The domains of a unit: ±1 spins, {0, 1} bits, or real numbers."""


class EnergyModel(eqx.Module):
    """Abstract base of the physebm models: an energy E(x) on one position x.

    Subclasses declare ``domain`` (a static field or property, one of `DOMAINS`),
    implement the ``event_shape`` property and ``energy(x)``; ``model(x)`` is ``energy(x)``.
    Behaviour beyond the energy is registered per type in [`physebm.models.capabilities`][].

    Example:
        >>> class Spins(EnergyModel):  # E(s) = −Σ_i h_i s_i, s_i ∈ {−1, +1}
        ...     h: jax.Array
        ...     domain: str = eqx.field(static=True, default="spin")
        ...
        ...     @property
        ...     def event_shape(self):
        ...         return self.h.shape
        ...
        ...     def energy(self, s):
        ...         return -self.h @ s
    """

    domain: eqx.AbstractVar[str]

    @property
    @abc.abstractmethod
    def event_shape(self) -> Any:
        """Shape of one position x: a tuple of ints, or a tuple of shapes for a pair of arrays."""

    @abc.abstractmethod
    def energy(self, x) -> jax.Array:
        """The scalar energy E(x) of one position x (vmap over a batch)."""

    def __call__(self, x) -> jax.Array:
        """E(x): the same as [`energy`][]."""
        return self.energy(x)


class LatentEnergyModel(eqx.Module):
    """Abstract base of the joint energies E(y, k) over a discrete latent k ∈ {0, …, K−1}.

    Subclasses implement ``energies(y) -> (..., K)``, the vector (E(y, k))_k batched over the
    leading axes of y, and the ``num_latent`` property K; ``energy(y, k)`` picks one entry.
    The free energy over k is F_β(y) = −(1/β) log Σ_k exp(−β E(y, k))
    ([`physebm.free_energy`][]).
    """

    @property
    @abc.abstractmethod
    def num_latent(self) -> int:
        """K, the number of latent values."""

    @abc.abstractmethod
    def energies(self, y) -> jax.Array:
        """Vector (E(y, k))_k, shape (..., K)."""

    def energy(self, y, k) -> jax.Array:
        """E(y, k)."""
        return self.energies(y)[..., k]


def domain_of(energy) -> str | None:
    """The domain (``"spin"``, ``"bits"`` or ``"real"``) an energy declares, or None.

    A model's ``domain`` (any object with a ``domain`` attribute is read the same way); None
    for a plain callable, which the library treats as a real-valued energy.
    """
    return getattr(energy, "domain", None)


def is_shape(shape) -> bool:
    """True for one array shape (a tuple of ints), False for a tuple of shapes."""
    return isinstance(shape, tuple) and all(isinstance(d, int | np.integer) for d in shape)


def event_size(event_shape) -> int:
    """Number of scalar units of one position: Π shape, summed over the parts of a tuple of shapes.

    ``event_size((4, 4)) == 16``; ``event_size(((3,), (2,))) == 5`` (an RBM's (v, h)).
    """
    if is_shape(event_shape):
        return int(np.prod(event_shape, dtype=int))
    return sum(event_size(part) for part in event_shape)
