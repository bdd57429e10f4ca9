"""Why SMC's ±3σ coverage falls short at R = 16 replicas when the particles barely move: the
replica estimates themselves.

For the SMC cells of ``bench_calibration.py`` (same keys, 500 seeds × 16 replicas), run with
``--mcmc-steps`` MCMC steps per SMC step (default 1; the calibration benchmark uses the
library's default 5, where every SMC cell meets its target), prints

* the pooled replica estimates log Ẑ_r − log Z: mean, sd, skewness, excess kurtosis, and the
  log-mean-exp of all 8000 (≈ 0 when every Ẑ_r is unbiased for Z);
* the coverage of ±3 stderr of three rules on the real seeds: the library's log-normal
  estimate m + s²/2 with stderr² = s²/R + s⁴/(2(R − 1)), the same estimate with the
  jackknife stderr (which carries the sample skewness and kurtosis), and log-mean-exp of the
  replicas with the delta-method stderr;
* the library's rule on groups of R drawn i.i.d. from the pooled estimates (R = 16, 64) and
  from the normal N(−σ²/2, σ²) of the same sd (R = 16; the log-normal CLT's limit): if the
  pooled draws reproduce the seeds' coverage, the shortfall is the shape of the replica
  distribution, not a dependence between replicas or a biased replica.

Run: ``python benchmarks/smc_replicas.py [--mcmc-steps M]`` (about 2 minutes on 2 CPU cores at
M = 1).
"""

from __future__ import annotations

import argparse

import calibration
import numpy as np
from calibration import cell_outputs, problem
from scipy import stats
from scipy.special import logsumexp

CELLS = [f"{p}/smc/{b}" for p in ("gauss10", "rbm") for b in ("small", "medium", "large")]
NUM_SEEDS = 500


def replica_estimates(cell: str, num_seeds: int = NUM_SEEDS) -> tuple[np.ndarray, float]:
    """The (num_seeds, R) replica estimates log Ẑ_r of ``cell`` (keys as ``run_cell``'s) and
    the exact log Z."""
    (reps,) = cell_outputs(cell, num_seeds, lambda res: (res.info["replica_log_z"],))
    return reps, problem(cell.split("/")[0]).log_z


def lognormal_z(x: np.ndarray) -> np.ndarray:
    """z of the library's rule on rows of x = log Ẑ_r − log Z."""
    r, m, s2 = x.shape[1], x.mean(1), x.var(1, ddof=1)
    return (m + s2 / 2) / np.sqrt(s2 / r + s2**2 / (2 * (r - 1)))


def jackknife_z(x: np.ndarray) -> np.ndarray:
    """z of m + s²/2 with the jackknife stderr."""
    r = x.shape[1]
    loo = np.stack([np.delete(x, i, 1) for i in range(r)], 1)
    est = loo.mean(2) + loo.var(2, ddof=1) / 2
    var = (r - 1) / r * ((est - est.mean(1, keepdims=True)) ** 2).sum(1)
    return (x.mean(1) + x.var(1, ddof=1) / 2) / np.sqrt(var)


def log_mean_exp_z(x: np.ndarray) -> np.ndarray:
    """z of log mean Ẑ_r with the delta-method stderr sd(Ẑ)/(√R mean(Ẑ))."""
    w = np.exp(x - x.max(1, keepdims=True))
    lme = np.log(w.mean(1)) + x.max(1)
    return lme / (w.std(1, ddof=1) / np.sqrt(x.shape[1]) / w.mean(1))


def coverage(z: np.ndarray) -> str:
    return (
        f"cov±3 {np.mean(np.abs(z) <= 3):.3f} (low {np.mean(z < -3):.3f}, high "
        f"{np.mean(z > 3):.3f}), mean {z.mean():+.2f}, sd {z.std(ddof=1):.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mcmc-steps", type=int, default=1, help="MCMC steps per SMC step")
    steps = parser.parse_args().mcmc_steps
    for settings in calibration.SETTINGS["smc"].values():
        settings["num_mcmc_steps"] = steps
    print(f"SMC with {steps} MCMC step(s) per SMC step")
    rng = np.random.default_rng(0)
    for cell in CELLS:
        reps, exact = replica_estimates(cell)
        x = reps - exact
        pooled = x.ravel()
        print(
            f"\n{cell} ({x.shape[0]} seeds x {x.shape[1]} replicas): log Z_r - log Z mean "
            f"{pooled.mean():+.3f}, sd {pooled.std(ddof=1):.3f}, skewness "
            f"{stats.skew(pooled):.2f}, excess kurtosis {stats.kurtosis(pooled):.2f}; "
            f"log-mean-exp of all {pooled.size}: {logsumexp(pooled) - np.log(pooled.size):+.4f}"
        )
        print(f"  seeds, library (log-normal)    {coverage(lognormal_z(x))}")
        print(f"  seeds, jackknife stderr        {coverage(jackknife_z(x))}")
        print(f"  seeds, log-mean-exp + delta    {coverage(log_mean_exp_z(x))}")
        for r in (16, 64):
            draws = rng.choice(pooled, size=(20000, r))
            print(f"  pooled draws, R = {r:<3d}         {coverage(lognormal_z(draws))}")
        sd = pooled.std()  # log-normal CLT: mean −σ²/2, so that E[Ẑ_r] = Z
        normal = rng.normal(-(sd**2) / 2, sd, size=(20000, x.shape[1]))
        print(f"  normal draws, R = {x.shape[1]:<3d}         {coverage(lognormal_z(normal))}")


if __name__ == "__main__":
    main()
