"""Gaussian–Bernoulli restricted Boltzmann machine: real visible units, binary hidden units."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp

import samplers
from physebm import enumeration
from physebm.models.base import EnergyModel
from physebm.models.capabilities import (
    DefaultSampler,
    ExactSampler,
    analytic_free_energy,
    default_base,
    default_sampler,
    exact_routes,
    exact_sampler,
    kernel_target,
)
from physebm.validation import check_beta, check_parameter, check_shape, is_concrete
from samplers.gaussian_rbm import GaussianBernoulliRBM as GaussianBernoulliTarget

MAX_SAMPLER_HIDDEN = 20
"""Largest hidden layer whose 2^{n_h} states the exact sampler enumerates."""


def _vector(x, name: str, n: int, default: float, what: str) -> jax.Array:
    """``x`` as an (n,) parameter vector: ``default`` everywhere for None, a scalar broadcast."""
    x = jnp.full((n,), default) if x is None else check_parameter(x, name)
    x = jnp.full((n,), x) if x.ndim == 0 else x
    if x.shape != (n,):
        raise ValueError(f"{name} must be a scalar or have shape ({n},) ({what}), got {x.shape}")
    return x


class GaussianBernoulliRBM(EnergyModel):
    """Gaussian–Bernoulli RBM, v ∈ ℝ^{n_v}, h ∈ {0,1}^{n_h} (Cho, Ilin & Raiko 2011; Hinton 2012):

        E(v, h) = Σ_i (v_i − b_i)² / (2σ_i²) − cᵀh − Σ_ij (v_i / σ_i) W_ij h_j.

    β multiplies the joint energy, p_β(v, h) ∝ exp(−β E(v, h)), and the conditionals are

        p_β(h_j = 1 | v) = sigmoid(β (c_j + Σ_i v_i W_ij / σ_i)),
        p_β(v | h) = N(b + σ ⊙ (W h), diag(σ²) / β).

    Completing the square, E(v, h) = Σ_i (v_i − m_i)²/(2σ_i²) − cᵀh − bᵀ(Wh/σ) − ½‖Wh‖² with
    m = b + σ ⊙ (Wh), so the hidden free energy (a Gaussian integral over v) is

        F_β(h) = −cᵀh − Σ_i (b_i/σ_i)(Wh)_i − ½‖Wh‖² − (1/2β) Σ_i log(2π σ_i² / β),

    the visible free energy (a sum over h) is

        F_β(v) = Σ_i (v_i − b_i)²/(2σ_i²) − (1/β) Σ_j softplus(β (c_j + Σ_i v_i W_ij / σ_i)),

    and log Z(β) = log Σ_h exp(−β F_β(h)) sums 2^{n_h} terms (the exact route
    ``"enumeration"`` of [`physebm.partition.exact`][]).

    A position is the pair x = (v, h), ``event_shape == ((n_v,), (n_h,))``, with h carried as
    {0, 1} floats. ``domain`` is ``"real"``: the position has a real-valued part, so the kernels,
    bases and enumerations for all-discrete positions do not apply; the model's own sampler
    (block Gibbs, [`samplers.gaussian_rbm.GaussianBernoulliRBM`][]) and exact routes do.

    Args:
        W: (n_v, n_h) weights.
        b: (n_v,) visible means, or a scalar for all (default 0).
        c: (n_h,) hidden biases, or a scalar for all (default 0).
        sigma: (n_v,) visible standard deviations σ_i > 0, or a scalar for all (default 1).
    """

    W: jax.Array
    b: jax.Array
    c: jax.Array
    sigma: jax.Array
    domain: str = eqx.field(static=True, default="real")

    def __init__(self, W, b=None, c=None, sigma=None):
        W = check_parameter(W, "W")
        if W.ndim != 2:
            raise ValueError(f"W must be a (n_visible, n_hidden) matrix, got shape {W.shape}")
        nv, nh = W.shape
        self.W = W
        self.b = _vector(b, "b", nv, 0.0, "visible means")
        self.c = _vector(c, "c", nh, 0.0, "hidden biases")
        self.sigma = _vector(sigma, "sigma", nv, 1.0, "visible standard deviations")
        if is_concrete(self.sigma) and not bool(jnp.all(self.sigma > 0)):
            raise ValueError(f"sigma must be > 0 (visible standard deviations), got {self.sigma}")

    @property
    def event_shape(self) -> tuple[tuple[int], tuple[int]]:
        """The shapes ``((n_v,), (n_h,))`` of the position (v, h)."""
        return tuple((n,) for n in self.W.shape)

    @property
    def num_visible(self) -> int:
        """n_v, the number of real visible units."""
        return self.b.shape[0]

    @property
    def num_hidden(self) -> int:
        """n_h, the number of binary hidden units."""
        return self.c.shape[0]

    def _v(self, v):
        return check_shape(v, (self.num_visible,), "v").astype(self.W.dtype)

    def _h(self, h):
        return check_shape(h, (self.num_hidden,), "h").astype(self.W.dtype)

    def energy(self, x, h=None) -> jax.Array:
        """E(v, h) = Σ (v − b)²/(2σ²) − cᵀh − (v/σ)ᵀWh: ``energy((v, h))`` or ``energy(v, h)``."""
        v, h = x if h is None else (x, h)
        v, h = self._v(v), self._h(h)
        if v.ndim != 1 or h.ndim != 1:
            raise ValueError("energy takes one configuration; vmap over batches")
        z = (v - self.b) / self.sigma
        return 0.5 * z @ z - self.c @ h - (v / self.sigma) @ self.W @ h

    def hidden_input(self, v) -> jax.Array:
        """c_j + Σ_i v_i W_ij / σ_i, batched over the leading axes of v."""
        return self.c + (self._v(v) / self.sigma) @ self.W

    def free_energy(self, v, beta=1.0) -> jax.Array:
        """F_β(v) = Σ (v − b)²/(2σ²) − (1/β) Σ_j softplus(β (c_j + (v/σ)ᵀW_{:j})), batched."""
        beta = check_beta(beta)
        z = (self._v(v) - self.b) / self.sigma
        softplus = jnp.sum(jax.nn.softplus(beta * self.hidden_input(v)), -1)
        return 0.5 * jnp.sum(z * z, -1) - softplus / beta

    def free_energy_hidden(self, h, beta=1.0) -> jax.Array:
        """F_β(h) = −cᵀh − (b/σ)ᵀWh − ½‖Wh‖² − (1/2β) Σ_i log(2πσ_i²/β), batched over h."""
        beta = check_beta(beta)
        h = self._h(h)
        Wh = h @ self.W.T
        volume = 0.5 * jnp.sum(jnp.log(2 * jnp.pi * self.sigma**2 / beta))
        return -h @ self.c - Wh @ (self.b / self.sigma) - 0.5 * jnp.sum(Wh * Wh, -1) - volume / beta

    def hidden_probs(self, v, beta=1.0) -> jax.Array:
        """p_β(h_j = 1 | v) = sigmoid(β (c_j + Σ_i v_i W_ij / σ_i))."""
        return jax.nn.sigmoid(beta * self.hidden_input(v))

    def visible_mean(self, h) -> jax.Array:
        """E_β[v | h] = b + σ ⊙ (W h) (any β), batched over the leading axes of h."""
        return self.b + self.sigma * (self._h(h) @ self.W.T)

    def visible_std(self, beta=1.0) -> jax.Array:
        """The standard deviations σ/√β of p_β(v | h)."""
        return self.sigma / jnp.sqrt(check_beta(beta))

    def log_z(self, beta) -> jax.Array:
        """log Z(β) = log Σ_h ∫ exp(−β E(v, h)) dv = logsumexp_h(−β F_β(h)), 2^{n_h} terms.

        Differentiable in β and in W, b, c, σ. Enumerates h in blocks of 2^14
        (``physebm.enumeration.logsumexp_over_states``).
        """
        beta = check_beta(beta)
        return enumeration.logsumexp_over_states(
            lambda h: -beta * self.free_energy_hidden(h, beta), self.num_hidden
        )

    def sample(self, key, beta=1.0, num_samples: int = 1):
        """Exact draws of p_β: h from its marginal ∝ exp(−β F_β(h)) over the 2^{n_h} states
        (inverse CDF), then v ~ N(b + σ ⊙ (Wh), σ²/β). Returns ``(v, h)``, leading axis
        ``num_samples``.

        Raises:
            ValueError: n_h > `MAX_SAMPLER_HIDDEN` (too many states to enumerate).
        """
        if self.num_hidden > MAX_SAMPLER_HIDDEN:
            raise ValueError(
                f"model: the exact sampler enumerates 2^n_hidden states, n_hidden = "
                f"{self.num_hidden} > {MAX_SAMPLER_HIDDEN}; use physebm.sample (block Gibbs)"
            )
        beta = check_beta(beta)
        key_h, key_v = jax.random.split(key)
        hs = enumeration.states(self.num_hidden, "bits").astype(self.W.dtype)
        log_p = -beta * self.free_energy_hidden(hs, beta)
        cdf = jnp.cumsum(jnp.exp(log_p - logsumexp(log_p)))
        u = jax.random.uniform(key_h, (num_samples,), cdf.dtype) * cdf[-1]
        h = hs[jnp.minimum(jnp.searchsorted(cdf, u, side="right"), hs.shape[0] - 1)]
        noise = jax.random.normal(key_v, (num_samples, self.num_visible), self.W.dtype)
        return self.visible_mean(h) + self.visible_std(beta) * noise, h


@exact_routes.register(GaussianBernoulliRBM)
def _gaussian_rbm_routes(model: GaussianBernoulliRBM) -> dict:
    """``"enumeration"``: the 2^{n_h} hidden states, each a Gaussian integral over v."""
    from physebm.partition.exact import MAX_ENUMERATION_LOG2, ExactRoute  # exact imports models

    nh = model.num_hidden
    if nh > MAX_ENUMERATION_LOG2:
        return {
            "enumeration": (
                f"the hidden layer of GaussianBernoulliRBM({model.num_visible}, {nh}) has 2^{nh} "
                f"states, more than the exact-enumeration limit 2^{MAX_ENUMERATION_LOG2}"
            )
        }
    diagnostics = {"num_states": 2**nh, "num_enumerated_units": nh}
    diagnostics["num_integrated_units"] = model.num_visible
    return {"enumeration": ExactRoute(model.log_z, "enumeration", diagnostics, nh > 14)}


@exact_sampler.register(GaussianBernoulliRBM)
def _gaussian_rbm_exact_sampler(model: GaussianBernoulliRBM) -> ExactSampler | None:
    """h from its enumerated marginal, v | h Gaussian ([`GaussianBernoulliRBM.sample`][])."""
    if model.num_hidden > MAX_SAMPLER_HIDDEN:
        return None
    return ExactSampler("enumeration", lambda key, beta, num: model.sample(key, beta, num))


@analytic_free_energy.register(GaussianBernoulliRBM)
def _gaussian_rbm_analytic_free_energy(model: GaussianBernoulliRBM):
    """F_β(v) with h summed out; F_∞(v) = Σ (v − b)²/(2σ²) − Σ_j max(0, c_j + (v/σ)ᵀW_{:j})."""

    def free_energy(v, beta):
        if isinstance(beta, float) and math.isinf(beta):
            z = (model._v(v) - model.b) / model.sigma
            return 0.5 * jnp.sum(z * z, -1) - jnp.sum(jax.nn.relu(model.hidden_input(v)), -1)
        return model.free_energy(v, beta)

    return free_energy


@kernel_target.register(GaussianBernoulliRBM)
def _gaussian_rbm_target(model: GaussianBernoulliRBM, beta):
    """−βE(v, h) as a [`samplers.gaussian_rbm.GaussianBernoulliRBM`][] with (√β W, b, βc, σ/√β)."""
    root = jnp.sqrt(beta)
    return GaussianBernoulliTarget(root * model.W, model.b, beta * model.c, model.sigma / root)


@default_base.register(GaussianBernoulliRBM)
def _gaussian_rbm_base(model: GaussianBernoulliRBM):
    """N(b, diag σ²) on v times uniform bits on h (an annealing start for AIS/SMC)."""
    from physebm.partition import bases  # the partition package imports the models

    gaussian = bases.GaussianBase(model.b, jnp.diag(model.sigma))  # σ > 0 checked at __init__
    return bases.product(gaussian, bases.uniform_bits(model.num_hidden))


@default_sampler.register(GaussianBernoulliRBM)
def _gaussian_rbm_sampler(model: GaussianBernoulliRBM, beta, sampler) -> DefaultSampler:
    """Block Gibbs on (v, h): h | v (bits) then v | h (Gaussian); ``sampler`` None or "gibbs"."""
    if sampler not in (None, "gibbs"):
        raise ValueError(
            f"sampler must be None or 'gibbs' (block Gibbs) for GaussianBernoulliRBM, whose "
            f"position (v, h) has binary h, got {sampler!r}"
        )
    target = kernel_target(model, beta)
    algorithm = samplers.BoundKernel(samplers.BlockGibbs(), target)
    return DefaultSampler("block_gibbs", algorithm, jnp.result_type(float))
