"""Train one MLP energy on 2-D data with several objectives and evaluate each by likelihood.

Every trained energy E_θ is read as the Gibbs density p_θ(x) = exp(−E_θ(x)) / Z_θ at β = 1,
whatever objective produced it, and scored by the same held-out log-likelihood

    LL = −mean_{x ∈ test} E_θ(x) − log Z_θ,

with log Z_θ from 2-D quadrature (exact to ~1e-10 on the grid) *and* from AIS (with stderr);
their agreement is a check of both. Negative chains for each model come from replica exchange
(MALA inside, β ladder from 0.05 to 1) and are diagnosed with R-hat / ESS.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import optax

import samplers
from physebm import objectives as O
from physebm.datasets import DATASETS, load, log_density
from physebm.diagnostics import summarize_chains
from physebm.gibbs import Gibbs
from physebm.models import init_mlp_energy, mlp_energy
from physebm.partition import ais
from physebm.partition.bases import gaussian
from physebm.partition.quadrature import quadrature
from physebm.training import fit

OBJECTIVES_2D = ("pcd", "ml", "nce", "dsm", "ssm", "hinge", "log", "square-square")
"""Objectives the 2-D comparison knows, by the name used on the command line."""

DESCRIPTIONS = {
    "pcd": "maximum likelihood, persistent contrastive divergence (MALA chains, replay buffer)",
    "ml": "maximum likelihood, fresh MALA chains from noise each step",
    "nce": "noise-contrastive estimation, Gaussian noise fitted to the data, learned c",
    "dsm": "denoising score matching, sigma = 0.1",
    "ssm": "sliced score matching (variance-reduced)",
    "hinge": "margin: hinge max(0, m + E(x+) - E_I), sampled uniform negatives, m = 1",
    "log": "margin: log loss log(1 + exp(E(x+) - E_I)), sampled uniform negatives",
    "square-square": "margin: E(x+)^2 + max(0, m - E_I)^2, sampled uniform negatives",
}


@dataclass
class Settings:
    dataset: str = "eight_gaussians"
    objectives: tuple[str, ...] = ("pcd", "nce", "dsm", "hinge")
    num_steps: int = 1500
    batch_size: int = 256
    num_train: int = 4000
    num_test: int = 2000
    learning_rate: float = 1e-3
    hidden: tuple[int, ...] = (64, 64)
    confinement: float = 0.05
    quad_points: int = 401
    ais_temperatures: int = 1000
    ais_chains: int = 256
    chain_count: int = 8
    chain_steps: int = 2000
    seed: int = 0
    progress: bool | None = None


@dataclass
class ModelResult:
    name: str
    description: str
    params: object
    train_seconds: float
    losses: np.ndarray
    log_z_quad: float
    log_z_quad_err: float
    boundary_ratio: float
    log_z_ais: float
    log_z_ais_stderr: float
    ais_ess: float
    ais_result: object
    heldout_ll_quad: float
    heldout_ll_ais: float
    agreement_z: float
    chains: np.ndarray
    chain_energy: np.ndarray
    chain_summary: object
    swap_acceptance: float
    warnings: list[str] = field(default_factory=list)


def check_settings(s: Settings) -> None:
    """Clear errors for unknown names and bad numbers."""
    info = DATASETS.get(s.dataset)
    if info is None or info.kind != "2d":
        names = [n for n, i in DATASETS.items() if i.kind == "2d"]
        raise ValueError(
            f"--dataset must be one of {names} for the 2-D comparison, got {s.dataset!r}"
        )
    unknown = [o for o in s.objectives if o not in OBJECTIVES_2D]
    if unknown or not s.objectives:
        raise ValueError(
            f"--objectives must be a non-empty subset of {list(OBJECTIVES_2D)}, "
            f"got unknown {unknown or '[]'}"
        )
    check_training_numbers(s.num_steps, s.batch_size, s.num_train, s.learning_rate)
    for name in ("num_test", "ais_temperatures", "ais_chains", "chain_steps"):
        if getattr(s, name) < 1:
            raise ValueError(f"Settings.{name} must be >= 1, got {getattr(s, name)}")
    if s.chain_count < 2:
        raise ValueError(
            f"Settings.chain_count must be >= 2 (R-hat needs several chains), got {s.chain_count}"
        )


def check_training_numbers(num_steps, batch_size, num_train, learning_rate) -> None:
    """The training numbers every comparison takes, with errors naming the command's flags
    (``--steps``, ``--batch-size``, ``--num-train``, ``--learning-rate``)."""
    for flag, value in (("--steps", num_steps), ("--batch-size", batch_size)):
        if value < 1:
            raise ValueError(f"{flag} must be >= 1, got {value}")
    if num_train < 1:
        raise ValueError(f"--num-train must be >= 1, got {num_train}")
    if batch_size > num_train:
        raise ValueError(f"--batch-size ({batch_size}) must not exceed --num-train ({num_train})")
    if not (learning_rate > 0 and np.isfinite(learning_rate)):
        raise ValueError(f"--learning-rate must be a positive finite number, got {learning_rate}")


def box(dataset: str) -> np.ndarray:
    """Quadrature / plotting box: the data set's bounds widened by 2 on each side."""
    return np.asarray(DATASETS[dataset].bounds, dtype=float) + np.array([-2.0, 2.0])


