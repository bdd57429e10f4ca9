"""The library as a new user calls it: ``physebm.sample``, first call and warm, against a
hand-written jitted ``lax.scan`` doing the same work.

    python benchmarks/bench_user_calls.py [--quick]

Rows:
* ``physebm.sample(Ising((32, 32)), beta=0.3, num_chains=64, num_steps=1000, key=...)``: the
  default checkerboard kernel, int8 trace of every sweep. Spin updates/s = chains · sweeps ·
  1024 / wall time. The baseline is a jitted scan of ``samplers.lattice.build_kernel()`` (the
  same sweep) over vmapped chains, storing the packed lattice per sweep and unpacking it once.
* ``physebm.sample(mixture_energy, sampler="ula", step_size=0.01, num_chains=10_000,
  num_steps=100, init=...)`` on an 8-Gaussian ring (radius 2, σ = 0.3), float32 trace of every
  step. Chain-steps/s = chains · steps / wall time. Baseline: a 12-line jitted ULA scan.

"first" is the first call (tracing + compilation + run), "warm" the best of ``REPEATS`` later
calls, each with a new key (and, for the Ising row, a new β) — what a β sweep costs per point.
``--quick`` runs fewer sweeps and chains (under two minutes on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import physebm
from physebm.models import Ising
from samplers import lattice

REPEATS = 3
ANGLES = 2 * np.pi * np.arange(8) / 8
MEANS = jnp.asarray(2.0 * np.stack([np.cos(ANGLES), np.sin(ANGLES)], 1), jnp.float32)


def mixture_energy(x):
    """E(x) = −log Σ_k exp(−|x − μ_k|² / (2σ²)), 8 means on a radius-2 ring, σ = 0.3."""
    sq = jnp.sum((x - MEANS) ** 2, axis=-1)
    return -jax.scipy.special.logsumexp(-sq / (2 * 0.3**2))


def timed(fn, *args):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - t0


def first_and_warm(fn, arg_list):
    """Wall time of the first call and the best of the later ones."""
    first = timed(fn, *arg_list[0])
    return first, min(timed(fn, *args) for args in arg_list[1:])


# ----------------------------------------------------------------------------- Ising
def user_ising(chains, sweeps):
    def go(key, beta):
        kw = dict(key=key, beta=beta, num_chains=chains, num_steps=sweeps)
        return physebm.sample(Ising((32, 32)), **kw).samples

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


def row(name, unit, work, first, warm, base_first, base_warm):
    print(
        f"{name:<28} first {first:7.3f} s  warm {warm:7.3f} s  {work / warm / 1e6:8.2f} M {unit}/s"
        f"  | hand-written first {base_first:6.3f} s warm {base_warm:7.3f} s "
        f"{work / base_warm / 1e6:8.2f} M {unit}/s  | warm ratio {base_warm / warm:5.2f}x"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sweeps and chains")
    args = parser.parse_args()
    chains, sweeps = (64, 200) if args.quick else (64, 1000)
    ula_chains, ula_steps = (2_000, 100) if args.quick else (10_000, 100)
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}; repeats {REPEATS}")
    keys = [jax.random.key(i) for i in range(REPEATS + 1)]
    betas = [0.3, 0.35, 0.4, 0.45][: REPEATS + 1]
    ising_args = list(zip(keys, betas, strict=True))
    ula_args = [(k,) for k in keys]
    work = chains * sweeps * 32 * 32
    base = first_and_warm(hand_ising(chains, sweeps), ising_args)
    ours = first_and_warm(user_ising(chains, sweeps), ising_args)
    row(f"Ising 32² {chains}×{sweeps}", "spin updates", work, *ours, *base)
    work = ula_chains * ula_steps
    base = first_and_warm(hand_ula(ula_chains, ula_steps), ula_args)
    ours = first_and_warm(user_ula(ula_chains, ula_steps), ula_args)
    row(f"ULA ring {ula_chains}×{ula_steps}", "chain-steps", work, *ours, *base)


if __name__ == "__main__":
    main()
