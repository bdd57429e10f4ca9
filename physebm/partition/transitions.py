"""Markov transitions that take the log density at call time (for AIS, TI and SMC).

A :class:`Transition` follows the blackjax low-level contract

    state = transition.init(position, logdensity_fn)
    state, info = transition.kernel(key, state, logdensity_fn, params)

with ``params`` a dict of arrays (e.g. ``{"step_size": ...}``) that the estimators may adapt
between temperatures when ``target_acceptance`` is set, and ``num_steps`` kernel steps per
temperature. The density changes along an annealing path, so estimators re-``init`` at every
temperature (cached log densities would be stale).

* :func:`mala`, :func:`hmc`, :func:`from_blackjax` wrap blackjax kernels (continuous x).
* :class:`FlipGibbs` is a heat-bath (Gibbs) sampler for ±1 spins / {0, 1} bits of ANY log
  density: unit i flips with probability σ(Δ_i), Δ_i = log p(x with x_i flipped) − log p(x).
  Units of one colour are redrawn together, which is exact when they are conditionally
  independent (a proper colouring of the interaction graph); without ``colors`` every unit is
  its own colour (a sequential sweep, exact for any density). With ``multilinear=True`` all Δ_i
  come from one gradient: if log p is multilinear (affine in each unit, as for Ising models,
  RBMs, Boltzmann machines with zero diagonal and independent bases) then
  Δ_i = −2 s_i ∂_i log p (spins) or (1 − 2x_i) ∂_i log p (bits), exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import blackjax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

__all__ = [
    "BlackjaxTransition",
    "FlipGibbs",
    "FlipState",
    "Transition",
    "from_blackjax",
    "greedy_coloring",
    "hmc",
    "mala",
]


class Transition(eqx.Module):
    """Base class: ``init``, ``kernel`` (blackjax contract), ``params``, ``num_steps``,
    ``target_acceptance`` (adapt ``params["step_size"]`` towards it, or None)."""

    params: dict
    num_steps: int = eqx.field(static=True, default=1)
    target_acceptance: float | None = eqx.field(static=True, default=None)

    def init(self, position, logdensity_fn: Callable):
        raise NotImplementedError

    def kernel(self, key, state, logdensity_fn: Callable, params: dict):
        raise NotImplementedError

    def prepare(self, num_units: int) -> Transition:
        """Fill parameters that depend on the size of the raveled position (a unit mass matrix)."""
        return self

    def adapt(self, params: dict, acceptance) -> dict:
        """Multiplicative step-size update towards ``target_acceptance`` (population mean).

        log ε ← log ε + 2 (ā − a*), clipped to ±1 per temperature; a no-op without a target.
        """
        if self.target_acceptance is None or "step_size" not in params:
            return params
        delta = jnp.clip(2.0 * (acceptance - self.target_acceptance), -1.0, 1.0)
        delta = jnp.where(jnp.isfinite(delta), delta, -1.0)
        return {**params, "step_size": params["step_size"] * jnp.exp(delta)}


class BlackjaxTransition(Transition):
    """A blackjax algorithm's ``init`` and ``build_kernel()`` with keyword ``params``."""

    init_fn: Callable = eqx.field(static=True, default=None)
    build_kernel_fn: Callable = eqx.field(static=True, default=None)
    build_kernel_kwargs: tuple = eqx.field(static=True, default=())

    def init(self, position, logdensity_fn):
        return self.init_fn(position, logdensity_fn)

    def kernel(self, key, state, logdensity_fn, params):
        kernel = self.build_kernel_fn(**dict(self.build_kernel_kwargs))
        return kernel(key, state, logdensity_fn, **params)

    def prepare(self, num_units: int):
        if "inverse_mass_matrix" in self.params and self.params["inverse_mass_matrix"] is None:
            params = {**self.params, "inverse_mass_matrix": jnp.ones(num_units)}
            return eqx.tree_at(lambda t: t.params, self, params)
        return self


def _positive(x, name: str):
    x = jnp.asarray(x, dtype=jnp.result_type(float))
    if not bool(jnp.all(x > 0)) or not bool(jnp.all(jnp.isfinite(x))):
        raise ValueError(f"{name} must be positive and finite, got {x}")
    return x


def _check_steps(num_steps) -> int:
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be a positive integer, got {num_steps!r}")
    return num_steps


def _check_target(target_acceptance):
    if target_acceptance is not None and not (0.0 < target_acceptance < 1.0):
        raise ValueError(f"target_acceptance must be in (0, 1) or None, got {target_acceptance}")
    return target_acceptance


def mala(step_size=0.1, *, num_steps: int = 1, target_acceptance: float | None = 0.574):
    """blackjax MALA (x' = x + ε∇log p + √(2ε) ξ, Metropolis-adjusted); ε adapted per
    temperature towards ``target_acceptance`` unless it is None."""
    return BlackjaxTransition(
        params={"step_size": _positive(step_size, "step_size")},
        num_steps=_check_steps(num_steps),
        target_acceptance=_check_target(target_acceptance),
        init_fn=blackjax.mala.init,
        build_kernel_fn=blackjax.mala.build_kernel,
    )


