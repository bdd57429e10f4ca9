"""Does a tighter Pareto k̂ threshold remove AIS runs that are wrong but flagged reliable?

For each calibration cell given (``problem/ais/budget``, see ``calibration.py``), AIS runs over
500 seeds in one vmapped call; among the runs flagged reliable, the script prints how many
remain, their mean and sd of z = (log Ẑ − log Z)/stderr and their ±3σ coverage when k̂ must
also be ≤ 0.7 (the library's threshold), 0.6, 0.5 or 0.4, and the k̂ of the reliable runs
with |z| > 3.

    python benchmarks/khat_separation.py ising16-bc/ais/large ising16-0.3/ais/large
"""

from __future__ import annotations

import functools
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from calibration import cell_settings, problem

from physebm.partition import ais


def run(cell: str, num_seeds: int = 500, chunk: int = 50) -> None:
    t0 = time.perf_counter()
    prob = problem(cell.split("/")[0])
    settings = cell_settings(cell)
    estimate = functools.partial(ais, prob.model, prob.beta, **prob.common, **settings)

    def fields(key):
        r = estimate(key=key)
        return r.log_z, r.stderr, jnp.asarray(r.reliable), r.info["pareto_k"]

    batched = jax.jit(jax.vmap(fields))
    keys = jax.random.split(jax.random.key(123), num_seeds)
    parts = [jax.device_get(batched(keys[i : i + chunk])) for i in range(0, num_seeds, chunk)]
    log_z, stderr, reliable, k = (np.concatenate(p) for p in zip(*parts, strict=True))
    z, reliable = (log_z - prob.log_z) / stderr, reliable.astype(bool)
    print(f"{cell} {settings} ({time.perf_counter() - t0:.0f} s)")
    for threshold in (0.7, 0.6, 0.5, 0.4):
        r = reliable & (k <= threshold)
        if r.sum() < 2:
            print(f"  k <= {threshold}: {r.sum()} reliable")
            continue
        cov = np.mean(np.abs(z[r]) <= 3)
        print(
            f"  k <= {threshold}: reliable {r.sum():4d}/{num_seeds}  mean z {z[r].mean():+.2f}"
            f"  sd {z[r].std():.2f}  cov3 {cov:.3f}"
        )
    bad = reliable & (np.abs(z) > 3)
    print(f"  k-hat of the {bad.sum()} reliable runs with |z| > 3:", np.round(np.sort(k[bad]), 2))


if __name__ == "__main__":
    for c in sys.argv[1:] or ["ising16-bc/ais/large"]:
        run(c)
