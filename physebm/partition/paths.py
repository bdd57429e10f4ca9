"""Annealing paths from a normalised base to the target, and the one move along them.

A path gives ``log_density(t, x)`` (unnormalised log f_t, with f_0 = q₀ normalised and
f_1 = exp(−βE)), ``increment(t0, t1, x) = log f_{t1}(x) − log f_{t0}(x)``, and ``target(t)``:
the log density f_t handed to a [`samplers.Kernel`][] (up to an additive constant, which no
kernel sees). The move is the same for every path: ``num_steps`` of the kernel on every chain,
initialised at the current chain position under ``target(t)`` (cached log densities go stale
between temperatures), then an optional population step-size update. One AIS step is the
path's ``anneal_step`` (the increments, then the move: `anneal_step`), which a path may
fuse.

* `GeometricPath`: log f_t = (1 − t) log q₀ + t(−βE); increment (t1 − t0) ℓ(x) with
  ℓ = −βE − log q₀. With a uniform spin/bit base this is the β-path β_t = tβ.
* `IsingLatticePath`: the geometric path of a periodic 2-D Ising model from independent
  spins with one field h₀. The intermediate model is an Ising model, coupling tβJ and field
  (1 − t)h₀ + tβh, so ``target(t)`` is a [`samplers.PeriodicIsing2D`][] and the fast
  [`samplers.Checkerboard`][] kernel applies (any other kernel does too).
* `RBMMarginalPath` (Salakhutdinov & Murray 2008): the geometric path on (v, h) between
  q₀(v, h) = Bern(v; σ(a)) Bern(h; σ(d)) and the RBM, with h summed out analytically:

      log f_t(v) = (1 − t)(aᵀv − A − D) + tβ bᵀv + Σ_j softplus((1 − t) d_j + tβ(c_j + vᵀW_{:j})),

  A = Σ softplus(a), D = Σ softplus(d). The chains carry one layer (the smaller one; the
  formula is written for v, with h summed out); the move is exact block Gibbs h | v, v | h of
  the intermediate RBM ([`samplers.BlockGibbs`][] on
  [`samplers.BernoulliRBM`][]), which leaves f_t(v) invariant whatever h was. Summing h out
  lowers the weight variance (Rao–Blackwellisation). Its AIS step is fused
  (`RBMMarginalPath.anneal_step`): the increment and h | v share one product c + vW, the
  softplus sum costs one log per 64 units, and the Bernoulli bits come from Threefry words
  hashed in the step (`step_uniforms`) — the same estimator and the same laws as the
  generic step, about 3× faster on CPU.
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
from samplers.lattice import threefry2x32

__all__ = [
    "GeometricPath",
    "anneal_step",
    "IsingLatticePath",
    "Move",
    "RBMMarginalPath",
    "choose_base",
    "data_base",
    "default_path",
    "ising_lattice_field",
    "rbm_marginal_logits",
    "step_uniforms",
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

    def anneal_step(self, key, k, t0, t1, xs, move, kernel):
        """One AIS step on the batch ``xs``: see `anneal_step`."""
        return anneal_step(self, key, k, t0, t1, xs, move, kernel)

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

    def equilibrate(self, key, xs, num_moves: int):
        """``num_moves`` Swendsen–Wang cluster moves ([`samplers.SwendsenWang`][]) of every
        chain in ``xs`` at the target f_1: near-equilibrium samples where single-spin sweeps
        are slow (at and below the critical point, whose cluster moves decorrelate in a few
        moves)."""
        t = jnp.ones((), self.beta.dtype)
        return Move(num_moves)(key, xs, t, self, samplers.SwendsenWang())[0]


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

    def anneal_step(self, key, k, t0, t1, vs, move, kernel):
        """One AIS step on the batch ``vs`` (N, n), fused: the increment
        log f_{t1}(v) − log f_{t0}(v) and ``move.num_steps`` block-Gibbs steps at f_{t1} share
        the product c + vW (the summed layer's logits z(t) = (1 − t)d + tβ(c + vW) give both
        the softplus terms of the increment and p(h | v) = σ(z(t1))):

            increment = (t1 − t0)(β bᵀv − aᵀv + A + D) + Σ_j [s(z_j(t1)) − s(z_j(t0))],
            s(z) = max(z, 0) + log(1 + e^{−|z|}) = softplus(z).

        The draws are exact Bernoulli(σ(z)) bits, h = [u(1 + e^{−|z|}) < (1 if z ≥ 0 else
        e^{−|z|})] ⟺ u < σ(z), with 24-bit uniforms u from one Threefry-2x32 block per unit
        (`step_uniforms`). Another kernel than [`samplers.BlockGibbs`][]
        takes the generic `anneal_step`.

        Returns:
            ``(vs, increment (N,), mean acceptance (= 1), kernel)``.
        """
        if not isinstance(kernel, samplers.BlockGibbs):
            return anneal_step(self, key, k, t0, t1, vs, move, kernel)
        r, beta = self.rbm, self.beta
        pre = r.c + vs @ r.W
        z0, z1 = (1 - t0) * self.d + t0 * beta * pre, (1 - t1) * self.d + t1 * beta * pre
        (m0, e0), (m1, e1) = _softplus_parts(z0), _softplus_parts(z1)
        const = jnp.sum(jax.nn.softplus(self.a)) + jnp.sum(jax.nn.softplus(self.d))
        linear = (t1 - t0) * (vs @ (beta * r.b - self.a) + const)
        ones = jnp.ones(self.d.shape, vs.dtype)
        increment = linear + (m1 - m0) @ ones + _log_prod(1 + e1) - _log_prod(1 + e0)
        batch = (move.num_steps, vs.shape[0])
        u_h = step_uniforms(key, k, (*batch, self.d.shape[0]), vs.dtype)
        offset = int(np.prod(u_h.shape))
        u_v = step_uniforms(key, k, (*batch, self.a.shape[0]), vs.dtype, offset)
        field = (1 - t1) * self.a + t1 * beta * r.b
        for s in range(move.num_steps):
            if s:
                z1 = (1 - t1) * self.d + t1 * beta * (r.c + vs @ r.W)
                e1 = _softplus_parts(z1)[1]
            h = _bernoulli(u_h[s], z1, e1, vs.dtype)
            logit = field + t1 * beta * (h @ r.W.T)
            vs = _bernoulli(u_v[s], logit, jnp.exp(-jnp.abs(logit)), vs.dtype)
        return vs, increment, jnp.ones((), vs.dtype), kernel

    energy_evaluations_per_increment = 2


class Move(eqx.Module):
    """``num_steps`` of a kernel on every chain at f_t, then (with ``target_acceptance``) a
    population step-size update from the chains' mean acceptance
    ([`samplers.adapt_step_size`][]).

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


