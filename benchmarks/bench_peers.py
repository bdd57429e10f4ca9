"""physebm's public calls beside the peers that do the same work, in one run, with ratios and
the targets of issue 11. Peers are optional: a missing one skips its row with a message.

    python benchmarks/bench_peers.py [--quick] [--only ais,rbm,mbar]

Rows (ratio = peer time / our time; > 1 = faster):
* ``physebm.partition.ais(RBM 64×16, 1.0, num_temperatures=1000, num_chains=64)``, warm, with
  ``check=True`` (the default: the schedule-halving rerun and the reverse-AIS checks, which
  cost extra sampling) and ``check=False`` (the forward run and the weight statistics only);
  target ≤ 0.05 s warm. Beside them :func:`hand_ais`, the same forward work as a hand-written
  jitted ``lax.scan`` (block Gibbs with ``jax.random`` draws, softplus increments); the ratio
  is its time over ours. The RBM has N(0, 0.1²) weights; log Ẑ is printed with the exact
  log Z (2¹⁶ hidden states summed out).
* RBM 64×16 training on the binarised UCI 8×8 digits (``benchmarks/data``, 1797 images):
  scikit-learn's ``BernoulliRBM`` (PCD-1 block Gibbs, SGD, learning rate 0.05, batch 64, 20
  epochs; fit time) against ``physebm.fit`` with CD-1 and PCD-1 (64-flip Metropolis sweep on
  exp(−F(v)), 64 persistent chains) on the visible free energy, SGD 0.05, batch 64, 560
  updates (20 epochs of 28 full batches); warm fit time and the exact mean log-likelihood
  per digit of each trained model. For reference: no target.
* MBAR on pymbar's harmonic-oscillator test system (K = 5 states, O_k = 0..4, K_k = 1..16):
  ``physebm.partition.mbar(u_kn, N_k)`` (warm) against ``pymbar.MBAR(u_kn, N_k)`` plus
  ``compute_free_energy_differences()`` (the same outputs: free energies and their
  asymptotic errors), float64, at pymbar's default N_k = (10, …, 50) and at 2000 samples per
  state; the largest |Δ log Z| and |Δ stderr| between the two are printed. Target ≥ 1×.
  This block runs last because pymbar switches JAX to 64-bit.
"""

from __future__ import annotations

import argparse
import functools
import pathlib
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax

import physebm
import samplers
from physebm.models import RBM
from physebm.objectives import contrastive_divergence, persistent_contrastive_divergence
from physebm.partition import ais, exact, mbar

REPEATS = 5
DATA = pathlib.Path(__file__).parent / "data" / "uci_digits_binarized.npz"


def first_and_warm(fn, arg_list):
    """Wall time of the first call and the best of the later ones (outputs blocked on)."""
    times = []
    for args in arg_list:
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return times[0], min(times[1:])


def line(name, first, warm, peer_name="", peer=None, target=""):
    ratio = "" if peer is None else f"{peer / warm:6.2f}"
    peer_s = "" if peer is None else f"{peer:8.4f}"
    print(f"{name:<44} {first:8.3f} {warm:8.4f}  {peer_name:<34} {peer_s:>8} {ratio:>6}  {target}")


# ----------------------------------------------------------------------------- AIS
def checked_fields(res):
    return res.log_z, res.upper, res.reliable


