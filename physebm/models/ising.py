"""Lattice Ising models and the mean-field (Curie–Weiss) Ising model.

Spins are ±1. Configurations are float or int arrays of the lattice shape.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

import samplers
from physebm.models.base import EnergyModel
from physebm.models.boltzmann import BoltzmannMachine
from physebm.models.capabilities import (
    ExactSampler,
    PairwiseForm,
    exact_sampler,
    kernel_target,
    pairwise_form,
)
from physebm.validation import check_parameter, check_shape, check_sizes, is_concrete

BETA_C_2D = 0.5 * float(np.log1p(np.sqrt(2.0)))
"""Critical inverse temperature of the square-lattice Ising model (J = 1): ½ ln(1 + √2)."""


class Ising(EnergyModel):
    """Nearest-neighbour Ising model on a chain ``(N,)`` or a square grid ``(M, N)``.

        E(s) = −J Σ_⟨ij⟩ s_i s_j − h Σ_i s_i,   s_i ∈ {−1, +1}

    With ``periodic=True`` the lattice wraps around (a ring or a torus); every bond is counted
    once per neighbour direction, so a ring of N sites has N bonds and an M×N torus 2MN bonds
    (for N = 2 the two bonds of a periodic ring join the same pair).

    Args:
        shape: ``(N,)`` for a chain or ``(M, N)`` for a grid.
        J: coupling (ferromagnetic for J > 0).
        h: external field. ``None`` (the default) or a concrete 0 makes the field structurally
            zero: ``zero_field`` is then True, a static flag (it survives ``jit``/``vmap`` and
            building the model inside them) that Kaufman's exact route needs; ``h`` is stored
            as 0 either way. A traced ``h`` is a field parameter (``zero_field`` False).
        periodic: periodic (True) or free (False) boundaries.
    """

    shape: tuple[int, ...] = eqx.field(static=True)
    J: jax.Array
    h: jax.Array
    periodic: bool = eqx.field(static=True)
    zero_field: bool = eqx.field(static=True, default=False)
    domain: str = eqx.field(static=True, default="spin")

    def __init__(self, shape, J=1.0, h=None, periodic: bool = True):
        shape = check_sizes(shape, "shape", minimum=2)
        if len(shape) not in (1, 2):
            raise ValueError(f"shape must be (N,) or (M, N) with every side >= 2, got {shape}")
        self.shape = shape
        self.J = check_parameter(J, "J")
        self.h = check_parameter(0.0 if h is None else h, "h")
        if self.J.shape != () or self.h.shape != ():
            raise ValueError(f"J and h must be scalars, got shapes {self.J.shape}, {self.h.shape}")
        self.periodic = bool(periodic)
        self.zero_field = h is None or (is_concrete(h) and not np.any(np.asarray(h)))

    @property
    def event_shape(self) -> tuple[int, ...]:
        return self.shape

    @property
    def num_sites(self) -> int:
        return int(np.prod(self.shape))

    def bond_sum(self, s) -> jax.Array:
        """Σ_⟨ij⟩ s_i s_j over the lattice bonds."""
        total = 0.0
        for axis in range(s.ndim):
            if self.periodic:
                total = total + jnp.sum(s * jnp.roll(s, -1, axis=axis))
            else:
                a = jax.lax.slice_in_dim(s, 0, s.shape[axis] - 1, axis=axis)
                b = jax.lax.slice_in_dim(s, 1, s.shape[axis], axis=axis)
                total = total + jnp.sum(a * b)
        return total

    def energy(self, s) -> jax.Array:
        """E(s) = −J Σ_⟨ij⟩ s_i s_j − h Σ_i s_i for one configuration of the lattice shape."""
        s = check_shape(s, self.shape, "s")
        if s.ndim != len(self.shape):
            raise ValueError(f"s must be one configuration of shape {self.shape}, got {s.shape}")
        s = s.astype(jnp.result_type(float))
        return -self.J * self.bond_sum(s) - self.h * jnp.sum(s)

    def coupling_matrix(self) -> np.ndarray:
        """Symmetric coupling matrix W (zero diagonal) with E = −½ sᵀWs − h Σ s."""
        n = self.num_sites
        idx = np.arange(n).reshape(self.shape)
        W = np.zeros((n, n))
        for axis in range(len(self.shape)):
            if self.periodic:
                nb = np.roll(idx, -1, axis=axis)
                pairs = zip(idx.ravel(), nb.ravel(), strict=True)
            else:
                a = np.take(idx, np.arange(self.shape[axis] - 1), axis=axis)
                b = np.take(idx, np.arange(1, self.shape[axis]), axis=axis)
                pairs = zip(a.ravel(), b.ravel(), strict=True)
            for i, j in pairs:
                W[i, j] += 1.0
                W[j, i] += 1.0
        return W

    def to_boltzmann_machine(self):
        """The same energy as a [`BoltzmannMachine`][] on flattened spins."""
        W = jnp.asarray(self.coupling_matrix()) * self.J
        b = jnp.full((self.num_sites,), 1.0) * self.h
        return BoltzmannMachine(W, b, domain="spin")


class CurieWeiss(EnergyModel):
    """Mean-field (fully connected) Ising model.

        E(s) = −(J / 2N) M² − h M,   M = Σ_i s_i,   s_i ∈ {−1, +1}

    The energy depends on s only through M, so Z(β) = Σ_k C(N, k) exp(−β E(M = 2k − N)) is
    exact for any N (O(N) terms, summed in log space). Phase transition at βJ = 1 (h = 0).

    Args:
        N: number of spins.
        J: coupling.
        h: external field.
    """

    N: int = eqx.field(static=True)
    J: jax.Array
    h: jax.Array
    domain: str = eqx.field(static=True, default="spin")

    def __init__(self, N: int, J=1.0, h=0.0):
        if isinstance(N, bool) or not isinstance(N, int | np.integer) or N < 1:
            raise ValueError(f"N must be a positive integer number of spins, got {N!r}")
        self.N = int(N)
        self.J = check_parameter(J, "J")
        self.h = check_parameter(h, "h")

    @property
    def event_shape(self) -> tuple[int, ...]:
        return (self.N,)

    def energy_of_magnetization(self, M) -> jax.Array:
        """E as a function of the total magnetisation M."""
        return -(self.J / (2 * self.N)) * M**2 - self.h * M

    def energy(self, s) -> jax.Array:
        """E(s) = −(J / 2N) M² − h M with M = Σ_i s_i, for one configuration of shape (N,)."""
        s = check_shape(s, (self.N,), "s")
        if s.ndim != 1:
            raise ValueError(f"s must be one configuration of shape ({self.N},), got {s.shape}")
        return self.energy_of_magnetization(jnp.sum(s.astype(jnp.result_type(float))))


@pairwise_form.register(Ising)
def _ising_pairwise_form(model: Ising) -> PairwiseForm:
    """W = J × (lattice adjacency), b = h on the sites ``s.ravel()``."""
    return pairwise_form(model.to_boltzmann_machine())


@pairwise_form.register(CurieWeiss)
def _curie_weiss_pairwise_form(model: CurieWeiss) -> PairwiseForm:
    """W_ij = J / N for every i, j (diagonal included: a constant for spins), b_i = h."""
    n = model.N
    return PairwiseForm(jnp.full((n, n), model.J / n), jnp.full((n,), model.h), "spin")


@exact_sampler.register(CurieWeiss)
def _curie_weiss_exact_sampler(model: CurieWeiss) -> ExactSampler:
    """Draw k = #(s_i = +1) from P(k) ∝ C(N, k) exp(−β E(M = 2k − N)), then place the k up spins
    uniformly at random (a random permutation)."""

    def sample_fn(key, beta, num: int):
        n = model.N
        k = jnp.arange(n + 1)
        log_binom = gammaln(n + 1.0) - gammaln(k + 1.0) - gammaln(n - k + 1.0)
        log_p = log_binom - beta * model.energy_of_magnetization(2.0 * k - n)
        k1, k2 = jax.random.split(key)
        ups = jax.random.categorical(k1, log_p, shape=(num,))
        ranks = jnp.argsort(jax.random.uniform(k2, (num, n)), axis=1)  # random permutation
        return jnp.where(ranks < ups[:, None], 1.0, -1.0)

    return ExactSampler("magnetization", sample_fn)


@kernel_target.register(Ising)
def _ising_target(model: Ising, beta):
    """−βE as a [`samplers.PeriodicIsing2D`][] (coupling βJ, field βh) on a periodic 2-D
    lattice with even sides (the checkerboard kernel's target); None otherwise."""
    even = all(s % 2 == 0 for s in model.shape)
    if len(model.shape) != 2 or not model.periodic or not even:
        return None
    return samplers.PeriodicIsing2D(beta * model.J, beta * model.h)