def hmc(
    step_size=0.1,
    num_integration_steps: int = 10,
    *,
    inverse_mass_matrix=None,
    num_steps: int = 1,
    target_acceptance: float | None = 0.65,
):
    """blackjax HMC (velocity Verlet); unit mass matrix by default; ε adapted like :func:`mala`."""
    if isinstance(num_integration_steps, bool) or not isinstance(num_integration_steps, int):
        raise ValueError(
            f"num_integration_steps must be a positive integer, got {num_integration_steps!r}"
        )
    if num_integration_steps < 1:
        raise ValueError(f"num_integration_steps must be >= 1, got {num_integration_steps}")
    imm = (
        None
        if inverse_mass_matrix is None
        else _positive(inverse_mass_matrix, "inverse_mass_matrix")
    )
    return BlackjaxTransition(
        params={
            "step_size": _positive(step_size, "step_size"),
            "inverse_mass_matrix": imm,
            "num_integration_steps": jnp.asarray(num_integration_steps),
        },
        num_steps=_check_steps(num_steps),
        target_acceptance=_check_target(target_acceptance),
        init_fn=blackjax.hmc.init,
        build_kernel_fn=blackjax.hmc.build_kernel,
    )


def from_blackjax(
    algorithm,
    *,
    num_steps: int = 1,
    target_acceptance: float | None = None,
    build_kernel_kwargs: dict | None = None,
    **params,
) -> BlackjaxTransition:
    """Any blackjax-contract algorithm (a module with ``init(position, logdensity_fn)`` and
    ``build_kernel(**build_kernel_kwargs)``, e.g. ``blackjax.mala`` or ``samplers.metropolis``
    with ``build_kernel_kwargs={"domain": "bits"}``) with its kernel keyword ``params``.

    Example:
        >>> import samplers.metropolis
        >>> kernel = from_blackjax(samplers.metropolis, build_kernel_kwargs={"domain": "spin"})
        >>> ais(Ising((4, 4)), 0.4, key=key, kernel=kernel)
    """
    if not (hasattr(algorithm, "init") and hasattr(algorithm, "build_kernel")):
        raise TypeError(
            "algorithm must provide init(position, logdensity_fn) and build_kernel() (the "
            f"blackjax contract), got {algorithm!r}"
        )
    return BlackjaxTransition(
        params=params,
        num_steps=_check_steps(num_steps),
        target_acceptance=_check_target(target_acceptance),
        init_fn=algorithm.init,
        build_kernel_fn=algorithm.build_kernel,
        build_kernel_kwargs=tuple(sorted((build_kernel_kwargs or {}).items())),
    )


class FlipState(NamedTuple):
    position: Any


class FlipInfo(NamedTuple):
    acceptance_rate: jax.Array  # fraction of units that changed in the sweep


class FlipGibbs(Transition):
    """Colour-blocked heat-bath sweep for binary units of any log density (module docstring).

    Args:
        domain: ``"spin"`` (±1) or ``"bits"`` ({0, 1}).
        colors: one colour per unit of the raveled position (tuple of ints), or None for one
            colour per unit (sequential sweep).
        multilinear: compute every Δ_i from one gradient (exact only for multilinear log p).
    """

    domain: str = eqx.field(static=True, default="spin")
    colors: tuple | None = eqx.field(static=True, default=None)
    multilinear: bool = eqx.field(static=True, default=False)

    def init(self, position, logdensity_fn):
        return FlipState(position)

    def _flip(self, z):
        return -z if self.domain == "spin" else 1.0 - z

    def kernel(self, key, state, logdensity_fn, params):
        z, unravel = ravel_pytree(state.position)
        n = z.shape[0]
        colors = np.arange(n) if self.colors is None else np.asarray(self.colors)
        if colors.shape != (n,):
            raise ValueError(f"colors must have one entry per unit ({n}), got {colors.shape}")
        num_colors = int(colors.max()) + 1
        blocks = [np.flatnonzero(colors == c) for c in range(num_colors)]
        width = max(len(b) for b in blocks)
        idx = np.full((num_colors, width), n, dtype=np.int32)  # n = padding, dropped on scatter
        for c, b in enumerate(blocks):
            idx[c, : len(b)] = b
        mask = idx < n

        def logp(zz):
            return logdensity_fn(unravel(zz))

        def sweep_color(z, inp):
            rows, valid, k = inp
            zi = z[rows]
            if self.multilinear:
                g = jax.grad(logp)(z)[rows]
                delta = -2.0 * zi * g if self.domain == "spin" else (1.0 - 2.0 * zi) * g
            else:
                lp0 = logp(z)
                delta = jax.vmap(lambda r, v: logp(z.at[r].set(self._flip(v))))(rows, zi) - lp0
            u = jax.random.uniform(k, delta.shape, dtype=z.dtype)
            flip = (jnp.log(u) < jax.nn.log_sigmoid(delta)) & valid
            z = z.at[rows].set(jnp.where(flip, self._flip(zi), zi), mode="drop")
            return z, jnp.sum(flip)

        keys = jax.random.split(key, num_colors)
        z, flips = jax.lax.scan(sweep_color, z, (jnp.asarray(idx), jnp.asarray(mask), keys))
        return FlipState(unravel(z)), FlipInfo(jnp.sum(flips) / n)


def greedy_coloring(W) -> np.ndarray:
    """A proper colouring of the graph with edges where W_ij ≠ 0 (i ≠ j), greedy in index
    order (two colours for a bipartite lattice with even periodic sides)."""
    A = np.asarray(W) != 0
    np.fill_diagonal(A, False)
    n = A.shape[0]
    colors = np.full(n, -1, dtype=int)
    for i in range(n):
        used = set(colors[A[i]].tolist())
        c = 0
        while c in used:
            c += 1
        colors[i] = c
    return colors