@functools.partial(jax.jit, static_argnames=("num_temperatures", "num_chains"))
def hand_ais(key, rbm, beta, num_temperatures, num_chains):
    """AIS written by hand, the same work as ``ais(rbm, …, check=False)``'s core: a linear
    schedule from the uniform base, chains carrying the 16 hidden units with the 64 visible
    ones summed out, one block-Gibbs sweep (v | h, h | v) per temperature, ``jax.random``
    draws, log mean w and its delta-method stderr."""
    W, b, c = rbm.W, rbm.b, rbm.c
    ts = jnp.linspace(0.0, 1.0, num_temperatures + 1)
    k0, key = jax.random.split(key)
    h = jax.random.bernoulli(k0, 0.5, (num_chains, 16)).astype(W.dtype)
    log_q0 = -80 * jnp.log(2.0)

    def log_f(t, h):  # log Σ_v f_t(v, h): the base is uniform on (v, h)
        return (
            (1 - t) * log_q0
            + t * beta * (h @ c)
            + jnp.sum(jax.nn.softplus(t * beta * (b + h @ W.T)), axis=-1)
        )

    def step(carry, k):
        h, log_w = carry
        log_w = log_w + log_f(ts[k + 1], h) - log_f(ts[k], h)
        kv, kh = jax.random.split(jax.random.fold_in(key, k))
        t = ts[k + 1] * beta
        v = jax.random.bernoulli(kv, jax.nn.sigmoid(t * (b + h @ W.T))).astype(W.dtype)
        h = jax.random.bernoulli(kh, jax.nn.sigmoid(t * (c + v @ W))).astype(W.dtype)
        return (h, log_w), None

    (_, log_w), _ = jax.lax.scan(step, (h, jnp.zeros(num_chains)), jnp.arange(num_temperatures))
    log_z = jax.nn.logsumexp(log_w) - jnp.log(num_chains)
    r = jnp.exp(log_w - log_z)
    return log_z, jnp.std(r, ddof=1) / jnp.sqrt(num_chains)


def ais_rows(num_temperatures, num_chains):
    k_w, k_b = jax.random.split(jax.random.key(3))
    rbm = RBM(0.1 * jax.random.normal(k_w, (64, 16)), 0.1 * jax.random.normal(k_b, (64,)))
    truth = float(exact(rbm, 1.0).log_z)
    keys = [(jax.random.key(i),) for i in range(REPEATS + 1)]
    hand = functools.partial(
        hand_ais, rbm=rbm, beta=1.0, num_temperatures=num_temperatures, num_chains=num_chains
    )
    _, hand_warm = first_and_warm(hand, keys)
    hand_z, hand_se = hand(keys[0][0])
    print(f"{'':<4} hand-written jitted AIS loop: {hand_warm:.4f} s warm, log Ẑ = "
          f"{float(hand_z):.4f} ± {float(hand_se):.4f}")  # fmt: skip
    for check in (True, False):
        call = functools.partial(
            ais, rbm, 1.0, num_temperatures=num_temperatures, num_chains=num_chains, check=check
        )
        first, warm = first_and_warm(lambda k, call=call: checked_fields(call(key=k)), keys)
        res = call(key=keys[0][0])
        verdict = f"≤ 0.05 s {'PASS' if warm <= 0.05 else 'FAIL'}"
        line(f"ais RBM 64×16 {num_temperatures}×{num_chains} check={check}", first, warm,
             "hand-written jitted AIS loop", hand_warm, verdict)  # fmt: skip
        print(
            f"{'':<4} log Ẑ = {float(res.log_z):.4f} ± {float(res.stderr):.4f}, exact "
            f"{truth:.4f}, reliable {bool(res.reliable)}, upper {float(res.upper):.4f}"
        )
        # every field the checks feed, so that XLA cannot drop them as dead code
        jitted = jax.jit(lambda k, call=call: checked_fields(call(key=k)))
        first, warm = first_and_warm(jitted, keys)
        line("  the same inside an outer jax.jit", first, warm, target="(reference)")


# ----------------------------------------------------------------------------- RBM training
def load_digits() -> np.ndarray:
    """(1797, 64) binarised UCI digits, float32 bits."""
    return np.unpackbits(np.load(DATA)["bits"], axis=1).astype(np.float32)


def free_energy(params, v):
    return RBM(params["W"], params["b"], params["c"]).free_energy(v)


def exact_log_likelihood(W, b, c, data) -> float:
    rbm = RBM(W, b, c)
    return float(-jnp.mean(rbm.free_energy(jnp.asarray(data))) - exact(rbm, 1.0).log_z)


def rbm_params(data, key):
    rate = np.clip(data.mean(0), 1e-3, 1 - 1e-3)
    return {
        "W": 0.01 * jax.random.normal(key, (64, 16)),
        "b": jnp.log(rate / (1 - rate)),
        "c": jnp.zeros(16),
    }


def physebm_rbm(data, objective, num_steps):
    params = rbm_params(data, jax.random.key(7))

    def go(key):
        res = physebm.fit(
            objective, params, data, optax.sgd(0.05), key=key, num_steps=num_steps,
            batch_size=64, progress=False,
        )  # fmt: skip
        return res.params

    return go


