"""Sampler speed, all rows measured in one run, with ratios against baselines from the same run.

    python benchmarks/bench_samplers.py [--quick]

Rows:
* 2-D Ising, L = 32 torus, 64 chains, 1000 sweeps, β = 0.3 and β_c: spin updates/s of
  ``samplers.ising_checkerboard`` (through ``samplers.run``), of a minimal hand-written jitted
  roll-and-mask checkerboard, and of thrml's block Gibbs (optional: ``pip install thrml``; row
  skipped if absent). Our mean energy per spin is printed with the exact value (Kaufman).
* Swendsen–Wang against checkerboard sweeps, L = 32 torus at β_c, 64 chains: seconds per move,
  the integrated autocorrelation times τ of the energy and of |M| (Sokal's window, c = 5; in
  moves, from runs after a burn-in) and seconds per independent sample, τ × time per move.
* 8-Gaussian mixture on a radius-2 ring (σ = 0.3), 10,000 chains × 100 steps, step 0.01:
  chain-steps/s of our ULA, MALA and HMC (10 leapfrog steps) against a hand-written jitted ULA.
* NUTS on a 2-D Gaussian: blackjax directly vs through ``samplers.nuts`` + ``samplers.run``.
Each timing is the best of ``REPEATS`` calls after one compiling call.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import samplers

REPEATS = 3
BETA_C = 0.5 * float(np.log1p(np.sqrt(2.0)))


def best_time(fn, *args):
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return min(times)


# ----------------------------------------------------------------------------- Ising
def ours_ising(L, chains, sweeps):
    @jax.jit
    def go(key, beta):
        alg = samplers.ising_checkerboard(beta)
        res = samplers.run(
            key,
            alg,
            jnp.ones((chains, L, L), jnp.int8),
            num_steps=sweeps,
            keep_trace=False,
            trace_fn=lambda s: (),
        )
        return res.state.black

    return go


def energy_per_spin(state):
    """E/N of a lattice state (J = 1, h = 0)."""
    s = state.position.astype(jnp.float32)
    return -jnp.mean(s * jnp.roll(s, 1, 0) + s * jnp.roll(s, 1, 1))


def ours_ising_energy(L, chains, sweeps, burnin):
    @jax.jit
    def go(key, beta):
        alg = samplers.ising_checkerboard(beta)
        res = samplers.run(
            key,
            alg,
            jnp.ones((chains, L, L), jnp.int8),
            num_steps=sweeps,
            num_burnin=burnin,
            keep_trace=False,
            trace_fn=energy_per_spin,
        )
        return res.mean

    return go


def energy_trace(alg, L, chains, steps, burnin):
    """(E/N, |M|/N) after every step of ``chains`` chains (after ``burnin`` steps)."""

    @jax.jit
    def go(key):
        res = samplers.run(
            key,
            alg,
            jnp.ones((chains, L, L), jnp.int8),
            num_steps=steps,
            num_burnin=burnin,
            trace_fn=lambda st: (
                energy_per_spin(st),
                jnp.abs(jnp.mean(st.position.astype(jnp.float32))),
            ),
        )
        return res.trace

    return go


def tau_int(x, c: float = 5.0) -> float:
    """Integrated autocorrelation time of (chains, steps) series: the chain-averaged
    autocorrelation ρ_t summed to Sokal's window, the first W ≥ c τ(W), τ(W) = 1 + 2 Σ_{t≤W} ρ_t."""
    x = np.asarray(x, float)
    x = x - x.mean(axis=1, keepdims=True)
    n = x.shape[1]
    f = np.fft.rfft(x, 2 * n, axis=1)
    acf = np.fft.irfft(f * np.conj(f), axis=1)[:, :n].mean(0)
    rho = acf / acf[0]
    tau = 1.0
    for w in range(1, n):
        tau += 2 * rho[w]
        if w >= c * tau:
            break
    return float(tau)


def naive_ising(L, chains, sweeps):
    """Minimal hand-written jitted checkerboard: float spins, roll-and-mask, sigmoid per site."""
    ii, jj = np.indices((L, L))
    masks = [jnp.asarray((ii + jj) % 2 == c) for c in (0, 1)]

    @jax.jit
    def go(key, beta):
        def sweep(s, k):
            for c, kc in zip((0, 1), jax.random.split(k), strict=True):
                nb = (
                    jnp.roll(s, 1, -1)
                    + jnp.roll(s, -1, -1)
                    + jnp.roll(s, 1, -2)
                    + jnp.roll(s, -1, -2)
                )
                p = jax.nn.sigmoid(2.0 * beta * nb)
                new = jnp.where(jax.random.uniform(kc, s.shape) < p, 1.0, -1.0)
                s = jnp.where(masks[c], new, s)
            return s, None

        s, _ = jax.lax.scan(sweep, jnp.ones((chains, L, L)), jax.random.split(key, sweeps))
        return s

    return go


