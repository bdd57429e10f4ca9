"""The library as a new user calls it — ``physebm.sample`` and ``physebm.fit``, first call and
warm — beside a hand-written jitted JAX loop doing the same work and the peers that install
here, all in one run, with ratios and the targets of issue 11.

    python benchmarks/bench_user_calls.py [--quick] [--only ising,ula,mala,hmc,nuts,fit]

Rows (speed = work / warm wall time; ratio = baseline warm time / our warm time, > 1 = faster):
* ``physebm.sample(Gibbs(Ising((32, 32)), β), num_chains=64, num_steps=1000, key=...)``: the
  default checkerboard kernel, int8 trace of every sweep. Spin updates/s = chains · sweeps ·
  1024 / time. Baselines: a jitted scan of ``samplers.lattice.build_kernel()`` (the same sweep)
  over vmapped chains storing every sweep; thrml's block Gibbs on the same torus and colour
  blocks (``pip install thrml``), keeping the final state only (as ``bench_samplers.py``) and
  keeping every sweep (the same output as the user call). Target: ≥ 1.5× thrml.
* ``physebm.sample(mixture_energy, sampler="ula", step_size=0.01, num_chains=10_000,
  num_steps=100, init=...)`` on an 8-Gaussian ring (radius 2, σ = 0.3), float32 trace of every
  step, against a 12-line jitted ULA scan. Target ≥ 0.9×.
* the same call with ``sampler="mala", step_size=0.01`` and ``sampler="hmc", step_size=0.05,
  num_leapfrog=10`` (identity mass matrix), against ``blackjax.mala``/``blackjax.hmc`` vmapped
  and scanned by hand, every position kept. Target ≥ 0.9×.
* ``physebm.sample(gauss_energy, sampler="nuts", step_size=0.4, ...)`` on a 2-D Gaussian
  (variances 1, 1/4), 256 chains × 200 steps, identity mass matrix, no warm-up (ε given),
  every position kept, against ``blackjax.nuts`` vmapped and scanned by hand. The baselines run
  with the key ``sample`` runs its chains with (the third of ``split(key, 3)``) and the same
  per-step key layout, so both follow the same trajectories — the same number of gradient
  evaluations (vmapped NUTS costs the longest trajectory of each step, so another key is
  other work) — and the rows check that the draws are equal. Two baselines: keeping the
  positions only (blackjax then never computes its per-step info: XLA drops it), and keeping
  the positions and the per-draw info that ``sample`` returns (acceptance rate, divergences,
  energy, tree depth and size, turning), the same output (the ``sample`` call of this second
  row is already compiled by the first: its "first" time is a warm one). Target ≥ 0.95× the
  same output.
* ``physebm.fit(denoising_score_matching(mlp_energy, sigma=0.1), ..., num_steps=2048,
  batch_size=128)`` on 4096 two-moons points, Adam 1e-3: updates/s against a jitted optax
  ``lax.scan`` of the same objective's ``loss`` (one permutation per epoch, as ``fit``).
  Target ≥ 0.9×.

"first" is the first call (tracing + compilation + run), "warm" the best of the later calls,
each with a new key (and, for the Ising row, a new β) — what one point of a β sweep costs:
``REPEATS`` keys for the Ising rows; for the others ``ROUNDS`` interleaved passes over those
keys, each key timed for physebm and the baseline back to back (same work, same machine
state; best of 15 calls each). ``--quick`` shrinks every row (a smoke run; the targets are
judged at full size only).
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

import physebm
from physebm import datasets
from physebm.models import Ising
from physebm.models.neural import init_mlp_energy, mlp_energy
from physebm.objectives import denoising_score_matching
from samplers import lattice

sys.path.insert(0, str(Path(__file__).parent))
from bench_samplers import thrml_ising  # noqa: E402

REPEATS = 5
ROUNDS = 3  # interleaved passes over the warm keys in `compare` (best of REPEATS × ROUNDS)
ANGLES = 2 * np.pi * np.arange(8) / 8
MEANS = jnp.asarray(2.0 * np.stack([np.cos(ANGLES), np.sin(ANGLES)], 1), jnp.float32)
PRECISION = jnp.asarray([1.0, 4.0])


def mixture_energy(x):
    """E(x) = −log Σ_k exp(−|x − μ_k|² / (2σ²)), 8 means on a radius-2 ring, σ = 0.3."""
    sq = jnp.sum((x - MEANS) ** 2, axis=-1)
    return -jax.scipy.special.logsumexp(-sq / (2 * 0.3**2))


def gauss_energy(x):
    """E(x) = ½ Σ_i a_i x_i², a = (1, 4)."""
    return 0.5 * jnp.sum(PRECISION * x**2)


def timed(fn, *args):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - t0


def first_and_warm(fn, arg_list):
    """Wall time of the first call and the best of the later ones."""
    first = timed(fn, *arg_list[0])
    return first, min(timed(fn, *args) for args in arg_list[1:])


def paired_first_and_warm(ours, base, arg_list, rounds=None):
    """``first_and_warm`` of both, the warm calls interleaved: ``rounds`` passes over the later
    arguments, each argument timed for ``ours`` and ``base`` back to back (in alternating
    order), so that both see the same machine state and the same keys (the same work)."""
    rounds = ROUNDS if rounds is None else rounds
    firsts = timed(ours, *arg_list[0]), timed(base, *arg_list[0])
    warm = [[], []]
    for r in range(rounds):
        for args in arg_list[1:]:
            order = (0, 1) if r % 2 == 0 else (1, 0)
            for i in order:
                warm[i].append(timed((ours, base)[i], *args))
    return (firsts[0], min(warm[0])), (firsts[1], min(warm[1]))


# ----------------------------------------------------------------------------- Ising
def user_ising(chains, sweeps):
    def go(key, beta):
        gibbs = physebm.Gibbs(Ising((32, 32)), beta)
        return physebm.sample(gibbs, key=key, num_chains=chains, num_steps=sweeps).samples

    return go


def hand_ising(chains, sweeps):
    kernel = lattice.build_kernel()

    @jax.jit
    def go(key, beta):
        k_init, k_run = jax.random.split(key)
        s0 = 2 * jax.random.bernoulli(k_init, 0.5, (chains, 32, 32)).astype(jnp.int8) - 1
        state = jax.vmap(lattice.init)(s0)

        def sweep(state, k):
            keys = jax.random.split(k, chains)
            state, _ = jax.vmap(lambda k, s: kernel(k, s, beta, 1.0, 0.0))(keys, state)
            return state, state

        _, trace = jax.lax.scan(sweep, state, jax.random.split(k_run, sweeps))
        return jnp.swapaxes(lattice.unpack(trace.black, trace.white), 0, 1)

    return go


# ----------------------------------------------------------------------------- ULA
def user_ula(chains, steps):
    x0 = jnp.zeros(2)

    def go(key):
        kw = dict(key=key, num_chains=chains, num_steps=steps, init=x0)
        return physebm.sample(mixture_energy, sampler="ula", step_size=0.01, **kw).samples

    return go


def hand_ula(chains, steps, eps=0.01):
    grad = jax.vmap(jax.grad(lambda x: -mixture_energy(x)))

    @jax.jit
    def go(key):
        def step(x, k):
            x = x + eps * grad(x) + jnp.sqrt(2 * eps) * jax.random.normal(k, x.shape)
            return x, x

        _, trace = jax.lax.scan(step, jnp.zeros((chains, 2)), jax.random.split(key, steps))
        return jnp.swapaxes(trace, 0, 1)

    return go


def user_gradient(sampler, chains, steps, **kw):
    """``physebm.sample(mixture_energy, sampler="mala" | "hmc", ...)`` with ε given."""
    x0 = jnp.zeros(2)

    def go(key):
        run = dict(key=key, num_chains=chains, num_steps=steps, init=x0)
        return physebm.sample(mixture_energy, sampler=sampler, **run, **kw).samples

    return go


def blackjax_gradient(factory, chains, steps):
    """A blackjax kernel vmapped over chains and scanned over steps, every position kept."""

    @jax.jit
    def go(key):
        alg = factory(lambda x: -mixture_energy(x))
        states = jax.vmap(alg.init)(jnp.zeros((chains, 2)))

        def step(s, k):
            s, _ = jax.vmap(alg.step)(jax.random.split(k, chains), s)
            return s, s.position

        _, trace = jax.lax.scan(step, states, jax.random.split(key, steps))
        return jnp.swapaxes(trace, 0, 1)

    return go


def gradient_rows(quick):
    """MALA (ε = 0.01) and HMC (ε = 0.05, 10 leapfrog steps) through ``sample`` against
    blackjax's kernels in a hand-written vmapped scan, on the ring of ``mixture_energy``."""
    import blackjax

    chains, steps = (2_000, 100) if quick else (10_000, 100)
    mala = functools.partial(blackjax.mala, step_size=0.01)
    hmc = functools.partial(
        blackjax.hmc, step_size=0.05, inverse_mass_matrix=jnp.ones(2), num_integration_steps=10
    )
    return [
        (f"MALA ring {chains}×{steps} sample", "chain-steps", chains * steps,
         user_gradient("mala", chains, steps, step_size=0.01), "blackjax.mala, vmapped scan",
         blackjax_gradient(mala, chains, steps), 0.9),
        (f"HMC ring {chains}×{steps} sample", "chain-steps", chains * steps,
         user_gradient("hmc", chains, steps, step_size=0.05, num_leapfrog=10),
         "blackjax.hmc, vmapped scan", blackjax_gradient(hmc, chains, steps), 0.9),
    ]  # fmt: skip


