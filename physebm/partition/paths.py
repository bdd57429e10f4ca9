"""Annealing paths from a normalised base to the target, and the one move along them.

A path gives ``log_density(t, x)`` (unnormalised log f_t, with f_0 = q₀ normalised and
f_1 = exp(−βE)), ``increment(t0, t1, x) = log f_{t1}(x) − log f_{t0}(x)``, and ``target(t)``:
the log density f_t handed to a :class:`samplers.Kernel` (up to an additive constant, which no
kernel sees). The move is the same for every path: ``num_steps`` of the kernel on every chain,
initialised at the current chain position under ``target(t)`` (cached log densities go stale
between temperatures), then an optional population step-size update.

* :class:`GeometricPath`: log f_t = (1 − t) log q₀ + t(−βE); increment (t1 − t0) ℓ(x) with
  ℓ = −βE − log q₀. With a uniform spin/bit base this is the β-path β_t = tβ.
* :class:`IsingLatticePath`: the geometric path of a periodic 2-D Ising model from independent
  spins with one field h₀. The intermediate model is an Ising model, coupling tβJ and field
  (1 − t)h₀ + tβh, so ``target(t)`` is a :class:`samplers.PeriodicIsing2D` and the fast
  :class:`samplers.Checkerboard` kernel applies (any other kernel does too).
* :class:`RBMMarginalPath` (Salakhutdinov & Murray 2008): the geometric path on (v, h) between
  q₀(v, h) = Bern(v; σ(a)) Bern(h; σ(d)) and the RBM, with h summed out analytically:

      log f_t(v) = (1 − t)(aᵀv − A − D) + tβ bᵀv + Σ_j softplus((1 − t) d_j + tβ(c_j + vᵀW_{:j})),

  A = Σ softplus(a), D = Σ softplus(d). The chains carry one layer (the smaller one; the
  formula is written for v, with h summed out); the move is exact block Gibbs h | v, v | h of
  the intermediate RBM (:class:`samplers.BlockGibbs` on
  :class:`samplers.BernoulliRBM`), which leaves f_t(v) invariant whatever h was. Summing h out
  lowers the weight variance (Rao–Blackwellisation).
"""

from __future__ import annotations

import functools
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import samplers
from physebm.models import RBM, Ising
from physebm.partition import bases as B

__all__ = [
    "GeometricPath",
    "IsingLatticePath",
    "Move",
    "RBMMarginalPath",
    "choose_base",
    "data_base",
    "default_path",
    "ising_lattice_field",
    "rbm_marginal_logits",
]


class GeometricPath(eqx.Module):
    """log f_t(x) = (1 − t) log q₀(x) − tβE(x)."""

    energy: Any
    beta: jax.Array
    base: B.Base

    def sample_base(self, key, num: int):
        return self.base.sample(key, num)

    def log_likelihood(self, x) -> jax.Array:
        """ℓ(x) = −βE(x) − log q₀(x) = ∂_t log f_t(x)."""
        return -self.beta * self.energy(x) - self.base.log_prob(x)

    def log_density(self, t, x) -> jax.Array:
        return self.base.log_prob(x) + t * self.log_likelihood(x)

    def increment(self, t0, t1, x) -> jax.Array:
        return (t1 - t0) * self.log_likelihood(x)

    def target(self, t):
        """f_t as a log density for a kernel."""
        return lambda x: self.log_density(t, x)

    def to_position(self, x):
        return x

    def from_position(self, position, x):
        return position

    def from_sample(self, sample):
        """The chain state of a sample of the target (for reverse AIS)."""
        return sample

    energy_evaluations_per_increment = 1


class IsingLatticePath(GeometricPath):
    """The geometric path of a periodic 2-D Ising model from independent spins of field h₀,
    whose intermediate models are Ising models (module docstring)."""

    field0: jax.Array

    def target(self, t):
        model: Ising = self.energy
        coupling = t * self.beta * model.J
        field = (1 - t) * self.field0 + t * self.beta * model.h
        return samplers.PeriodicIsing2D(coupling, field)

    def from_position(self, position, x):
        return position.astype(x.dtype)