def torus_blocks(lib, L):
    """The L×L torus in thrml's graph API (hamon shares it): the nodes (row-major), the
    right and down edges of every site, and the two checkerboard colour blocks."""
    nodes = [[lib.SpinNode() for _ in range(L)] for _ in range(L)]
    flat = [n for row in nodes for n in row]
    edges = []
    for i in range(L):
        for j in range(L):
            edges.append((nodes[i][j], nodes[i][(j + 1) % L]))
            edges.append((nodes[i][j], nodes[(i + 1) % L][j]))
    black = [nodes[i][j] for i in range(L) for j in range(L) if (i + j) % 2 == 0]
    white = [nodes[i][j] for i in range(L) for j in range(L) if (i + j) % 2 == 1]
    return flat, edges, [lib.Block(black), lib.Block(white)]


def thrml_ising(L, chains, sweeps, keep_every_sweep=False):
    """thrml's block Gibbs on the L×L torus (two colour blocks), jitted ``(key, β) -> states``:
    the final state of each chain, or with ``keep_every_sweep`` the state after every sweep
    (what ``physebm.sample`` returns); None when thrml is not installed."""
    try:
        import thrml
        from thrml.models.ising import IsingEBM, IsingSamplingProgram, hinton_init
    except ImportError:
        return None
    flat, edges, free = torus_blocks(thrml, L)
    if keep_every_sweep:
        schedule = thrml.SamplingSchedule(n_warmup=0, n_samples=sweeps, steps_per_sample=1)
    else:
        schedule = thrml.SamplingSchedule(n_warmup=sweeps - 1, n_samples=1, steps_per_sample=1)

    def go(key, beta):
        model = IsingEBM(flat, edges, jnp.zeros(len(flat)), jnp.ones(len(edges)), jnp.asarray(beta))
        program = IsingSamplingProgram(model, free, [])
        k_init, k_run = jax.random.split(key)
        init = hinton_init(k_init, model, free, (chains,))
        keys = jax.random.split(k_run, chains)
        run = jax.vmap(
            lambda k, i: thrml.sample_states(k, program, schedule, i, [], [thrml.Block(flat)])
        )
        return run(keys, init)

    return jax.jit(go)


def exact_energy_per_spin(L, beta):
    try:
        import physebm
        from physebm.models import Ising

        return float(physebm.thermodynamics(Ising((L, L)), beta).internal_energy) / L**2
    except Exception:  # physebm absent or no exact route: report without it
        return float("nan")


# ----------------------------------------------------------------------------- mixture
ANGLES = 2 * np.pi * np.arange(8) / 8
MEANS = jnp.asarray(2.0 * np.stack([np.cos(ANGLES), np.sin(ANGLES)], 1), jnp.float32)


def mixture_logdensity(x):
    sq = jnp.sum((x - MEANS) ** 2, axis=-1)
    return jax.scipy.special.logsumexp(-sq / (2 * 0.3**2))


def ours_continuous(make, chains, steps):
    @jax.jit
    def go(key, x0):
        res = samplers.run(
            key, make(), x0, num_steps=steps, keep_trace=False, trace_fn=lambda s: ()
        )
        return res.state.position

    return go


def hand_ula(chains, steps, eps):
    grad = jax.vmap(jax.grad(mixture_logdensity))

    @jax.jit
    def go(key, x0):
        def step(x, k):
            return x + eps * grad(x) + jnp.sqrt(2 * eps) * jax.random.normal(k, x.shape), None

        x, _ = jax.lax.scan(step, x0, jax.random.split(key, steps))
        return x

    return go


# ----------------------------------------------------------------------------- NUTS
def gauss_logdensity(x):
    return -0.5 * jnp.sum(x**2 * jnp.array([1.0, 4.0]))


