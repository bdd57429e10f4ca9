"""How often does the batch-agreement check flag good annealed weights, and what does it catch?

``assemble.batch_agreement`` splits N weights into B = 4 groups and compares their log Ẑ_b by
χ² = Σ_b (L_b − L̄)²/s_b² against the χ²₃ quantile at 1 − ``CHECK_ALPHA`` (nominal false-alarm
rate 0.1 %). The script draws 20,000 runs of N = 32 log-weights per case and prints the fraction
flagged with s_b the group's delta-method stderr (``delta``, what importance sampling uses) and
with the log-normal floor from the pooled fenced log-weight variance (``annealed``, what AIS and
reverse AIS use):

* log-normal weights, log w ~ N(0, σ²), the model of a good anneal — the false-alarm rate;
* log-t₂ weights and a mixture in which a fraction p of the chains found a mode worth e^{+Δ}
  more — the power against heavy tails and a mode most chains missed.

The delta method understates the spread of small groups of log-normal weights (a group that
missed the upper tail reports a small δ_b too), so its false-alarm rate grows with σ².

    python benchmarks/bench_batch_check.py
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

from physebm.partition import assemble  # noqa: E402

RUNS, N = 20_000, 32


def flagged(log_w: np.ndarray, annealed: bool) -> float:
    """Fraction of the runs (rows of ``log_w``) the library's batch check flags."""

    def one(lw):
        statistic, threshold = assemble.batch_agreement(lw, annealed=annealed)
        return statistic > threshold

    return float(np.mean(np.asarray(jax.jit(jax.vmap(one))(jnp.asarray(log_w)))))


def main() -> None:
    rng = np.random.default_rng(0)
    cases = []
    for s2 in (0.1, 0.5, 1.0, 2.0, 4.0):
        cases.append((f"log-normal σ² = {s2}", rng.normal(0.0, np.sqrt(s2), (RUNS, N))))
    for scale in (0.5, 1.0):
        cases.append((f"log-t₂ scale {scale}", scale * rng.standard_t(2, (RUNS, N))))
    for p, jump in ((1 / 32, 5.0), (1 / 16, 4.0), (1 / 32, 8.0)):
        lw = rng.normal(0.0, 0.5, (RUNS, N)) + jump * (rng.random((RUNS, N)) < p)
        cases.append((f"mixture p = 1/{round(1 / p)}, Δ = +{jump:g}", lw))
    print(f"batch check, N = {N}, B = {assemble.NUM_BATCHES}, {RUNS} runs per case")
    print(f"| {'case':<28} | {'delta':>7} | {'annealed':>8} |")
    print(f"|{'-' * 30}|{'-' * 9}|{'-' * 10}|")
    for name, lw in cases:
        print(f"| {name:<28} | {flagged(lw, False):7.4f} | {flagged(lw, True):8.4f} |")


if __name__ == "__main__":
    main()
