"""Accuracy per compute of the log Z estimators, against exact values measured in the same run.

Two problems with exact ground truth:

* a Bernoulli RBM (64 visible, 16 hidden) trained for a few epochs of CD-1 on the binarised UCI
  8×8 digits (``benchmarks/data``, CC BY 4.0); exact log Z by enumerating the 2^16 hidden states;
* the periodic 2-D Ising model 32×32 at β_c; exact log Z by Kaufman's finite-lattice formula.

For each estimator the table prints log Ẑ, |error|, stderr, |error|/stderr, energy-equivalent
evaluations (an energy, a gradient or a layer conditional each count 1), the wall time of a
warm call (compiled; the first call's time, compilation included, is also shown) and the
accuracy-per-compute ratio  max(|error|, stderr) × time  relative to the first row of the
problem (the baseline; < 1 is better). Run:

    python benchmarks/bench_partition.py            # both problems (a few minutes on 2 CPU cores)
    python benchmarks/bench_partition.py --quick    # smaller settings, for a smoke run
    python benchmarks/bench_partition.py --calibration   # + z-scores over seeds of the headline AIS
"""

from __future__ import annotations

import argparse
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)  # before physebm creates any array

from physebm.models import BETA_C_2D, RBM, Ising  # noqa: E402
from physebm.partition import (  # noqa: E402
    ais,
    bases,
    bidirectional_ais,
    exact,
    importance,
    mean_field,
    reverse_ais,
    smc,
    tap,
    thermodynamic_integration,
)

DATA = pathlib.Path(__file__).parent / "data" / "uci_digits_binarized.npz"


def load_digits() -> np.ndarray:
    """(1797, 64) binarised UCI digits from the shipped copy."""
    d = np.load(DATA)
    return np.unpackbits(d["bits"], axis=1).astype(float)


def train_rbm(data, key, num_hidden=16, epochs=20, lr=0.05, batch=64) -> RBM:
    """A few epochs of CD-1 (minibatch SGD) from small random weights."""
    data = jnp.asarray(data)
    n, nv = data.shape
    k0, key = jax.random.split(key)
    p = data.mean(0).clip(0.02, 0.98)
    params = (
        0.01 * jax.random.normal(k0, (nv, num_hidden)),
        jnp.log(p / (1 - p)),
        jnp.zeros(num_hidden),
    )
    num_batches = n // batch

    def cd1(params, xk):
        (W, b, c), (v0, k) = params, xk
        k1, k2, k3 = jax.random.split(k, 3)
        ph0 = jax.nn.sigmoid(c + v0 @ W)
        h0 = (jax.random.uniform(k1, ph0.shape) < ph0).astype(float)
        pv1 = jax.nn.sigmoid(b + h0 @ W.T)
        v1 = (jax.random.uniform(k2, pv1.shape) < pv1).astype(float)
        ph1 = jax.nn.sigmoid(c + v1 @ W)
        dW = (v0.T @ ph0 - v1.T @ ph1) / v0.shape[0]
        return (W + lr * dW, b + lr * (v0 - v1).mean(0), c + lr * (ph0 - ph1).mean(0)), None

    @jax.jit
    def epoch(params, k):
        kp, kb = jax.random.split(k)
        x = jax.random.permutation(kp, data)[: num_batches * batch].reshape(num_batches, batch, nv)
        params, _ = jax.lax.scan(cd1, params, (x, jax.random.split(kb, num_batches)))
        return params

    for e in range(epochs):
        params = epoch(params, jax.random.fold_in(key, e))
    return RBM(*params)


def _run(fn, key):
    """(result of a warm call, its wall time, first-call time incl. compilation)."""
    t0 = time.perf_counter()
    r = fn(jax.random.fold_in(key, 1))
    jax.block_until_ready(r.log_z)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    r = fn(jax.random.fold_in(key, 2))
    jax.block_until_ready(r.log_z)
    return r, time.perf_counter() - t0, first


