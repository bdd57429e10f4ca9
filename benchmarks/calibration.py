"""Calibration cells: problems with exact log Z, estimator budgets, z-scores over seeds.

A *cell* is one (problem, estimator, budget). :func:`run_cell` runs it over ``num_seeds`` keys
with one jitted ``jax.vmap`` of the estimator (applied to chunks of ``chunk`` keys, so every
chunk reuses the one compilation) and :func:`summarise` turns the z-scores

    z_i = (log Ẑ_i − log Z) / stderr_i

and the ``reliable`` flags into the calibration table: mean and sd of z, coverage of |z| ≤ 2
and |z| ≤ 3 with Wilson 95 % score intervals, the fraction flagged unreliable, the same
statistics among runs flagged reliable, and the targets (PASS/FAIL):

* among runs flagged reliable, coverage of ±3σ ≥ 99 % (pass when the Wilson interval reaches
  0.99) and 0.8 ≤ sd(z) ≤ 1.25 (point estimate; not judged, "-", under :data:`MIN_RELIABLE` runs);
* at the large budget of an easy problem, ≥ 90 % of runs flagged reliable (point estimate).

Used by ``benchmarks/bench_calibration.py`` and ``tests/physebm/partition/
test_calibration_benchmark.py`` (loaded by file path; this module imports no other benchmark
module at import time).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import inspect
import pathlib
import time
import zlib
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from scipy import integrate, stats

jax.config.update("jax_enable_x64", True)  # before physebm creates any array

import samplers  # noqa: E402
from physebm.models import BETA_C_2D, CurieWeiss, Gaussian, Ising  # noqa: E402
from physebm.partition import (  # noqa: E402
    ais,
    bases,
    bidirectional_ais,
    exact,
    importance,
    kernels,
    reverse_ais,
    smc,
    thermodynamic_integration,
)

BUDGETS = ("small", "medium", "large")
ESTIMATORS = ("importance", "ais", "reverse_ais", "bdmc", "ti", "smc")
MIN_RELIABLE = 20
"""Fewest runs flagged reliable for which the reliable-run targets are judged."""
COVERAGE_TARGET, SD_RANGE, RELIABLE_TARGET = 0.99, (0.8, 1.25), 0.90
MEMORY_PER_CHUNK = 2e8
"""Bytes of sampler state one chunk of vmapped seeds may hold (sets the chunk size)."""

# Settings per estimator and budget (OVERRIDES changes some per problem). Estimators whose
# stderr comes from the spread of G independent groups (TI's chains, SMC's replicas) get
# G = 16, the libraries' defaults: z then follows Student's t with G - 1 degrees of freedom,
# whose +-3 sigma covers 99.1 % (98.0 % at G = 8, below the target by construction). SMC moves
# its particles with the library's default 5 MCMC steps per SMC step (with 1 step the replica
# estimates stay skewed and reliable runs cover 0.95-0.97 on the Gaussian: see smc_replicas.py).
SETTINGS = {
    "importance": {"small": dict(num_samples=1000), "medium": dict(num_samples=4000),
                   "large": dict(num_samples=16000)},
    "ais": {"small": dict(num_temperatures=20, num_chains=32),
            "medium": dict(num_temperatures=60, num_chains=32),
            "large": dict(num_temperatures=200, num_chains=32)},
    "ti": {"small": dict(num_temperatures=8, num_chains=16, num_samples=10, num_burnin=5),
           "medium": dict(num_temperatures=16, num_chains=16, num_samples=20, num_burnin=5),
           "large": dict(num_temperatures=32, num_chains=16, num_samples=30, num_burnin=10)},
    "smc": {"small": dict(num_particles=32, num_replicas=16, num_mcmc_steps=5),
            "medium": dict(num_particles=64, num_replicas=16, num_mcmc_steps=5),
            "large": dict(num_particles=128, num_replicas=16, num_mcmc_steps=5)},
}  # fmt: skip
SETTINGS["reverse_ais"] = SETTINGS["bdmc"] = SETTINGS["ais"]
AIS_FAMILY = ("ais", "reverse_ais", "bdmc")
_MALA_AIS = {
    e: {
        "small": dict(num_temperatures=10),
        "medium": dict(num_temperatures=30),
        "large": dict(num_temperatures=100),
    }
    for e in AIS_FAMILY
}
"""Fewer temperatures for MALA (adapted at every temperature; a step costs ~10× a lattice
sweep) and the same 32 chains as elsewhere: with 16 (the earlier setting) the ESS ≥ 10 check
flagged a third of good Gaussian runs, as ESS/N ≈ exp(−Var log w) ≈ 0.5 there."""
OVERRIDES = {
    # MALA steps (adapted at every temperature) cost ~10x a lattice sweep here
    "gauss10": _MALA_AIS,
    "dwell": _MALA_AIS,
    # 4x the spins of 16x16: half the AIS chains, shorter TI runs
    "ising32-bc": {"ais": {b: dict(num_chains=16) for b in BUDGETS},
                   "ti": {"small": dict(num_samples=5),
                          "medium": dict(num_samples=10),
                          "large": dict(num_samples=15, num_burnin=5)}},
    # a flip costs an O(N) energy: 8 chains for the AIS family and for TI (whose two sweeps
    # flag every run here: the chains stay in the well they fall into)
    "cw1000": {e: {b: dict(num_chains=8) for b in BUDGETS} for e in (*AIS_FAMILY, "ti")},
}  # fmt: skip
"""problem -> estimator -> budget -> settings that replace those of :data:`SETTINGS`."""
WIDTH_KEY = {
    "importance": "num_samples",
    "ais": "num_chains",
    "reverse_ais": "num_chains",
    "bdmc": "num_chains",
    "ti": "num_chains",
    "smc": "num_particles",
}


@dataclasses.dataclass(frozen=True)
class Problem:
    """A target with an exact log Z.

    Attributes:
        name, description: table labels.
        model: the energy (a physebm model or a callable); beta: β.
        log_z: the exact log Z(β) (float64).
        regime: ``"easy"`` or ``"hard"``.
        common: keyword arguments every estimator gets (``base=``, ``kernel=``).
        units: numbers per state (sets the chunk size).
    """

    name: str
    description: str
    model: object
    beta: float
    log_z: float
    regime: str
    common: dict = dataclasses.field(default_factory=dict)
    units: int = 1


def gaussian_problem() -> Problem:
    """10-D Gaussian, precision A = Q diag(λ) Qᵀ with λ log-uniform in [0.5, 10], μ ~ N(0, ½²).

    Base and kernel are the defaults, passed explicitly (:func:`_real_defaults`)."""
    rng = np.random.default_rng(10)
    q, _ = np.linalg.qr(rng.normal(size=(10, 10)))
    precision = (q * np.exp(rng.uniform(np.log(0.5), np.log(10.0), 10))) @ q.T
    model = Gaussian(0.5 * rng.normal(size=10), 0.5 * (precision + precision.T))
    return Problem(
        "gauss10",
        "Gaussian 10-D, random SPD precision, β=1, base N(0, I)",
        model,
        1.0,
        float(exact(model, 1.0).log_z),
        "easy",
        units=10,
        common=_real_defaults(10),
    )


def _real_defaults(dim: int) -> dict:
    """The estimators' defaults for real x, built outside ``jax.jit``: base N(0, I) and MALA
    with step 0.5·d^(−1/3) adapted towards acceptance 0.574. Built inside a jitted call they
    fail (``bases.gaussian`` and ``kernels.default_kernel`` call ``bool``/``float`` on arrays
    that are traced there)."""
    return dict(
        base=bases.gaussian(jnp.zeros(dim)),
        kernel=samplers.MALA(0.5 * dim ** (-1 / 3)),
        target_acceptance=kernels.MALA_TARGET_ACCEPTANCE,
    )


def _bench_partition():
    path = pathlib.Path(__file__).with_name("bench_partition.py")
    spec = importlib.util.spec_from_file_location("bench_partition", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rbm_problem() -> Problem:
    """RBM 64×16 by 20 epochs of CD-1 on the binarised UCI digits (``bench_partition``);
    base-rate base for every estimator; exact log Z by enumerating the 16 hidden units."""
    bp = _bench_partition()
    data = bp.load_digits()
    rbm = bp.train_rbm(data, jax.random.fold_in(jax.random.key(2024), 0), epochs=20)
    return Problem(
        "rbm",
        "RBM 64x16, CD-1 on UCI digits, β=1, base-rate base",
        rbm,
        1.0,
        float(exact(rbm, 1.0).log_z),
        "hard",
        common=dict(base=bases.rbm_base_rate(rbm, data)),
        units=80,
    )


def ising_problem(size: int, beta: float, label: str, regime: str) -> Problem:
    """Periodic size×size Ising (J = 1, h = 0) from uniform spins; exact by Kaufman."""
    model = Ising((size, size))
    return Problem(
        f"ising{size}-{label}",
        f"Ising {size}x{size} periodic, β={beta:.4f}",
        model,
        beta,
        float(exact(model, beta).log_z),
        regime,
        units=size * size,
    )


def curie_weiss_problem() -> Problem:
    """Curie–Weiss N = 1000, βJ = 1.2, h = 0.01: two wells, the +M one favoured by the field.
    Kernel: random-site flip Metropolis, 20 proposals per step (a full heat-bath sweep costs
    N energies of O(N) each); 8 chains for the AIS family."""
    model = CurieWeiss(1000, J=1.0, h=0.01)
    return Problem(
        "cw1000",
        "Curie-Weiss N=1000, βJ=1.2, h=0.01, 20 flips/step",
        model,
        1.2,
        float(exact(model, 1.2).log_z),
        "hard",
        common=dict(kernel=samplers.FlipMetropolis("spin", num_flips=20)),
        units=1000,
    )


DOUBLE_WELL_A, DOUBLE_WELL_TILT = 12.0, 0.5


def double_well_energy(x):
    """E(x) = a (x² − 1)² + c x on x of shape (1,), a = 12, c = 0.5 (barrier ≈ 12, wells at
    ≈ ±1 with energies ≈ ∓0.5)."""
    return DOUBLE_WELL_A * (x[0] ** 2 - 1.0) ** 2 + DOUBLE_WELL_TILT * x[0]


def double_well_log_z(beta: float = 1.0) -> float:
    """log ∫ exp(−βE(x)) dx by adaptive Gauss–Kronrod quadrature (``scipy.integrate.quad``,
    float64) on [−4, 4] (the integrand is < e^{−1000} outside), split at −1, 0, 1, with the
    integrand shifted by min E (evaluated at x = −1 and x = 1) for range."""
    e = lambda x: DOUBLE_WELL_A * (x * x - 1.0) ** 2 + DOUBLE_WELL_TILT * x  # noqa: E731
    shift = min(e(-1.0), e(1.0))
    val, _ = integrate.quad(
        lambda x: np.exp(-beta * (e(x) - shift)),
        -4.0,
        4.0,
        points=(-1.0, 0.0, 1.0),
        epsabs=0.0,
        epsrel=1e-13,
        limit=500,
    )
    return float(np.log(val) - beta * shift)


def double_well_problem() -> Problem:
    """1-D double well, β = 1, base N(0, 1); default kernel (adapted MALA)."""
    return Problem(
        "dwell",
        "double well 12(x²-1)²+0.5x, β=1, base N(0,1)",
        double_well_energy,
        1.0,
        double_well_log_z(1.0),
        "hard",
        common=_real_defaults(1),
    )


# Reverse AIS and BDMC only where exact target samples are cheap (Gaussian, RBM, Curie-Weiss).
# No SMC on the lattices or Curie-Weiss: vmapped over seeds, adaptive SMC costs 40-70 s per 100
# seeds on 16x16 already at 32 particles x 8 replicas x 1 sweep (30 s on Curie-Weiss). No
# importance sampling from uniform spins in the hard lattice regimes or on Curie-Weiss: there
# it is off by 100-200 stderrs and flagged unreliable in every run (--quick runs, 20 seeds).
PROBLEMS: dict[str, tuple[Callable[[], Problem], tuple]] = {
    "gauss10": (gaussian_problem, ESTIMATORS),
    "rbm": (rbm_problem, ESTIMATORS),
    "ising16-0.3": (functools.partial(ising_problem, 16, 0.3, "0.3", "easy"),
                    ("importance", "ais", "ti")),
    "ising16-bc": (functools.partial(ising_problem, 16, BETA_C_2D, "bc", "hard"), ("ais", "ti")),
    "ising16-0.6": (functools.partial(ising_problem, 16, 0.6, "0.6", "hard"), ("ais", "ti")),
    "ising32-bc": (functools.partial(ising_problem, 32, BETA_C_2D, "bc", "hard"), ("ais", "ti")),
    "cw1000": (curie_weiss_problem, ("ais", "reverse_ais", "bdmc", "ti")),
    "dwell": (double_well_problem, ("importance", "ais", "ti", "smc")),
}  # fmt: skip
"""name -> (factory, estimators run on it at every budget)."""

HARD_FOR = {("gauss10", "importance"): "hard", ("ising16-0.3", "importance"): "hard"}
"""(problem, estimator) pairs that are hard although the problem is easy for the others: from
N(0, I) the Gaussian's importance weights w ∝ exp(−½ xᵀ(A − I)x + …) have infinite variance
along its softest direction (precision 0.5: w ∝ exp(x²/4), a Pareto tail with k = 1/2); from
uniform spins the 16×16 lattice's log-weights −βE have a variance of β²·2N ≈ 46 at
β = 0.3 (2N = 512 independent bonds of ±1), so a few samples carry the weight and every run
is flagged."""

RUNNERS = {
    "importance": importance,
    "ais": ais,
    "reverse_ais": reverse_ais,
    "bdmc": bidirectional_ais,
    "ti": thermodynamic_integration,
    "smc": smc,
}


@functools.cache
def problem(name: str) -> Problem:
    """The problem ``name`` (built once per process)."""
    if name not in PROBLEMS:
        raise KeyError(f"problem must be one of {sorted(PROBLEMS)}, got {name!r}")
    return PROBLEMS[name][0]()


def cell_settings(cell: str) -> dict:
    """The keyword arguments of the estimator in ``cell`` (budget, then problem overrides)."""
    name, estimator, budget = cell.split("/")
    extra = OVERRIDES.get(name, {}).get(estimator, {}).get(budget, {})
    return {**SETTINGS[estimator][budget], **extra}


def all_cells(budgets=BUDGETS) -> list[str]:
    """Every cell name ``problem/estimator/budget`` (no problem is built)."""
    return [f"{p}/{e}/{b}" for p, (_, ests) in PROBLEMS.items() for e in ests for b in budgets]


def run_cell(cell: str, num_seeds: int, *, seed: int = 0, chunk: int | None = None) -> dict:
    """Run ``cell`` over ``num_seeds`` keys; return its z-scores, flags, settings and times
    (the estimator's log Ẑ, stderr and ``reliable`` from :func:`cell_outputs`)."""
    name, estimator, budget = cell.split("/")
    prob = problem(name)
    settings = cell_settings(cell)
    out = dict(
        cell=cell,
        problem=prob.description,
        regime=HARD_FOR.get((name, estimator), prob.regime),
        budget=budget,
        settings=settings,
        chunk=chunk_size(cell, num_seeds) if chunk is None else min(chunk, num_seeds),
        exact=prob.log_z,
    )
    t0 = time.perf_counter()
    try:
        log_z, stderr, reliable = cell_outputs(cell, num_seeds, _fields, seed=seed, chunk=chunk)
    except Exception as err:  # noqa: BLE001 - an estimator that cannot be vmapped is a finding
        return {**out, "error": f"{type(err).__name__}: {str(err).splitlines()[0]}"}
    return {
        **out,
        "z": (log_z - prob.log_z) / stderr,
        "reliable": reliable.astype(bool),
        "seconds": time.perf_counter() - t0,
    }


def chunk_size(cell: str, num_seeds: int) -> int:
    """Seeds per vmapped chunk: as many as :data:`MEMORY_PER_CHUNK` allows (1 to 100)."""
    name, estimator, _ = cell.split("/")
    settings = cell_settings(cell)
    width = settings[WIDTH_KEY[estimator]] * settings.get("num_replicas", 1)
    chunk = int(np.clip(MEMORY_PER_CHUNK // (8 * width * problem(name).units), 1, 100))
    return min(chunk, num_seeds)


def cell_outputs(
    cell: str, num_seeds: int, fields: Callable, *, seed: int = 0, chunk: int | None = None
) -> tuple[np.ndarray, ...]:
    """``fields(result)`` of the estimator in ``cell`` over ``num_seeds`` keys, each output
    stacked over the seeds.

    The estimator is jitted once as ``jax.vmap(lambda k: fields(estimator(model, beta, key=k,
    **settings)))`` and applied to consecutive chunks of the keys
    ``jax.random.split(jax.random.fold_in(key(seed), crc32(cell)), num_seeds)``.
    """
    name, estimator, _ = cell.split("/")
    prob = problem(name)
    fn = RUNNERS[estimator]
    accepted = inspect.signature(fn).parameters
    common = {k: v for k, v in prob.common.items() if k in accepted}  # importance: base only
    run = functools.partial(fn, prob.model, prob.beta, **common, **cell_settings(cell))
    batched = jax.jit(jax.vmap(lambda k: fields(run(key=k))))
    chunk = chunk_size(cell, num_seeds) if chunk is None else min(chunk, num_seeds)
    tag = zlib.crc32(cell.encode()) % 2**31
    keys = jax.random.split(jax.random.fold_in(jax.random.key(seed), tag), num_seeds)
    parts = []
    for i in range(0, num_seeds, chunk):
        part = keys[i : i + chunk]
        if part.shape[0] < chunk:  # pad the last chunk: one compiled shape
            part = jnp.concatenate([part, keys[: chunk - part.shape[0]]])
        parts.append(jax.device_get(batched(part)))
    return tuple(np.concatenate(p)[:num_seeds] for p in zip(*parts, strict=True))


def _fields(res):
    return res.log_z, res.stderr, jnp.asarray(res.reliable)


def wilson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion k/n:
    (p̂ + z²/2n ± z √(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n), z = Φ⁻¹((1 + level)/2)."""
    if n == 0:
        return (float("nan"), float("nan"))
    z, p = stats.norm.ppf(0.5 + level / 2), k / n
    centre, half = p + z * z / (2 * n), z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return ((centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n))


def z_stats(z: np.ndarray) -> dict:
    """n, mean, sd (over finite z), non-finite count, coverage of |z| ≤ 2 and ≤ 3 with Wilson
    95 % intervals (a non-finite z counts as not covered)."""
    n, finite = z.size, z[np.isfinite(z)]
    out = dict(n=n, nonfinite=int(n - finite.size))
    out["mean"] = float(finite.mean()) if finite.size else float("nan")
    out["sd"] = float(finite.std(ddof=1)) if finite.size > 1 else float("nan")
    for s in (2, 3):
        k = int(np.sum(np.abs(finite) <= s))
        out[f"cov{s}"], out[f"cov{s}_ci"] = (k / n if n else float("nan")), wilson(k, n)
    return out


def summarise(run: dict) -> dict:
    """The table row of a cell run: all-run and reliable-run statistics and the verdicts (a
    run that raised keeps its ``error`` and gets no statistics)."""
    if "error" in run:
        return {**run, "pass_cov3": None, "pass_sd": None, "pass_reliable": None}
    z, rel = run["z"], run["reliable"]
    row = {k: v for k, v in run.items() if k not in ("z", "reliable")}
    row["all"], row["rel"] = z_stats(z), z_stats(z[rel])
    row["frac_unreliable"] = float(1 - rel.mean())
    r = row["rel"]
    judged = r["n"] >= MIN_RELIABLE
    row["pass_cov3"] = bool(r["cov3_ci"][1] >= COVERAGE_TARGET) if judged else None
    row["pass_sd"] = bool(SD_RANGE[0] <= r["sd"] <= SD_RANGE[1]) if judged else None
    easy_large = run["regime"] == "easy" and run["budget"] == "large"
    row["pass_reliable"] = bool(rel.mean() >= RELIABLE_TARGET) if easy_large else None
    return row