class RBMMarginalPath(eqx.Module):
    """Geometric (v, h) path for an RBM with the hidden units summed out (module docstring).

    ``rbm`` is the model as the path sees it: the user's RBM, or its transpose (layers
    swapped, ``carried = 1``) when the chains carry the user's hidden layer.
    """

    rbm: RBM
    beta: jax.Array
    a: jax.Array  # base logits of the carried layer
    d: jax.Array  # base logits of the summed layer
    carried: int = eqx.field(static=True, default=0)

    def sample_base(self, key, num: int):
        p = jax.nn.sigmoid(self.a)
        return (jax.random.uniform(key, (num, self.a.shape[0]), dtype=self.a.dtype) < p).astype(
            self.a.dtype
        )

    def log_density(self, t, v) -> jax.Array:
        r, beta = self.rbm, self.beta
        base = self.a @ v - jnp.sum(jax.nn.softplus(self.a)) - jnp.sum(jax.nn.softplus(self.d))
        hid = (1 - t) * self.d + t * beta * (r.c + v @ r.W)
        return (1 - t) * base + t * beta * (r.b @ v) + jnp.sum(jax.nn.softplus(hid))

    def increment(self, t0, t1, v) -> jax.Array:
        return self.log_density(t1, v) - self.log_density(t0, v)

    def target(self, t):
        """The intermediate RBM: weights tβW, visible logits (1 − t)a + tβb, hidden logits
        (1 − t)d + tβc."""
        r, beta = self.rbm, self.beta
        return samplers.BernoulliRBM(
            t * beta * r.W, (1 - t) * self.a + t * beta * r.b, (1 - t) * self.d + t * beta * r.c
        )

    def to_position(self, v):
        return v, jnp.zeros(self.d.shape, v.dtype)  # block Gibbs redraws h | v first

    def from_position(self, position, v):
        return position[0].astype(v.dtype)

    def from_sample(self, sample):
        """The carried layer of a sample (v, h) of the target (the chains carry one layer)."""
        if isinstance(sample, tuple | list):
            return sample[self.carried]
        if self.carried:
            raise ValueError(
                "samples must be the pair (v, h): the chains carry the hidden layer of this RBM"
            )
        return sample

    energy_evaluations_per_increment = 2


class Move(eqx.Module):
    """``num_steps`` of a kernel on every chain at f_t, then (with ``target_acceptance``) a
    population step-size update from the chains' mean acceptance
    (:func:`samplers.adapt_step_size`).

    The adapted step size at t_k depends on the chains only through their mean acceptance at
    t_{k−1} (a 1/N share each), so every T_k still leaves f_{t_k} invariant given it; with very
    few chains prefer a fixed step (``target_acceptance=None``)."""

    num_steps: int = eqx.field(static=True, default=1)
    target_acceptance: float | None = eqx.field(static=True, default=None)

    def __call__(self, key, xs, t, path, kernel: samplers.Kernel):
        """Move the batch ``xs`` at f_t: ``(xs, mean acceptance, adapted kernel)``."""
        target = path.target(t)

        def one(k, x):
            state = kernel.init(path.to_position(x), target)

            def body(s, kk):
                s, info = kernel.step(kk, s, target)
                return s, info.acceptance_rate

            state, acc = jax.lax.scan(body, state, jax.random.split(k, self.num_steps))
            return path.from_position(state.position, x), jnp.mean(acc)

        num = jax.tree.leaves(xs)[0].shape[0]
        xs, acc = jax.vmap(one)(jax.random.split(key, num), xs)
        mean_acc = jnp.mean(acc)
        if self.target_acceptance is not None:
            kernel = samplers.adapt_step_size(kernel, mean_acc, self.target_acceptance)
        return xs, mean_acc, kernel