def build_objective(name: str, train: jax.Array, bounds: np.ndarray):
    """(objective, initial-params transform, energy-params getter) for a named objective."""
    lo, hi = jnp.asarray(bounds[:, 0]), jnp.asarray(bounds[:, 1])

    def uniform(key, num):
        return jax.random.uniform(key, (num, 2), minval=lo, maxval=hi)

    def uniform_negatives(key, params, batch, k=8):
        return uniform(key, batch.shape[0] * k).reshape(batch.shape[0], k, 2)

    same = (lambda p: p, lambda p: p)
    mala = functools.partial(samplers.mala, step_size=0.02)
    if name == "pcd":
        obj = O.persistent_contrastive_divergence(
            mlp_energy,
            kernel=mala,
            init_fn=uniform,
            num_chains=2048,
            num_steps=10,
            reinit_prob=0.05,
            alpha=0.01,
        )
        return obj, *same
    if name == "ml":
        obj = O.maximum_likelihood(
            mlp_energy,
            kernel=mala,
            init_fn=lambda k, b: uniform(k, b.shape[0]),
            num_steps=30,
            alpha=0.01,
        )
        return obj, *same
    if name == "nce":
        return O.nce(mlp_energy, data=train, noise_ratio=4.0), O.nce_params, lambda p: p.energy
    if name == "dsm":
        return O.denoising_score_matching(mlp_energy, sigma=0.1), *same
    if name == "ssm":
        return O.sliced_score_matching(mlp_energy), *same
    loss = {"hinge": "hinge", "log": "log", "square-square": "square_square"}[name]
    obj = O.margin_objective(mlp_energy, loss=loss, negatives_fn=uniform_negatives, margin=1.0)
    return obj, *same


def quadrature_holding_the_mass(energy, bounds, num_points, tol=1e-9, max_widenings=5):
    """Quadrature on ``bounds``, widened ×1.5 (same grid spacing) until the density on the box
    edge is below ``tol`` of the peak, so that no mass is missed outside the box."""
    bounds = np.asarray(bounds, dtype=float)
    spacing = (bounds[:, 1] - bounds[:, 0]).max() / (num_points - 1)
    for _ in range(max_widenings + 1):
        quad = quadrature(energy, 1.0, bounds, num_points=num_points)
        if float(quad.info["boundary_density_ratio"]) < tol:
            break
        centre, half = bounds.mean(1), 0.75 * (bounds[:, 1] - bounds[:, 0])
        bounds = np.stack([centre - half, centre + half], 1)
        n = int(np.ceil((2 * half.max() / spacing) / 4)) * 4 + 1
        num_points = min(n, 1601)
    return quad