def anneal_step(path, key, k, t0, t1, xs, move, kernel):
    """AIS step ``k`` on the batch ``xs`` for any path: the increments
    log f_{t1}(x) − log f_{t0}(x) of every chain, then ``move`` at f_{t1} with the key
    ``fold_in(key, k)`` (``key`` is the run's key).

    Returns:
        ``(xs, increment (N,), mean acceptance, kernel)`` (the kernel possibly adapted).
    """
    increment = jax.vmap(lambda x: path.increment(t0, t1, x))(xs)
    xs, acc, kernel = move(jax.random.fold_in(key, k), xs, t1, path, kernel)
    return xs, increment, acc, kernel


def _softplus_parts(z):
    """(max(z, 0), e^{−|z|}): softplus(z) = max(z, 0) + log(1 + e^{−|z|}), the logs taken by
    `_log_prod` (``jax.nn.softplus`` calls ``log1p``, which XLA on CPU does not
    vectorise: about 10× the cost of ``exp``)."""
    return jnp.maximum(z, 0), jnp.exp(-jnp.abs(z))


def _log_prod(x, block: int = 64):
    """Σ_j log x_j over the last axis for x_j ∈ [1, 2], as logs of products of ``block``
    factors (each ≤ 2⁶⁴, no overflow in float32; relative rounding ≤ 64 ε, unbiased): one log
    per block instead of one per factor, which also keeps the per-unit work cheap enough that
    XLA on CPU does not split it across threads."""
    n = x.shape[-1]
    x = jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, -n % block)], constant_values=1)
    prods = jnp.prod(x.reshape(*x.shape[:-1], -1, block), axis=-1)
    return jnp.sum(jnp.log(prods), axis=-1)


