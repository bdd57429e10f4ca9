"""Variational estimates of log Z: mean-field and TAP for binary pairwise models, ELBO/IWAE.

Gibbs–Bogoliubov / ELBO: for ANY distribution q,

    log Z(β) ≥ E_q[−βE(x)] + S(q),

with equality iff q = p_β — a deterministic LOWER bound when the right side is computed exactly.

Binary pairwise models E(x) = −½ xᵀWx − bᵀx (Ising, Curie–Weiss, Boltzmann machines; an RBM
as the bipartite W on x = (v, h)); a factorised q with means m gives

    Φ_MF(m) = β(½ mᵀWm − ½ Σ_i W_ii m_i² + ½ Σ_i W_ii ⟨x_i²⟩ + bᵀm) + Σ_i H(q_i),

⟨x_i²⟩ = 1 for spins and m_i for bits — exact, so max_m Φ_MF is a rigorous lower bound
(``mean_field``). TAP (Thouless–Anderson–Palmer; second order of Plefka's expansion) adds
the Onsager term

    Φ_TAP(m) = Φ_MF(m) + (β²/4) Σ_{i≠j} W_ij² Var_i Var_j,   Var = 1 − m² (spins), m(1 − m) (bits),

which is NOT a bound (a truncated series): usually closer to log Z than mean-field at weak
coupling, and reported with no bound. Both are found by damped fixed-point iteration
m = tanh(∂G/∂m) (spins) or σ(∂G/∂m) (bits), G = Φ − S, from several random starts.

Continuous energies: ``elbo`` fits a numpyro guide q (AutoNormal, AutoMultivariateNormal, or any
guide factory, e.g. a flow) by SVI and reports the ELBO E_q[−βE − log q] ≤ log Z (a stochastic
lower bound, with stderr); ``iwae`` the importance-weighted bound
E[log (1/K) Σ_k w_k] ≤ log Z, which increases with K towards log Z. Given exact target samples,
``elbo`` also reports the EUBO E_p[−βE − log q] ≥ log Z as ``upper``.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.scipy.special import logsumexp
from numpyro import handlers
from numpyro.infer import SVI, Trace_ELBO
from numpyro.infer.autoguide import AutoContinuous, AutoMultivariateNormal, AutoNormal
from numpyro.infer.util import log_density

from physebm.gibbs import Gibbs
from physebm.models import capabilities
from physebm.numpyro import sample_gibbs
from physebm.partition._target import exact_samples, resolve
from physebm.partition.result import LogZ
from samplers.base import check_count as _check_count

__all__ = ["elbo", "iwae", "mean_field", "pairwise_form", "tap"]


def pairwise_form(model) -> capabilities.PairwiseForm:
    """(W, b, domain) with E(x) = −½ xᵀWx − bᵀx on the flattened units of ``model``.

    An RBM's units are x = (v, h) with W = [[0, W], [Wᵀ, 0]] and b = (b, c). The form is
    [`physebm.models.capabilities.pairwise_form`][], registered per model type.

    Raises:
        TypeError: the model is not a binary pairwise model.
    """
    form = capabilities.pairwise_form(model)
    if form is None:
        raise TypeError(
            "mean_field/tap need a binary pairwise model (Ising, CurieWeiss, BoltzmannMachine, "
            f"RBM), got {type(model).__name__}; use elbo() for continuous energies"
        )
    return form


def _entropy(m, domain):
    p = 0.5 * (1.0 + m) if domain == "spin" else m
    return -jnp.sum(jax.scipy.special.xlogy(p, p) + jax.scipy.special.xlogy(1 - p, 1 - p))


def _energy_terms(m, W, b, beta, domain, onsager: bool):
    """G(m) = Φ(m) − S(m): −β⟨E⟩_q, plus the Onsager term for TAP."""
    diag = jnp.diag(W)
    sq = jnp.ones_like(m) if domain == "spin" else m
    g = beta * (0.5 * m @ W @ m - 0.5 * jnp.sum(diag * m**2) + 0.5 * jnp.sum(diag * sq) + b @ m)
    if onsager:
        var = 1.0 - m**2 if domain == "spin" else m * (1.0 - m)
        W2 = W**2 - jnp.diag(diag**2)
        g = g + 0.25 * beta**2 * var @ W2 @ var
    return g


@eqx.filter_jit
def _fixed_point(W, b, beta, theta0, domain: str, onsager: bool, num_iterations: int, damping):
    squash = jnp.tanh if domain == "spin" else jax.nn.sigmoid

    def phi(m):
        return _energy_terms(m, W, b, beta, domain, onsager) + _entropy(m, domain)

    grad_g = jax.grad(lambda m: _energy_terms(m, W, b, beta, domain, onsager))

    def step(carry, _):
        theta, best = carry
        m = squash(theta)
        theta = (1 - damping) * theta + damping * grad_g(m)
        val = phi(squash(theta))
        return (theta, jnp.maximum(best, jnp.where(jnp.isfinite(val), val, -jnp.inf))), None

    def run(theta):
        best0 = phi(squash(theta))
        (theta, best), _ = jax.lax.scan(step, (theta, best0), None, length=num_iterations)
        m = squash(theta)
        change = jnp.max(jnp.abs(squash((1 - damping) * theta + damping * grad_g(m)) - m))
        return phi(m), best, m, change

    return jax.vmap(run)(theta0)


def _variational(model_or_gibbs, beta, key, num_restarts, num_iterations, damping, onsager):
    target = resolve(model_or_gibbs, beta)
    W, b, domain = pairwise_form(target.energy)
    num_restarts = _check_count(num_restarts, "num_restarts")
    num_iterations = _check_count(num_iterations, "num_iterations")
    if not (0.0 < damping <= 1.0):
        raise ValueError(f"damping must be in (0, 1], got {damping}")
    key = jax.random.key(0) if key is None else key
    theta0 = jax.random.normal(key, (num_restarts, b.shape[0]))
    theta0 = theta0.at[0].set(target.beta * b)  # the field-only start
    if num_restarts >= 3:  # the two fully polarised starts (ordered phases of ferromagnets)
        theta0 = theta0.at[1].set(2.0).at[2].set(-2.0)
    final, best, m, change = _fixed_point(
        W, b, target.beta, theta0, domain, onsager, num_iterations, damping
    )
    return final, best, m, change, domain


def mean_field(
    model_or_gibbs,
    beta=None,
    *,
    key=None,
    num_restarts: int = 8,
    num_iterations: int = 500,
    damping: float = 0.5,
) -> LogZ:
    """Naive mean-field lower bound on log Z(β) for a binary pairwise model.

    Returns:
        [`LogZ`][] (method ``"mean_field"``) with ``log_z = lower`` = the best Φ_MF over
        iterations and restarts — a deterministic lower bound (every iterate is a valid q);
        diagnostics ``magnetizations`` (of the best restart), ``converged``.
    """
    final, best, m, change, domain = _variational(
        model_or_gibbs, beta, key, num_restarts, num_iterations, damping, onsager=False
    )
    i = int(jnp.argmax(best))
    bound = best[i]
    return LogZ(
        log_z=bound,
        stderr=jnp.zeros_like(bound),
        lower=bound,
        method="mean_field",
        diagnostics={
            "bound": "lower",
            "magnetizations": m[i],
            "domain": domain,
            "converged": bool(change[i] < 1e-6),
            "restart_values": best,
        },
    )


def tap(
    model_or_gibbs,
    beta=None,
    *,
    key=None,
    num_restarts: int = 8,
    num_iterations: int = 500,
    damping: float = 0.5,
) -> LogZ:
    """TAP (second-order Plefka) approximation of log Z(β) — NOT a bound.

    Returns:
        [`LogZ`][] (method ``"tap"``, ``lower = −∞``, ``upper = +∞``) with ``log_z`` the
        largest Φ_TAP among converged restarts (all restarts if none converged); diagnostics
        ``magnetizations``, ``converged``, ``warnings``.
    """
    final, _, m, change, domain = _variational(
        model_or_gibbs, beta, key, num_restarts, num_iterations, damping, onsager=True
    )
    ok = (change < 1e-6) & jnp.isfinite(final)
    vals = jnp.where(ok, final, -jnp.inf) if bool(jnp.any(ok)) else final
    i = int(jnp.argmax(vals))
    warns = () if bool(jnp.any(ok)) else ("TAP iteration did not converge from any start",)
    return LogZ(
        log_z=final[i],
        stderr=jnp.zeros_like(final[i]),
        method="tap",
        diagnostics={
            "bound": "none (approximation)",
            "magnetizations": m[i],
            "domain": domain,
            "converged": bool(ok[i]),
            "warnings": warns,
        },
    )


def _guide(guide, numpyro_model):
    if guide == "normal":
        return AutoNormal(numpyro_model)
    if guide == "multivariate_normal":
        return AutoMultivariateNormal(numpyro_model)
    if callable(guide):
        return guide(numpyro_model)
    raise ValueError(
        "guide must be 'normal', 'multivariate_normal' or a callable numpyro_model -> guide "
        f"(e.g. lambda m: numpyro.infer.autoguide.AutoIAFNormal(m)), got {guide!r}"
    )


def _event_shape(energy, event_shape):
    shape = event_shape if event_shape is not None else getattr(energy, "event_shape", None)
    if shape is None:
        raise ValueError("event_shape is required for an energy without .event_shape")
    return tuple(int(s) for s in shape)


def _log_weights(gibbs, guide, params, key, num):
    """log w = −βE(x) − log q(x) for ``num`` fresh draws x ~ q."""

    def one(k):
        lq, tr = log_density(handlers.seed(guide, k), (), {}, params)
        return gibbs.log_unnormalized(tr["x"]["value"]) - lq

    return jax.vmap(one)(jax.random.split(key, num))


def _guide_log_prob(guide, params, x):
    if isinstance(guide, AutoContinuous):
        return guide.get_posterior(params).log_prob(jnp.ravel(x))
    lq, _ = log_density(handlers.substitute(guide, data={"x": x}), (), {}, params)
    return lq


def elbo(
    model_or_gibbs,
    beta=None,
    *,
    key,
    guide="multivariate_normal",
    event_shape=None,
    num_steps: int = 2000,
    learning_rate: float = 0.01,
    num_particles: int = 4,
    num_samples: int = 2000,
    target_samples=None,
) -> LogZ:
    """ELBO lower bound on log Z(β) for a continuous energy, fitted by numpyro SVI.

    The numpyro model is ``x ~ exp(−βE(x))`` (an improper flat site weighted by the Gibbs
    factor); SVI maximises E_q[−βE(x) − log q(x)] with ``Trace_ELBO(num_particles)`` and Adam.

    Args:
        model_or_gibbs: a continuous physebm model, a [`Gibbs`][] or an energy.
        beta: inverse temperature (defaults to the Gibbs' β).
        key: PRNG key.
        guide: ``"normal"`` (AutoNormal), ``"multivariate_normal"``, or ``model -> guide``.
        event_shape: shape of x (taken from the model when it has ``event_shape``).
        num_steps, learning_rate, num_particles: SVI settings.
        num_samples: fresh draws for the final ELBO estimate.
        target_samples: exact samples of p_β (default: drawn where cheap, e.g. a Gaussian
            model) for the EUBO upper bound; None and no exact sampler → ``upper = +∞``.

    Returns:
        [`LogZ`][] (method ``"elbo"``): ``log_z = lower`` = ELBO estimate (stochastic lower
        bound) with stderr; ``upper`` = EUBO estimate when target samples exist;
        diagnostics ``guide``, ``params`` (for [`iwae`][]), ``losses``, ``eubo_stderr``.
    """
    target = resolve(model_or_gibbs, beta)
    shape = _event_shape(target.energy, event_shape)
    gibbs = Gibbs(target.energy, target.beta)
    for name, n in (("num_steps", num_steps), ("num_particles", num_particles)):
        _check_count(n, name)
    num_samples = _check_count(num_samples, "num_samples", 2)

    def numpyro_model():
        sample_gibbs("x", gibbs, shape)

    g = _guide(guide, numpyro_model)
    k_fit, k_eval, k_target = jax.random.split(key, 3)
    svi = SVI(numpyro_model, g, optax.adam(learning_rate), Trace_ELBO(num_particles=num_particles))
    result = svi.run(k_fit, num_steps, progress_bar=False)
    params = result.params
    log_w = _log_weights(gibbs, g, params, k_eval, num_samples)
    value = jnp.mean(log_w)
    se = jnp.std(log_w, ddof=1) / jnp.sqrt(num_samples)
    upper, upper_se = jnp.inf, jnp.nan
    if target_samples is None:
        target_samples = exact_samples(target.energy, target.beta, k_target, num_samples)
    if target_samples is not None:
        lw_p = jax.vmap(lambda x: gibbs.log_unnormalized(x) - _guide_log_prob(g, params, x))(
            target_samples
        )
        upper = jnp.mean(lw_p)
        upper_se = jnp.std(lw_p, ddof=1) / jnp.sqrt(lw_p.shape[0])
    warns = () if bool(jnp.isfinite(value)) else ("non-finite ELBO: the fit diverged",)
    return LogZ(
        log_z=value,
        stderr=se,
        lower=value,
        upper=upper,
        method="elbo",
        diagnostics={
            "bound": "lower (ELBO); upper (EUBO) when target samples exist",
            "guide": g,
            "params": params,
            "losses": result.losses,
            "eubo_stderr": upper_se,
            "num_samples": num_samples,
            "warnings": warns,
        },
    )


def iwae(
    model_or_gibbs,
    beta=None,
    *,
    key,
    guide,
    params,
    num_importance_samples: int = 10,
    num_groups: int = 500,
) -> LogZ:
    """Importance-weighted bound IWAE_K = E[log (1/K) Σ_k w_k] ≤ log Z with a fitted guide.

    IWAE_1 is the ELBO, IWAE_K increases with K and tends to log Z. Pass the ``guide`` and
    ``params`` from [`elbo`][]'s diagnostics.

    Returns:
        [`LogZ`][] (method ``"iwae"``): ``log_z = lower`` = mean over ``num_groups``
        independent groups of K weights, stderr = their sd/√groups.
    """
    target = resolve(model_or_gibbs, beta)
    gibbs = Gibbs(target.energy, target.beta)
    k = _check_count(num_importance_samples, "num_importance_samples")
    groups = _check_count(num_groups, "num_groups", 2)
    log_w = _log_weights(gibbs, guide, params, key, k * groups).reshape(groups, k)
    per_group = logsumexp(log_w, axis=1) - np.log(k)
    value = jnp.mean(per_group)
    se = jnp.std(per_group, ddof=1) / jnp.sqrt(groups)
    return LogZ(
        log_z=value,
        stderr=se,
        lower=value,
        method="iwae",
        diagnostics={"bound": "lower", "num_importance_samples": k, "num_groups": groups},
    )