def rbm_rows(epochs):
    data = load_digits()
    num_steps = epochs * (data.shape[0] // 64)
    keys = [(jax.random.key(i),) for i in range(REPEATS + 1)]
    sweep = functools.partial(samplers.metropolis, domain="bits", num_flips=64)
    objectives = {
        "CD-1": contrastive_divergence(free_energy, kernel=sweep),
        "PCD-1": persistent_contrastive_divergence(
            free_energy, kernel=sweep, num_chains=64, reinit_prob=0.0,
            init_fn=lambda key, n: jax.random.bernoulli(key, 0.5, (n, 64)).astype(jnp.float32),
        ),
    }  # fmt: skip
    try:
        from sklearn.neural_network import BernoulliRBM
    except ImportError:
        print("  scikit-learn not installed (pip install scikit-learn): BernoulliRBM row skipped")
        peer, peer_ll = None, float("nan")
    else:
        times = []
        for seed in range(REPEATS):
            sk = BernoulliRBM(16, learning_rate=0.05, batch_size=64, n_iter=epochs)
            sk.random_state = seed
            t0 = time.perf_counter()
            sk.fit(data)
            times.append(time.perf_counter() - t0)
        peer = min(times)
        peer_ll = exact_log_likelihood(
            sk.components_.T, sk.intercept_visible_, sk.intercept_hidden_, data
        )
    for name, objective in objectives.items():
        go = physebm_rbm(data, objective, num_steps)
        first, warm = first_and_warm(go, keys)
        p = go(keys[0][0])
        ll = exact_log_likelihood(p["W"], p["b"], p["c"], data)
        line(f"fit RBM 64×16 {name}, {num_steps} updates", first, warm,
             "sklearn BernoulliRBM.fit (PCD-1)", peer, "(reference)")  # fmt: skip
        print(f"{'':<4} exact mean log-likelihood per digit: ours {ll:.3f}, sklearn {peer_ll:.3f}")


# ----------------------------------------------------------------------------- MBAR
def mbar_rows(sizes):
    jax.config.update("jax_enable_x64", True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pymbar
            from pymbar import testsystems
    except ImportError:
        print("  pymbar not installed (pip install pymbar): MBAR rows skipped")
        return
    system = testsystems.HarmonicOscillatorsTestCase()
    for per_state in sizes:
        N_k = np.asarray(per_state)
        _, u_kn, N_k, _ = system.sample(N_k, mode="u_kn", seed=0)

        def ours(u, n):
            return mbar(u, n).log_z

        first, warm = first_and_warm(ours, [(u_kn, N_k)] * (REPEATS + 1))
        times = []
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            m = pymbar.MBAR(u_kn, N_k)
            diff = m.compute_free_energy_differences()
            times.append(time.perf_counter() - t0)
        peer = min(times)
        res = mbar(u_kn, N_k)
        gap = np.max(np.abs(np.asarray(res.log_z) + diff["Delta_f"][0]))
        gap_se = np.max(np.abs(np.asarray(res.stderr) - diff["dDelta_f"][0]))
        target = f"≥ 1× {'PASS' if peer / warm >= 1 else 'FAIL'}"
        line(f"mbar harmonic oscillators N={int(N_k.sum())}", first, warm,
             "pymbar.MBAR + free energy differences", peer, target)  # fmt: skip
        print(
            f"{'':<4} max |log Z_k/Z_0 (ours) − (pymbar)| = {gap:.2e}, of the stderrs {gap_se:.2e}"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (smoke run)")
    parser.add_argument("--only", default="ais,rbm,mbar", help="comma-separated blocks")
    args = parser.parse_args()
    only = set(args.only.split(","))
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}; repeats {REPEATS}")
    print(
        f"{'work (user call)':<44} {'first s':>8} {'warm s':>8}  {'peer':<34} {'peer s':>8} "
        f"{'ratio':>6}  target"
    )
    if "ais" in only:
        ais_rows(100 if args.quick else 1000, 64)
    if "rbm" in only:
        rbm_rows(2 if args.quick else 20)
    if "mbar" in only:
        mbar_rows([(10, 20, 30, 40, 50)] + ([] if args.quick else [(2000,) * 5]))


if __name__ == "__main__":
    main()