# ----------------------------------------------------------------------------- NUTS
def nuts_starts(chains):
    return jax.random.normal(jax.random.key(2), (chains, 2))


def user_nuts(chains, steps):
    x0 = nuts_starts(chains)

    def go(key):
        kw = dict(key=key, num_chains=chains, num_steps=steps, init=x0, step_size=0.4)
        return physebm.sample(gauss_energy, sampler="nuts", **kw).samples

    return go


NUTS_INFO = ("is_divergent", "is_turning", "energy", "num_trajectory_expansions",
             "num_integration_steps", "acceptance_rate")  # fmt: skip


def user_nuts_output(chains, steps):
    """The user call returning what it returns: the samples and the per-draw info."""
    x0 = nuts_starts(chains)

    def go(key):
        kw = dict(key=key, num_chains=chains, num_steps=steps, init=x0, step_size=0.4)
        res = physebm.sample(gauss_energy, sampler="nuts", **kw)
        return res.samples, res.info

    return go


def blackjax_nuts(chains, steps, info=False):
    """blackjax.nuts vmapped and scanned; with ``info``, also the per-draw ``NUTS_INFO``."""
    import blackjax

    x0 = nuts_starts(chains)

    @jax.jit
    def go(key):
        key = jax.random.split(key, 3)[2]  # the run key of physebm.sample: the same trajectories
        alg = blackjax.nuts(lambda x: -gauss_energy(x), 0.4, jnp.ones(2))
        states = jax.vmap(alg.init)(x0)

        def step(s, k):
            s, i = jax.vmap(alg.step)(jax.random.split(k, chains), s)
            return s, (s.position, {n: getattr(i, n) for n in NUTS_INFO} if info else None)

        _, out = jax.lax.scan(step, states, jax.random.split(key, steps))
        out = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), out)
        return out if info else out[0]

    return go


