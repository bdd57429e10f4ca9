"""Does a reliability gate on a run's own weights select the runs it passes?

AIS log-weights are close to normal, log w ~ N(log Z − σ²/2, σ²). The ESS check (ESS ≥ 10)
gates which runs are called reliable. The script draws 20,000 runs of N = 32 weights per σ²
and scores log Ẑ = log mean(w) by z = (log Ẑ − log Z)/stderr, stderr the library's
(``weights.annealed_stderr``), among the runs each gate passes:

* ``own``: min(ESS, N e^{−σ̂²}) ≥ 10 on the run's own weights (``ais(check=False)``);
* ``independent``: N e^{−v/2} ≥ 10, v the fenced log-weight variance of an independent run
  with half the temperatures (log-weight variance 2σ², the 1/K law): a gate independent of the
  run's own sample, as that of ``ais`` and ``reverse_ais`` with ``check=True`` is
  (``ais.predicted_variance``, which takes N e^{−v}: a fast anneal's variance falls more
  slowly than 1/K);
* ``none``: every run.

Where the true ESS N e^{−σ²} is near the threshold the own-sample gate passes the runs whose
sample missed the upper tail of w, whose log Ẑ and stderr are both low: their z is shifted
down and their ±3σ coverage falls. The independent gate passes runs whatever their own sample
did, so the runs it passes cover as all runs do.

    python benchmarks/independent_ess_gate.py
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

from physebm.partition import weights  # noqa: E402

RUNS, N, THRESHOLD = 20_000, 32, 10.0


def _stats(log_w: np.ndarray) -> dict:
    return {
        k: np.asarray(v) for k, v in jax.vmap(weights.weight_statistics)(jnp.asarray(log_w)).items()
    }


def main() -> None:
    rng = np.random.default_rng(0)
    print("| σ² | N e^{−σ²} | passed, ±3σ coverage, mean z: own / independent / none |")
    print("|---|---|---|")
    for var in (0.5, 1.0, 1.3, 1.6, 2.0):
        main_run = _stats(rng.normal(-var / 2, np.sqrt(var), (RUNS, N)))
        half_run = _stats(rng.normal(-var, np.sqrt(2 * var), (RUNS, N)))
        z = main_run["log_z"] / np.asarray(weights.annealed_stderr(main_run))
        gates = {
            "own": np.minimum(main_run["ess"], main_run["ess_lognormal"]) >= THRESHOLD,
            "independent": N * np.exp(-0.5 * half_run["fenced_log_weight_variance"]) >= THRESHOLD,
            "none": np.ones(RUNS, bool),
        }
        cells = [
            f"{g.mean():.2f}, {np.mean(np.abs(z[g]) <= 3):.3f}, {z[g].mean():+.2f}"
            for g in gates.values()
        ]
        print(f"| {var} | {N * np.exp(-var):.1f} | {' / '.join(cells)} |")


if __name__ == "__main__":
    main()
