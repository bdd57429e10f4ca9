"""The calibration benchmark, reduced (slow): among runs an estimator flags reliable, z-scores
z = (log Ẑ − log Z)/stderr cover ±3 in ≥ 99 % of runs and have 0.8 ≤ sd(z) ≤ 1.25.

Each cell of ``benchmarks/bench_calibration.py`` runs here over 200 seeds in one jitted vmap at
its small budget. Tolerances come from the sampling distribution at the edge of each target:

* coverage: the number of reliable runs with |z| ≤ 3 must be ≥ the 0.1 % quantile of
  Binomial(n, 0.99) (false failure < 0.1 % when the true coverage is ≥ 99 %);
* sd: sd(z) must lie in [0.8·√(χ²_{n−1}(0.0005)/(n−1)), 1.25·√(χ²_{n−1}(0.9995)/(n−1))] (false
  failure ≤ 0.05 % per side when z is normal with sd at the edge of [0.8, 1.25]; more when z is
  heavier-tailed, which is itself a calibration failure).

So ≤ 0.2 % per cell and ≤ 0.8 % for the four cells, if the targets hold. A cell that misses
its target is marked ``xfail`` (not strict) with the numbers measured; its assertions are the
targets, unchanged.
"""

import functools
import importlib.util
import pathlib
import sys

import numpy as np
import pytest
from scipy.stats import binom, chi2

NUM_SEEDS = 200
BENCH = pathlib.Path(__file__).resolve().parents[3] / "benchmarks" / "calibration.py"


@functools.cache
def _load():
    spec = importlib.util.spec_from_file_location("benchmark_calibration", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


CELLS = [
    "gauss10/ti/small",
    "dwell/smc/small",
    "ising16-0.3/ti/small",
    "gauss10/smc/small",
]
XFAIL: dict[str, str] = {}
"""Cells that miss their target with these 200 seeds, with the numbers measured (none now:
TI's 16 chains and backward sweep made ising16-0.3/ti/small pass; SMC's pilot schedule, 16
replicas, log-normal estimate and its default 5 MCMC steps per step gauss10/smc/small, which
missed with 1 step: 181 of 190 reliable runs within ±3σ, the replica estimates skewed)."""


@pytest.mark.slow
@pytest.mark.parametrize(
    "cell",
    [
        pytest.param(c, marks=pytest.mark.xfail(strict=False, reason=XFAIL[c])) if c in XFAIL else c
        for c in CELLS
    ],
)
def test_reliable_runs_are_calibrated(cell):
    cal = _load()
    run = cal.run_cell(cell, NUM_SEEDS)
    assert "error" not in run, run.get("error")
    z = run["z"][run["reliable"]]
    n = z.size
    assert n >= cal.MIN_RELIABLE, f"only {n} of {NUM_SEEDS} runs flagged reliable"
    covered = int(np.sum(np.abs(z) <= 3))
    floor = binom.ppf(0.001, n, cal.COVERAGE_TARGET)
    assert covered >= floor, f"{covered}/{n} reliable runs within ±3σ (need ≥ {floor:.0f})"
    sd = float(np.std(z[np.isfinite(z)], ddof=1))
    lo = cal.SD_RANGE[0] * np.sqrt(chi2.ppf(0.0005, n - 1) / (n - 1))
    hi = cal.SD_RANGE[1] * np.sqrt(chi2.ppf(0.9995, n - 1) / (n - 1))
    assert lo <= sd <= hi, f"sd(z) = {sd:.3f} over {n} reliable runs, need [{lo:.3f}, {hi:.3f}]"
