"""Calibration over many seeds (slow): z = (log Ẑ − log Z)/stderr should be ≈ N(0, 1).

For 200 seeds on a small RBM (exact by enumeration): the mean z must lie within
±3.3/√200 (false failure 0.1 % if calibrated), and the number of |z| ≤ 1.96 must lie in the
central 99.9 % binomial interval around 0.95 · 200."""

import jax
import numpy as np
import pytest
from scipy.stats import binom

from physebm.partition import ais, smc, thermodynamic_integration

NUM_SEEDS = 200


def _check(zs):
    zs = np.asarray(zs)
    assert abs(zs.mean()) <= 3.3 / np.sqrt(zs.size), (zs.mean(), zs.std())
    covered = int(np.sum(np.abs(zs) <= 1.96))
    lo, hi = binom.ppf(0.0005, zs.size, 0.95), binom.ppf(0.9995, zs.size, 0.95)
    assert lo <= covered <= hi, (covered, lo, hi, zs.std())


@pytest.mark.slow
def test_ais_calibrated(small_rbm):
    model, beta, exact = small_rbm
    zs = []
    for seed in range(NUM_SEEDS):
        r = ais(model, beta, key=jax.random.key(seed), num_temperatures=100, num_chains=64)
        zs.append((float(r.log_z) - exact) / float(r.stderr))
    _check(zs)


@pytest.mark.slow
def test_ais_generic_flips_calibrated(small_ising):
    model, beta, exact = small_ising
    import samplers

    kernel = samplers.HeatBath("spin")
    zs = []
    for seed in range(NUM_SEEDS):
        r = ais(
            model,
            beta,
            key=jax.random.key(seed),
            num_temperatures=100,
            num_chains=64,
            kernel=kernel,
        )
        zs.append((float(r.log_z) - exact) / float(r.stderr))
    _check(zs)


@pytest.mark.slow
def test_ti_calibrated(small_rbm):
    model, beta, exact = small_rbm
    zs = []
    for seed in range(NUM_SEEDS):
        r = thermodynamic_integration(
            model,
            beta,
            key=jax.random.key(seed),
            num_temperatures=32,
            num_chains=16,
            num_samples=50,
            num_burnin=10,
        )
        zs.append((float(r.log_z) - exact) / float(r.stderr))
    _check(zs)


@pytest.mark.slow
def test_smc_calibrated(gaussian):
    model, beta, exact = gaussian
    zs = []
    for seed in range(100):
        r = smc(model, beta, key=jax.random.key(seed), num_particles=128, num_replicas=16)
        zs.append((float(r.log_z) - exact) / float(r.stderr))
    zs = np.asarray(zs)
    # 16 replicas: z follows roughly a t-distribution with 15 dof (sd ≈ 1.07), so the coverage
    # of ±1.96 is ≈ 0.93; check the mean and a central 99.9 % interval for that coverage
    assert abs(zs.mean()) <= 3.3 * 1.07 / np.sqrt(zs.size), zs.mean()
    covered = int(np.sum(np.abs(zs) <= 1.96))
    assert binom.ppf(0.0005, 100, 0.93) <= covered <= binom.ppf(0.9995, 100, 0.93), covered
