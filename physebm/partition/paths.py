"""Annealing paths from a normalised base to the target, and the batched moves along them.

A path gives ``log_density(t, x)`` (unnormalised log f_t, with f_0 = q₀ normalised and
f_1 = exp(−βE)) and ``increment(t0, t1, x) = log f_{t1}(x) − log f_{t0}(x)``. A move is a
batched Markov transition leaving f_t invariant: ``move(key, xs, t, path, params) ->
(xs, acceptance, params)``.

* :class:`GeometricPath`: log f_t = (1 − t) log q₀ + t(−βE); increment (t1 − t0) ℓ(x) with
  ℓ = −βE − log q₀. With a uniform spin/bit base this is the β-path β_t = tβ.
* :class:`RBMMarginalPath` (Salakhutdinov & Murray 2008): the geometric path on (v, h) between
  q₀(v, h) = Bern(v; σ(a)) Bern(h; σ(d)) and the RBM, with h summed out analytically:

      log f_t(v) = (1 − t)(aᵀv − A − D) + tβ bᵀv + Σ_j softplus((1 − t) d_j + tβ(c_j + vᵀW_{:j})),

  A = Σ softplus(a), D = Σ softplus(d); the move is exact block Gibbs h | v, v | h of the
  intermediate RBM. Summing h out lowers the weight variance (Rao–Blackwellisation).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from physebm.models import RBM, Ising
from physebm.partition import bases as B
from physebm.partition.transitions import Transition

__all__ = ["GeometricPath", "IsingLatticeMove", "LogDensityMove", "RBMGibbsMove", "RBMMarginalPath"]


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

    energy_evaluations_per_increment = 1


class RBMMarginalPath(eqx.Module):
    """Geometric (v, h) path for an RBM with the hidden units summed out (module docstring)."""

    rbm: RBM
    beta: jax.Array
    a: jax.Array  # base visible logits
    d: jax.Array  # base hidden logits

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

    energy_evaluations_per_increment = 2


class LogDensityMove(eqx.Module):
    """``num_steps`` of a :class:`Transition` on each chain at f_t (re-initialised at each t),
    then a population step-size update (for MALA/HMC) from the mean acceptance.

    The adapted step size at t_k depends on the chains only through their mean acceptance at
    t_{k−1} (a 1/N share each), so every T_k still leaves f_{t_k} invariant given it; with very
    few chains prefer a fixed step (``target_acceptance=None``)."""

    transition: Transition

    def __call__(self, key, xs, t, path, params):
        tr = self.transition

        def logdens(x):
            return path.log_density(t, x)

        def one(k, x):
            state = tr.init(x, logdens)

            def body(s, kk):
                s, info = tr.kernel(kk, s, logdens, params)
                return s, info.acceptance_rate

            state, acc = jax.lax.scan(body, state, jax.random.split(k, tr.num_steps))
            return state.position, jnp.mean(acc)

        num = jax.tree.leaves(xs)[0].shape[0]
        xs, acc = jax.vmap(one)(jax.random.split(key, num), xs)
        mean_acc = jnp.mean(acc)
        return xs, mean_acc, tr.adapt(params, mean_acc)

    @property
    def num_steps(self) -> int:
        return self.transition.num_steps


class RBMGibbsMove(eqx.Module):
    """Exact block Gibbs h | v then v | h of the intermediate RBM of :class:`RBMMarginalPath`."""

    num_steps: int = eqx.field(static=True, default=1)

    def __call__(self, key, vs, t, path, params):
        r, beta = path.rbm, path.beta
        hid_bias = (1 - t) * path.d + t * beta * r.c
        vis_bias = (1 - t) * path.a + t * beta * r.b

        def body(v, k):
            kh, kv = jax.random.split(k)
            logit_h = hid_bias + t * beta * (v @ r.W)
            h = (jax.random.logistic(kh, logit_h.shape, logit_h.dtype) < logit_h).astype(v.dtype)
            logit_v = vis_bias + t * beta * (h @ r.W.T)
            v = (jax.random.logistic(kv, logit_v.shape, logit_v.dtype) < logit_v).astype(v.dtype)
            return v, None

        vs, _ = jax.lax.scan(body, vs, jax.random.split(key, self.num_steps))
        return vs, jnp.ones((), vs.dtype), params


class IsingLatticeMove(eqx.Module):
    """Checkerboard heat-bath sweeps of the periodic 2-D Ising model (even sides) on the
    geometric path from an independent-spin base with a uniform field h₀: the intermediate
    model is an Ising model with coupling tβJ and field (1 − t)h₀ + tβh."""

    field0: jax.Array
    num_steps: int = eqx.field(static=True, default=1)

    def __call__(self, key, xs, t, path, params):
        from samplers import lattice

        model: Ising = path.energy
        J = t * path.beta * model.J
        h = (1 - t) * self.field0 + t * path.beta * model.h
        kernel = lattice.build_kernel()
        state = lattice.init(xs)

        def body(s, k):
            s, _ = kernel(k, s, 1.0, J, h)
            return s, None

        state, _ = jax.lax.scan(body, state, jax.random.split(key, self.num_steps))
        return state.position.astype(xs.dtype), jnp.ones((), xs.dtype), params


def ising_lattice_available(model, base) -> bool:
    """The fast lattice move applies: a periodic 2-D Ising model with even sides, a uniform
    independent-spin base field, and :mod:`samplers.lattice` importable."""
    if not (isinstance(model, Ising) and model.periodic and len(model.shape) == 2):
        return False
    if any(s % 2 for s in model.shape) or not isinstance(base, B.IndependentSpins):
        return False
    field = base.field
    if isinstance(field, jax.core.Tracer):  # a traced base: its uniformity is unknown
        return False
    field = np.asarray(field)
    if not np.all(field == field.reshape(-1)[0]):
        return False
    try:
        from samplers import lattice  # noqa: F401
    except ImportError:
        return False
    return True
