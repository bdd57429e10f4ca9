"""Calibration over many seeds (slow): z = (log Ẑ − log Z)/stderr should follow its reference
law: N(0, 1) for AIS (delta-method stderr), Student-t with C − 1 = 15 dof for TI (16 chains)
and SMC (16 replicas), whose stderr is a sample sd over C independent runs.

Over n seeds (200; 100 for SMC), two checks per test, each at a false-failure rate
ALPHA_CALIBRATION = 2.5e-4 if calibrated (2 checks × 4 tests = 0.2 % for this file; the slow
suite's budget is in ``stats_helpers``):

* the mean z within ±q·sd_ref/√n, q the two-sided normal quantile at α (3.66), sd_ref = 1
  (normal) or √(ν/(ν − 2)) (t_ν);
* the number of |z| ≤ c, c the reference law's 97.5 % quantile (1.96 normal, 2.13 for t₁₅, so
  the coverage is 0.95 for either), inside the central 1 − α binomial interval around 0.95·n.
"""

import jax
import numpy as np
import pytest
from scipy.stats import binom
from stats_helpers import critical_value

from physebm.partition import ais, smc, thermodynamic_integration

NUM_SEEDS = 200
ALPHA_CALIBRATION = 2.5e-4


def _check(zs, dof=None):
    """The two calibration checks at ALPHA_CALIBRATION each; z ~ N(0, 1) or t_dof."""
    zs = np.asarray(zs)
    n = zs.size
    sd_ref = 1.0 if dof is None else np.sqrt(dof / (dof - 2))
    q = critical_value(ALPHA_CALIBRATION)
    assert abs(zs.mean()) <= q * sd_ref / np.sqrt(n), (zs.mean(), zs.std(), q * sd_ref)
    c = critical_value(0.05, dof)
    covered = int(np.sum(np.abs(zs) <= c))
    lo = binom.ppf(ALPHA_CALIBRATION / 2, n, 0.95)
    hi = binom.ppf(1 - ALPHA_CALIBRATION / 2, n, 0.95)
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
    _check(zs, dof=int(r.info["num_chains"]) - 1)


@pytest.mark.slow
def test_smc_calibrated(gaussian):
    model, beta, exact = gaussian
    zs = []
    for seed in range(100):
        r = smc(model, beta, key=jax.random.key(seed), num_particles=128, num_replicas=16)
        zs.append((float(r.log_z) - exact) / float(r.stderr))
    _check(zs, dof=int(r.info["num_replicas"]) - 1)
