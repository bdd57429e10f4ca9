"""Thermodynamics from the exact log Z(β), by automatic differentiation in β (k_B = 1).

    F = −(1/β) log Z,   U = ⟨E⟩ = −∂ log Z/∂β,   S = β (U − F) = log Z + βU,
    C = β² ∂² log Z/∂β² = β² Var_β(E)   (dimensionless heat capacity, C = ∂U/∂T with T = 1/β).

Both derivatives come from forward-mode autodiff through the exact route (nested ``jax.jvp``), so
they are exact up to rounding: no finite differences.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp

from physebm.models import capabilities
from physebm.partition.exact import check_beta_vector, exact_route, map_over_beta


class Thermodynamics(eqx.Module):
    """Thermodynamic functions at one β or an array of β's (fields then share β's shape).

    Attributes:
        beta: inverse temperature(s) β.
        log_z: log Z(β).
        free_energy: F = −(1/β) log Z.
        internal_energy: U = ⟨E⟩ = −∂ log Z/∂β.
        entropy: S = β(U − F) (in nats; S → n log 2 as β → 0 for n spins).
        heat_capacity: C = β² ∂² log Z/∂β² = β² Var(E) ≥ 0.
        num_sites: number of degrees of freedom used by [`per_site`][] (static).
    """

    beta: jax.Array
    log_z: jax.Array
    free_energy: jax.Array
    internal_energy: jax.Array
    entropy: jax.Array
    heat_capacity: jax.Array
    num_sites: int = eqx.field(static=True, default=1)

    def per_site(self) -> Thermodynamics:
        """The extensive quantities (log Z, F, U, S, C) divided by ``num_sites``."""
        n = self.num_sites
        return Thermodynamics(
            beta=self.beta,
            log_z=self.log_z / n,
            free_energy=self.free_energy / n,
            internal_energy=self.internal_energy / n,
            entropy=self.entropy / n,
            heat_capacity=self.heat_capacity / n,
            num_sites=1,
        )


def _derivatives(log_z_fn: Callable, beta):
    """(log Z, ∂ log Z/∂β, ∂² log Z/∂β²) at a scalar β by nested forward-mode autodiff."""

    def first(b):
        return jax.jvp(log_z_fn, (b,), (jnp.ones_like(b),))

    (log_z, d1), (_, d2) = jax.jvp(first, (beta,), (jnp.ones_like(beta),))
    return log_z, d1, d2


def thermodynamics_from_log_z(
    log_z_fn: Callable[[jax.Array], jax.Array],
    beta,
    *,
    num_sites: int = 1,
    sequential: bool = False,
) -> Thermodynamics:
    """Thermodynamic functions from any differentiable scalar function β -> log Z(β).

    Args:
        log_z_fn: scalar β -> scalar log Z(β), differentiable twice in β.
        beta: β > 0, a scalar or a 1-D array.
        num_sites: degrees of freedom, for [`Thermodynamics.per_site`][].
        sequential: loop over an array of β with ``lax.map`` (bounded memory) instead of ``vmap``.
    """
    beta = check_beta_vector(beta)
    log_z, d1, d2 = map_over_beta(lambda b: _derivatives(log_z_fn, b), beta, sequential)
    free_energy = -log_z / beta
    internal_energy = -d1
    return Thermodynamics(
        beta=beta,
        log_z=log_z,
        free_energy=free_energy,
        internal_energy=internal_energy,
        entropy=log_z + beta * internal_energy,
        heat_capacity=beta**2 * d2,
        num_sites=num_sites,
    )


def thermodynamics(model, beta, *, method: str = "auto") -> Thermodynamics:
    """F, U, S and C of a built-in model from its exact log Z (see
    [`physebm.partition.exact`][physebm.partition.exact.exact]).

    The exact route comes from [`physebm.models.capabilities.exact_routes`][] and the count
    of degrees of freedom for [`Thermodynamics.per_site`][] from
    [`physebm.models.capabilities.num_sites`][], so any model type registering an exact
    route works here.

    Args:
        model: Gaussian, Ising, CurieWeiss, BoltzmannMachine or RBM, or any model whose type
            registers [`exact_routes`][physebm.models.capabilities.exact_routes].
        beta: β > 0, a scalar or a 1-D array (vectorised; β is traced, so no recompilation).
        method: exact route, as in [`physebm.partition.exact`][physebm.partition.exact.exact].

    Returns:
        [`Thermodynamics`][]; call ``.per_site()`` for intensive values.

    Example:
        >>> import jax.numpy as jnp
        >>> from physebm.models import Ising
        >>> th = thermodynamics(Ising((16, 16)), jnp.linspace(0.3, 0.6, 61)).per_site()
        >>> th.beta[jnp.argmax(th.heat_capacity)]  # near β_c = 0.4407
    """
    beta = check_beta_vector(beta)
    route = exact_route(model, method)
    return thermodynamics_from_log_z(
        route.log_z_fn, beta, num_sites=capabilities.num_sites(model), sequential=route.sequential
    )
