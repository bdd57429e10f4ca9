"""Exact log Z(β) of the built-in models, by the best exact route for each.

    Z(β) = Σ_x exp(−β E(x))   (or ∫ for the Gaussian)

Routes (``method``):

- ``"closed_form"``: Gaussian, log Z = (d/2) log(2π/β) − ½ log det A.
- ``"kaufman"``: periodic 2-D Ising with a structurally zero field (``Ising.zero_field``), any
  M × N, J of either sign (Kaufman 1949; see ``_kaufman``).
- ``"transfer_matrix"``: Ising chain (2 × 2 matrix, any N, with field, periodic or free) and the
  2-D Ising lattice with field or free boundaries (row to row, 2^w states per row).
- ``"magnetization_sum"``: Curie–Weiss, Z = Σ_{k=0}^{N} C(N, k) exp(−β E(M = 2k − N)).
- ``"enumeration"``: Boltzmann machines (2^n states) and RBMs (2^{min(n_v, n_h)} states of the
  smaller layer, the other summed analytically: log Z = logsumexp_v(−β F_β(v))), in blocks.
- ``"independent"``: Ising with J = 0, log Z = n log(2 cosh βh).

The routes of each model type are registered with
[`physebm.models.capabilities.exact_routes`][] (the built-ins below); a model type defined
elsewhere registers its own and [`exact`][] uses them.

β may be a scalar or a 1-D array (the result's fields are then arrays of the same shape); it is
a traced, differentiable argument everywhere, so ``jax.grad``/``jax.jit`` over β work and a
jitted function of β compiles once. So are the model's parameters (J, h, W, b, ...): the route is
chosen from static information (shapes, boundaries, ``Ising.zero_field``), so a model passed to
``jit`` as an argument, built inside ``jit``/``vmap``/``grad`` or differentiated with respect to
its couplings and fields takes the same route as the concrete model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln, logsumexp

from physebm.enumeration import logsumexp_over_states
from physebm.models import RBM, BoltzmannMachine, CurieWeiss, Gaussian, Ising
from physebm.models.capabilities import exact_routes
from physebm.partition._kaufman import kaufman_log_z
from physebm.partition._transfer import chain_log_z, lattice_log_z
from physebm.partition.result import LogZ
from physebm.validation import check_beta, is_concrete

MAX_ENUMERATION_LOG2 = 24
"""Largest number of enumerated states, as a power of two (2^24 ≈ 1.7·10⁷)."""
MAX_TRANSFER_WIDTH_FREE = 20
"""Widest row for the open-boundary transfer matrix (cost L·w·2^w)."""
MAX_TRANSFER_WIDTH_PERIODIC = 12
"""Widest row for the periodic transfer matrix (a trace: cost L·w·4^w)."""
METHODS = (
    "auto",
    "closed_form",
    "kaufman",
    "transfer_matrix",
    "magnetization_sum",
    "enumeration",
    "independent",
)
SUPPORTED = "Gaussian, Ising, CurieWeiss, BoltzmannMachine, RBM (physebm.models)"
ESTIMATORS = (
    "annealed importance sampling (physebm.partition.ais), thermodynamic integration "
    "(physebm.partition.thermodynamic_integration) or sequential Monte Carlo "
    "(physebm.partition.smc)"
)


class ExactRoute(NamedTuple):
    """How [`exact`][] computes log Z for one model.

    Attributes:
        log_z_fn: scalar β -> scalar log Z(β); traceable and differentiable in β and in the
            model parameters it closes over (which may be tracers).
        method: the route's name (one of `METHODS` other than ``"auto"``).
        diagnostics: numbers describing the work (states enumerated, row width, ...).
        sequential: vectorise over β with ``lax.map`` (bounded memory) rather than ``vmap``.
    """

    log_z_fn: Callable[[jax.Array], jax.Array]
    method: str
    diagnostics: dict
    sequential: bool = False


def _concrete_value(x) -> float | None:
    """The float value of a concrete scalar array, or None when traced."""
    return float(np.asarray(x)) if is_concrete(x) else None


def _enumeration_route(model: BoltzmannMachine) -> ExactRoute:
    n = model.num_units
    W, b, spins = model.W, model.b, model.domain == "spin"

    def log_z_fn(beta):
        def log_weights(bits):
            x = 2 * bits - 1 if spins else bits
            return beta * (0.5 * jnp.sum((x @ W) * x, axis=-1) + x @ b)

        return logsumexp_over_states(log_weights, n)

    return ExactRoute(log_z_fn, "enumeration", {"num_states": 2**n}, sequential=n > 14)


def _too_many_states(what: str, num_units: int) -> str:
    return (
        f"{what} has 2^{num_units} states, more than the exact-enumeration limit "
        f"2^{MAX_ENUMERATION_LOG2}"
    )


@exact_routes.register(Ising)
def _ising_routes(model: Ising) -> dict[str, ExactRoute | str]:
    """Every exact route for an Ising model, or the reason it does not apply.

    Which routes apply is decided from static information (shape, boundaries, the static
    ``zero_field`` flag); a concrete J only adds the ``independent`` route (J = 0) and removes
    Kaufman's for a frustrated torus (J < 0 with an odd side). Every route is a function of the
    model's J and h as well as β, so J and h may be traced and differentiated.
    """
    n = model.num_sites
    J = _concrete_value(model.J)
    routes: dict[str, ExactRoute | str] = {}
    if J == 0.0:
        routes["independent"] = ExactRoute(
            lambda beta: n * jnp.logaddexp(beta * model.h, -beta * model.h),
            "independent",
            {"num_sites": n},
        )
    else:
        routes["independent"] = "needs J = 0 (a concrete value)"
    routes["kaufman"] = _ising_kaufman_route(model, J)
    routes["transfer_matrix"] = _ising_transfer_route(model)
    if n > MAX_ENUMERATION_LOG2:
        routes["enumeration"] = _too_many_states(f"Ising{model.shape}", n)
    else:
        routes["enumeration"] = _enumeration_route(model.to_boltzmann_machine())
    return routes


def _ising_kaufman_route(model: Ising, J: float | None) -> ExactRoute | str:
    """Kaufman's log Z of a periodic 2-D lattice whose field is structurally zero, or why not.

    K = βJ may have either sign and be traced (see `kaufman_log_z`): J < 0 maps to |J| on a
    torus with both sides even; with an odd side a concrete J < 0 rules the route out, and a
    traced one gives NaN.
    """
    shape, n = model.shape, model.num_sites
    if len(shape) != 2 or not model.periodic:
        return "needs a periodic 2-D lattice"
    if not model.zero_field:
        return (
            "needs h = 0 known at construction (Ising(..., h=None) or a concrete 0: "
            "model.zero_field), got a field"
        )
    if J is not None and J < 0 and (shape[0] % 2 or shape[1] % 2):
        return "needs J > 0, or both sides even for J < 0 (frustrated odd torus)"
    return ExactRoute(
        lambda beta: kaufman_log_z(shape[0], shape[1], beta * model.J),
        "kaufman",
        {"num_sites": n, "num_gammas": 2 * shape[1]},
    )


def _ising_transfer_route(model: Ising) -> ExactRoute | str:
    """The 2 × 2 chain transfer matrix, or the row-to-row one of a lattice whose shorter side
    fits `MAX_TRANSFER_WIDTH_PERIODIC` / `MAX_TRANSFER_WIDTH_FREE`, or why not."""
    shape, n, periodic = model.shape, model.num_sites, model.periodic
    if len(shape) == 1:
        return ExactRoute(
            lambda beta: chain_log_z(n, beta * model.J, beta * model.h, periodic),
            "transfer_matrix",
            {"num_sites": n, "num_row_states": 2},
        )
    width, length = min(shape), max(shape)
    limit = MAX_TRANSFER_WIDTH_PERIODIC if periodic else MAX_TRANSFER_WIDTH_FREE
    if width > limit:
        return (
            f"needs the shorter side <= {limit} for {'periodic' if periodic else 'free'} "
            f"boundaries (2^{limit} states per row), got {width}"
        )
    return ExactRoute(
        lambda beta: lattice_log_z(shape, beta * model.J, beta * model.h, periodic),
        "transfer_matrix",
        {"row_width": width, "num_rows": length, "num_row_states": 2**width},
        sequential=width > 8,
    )


@exact_routes.register(CurieWeiss)
def _curie_weiss_routes(model: CurieWeiss) -> dict[str, ExactRoute | str]:
    """Magnetisation sum Z = Σ_k C(N, k) exp(−β E(M = 2k − N)), and enumeration."""
    N = model.N

    def log_z_fn(beta):
        k = jnp.arange(N + 1, dtype=jnp.result_type(float))
        log_binom = gammaln(N + 1.0) - gammaln(k + 1) - gammaln(N - k + 1)
        return logsumexp(log_binom - beta * model.energy_of_magnetization(2 * k - N))

    routes: dict[str, ExactRoute | str] = {
        "magnetization_sum": ExactRoute(log_z_fn, "magnetization_sum", {"num_terms": N + 1})
    }
    if N > MAX_ENUMERATION_LOG2:
        routes["enumeration"] = _too_many_states(f"CurieWeiss(N={N})", N)
    else:
        W = jnp.full((N, N), 1.0 / N) * model.J
        routes["enumeration"] = _enumeration_route(
            BoltzmannMachine(W, jnp.full((N,), 1.0) * model.h, domain="spin")
        )
    return routes


@exact_routes.register(RBM)
def _rbm_routes(model: RBM) -> dict[str, ExactRoute | str]:
    """Enumeration of the smaller layer: log Z = logsumexp(−β F_β) over 2^min(n_v, n_h) states."""
    nv, nh = model.num_visible, model.num_hidden
    n = min(nv, nh)
    if n > MAX_ENUMERATION_LOG2:
        return {"enumeration": _too_many_states(f"the smaller layer of RBM({nv}, {nh})", n)}

    if nv <= nh:

        def log_z_fn(beta):
            return logsumexp_over_states(lambda v: -beta * model.free_energy(v, beta), nv)

    else:

        def log_z_fn(beta):
            return logsumexp_over_states(lambda h: -beta * model.free_energy_hidden(h, beta), nh)

    diagnostics = {"num_states": 2**n, "num_enumerated_units": n, "num_summed_units": nv + nh - n}
    return {"enumeration": ExactRoute(log_z_fn, "enumeration", diagnostics, sequential=n > 14)}


@exact_routes.register(Gaussian)
def _gaussian_routes(model: Gaussian) -> dict[str, ExactRoute | str]:
    """Closed form log Z(β) = (d/2) log(2π/β) − ½ log det A, if A is positive definite."""
    if is_concrete(model.precision):
        eig_min = float(np.linalg.eigvalsh(np.asarray(model.precision)).min())
        if not eig_min > 0:
            return {
                "closed_form": (
                    f"needs a positive definite precision (model.precision), smallest eigenvalue "
                    f"{eig_min:.3g}: Z(β) diverges"
                )
            }
    return {"closed_form": ExactRoute(model.log_z, "closed_form", {"dim": model.dim})}


@exact_routes.register(BoltzmannMachine)
def _boltzmann_routes(model: BoltzmannMachine) -> dict[str, ExactRoute | str]:
    """Enumeration of the 2^n states."""
    n = model.num_units
    if n > MAX_ENUMERATION_LOG2:
        return {"enumeration": _too_many_states(f"BoltzmannMachine with {n} units", n)}
    return {"enumeration": _enumeration_route(model)}


_PRIORITY = (
    "closed_form",
    "independent",
    "kaufman",
    "magnetization_sum",
    "transfer_matrix",
    "enumeration",
)


def exact_route(model, method: str = "auto") -> ExactRoute:
    """Pick the exact route for ``model`` (all checks that do not need β happen here).

    The routes come from [`physebm.models.capabilities.exact_routes`][], registered per
    model type (the built-ins in this module).

    Args:
        model: a Gaussian, Ising, CurieWeiss, BoltzmannMachine or RBM, or a model whose type
            registers [`exact_routes`][].
        method: ``"auto"`` (the cheapest route that applies) or a route name in `METHODS`.

    Raises:
        TypeError: for a model type with no registered exact routes.
        ValueError: for an unknown ``method``, a method that does not apply to ``model``, or a
            model too large for every exact route.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    routes = exact_routes(model)
    if routes is None:
        raise TypeError(
            f"model must be one of {SUPPORTED} for an exact log Z (or a type registered with "
            f"physebm.models.capabilities.exact_routes), got {type(model).__name__}; "
            f"for other energies estimate log Z with {ESTIMATORS}"
        )
    name = type(model).__name__
    if method == "auto":
        for key in (*_PRIORITY, *routes):  # the built-in order, then any other registered name
            if isinstance(routes.get(key), ExactRoute):
                return routes[key]
        reasons = "; ".join(f"{k}: {v}" for k, v in routes.items() if k != "independent")
        raise ValueError(
            f"model: no exact route for this {name} ({reasons}); estimate log Z with {ESTIMATORS}"
        )
    route = routes.get(method, f"not a route for {name}")
    if isinstance(route, str):
        usable = [k for k, v in routes.items() if isinstance(v, ExactRoute)]
        raise ValueError(
            f"method={method!r} does not apply to this {name}: {route}; "
            f"exact routes available: {usable or 'none'}"
        )
    return route