def _bernoulli(u, z, e, dtype):
    """Bits [u < σ(z)] from uniforms u and e = e^{−|z|}, written without a division."""
    return (u * (1 + e) < jnp.where(z >= 0, 1, e)).astype(dtype)


WORDS_PER_BLOCK = 1024
"""Random words hashed per materialised piece by `step_uniforms`."""
MAX_PIECES = 8
"""Above this many pieces `step_uniforms` hashes all words in one piece (large enough
that splitting it across threads pays)."""


def step_uniforms(key, k, shape: tuple, dtype, offset: int = 0):
    """Uniforms on the 2⁻²⁴ grid of [0, 1) for step ``k`` of a run with key ``key``.

    Entry p of ``shape`` (row-major) is u = (y >> 8) 2⁻²⁴, y the first word of the
    Threefry-2x32 block (`samplers.lattice.threefry2x32`) at counter (offset + p, k) with
    key (k₁, k₂) = ``jax.random.bits(key, (2,))``. Distinct (offset + p, k) are distinct
    counters, hence independent uniform words in the same sense as any ``jax.random`` draw
    (which also spends one block per word). The hash is unrolled ``jnp`` arithmetic (on CPU
    ``jax.random`` lowers it to a loop, several times slower); the key words do not depend on
    ``k``, so XLA computes them once per run. Up to `MAX_PIECES` pieces of
    `WORDS_PER_BLOCK`, the words are hashed and materialised piece by piece: one piece is
    too small for XLA on CPU to split it across threads, which for so little work costs more
    than it saves (far more on a busy machine).
    """
    size = int(np.prod(shape))
    if offset + size >= 2**32:
        raise ValueError(f"offset + size must be below 2³², got {offset} + {size}")
    k1, k2 = jax.random.bits(key, (2,), jnp.uint32)
    step = jnp.asarray(k).astype(jnp.uint32)
    piece = WORDS_PER_BLOCK if size <= MAX_PIECES * WORDS_PER_BLOCK else size
    pieces = []
    for start in range(0, size, piece):
        counter = jax.lax.iota(jnp.uint32, min(piece, size - start))
        word, _ = threefry2x32(k1, k2, counter + np.uint32(offset + start), step)
        pieces.append(jax.lax.optimization_barrier(word))
    words = jnp.concatenate(pieces).reshape(shape)
    return (words >> 8).astype(jnp.int32).astype(dtype) * (2.0**-24)


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
    ([`rbm_base_rate`][physebm.partition.bases.rbm_base_rate], Salakhutdinov & Murray 2008).
    Default: a TypeError asking for ``base=``."""
    raise TypeError(
        f"data= gives a base only for models that register one (RBM), not "
        f"{type(model).__name__}: pass base= instead"
    )


@data_base.register(RBM)
def _rbm_data_base(model: RBM, data):
    return B.rbm_base_rate(model, data)


def choose_base(energy, base, data):
    """``base``, or the base ``data`` implies (`data_base`), or None; not both."""
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
    """The uniform base field h₀ when `IsingLatticePath` applies (a periodic 2-D Ising
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