def evaluate(name, energy_params, s: Settings, train, test, bounds, key) -> dict:
    """Quadrature and AIS log Z, held-out LL, replica-exchange chains and their diagnostics."""
    energy = functools.partial(mlp_energy, energy_params)
    quad = quadrature_holding_the_mass(energy, bounds, s.quad_points)
    k_ais, k_chain, k_init = jax.random.split(key, 3)
    mean = jnp.mean(train, 0)
    cov = 2.0 * jnp.cov(train.T)
    res_ais = ais(
        Gibbs(energy, 1.0),
        key=k_ais,
        num_temperatures=s.ais_temperatures,
        num_chains=s.ais_chains,
        base=gaussian(mean, cov),
    )
    e_test = float(jnp.mean(jax.vmap(energy)(test)))
    family = lambda b: lambda x: -b * energy(x)  # noqa: E731
    betas = jnp.geomspace(0.05, 1.0, 8)
    pt = samplers.replica_exchange(family, betas, lambda b: samplers.mala(family(b), 0.05 / b))
    x0 = train[jax.random.choice(k_init, train.shape[0], (s.chain_count, len(betas)))]
    run = samplers.run(
        k_chain,
        pt,
        x0,
        num_steps=s.chain_steps,
        num_burnin=s.chain_steps // 4,
        trace_fn=lambda state: state.position[-1],
    )
    chains = np.asarray(run.trace)
    chain_energy = np.asarray(jax.vmap(jax.vmap(energy))(run.trace))
    summary = summarize_chains(chains, energy=chain_energy, warn=False)
    sd = float(np.hypot(float(res_ais.stderr), float(quad.stderr)))
    return dict(
        log_z_quad=float(quad.log_z),
        log_z_quad_err=float(quad.stderr),
        boundary_ratio=float(quad.info["boundary_density_ratio"]),
        log_z_ais=float(res_ais.log_z),
        log_z_ais_stderr=float(res_ais.stderr),
        ais_ess=float(res_ais.info["ess"]),
        ais_result=res_ais,
        heldout_ll_quad=-e_test - float(quad.log_z),
        heldout_ll_ais=-e_test - float(res_ais.log_z),
        agreement_z=(float(res_ais.log_z) - float(quad.log_z)) / sd if sd > 0 else float("nan"),
        chains=chains,
        chain_energy=chain_energy,
        chain_summary=summary,
        swap_acceptance=float(np.mean(np.asarray(run.info["swap_acceptance"]))),
    )


def run_comparison(s: Settings, log=print) -> dict:
    """Train and evaluate every objective of ``s``; returns data, references and results."""
    check_settings(s)
    key = jax.random.key(s.seed)
    k_train, k_test, k_init, k_fit, k_eval = jax.random.split(key, 5)
    train = load(s.dataset, k_train, s.num_train).x
    test = load(s.dataset, k_test, s.num_test).x
    bounds = box(s.dataset)
    p0 = init_mlp_energy(k_init, 2, s.hidden, confinement=s.confinement)
    try:
        true_ll = float(jnp.mean(log_density(s.dataset, test)))
    except ValueError:
        true_ll = None
    results = [
        _train_and_evaluate(name, s, p0, train, test, bounds, k_fit, k_eval, log)
        for name in s.objectives
    ]
    return {
        "settings": s,
        "train": np.asarray(train),
        "test": np.asarray(test),
        "bounds": bounds,
        "view": np.asarray(DATASETS[s.dataset].bounds, dtype=float),
        "true_ll": true_ll,
        "results": results,
    }


def _train_and_evaluate(name, s: Settings, p0, train, test, bounds, k_fit, k_eval, log):
    """Train the energy with objective ``name`` from ``p0`` and evaluate it (`evaluate`)."""
    obj, to_params, energy_params = build_objective(name, train, bounds)
    log(f"[{name}] training: {DESCRIPTIONS[name]}")
    t0 = time.perf_counter()
    fitted = fit(
        obj,
        to_params(p0),
        train,
        optax.adam(s.learning_rate),
        key=k_fit,
        num_steps=s.num_steps,
        batch_size=s.batch_size,
        progress=s.progress,
    )
    seconds = time.perf_counter() - t0
    params = energy_params(fitted.params)
    log(f"[{name}] evaluating: quadrature and AIS log Z, replica-exchange chains")
    ev = evaluate(name, params, s, train, test, bounds, k_eval)
    return ModelResult(
        name=name,
        description=DESCRIPTIONS[name],
        params=params,
        train_seconds=seconds,
        losses=np.asarray(fitted.losses),
        warnings=_model_warnings(ev, fitted),
        **ev,
    )


def _model_warnings(ev: dict, fitted) -> list[str]:
    """Chain and AIS warnings, an early stop, |AIS − quadrature| > 4σ, mass at the box edge."""
    warnings = list(ev["chain_summary"].warnings)
    warnings += [f"AIS: {w}" for w in ev["ais_result"].warnings]
    if fitted.stopped_early:
        warnings.append(f"training stopped early: {fitted.message}")
    if abs(ev["agreement_z"]) > 4:
        warnings.append(f"AIS and quadrature disagree by {ev['agreement_z']:.1f} sigma")
    if ev["boundary_ratio"] > 1e-6:
        warnings.append(
            f"density on the quadrature box edge is {ev['boundary_ratio']:.1e} of the peak"
        )
    return warnings