# ----------------------------------------------------------------------------- fit
def fit_problem(num_data=4096):
    data = datasets.two_moons(jax.random.key(5), num_data)
    params = init_mlp_energy(jax.random.key(6), 2)
    return denoising_score_matching(mlp_energy, sigma=0.1), params, data


def user_fit(num_steps, batch):
    objective, params, data = fit_problem()
    optimizer = optax.adam(1e-3)

    def go(key):
        res = physebm.fit(
            objective, params, data, optimizer, key=key, num_steps=num_steps, batch_size=batch,
            progress=False,
        )  # fmt: skip
        return res.params

    return go


def hand_fit(num_steps, batch):
    """Adam on the same objective's loss: an epoch is one permutation, scanned in batches."""
    objective, params, data = fit_problem()
    optimizer = optax.adam(1e-3)
    per_epoch = data.shape[0] // batch
    if num_steps % per_epoch:
        raise ValueError(f"num_steps must be a multiple of {per_epoch} steps per epoch")

    def update(carry, xs):
        params, opt_state, state = carry
        batch_x, k = xs
        (loss, (state, _)), g = jax.value_and_grad(objective.loss, has_aux=True)(
            params, batch_x, k, state
        )
        updates, opt_state = optimizer.update(g, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state, state), loss

    def epoch(carry, k):
        k_perm, k_steps = jax.random.split(k)
        idx = jax.random.permutation(k_perm, data.shape[0])[: per_epoch * batch]
        batches = data[idx].reshape(per_epoch, batch, *data.shape[1:])
        return jax.lax.scan(update, carry, (batches, jax.random.split(k_steps, per_epoch)))

    @jax.jit
    def go(key):
        k_init, k_run = jax.random.split(key)
        carry = (params, optimizer.init(params), objective.init(params, k_init))
        carry, _ = jax.lax.scan(epoch, carry, jax.random.split(k_run, num_steps // per_epoch))
        return carry[0]

    return go


# ----------------------------------------------------------------------------- table
HEADER = (
    f"{'work (user call)':<30} {'first s':>8} {'warm s':>8} {'speed':>10}  "
    f"{'baseline':<34} {'first s':>8} {'warm s':>8} {'speed':>10} {'ratio':>6}  target"
)


def row(name, unit, work, ours, base_name, base, target=None):
    (first, warm), (base_first, base_warm) = ours, base
    ratio = base_warm / warm
    verdict = "" if target is None else f"≥ {target:g}× {'PASS' if ratio >= target else 'FAIL'}"
    print(
        f"{name:<30} {first:8.3f} {warm:8.3f} {work / warm:10.4g}  "
        f"{base_name:<34} {base_first:8.3f} {base_warm:8.3f} {work / base_warm:10.4g} "
        f"{ratio:6.2f}  {verdict}  ({unit}/s)"
    )


def ising_rows(chains, sweeps, keys, quick):
    betas = list(0.3 + 0.03 * np.arange(REPEATS + 1))
    args = list(zip(keys, betas, strict=True))
    work = chains * sweeps * 32 * 32
    name = f"Ising 32² {chains}×{sweeps} sample"
    ours = first_and_warm(user_ising(chains, sweeps), args)
    base = first_and_warm(hand_ising(chains, sweeps), args)
    row(name, "spin updates", work, ours, "hand-written scan of build_kernel", base)
    for keep, label in ((False, "final state"), (True, "every sweep")):
        th = thrml_ising(32, chains, sweeps, keep_every_sweep=keep)
        if th is None:
            print(f"{'':<30} thrml not installed (pip install thrml): row skipped")
            return
        target = None if quick else 1.5
        row(name, "spin updates", work, ours, f"thrml block Gibbs, {label}",
            first_and_warm(th, args), target)  # fmt: skip


def compare(label, unit, work, ours, base_name, base, target, key_args, quick, same=False):
    """Time ``ours`` and ``base`` (first and warm) and print the row; with ``same``, also
    whether both return the same draws for the first key (the same work, step for step)."""
    times = paired_first_and_warm(ours, base, key_args)
    row(label, unit, work, times[0], base_name, times[1], None if quick else target)
    if same:
        print(f"{'':<30} same output as the baseline: {same_output(ours, base, key_args[0])}")


def same_output(ours, base, args) -> str:
    """Whether both return the same positions and integer/bool info (the same trajectories,
    the same gradient evaluations), and float info equal up to rounding (1e-5)."""
    pairs = list(zip(jax.tree.leaves(ours(*args)), jax.tree.leaves(base(*args)), strict=True))
    exact = all(bool(jnp.array_equal(a, b)) for a, b in pairs[:1])
    exact &= all(bool(jnp.array_equal(a, b)) for a, b in pairs if a.dtype.kind in "biu")
    close = all(bool(jnp.allclose(a, b, rtol=1e-5)) for a, b in pairs if a.dtype.kind == "f")
    return f"positions and tree sizes {exact}, float info to rounding {close}"


def ula_row(quick):
    chains, steps = (2_000, 100) if quick else (10_000, 100)
    return (f"ULA ring {chains}×{steps} sample", "chain-steps", chains * steps,
            user_ula(chains, steps), "hand-written jitted ULA scan", hand_ula(chains, steps),
            0.9)  # fmt: skip


def nuts_rows(key_args, quick):
    """``sample`` against blackjax keeping the positions only, and the same output."""
    chains, steps = (32, 50) if quick else (256, 200)
    label, work = f"NUTS 2-D Gauss {chains}×{steps} sample", chains * steps
    compare(label, "chain-steps", work, user_nuts(chains, steps), "blackjax.nuts, positions only",
            blackjax_nuts(chains, steps), None, key_args, quick, same=True)  # fmt: skip
    compare(label, "chain-steps", work, user_nuts_output(chains, steps),
            "blackjax.nuts, positions + info", blackjax_nuts(chains, steps, info=True), 0.95,
            key_args, quick, same=True)  # fmt: skip


def fit_row(quick):
    num_steps = 256 if quick else 2048
    return (f"fit DSM MLP {num_steps} steps", "updates", num_steps, user_fit(num_steps, 128),
            "optax lax.scan of the same loss", hand_fit(num_steps, 128), 0.9)  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (smoke run)")
    parser.add_argument(
        "--only", default="ising,ula,mala,hmc,nuts,fit", help="comma-separated rows"
    )
    args = parser.parse_args()
    q = args.quick
    only = set(args.only.split(","))
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}; repeats {REPEATS}")
    print(HEADER)
    keys = [jax.random.key(i) for i in range(REPEATS + 1)]
    key_args = [(k,) for k in keys]
    if "ising" in only:
        ising_rows(64, 200 if q else 1000, keys, q)
    if "ula" in only:
        compare(*ula_row(q), key_args, q)
    if "mala" in only or "hmc" in only:
        for r in gradient_rows(q):
            if r[0].split()[0].lower() in only:
                compare(*r, key_args, q)
    if "nuts" in only:
        nuts_rows(key_args, q)
    if "fit" in only:
        compare(*fit_row(q), key_args, q)


if __name__ == "__main__":
    main()