@functools.singledispatch
def default_path(model, beta, base) -> tuple | None:
    """A faster path than the geometric one for annealing ``model`` when no kernel is given:
    ``(path, kernel, description)``, or None (the default) for the geometric path.

    ``base`` is None when the user gave none. Registered here for the RBM (the marginal path,
    for a factorised bits base or none) and the periodic 2-D Ising model (the lattice path,
    for a uniform independent-spin base or none); a model type registers its own.
    """
    return None


@functools.singledispatch
def data_base(model, data) -> B.Base:
    """The base an estimator anneals from when the user passes ``data=`` (training data of the
    model). Registered for the RBM: the data base rate
    (:func:`~physebm.partition.bases.rbm_base_rate`, Salakhutdinov & Murray 2008). Default: a
    TypeError asking for ``base=``."""
    raise TypeError(
        f"data= gives a base only for models that register one (RBM), not "
        f"{type(model).__name__}: pass base= instead"
    )


@data_base.register(RBM)
def _rbm_data_base(model: RBM, data):
    return B.rbm_base_rate(model, data)


def choose_base(energy, base, data):
    """``base``, or the base ``data`` implies (:func:`data_base`), or None; not both."""
    if data is None:
        return base
    if base is not None:
        raise ValueError("give base= or data=, not both")
    return data_base(energy, data)


def rbm_marginal_logits(rbm: RBM, base) -> tuple | None:
    """Base logits (a, d) when ``base`` factorises over (v, h) as independent bits (None: the
    uniform base), else None."""
    if base is None:
        return jnp.zeros(rbm.num_visible), jnp.zeros(rbm.num_hidden)
    if isinstance(base, B.IndependentBits) and base.logits.shape == (rbm.num_visible,):
        return base.logits, jnp.zeros(rbm.num_hidden)
    if (
        isinstance(base, B.ProductBase)
        and len(base.parts) == 2
        and all(isinstance(p, B.IndependentBits) for p in base.parts)
        and base.parts[0].logits.shape == (rbm.num_visible,)
        and base.parts[1].logits.shape == (rbm.num_hidden,)
    ):
        return base.parts[0].logits, base.parts[1].logits
    return None


@default_path.register(RBM)
def _rbm_path(model: RBM, beta, base):
    """The marginal path carrying the smaller layer with the larger one summed out (fewer
    units to move, more of the model integrated exactly); visible on a tie."""
    logits = rbm_marginal_logits(model, base)
    if logits is None:
        return None
    a, d = logits
    if model.num_hidden < model.num_visible:
        swapped = RBM(model.W.T, model.c, model.b)
        path = RBMMarginalPath(swapped, beta, d, a, carried=1)
    else:
        path = RBMMarginalPath(model, beta, a, d)
    return path, samplers.BlockGibbs(), "rbm_marginal_block_gibbs"


@default_path.register(Ising)
def _ising_path(model: Ising, beta, base):
    base = B.uniform_spins(model.shape) if base is None else base
    field0 = ising_lattice_field(model, base)
    if field0 is None:
        return None
    path = IsingLatticePath(model, beta, base, field0)
    return path, samplers.Checkerboard(), "ising_checkerboard_lattice"


def ising_lattice_field(model: Ising, base):
    """The uniform base field h₀ when :class:`IsingLatticePath` applies (a periodic 2-D Ising
    model with even sides and an independent-spin base of one field), else None."""
    if not (model.periodic and len(model.shape) == 2):
        return None
    if any(s % 2 for s in model.shape) or not isinstance(base, B.IndependentSpins):
        return None
    field = base.field
    if isinstance(field, jax.core.Tracer):  # a traced base: its uniformity is unknown
        return None
    field = np.asarray(field)
    if not np.all(field == field.reshape(-1)[0]):
        return None
    return jnp.asarray(field.reshape(-1)[0])