def blackjax_nuts_direct(chains, steps):
    import blackjax

    @jax.jit
    def go(key, x0):
        alg = blackjax.nuts(gauss_logdensity, 0.4, jnp.ones(2))
        states = jax.vmap(alg.init)(x0)

        def step(s, k):
            s, _ = jax.vmap(alg.step)(jax.random.split(k, chains), s)
            return s, None

        s, _ = jax.lax.scan(step, states, jax.random.split(key, steps))
        return s.position

    return go


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (smoke test)")
    args = parser.parse_args()
    L, chains, sweeps = (32, 64, 1000) if not args.quick else (16, 8, 50)
    mix_chains, mix_steps = (10_000, 100) if not args.quick else (500, 10)
    rows = []
    key = jax.random.key(0)

    spins = chains * L * L * sweeps
    for beta, label in ((0.3, "0.3"), (BETA_C, "β_c")):
        t_naive = best_time(naive_ising(L, chains, sweeps), key, beta)
        base = spins / t_naive
        rows.append((f"Ising L={L} β={label}: hand-written roll-and-mask", base, "spin upd/s", 1.0))
        t_ours = best_time(ours_ising(L, chains, sweeps), key, beta)
        rows.append(
            (
                f"Ising L={L} β={label}: samplers.ising_checkerboard",
                spins / t_ours,
                "spin upd/s",
                t_naive / t_ours,
            )
        )
        th = thrml_ising(L, chains, sweeps)
        if th is not None:
            t_th = best_time(th, key, beta)
            rows.append(
                (
                    f"Ising L={L} β={label}: thrml block Gibbs",
                    spins / t_th,
                    "spin upd/s",
                    t_naive / t_th,
                )
            )
            rows.append(("  ours / thrml", t_th / t_ours, "×", float("nan")))
        e = ours_ising_energy(L, chains, sweeps, sweeps // 5)(key, beta)
        e = np.asarray(e)
        rows.append(
            (
                f"  mean E/N (ours, {chains} chains) vs exact {exact_energy_per_spin(L, beta):.4f}",
                float(e.mean()),
                f"± {e.std(ddof=1) / np.sqrt(len(e)):.4f}",
                float("nan"),
            )
        )

    sw_chains, sw_moves = (64, 400) if not args.quick else (8, 40)
    for name, alg, steps in (
        ("checkerboard sweeps", samplers.ising_checkerboard(BETA_C), 10 * sw_moves),
        ("Swendsen–Wang moves", samplers.ising_swendsen_wang(BETA_C), sw_moves),
    ):
        go = energy_trace(alg, L, sw_chains, steps, steps // 4)
        per_move = best_time(go, key) / (1.25 * steps)
        energy, magnetisation = go(key)
        tau, tau_m = tau_int(energy), tau_int(magnetisation)
        rows.append((f"Ising L={L} β_c: {name}, s per move", per_move, "s", float("nan")))
        rows.append((f"  energy τ_int ({sw_chains} chains)", tau, "moves", float("nan")))
        rows.append(("  s per independent energy sample", tau * per_move, "s", float("nan")))
        rows.append((f"  |M| τ_int ({sw_chains} chains)", tau_m, "moves", float("nan")))
        rows.append(("  s per independent |M| sample", tau_m * per_move, "s", float("nan")))

    x0 = jax.random.normal(jax.random.key(1), (mix_chains, 2), jnp.float32)
    cs = mix_chains * mix_steps
    t_hand = best_time(hand_ula(mix_chains, mix_steps, 0.01), key, x0)
    rows.append(("8-Gaussian ring: hand-written ULA", cs / t_hand, "chain-steps/s", 1.0))
    for name, make in (
        ("samplers.ula", lambda: samplers.ula(mixture_logdensity, 0.01)),
        ("samplers.mala", lambda: samplers.mala(mixture_logdensity, 0.01)),
        (
            "samplers.hmc (10 leapfrog)",
            lambda: samplers.hmc(mixture_logdensity, 0.01, jnp.ones(2), 10),
        ),
    ):
        t = best_time(ours_continuous(make, mix_chains, mix_steps), key, x0)
        rows.append((f"8-Gaussian ring: {name}", cs / t, "chain-steps/s", t_hand / t))

    nuts_chains, nuts_steps = (256, 200) if not args.quick else (16, 10)
    x0 = jax.random.normal(jax.random.key(2), (nuts_chains, 2), jnp.float32)
    t_bj = best_time(blackjax_nuts_direct(nuts_chains, nuts_steps), key, x0)
    cs = nuts_chains * nuts_steps
    rows.append(("NUTS 2-D Gaussian: blackjax directly", cs / t_bj, "chain-steps/s", 1.0))
    t_us = best_time(
        ours_continuous(
            lambda: samplers.nuts(gauss_logdensity, 0.4, jnp.ones(2)), nuts_chains, nuts_steps
        ),
        key,
        x0,
    )
    rows.append(
        ("NUTS 2-D Gaussian: samplers.nuts + samplers.run", cs / t_us, "chain-steps/s", t_bj / t_us)
    )

    print(f"devices: {jax.devices()}  (ratio = speed / baseline row of the same block)")
    print(f"{'row':<62} {'value':>14}  {'unit':<14} {'ratio':>6}")
    for name, value, unit, ratio in rows:
        r = "" if np.isnan(ratio) else f"{ratio:6.2f}"
        print(f"{name:<62} {value:14.4g}  {unit:<14} {r:>6}")


if __name__ == "__main__":
    main()
