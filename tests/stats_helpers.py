"""The one statistics helper of the test suite: exact references and test statistics (numpy
only, float64), imported as ``import stats_helpers`` (``tests/`` is on the path).

Tolerances: every statistical test uses a FIXED key and a threshold with a stated
false-failure rate — ``ALPHA`` per assertion for the sampler tests (computed from the sample
size, never tuned), ``Z_TOL`` standard errors for the estimator tests (:func:`within`).
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import stats

ALPHA = 1e-4
"""False-failure probability of one statistical assertion (a z-test at |z| < 3.89)."""

Z_CRIT = float(stats.norm.isf(ALPHA / 2))


def all_states(n: int, domain: str) -> np.ndarray:
    """All 2^n configurations, (2^n, n), as ±1 spins or {0,1} bits (row i is binary i)."""
    bits = np.array(list(itertools.product([0, 1], repeat=n)), dtype=np.int64)
    return 2 * bits - 1 if domain == "spin" else bits


def state_index(x, domain: str) -> np.ndarray:
    """Index of each configuration (rows of x, last axis flattened) in :func:`all_states`."""
    x = np.asarray(x).reshape(np.shape(x)[0], -1)
    bits = (x > 0).astype(np.int64) if domain == "spin" else x.astype(np.int64)
    weights = 2 ** np.arange(bits.shape[1] - 1, -1, -1)
    return bits @ weights


def gibbs_probs(energies, beta) -> np.ndarray:
    """exp(−β E) / Z over an enumerated list of energies, in log space."""
    logw = -beta * np.asarray(energies, dtype=float)
    logw -= logw.max()
    p = np.exp(logw)
    return p / p.sum()


def pairwise_energy(x, W, b) -> np.ndarray:
    """E(x) = −½ xᵀWx − bᵀx for each row of x."""
    x = np.asarray(x, dtype=float)
    return -0.5 * np.einsum("si,ij,sj->s", x, W, x) - x @ b


def chi2_pvalue(counts, probs, min_expected: float = 5.0) -> float:
    """Pearson χ² goodness-of-fit p-value of multinomial ``counts`` against ``probs``.

    Bins are sorted by probability and the smallest are pooled until each pooled bin expects
    at least ``min_expected`` counts, so the χ² approximation holds. Valid for independent
    draws (e.g. the final states of independent chains).
    """
    counts = np.asarray(counts, dtype=float)
    probs = np.asarray(probs, dtype=float)
    n = counts.sum()
    order = np.argsort(probs)
    pooled_c, pooled_e, acc_c, acc_e = [], [], 0.0, 0.0
    for i in order:
        acc_c += counts[i]
        acc_e += n * probs[i]
        if acc_e >= min_expected:
            pooled_c.append(acc_c)
            pooled_e.append(acc_e)
            acc_c = acc_e = 0.0
    if acc_e > 0:
        pooled_c[-1] += acc_c
        pooled_e[-1] += acc_e
    c, e = np.array(pooled_c), np.array(pooled_e)
    stat = np.sum((c - e) ** 2 / e)
    return float(stats.chi2.sf(stat, df=len(c) - 1))


def ess_geyer(x) -> float:
    """Effective sample size of a (chains, draws) array: Geyer's initial monotone sequence
    on the chain-averaged autocorrelation (the estimator of Stan/ArviZ, without splitting)."""
    x = np.asarray(x, dtype=float)
    m, n = x.shape
    xc = x - x.mean(axis=1, keepdims=True)
    f = np.fft.rfft(xc, n=2 * n, axis=1)
    acov = np.fft.irfft(f * np.conj(f), axis=1)[:, :n] / n
    chain_var = acov[:, 0] * n / (n - 1)
    w = chain_var.mean()
    b = n * x.mean(axis=1).var(ddof=1) if m > 1 else 0.0
    var_plus = (n - 1) / n * w + b / n
    rho = 1.0 - (w - acov.mean(axis=0)) / var_plus
    rho[0] = 1.0
    pairs = rho[: 2 * (n // 2)].reshape(-1, 2).sum(axis=1)
    total, prev = 0.0, np.inf
    for p in pairs:
        if p <= 0:
            break
        p = min(p, prev)
        total += p
        prev = p
    tau = -1.0 + 2.0 * total
    return float(m * n / max(tau, 1.0 / np.log10(m * n)))


Z_TOL = 3.0
"""Standard errors an estimate may be off by in :func:`within`: a two-sided false-failure rate
of 0.27 % per check for a calibrated Gaussian estimator."""


def within(est, exact, num_sigma=Z_TOL):
    """|log_z − exact| ≤ num_sigma · stderr, with a message that shows the z-score."""
    err = float(est.log_z) - float(exact)
    se = float(est.stderr)
    assert se > 0, f"{est.method}: stderr must be positive, got {se}"
    assert abs(err) <= num_sigma * se, (
        f"{est.method}: estimate {float(est.log_z):.6f} vs exact {float(exact):.6f}, "
        f"error {err:.3g} = {err / se:.2f} stderr (stderr {se:.3g})"
    )
