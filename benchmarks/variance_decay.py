"""How does the log-weight variance of an anneal fall with the number of temperatures K?

The ESS gate of ``ais`` and ``reverse_ais`` (``check=True``) predicts the K-step run's
log-weight variance by that of the independent run with K/2 steps (``ais.predicted_variance``).
Near the quasi-static limit σ²_K ∝ 1/K (ratio ½ per doubling); a fast anneal falls more
slowly. The script runs two of the calibration's problems (``benchmarks/calibration.py``;
32 chains, 100 seeds in one vmapped call per K): the 10-D Gaussian forward and in reverse at
K = 3, 5, 10, 20, 40, 80, and forward AIS on 16×16 Ising at β_c at K = 25, 50, 100, 200, 400.
It prints the mean fenced log-weight variance σ²_K and its ratio to the previous K's (K/2's
where K doubles). A ratio between ½ and 1 says that σ²_{K/2} overstates σ²_K, by less than
the factor 2 of the 1/K law. On the Gaussian the ratio falls with K toward ½; at β_c it rises
with K (from about 0.63 to 0.75 per doubling), so no extrapolation from the shorter runs —
σ²_{K/2}/2, or the ratio of the K/4 and K/2 runs carried one doubling on — is safe there.

    python benchmarks/variance_decay.py
"""

from __future__ import annotations

import inspect

import jax
import numpy as np
from calibration import RUNNERS, problem

CASES = (
    ("gauss10", "ais", (3, 5, 10, 20, 40, 80)),
    ("gauss10", "reverse_ais", (3, 5, 10, 20, 40, 80)),
    ("ising16-bc", "ais", (25, 50, 100, 200, 400)),
)
SEEDS, CHAINS = 100, 32


def variances(name: str, estimator: str, temperatures) -> list[float]:
    """Mean fenced log-weight variance over the seeds, per K in ``temperatures``."""
    prob, run = problem(name), RUNNERS[estimator]
    accepted = inspect.signature(run).parameters
    common = {k: v for k, v in prob.common.items() if k in accepted}
    keys = jax.random.split(jax.random.key(1), SEEDS)
    out = []
    for k in temperatures:

        def one(key, k=k):
            res = run(
                prob.model, prob.beta, key=key, num_temperatures=k, num_chains=CHAINS,
                check=False, **common,
            )  # fmt: skip
            return res.info["fenced_log_weight_variance"]

        out.append(float(np.mean(np.asarray(jax.jit(jax.vmap(one))(keys)))))
    return out


def main() -> None:
    print(f"{CHAINS} chains, {SEEDS} seeds: mean fenced log-weight variance σ²_K, and its ratio")
    print("to the previous K's")
    for name, estimator, temperatures in CASES:
        v = variances(name, estimator, temperatures)
        print(f"\n{name}, {estimator}")
        print("| " + " | ".join(f"K = {k:<4}" for k in temperatures) + " |")
        print("| " + " | ".join(f"{x:8.3f}" for x in v) + " |")
        ratios = [b / a for a, b in zip(v[:-1], v[1:], strict=True)]
        print(f"| {'':8} | " + " | ".join(f"{r:8.3f}" for r in ratios) + " |")


if __name__ == "__main__":
    main()