def check_beta_vector(beta) -> jax.Array:
    """``beta`` as a float array of shape () or (k,), validated where concrete."""
    beta = check_beta(beta)
    beta = jnp.asarray(beta, dtype=jnp.result_type(float))
    if beta.ndim > 1:
        raise ValueError(
            f"beta must be a scalar or a 1-D array of inverse temperatures, got shape {beta.shape}"
        )
    return beta


def map_over_beta(fn: Callable[[jax.Array], Any], beta: jax.Array, sequential: bool) -> Any:
    """Apply a scalar-β function to a scalar or 1-D ``beta``."""
    if beta.ndim == 0:
        return fn(beta)
    return jax.lax.map(fn, beta) if sequential else jax.vmap(fn)(beta)


def exact(model, beta, *, method: str = "auto") -> LogZ:
    """Exact log Z(β) of a built-in model.

    Args:
        model: a [`Gaussian`][], [`Ising`][],
            [`CurieWeiss`][], [`BoltzmannMachine`][] or
            [`RBM`][], or a model whose type registers
            [`exact_routes`][].
        beta: inverse temperature β > 0, a scalar or a 1-D array (traced; differentiable).
            The model's parameters may be traced too (the model a ``jit`` argument, built
            inside a transform, or differentiated): the route depends only on static
            information, and log Z is differentiable in them.
        method: ``"auto"`` picks the cheapest exact route; or force one of `METHODS`
            (e.g. ``"enumeration"`` or ``"transfer_matrix"`` to cross-check ``"kaufman"``).

    Returns:
        [`LogZ`][] with ``stderr = 0``, ``lower = upper = log_z``, ``method`` the route used,
        and ``diagnostics`` (e.g. ``num_states`` enumerated, ``row_width`` of a transfer
        matrix).

    Raises:
        TypeError: ``beta`` not numeric, or ``model`` of a type with no registered routes.
        ValueError: ``beta`` ≤ 0, NaN, infinite or of rank > 1; ``method`` unknown or not
            applicable; ``model`` too large for every exact route (the message names the
            estimators to use instead).

    Example:
        >>> from physebm.models import Ising, BETA_C_2D
        >>> exact(Ising((4, 4)), BETA_C_2D).log_z  # 15.5219154587...
    """
    beta = check_beta_vector(beta)
    route = exact_route(model, method)
    log_z = map_over_beta(route.log_z_fn, beta, route.sequential)
    return LogZ.exact(log_z, route.method, **route.diagnostics)
