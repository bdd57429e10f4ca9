"""What the Swendsen–Wang start of TI's backward sweep costs on the 2-D Ising lattice.

    python benchmarks/ti_equilibration_cost.py

Times ``thermodynamic_integration`` (the user's call, first call with compilation and the best
of three warm calls) on 16×16 at β_c with the defaults and on 32×32 at β_c at the calibration's
medium budget, with ``ti.EQUILIBRATION_MOVES`` = 16 (the library's) and 0 (the same code with
no move: the cost of everything else; its first call reuses the sweeps compiled by the row
above, so only the warm times compare). ~30 s.
"""

import time

import jax
import numpy as np

import physebm.partition.ti as ti
from physebm.models import Ising

BETA_C = 0.5 * float(np.log1p(np.sqrt(2.0)))
CASES = [
    ((16, 16), {}),
    ((32, 32), dict(num_temperatures=16, num_chains=16, num_samples=10, num_burnin=5)),
]


def timed(model, settings, seed):
    t0 = time.perf_counter()
    res = ti.thermodynamic_integration(model, BETA_C, key=jax.random.key(seed), **settings)
    jax.block_until_ready(res.log_z)
    return time.perf_counter() - t0


def main():
    default = ti.EQUILIBRATION_MOVES
    print(f"{'lattice':<8} {'settings':<44} {'moves':>5} {'first s':>8} {'warm s':>8}")
    for shape, settings in CASES:
        for moves in (default, 0):
            ti.EQUILIBRATION_MOVES = moves
            model = Ising(shape)
            first = timed(model, settings, 0)
            warm = min(timed(model, settings, s) for s in (1, 2, 3))
            label = str(settings or "defaults")
            print(f"{shape[0]}x{shape[1]:<5} {label:<44} {moves:>5} {first:8.2f} {warm:8.3f}")
    ti.EQUILIBRATION_MOVES = default


if __name__ == "__main__":
    main()