def table(title: str, exact_log_z: float, rows, key) -> list[dict]:
    print(f"\n## {title}   exact log Z = {exact_log_z:.6f}\n")
    head = (
        f"| {'estimator':<50} | {'log Ẑ':>11} | {'abs err':>8} | {'stderr':>8} | {'err/se':>8} "
        f"| {'evals':>10} | {'warm s':>7} | {'first s':>7} | {'ratio':>7} |"
    )
    print(head)
    print("|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
    out, base = [], None
    for name, fn in rows:
        r, warm, first = _run(fn, key)
        err = abs(float(r.log_z) - exact_log_z)
        se = float(r.stderr)
        cost = max(err, se) * warm
        base = cost if base is None else base
        z = err / se if se > 0 else float("inf")
        evals = r.diagnostics.get("num_energy_evaluations", float("nan"))
        flag = "" if r.diagnostics.get("reliable", True) else " (!)"
        print(
            f"| {name + flag:<50} | {float(r.log_z):11.4f} | {err:8.4f} | {se:8.4f} | {z:8.2f} "
            f"| {evals:10.3g} | {warm:7.3f} | {first:7.2f} | {cost / base:7.3g} |"
        )
        out.append({"name": name, "err": err, "stderr": se, "time": warm, "result": r})
    print("\n(!) = the estimator's own diagnostics flag the result as unreliable (see warnings)")
    return out


def rbm_problem(quick: bool, key):
    data = load_digits()
    rbm = train_rbm(data, jax.random.fold_in(key, 0), epochs=5 if quick else 20)
    ex = float(exact(rbm, 1.0).log_z)
    rate = bases.rbm_base_rate(rbm, data)
    k = 200 if quick else 1000
    rows = [
        (
            f"AIS uniform base, K={k} x 64 chains",
            lambda key: ais(rbm, 1.0, key=key, num_temperatures=k, num_chains=64),
        ),
        (
            f"AIS base-rate base, K={k} x 64 chains",
            lambda key: ais(rbm, 1.0, key=key, num_temperatures=k, num_chains=64, base=rate),
        ),
        (
            f"AIS base-rate, S&M schedule, K={k} x 64",
            lambda key: ais(
                rbm,
                1.0,
                key=key,
                num_temperatures=k,
                num_chains=64,
                base=rate,
                schedule="salakhutdinov_murray",
            ),
        ),
        (
            f"AIS base-rate, K={10 * k} x 64 chains",
            lambda key: ais(rbm, 1.0, key=key, num_temperatures=10 * k, num_chains=64, base=rate),
        ),
        (
            f"AIS joint (v,h) generic flips, base-rate, K={k}",
            lambda key: ais(
                rbm,
                1.0,
                key=key,
                num_temperatures=k,
                num_chains=64,
                base=rate,
                kernel=_joint_kernel(rbm, rate),
            ),
        ),
        (
            f"reverse AIS (exact samples), base-rate, K={k}",
            lambda key: reverse_ais(
                rbm, 1.0, key=key, num_temperatures=k, num_chains=64, base=rate
            ),
        ),
        (
            f"BDMC (BAR on fwd+rev), base-rate, K={k}",
            lambda key: bidirectional_ais(
                rbm, 1.0, key=key, num_temperatures=k, num_chains=64, base=rate
            ),
        ),
        (
            "TI, 64 points x 16 chains x 100 samples",
            lambda key: thermodynamic_integration(
                rbm, 1.0, key=key, num_temperatures=64, num_chains=16, num_samples=100, base=rate
            ),
        ),
        (
            "SMC adaptive, 256 particles x 8 replicas",
            lambda key: smc(rbm, 1.0, key=key, num_particles=256, num_replicas=8, base=rate),
        ),
        (
            "importance, base-rate base, 64000 samples",
            lambda key: importance(rbm, 1.0, key=key, num_samples=64000, base=rate),
        ),
        ("mean field (deterministic lower bound)", lambda key: mean_field(rbm, 1.0)),
        ("TAP (approximation, no bound)", lambda key: tap(rbm, 1.0)),
    ]
    return table("RBM 64x16, CD-1 on binarised UCI digits", ex, rows, key)


def _joint_kernel(rbm, base):
    from physebm.partition.kernels import default_kernel

    return default_kernel(rbm, base)


def ising_problem(quick: bool, key):
    model, beta = Ising((32, 32)), BETA_C_2D
    ex = float(exact(model, beta).log_z)
    s = 4 if quick else 1
    rows = [
        (
            f"AIS linear, K={4000 // s} x 128 chains",
            lambda key: ais(model, beta, key=key, num_temperatures=4000 // s, num_chains=128),
        ),
        (
            f"AIS sigmoid, K={4000 // s} x 128 chains",
            lambda key: ais(
                model, beta, key=key, num_temperatures=4000 // s, num_chains=128, schedule="sigmoid"
            ),
        ),
        (
            f"AIS sigmoid, K={16000 // s} x 256 chains",
            lambda key: ais(
                model,
                beta,
                key=key,
                num_temperatures=16000 // s,
                num_chains=256,
                schedule="sigmoid",
            ),
        ),
        (
            f"TI, {128 // s} points x 16 chains x 200 samples",
            lambda key: thermodynamic_integration(
                model,
                beta,
                key=key,
                num_temperatures=128 // s,
                num_chains=16,
                num_samples=200,
                num_burnin=50,
            ),
        ),
        (
            f"SMC adaptive, 256 particles x 8, {20 // s} sweeps/step",
            lambda key: smc(
                model,
                beta,
                key=key,
                num_particles=256,
                num_replicas=8,
                num_mcmc_steps=20 // s,
                target_ess=0.8,
            ),
        ),
        (
            "importance, uniform base, 100000 samples",
            lambda key: importance(model, beta, key=key, num_samples=100000),
        ),
        ("mean field (deterministic lower bound)", lambda key: mean_field(model, beta)),
        ("TAP (approximation, no bound)", lambda key: tap(model, beta)),
    ]
    return table("2-D Ising 32x32 periodic at beta_c", ex, rows, key)


def calibration(key, num_seeds=20):
    model, beta = Ising((32, 32)), BETA_C_2D
    ex = float(exact(model, beta).log_z)
    zs = []
    for s in range(num_seeds):
        r = ais(
            model,
            beta,
            key=jax.random.fold_in(key, s),
            num_temperatures=4000,
            num_chains=128,
            schedule="sigmoid",
        )
        zs.append((float(r.log_z) - ex) / float(r.stderr))
    zs = np.asarray(zs)
    print(
        f"\nAIS 32x32 at beta_c, sigmoid K=4000 x 128, {num_seeds} seeds: z mean {zs.mean():+.3f}, "
        f"sd {zs.std(ddof=1):.3f}, coverage of ±1.96: {np.mean(np.abs(zs) <= 1.96):.2f}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller settings (smoke run)")
    parser.add_argument("--calibration", action="store_true", help="z-scores over 20 seeds")
    parser.add_argument("--problem", choices=("rbm", "ising", "both"), default="both")
    args = parser.parse_args()
    key = jax.random.key(2024)
    print(f"devices: {jax.devices()}")
    if args.problem in ("rbm", "both"):
        rbm_problem(args.quick, key)
    if args.problem in ("ising", "both"):
        ising_problem(args.quick, key)
    if args.calibration:
        calibration(key)


if __name__ == "__main__":
    main()
