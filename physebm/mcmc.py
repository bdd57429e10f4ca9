"""``physebm.sample``: equilibrium samples of a model's Gibbs distribution p_β ∝ exp(−β E).

Maps each model to a kernel of the ``samplers`` package (which knows nothing of models):

===================================  =========================================================
model                                default kernel
===================================  =========================================================
``RBM``                              block Gibbs on (v, h): h | v then v | h (bits)
``Ising`` 2-D periodic, even sides   fast checkerboard heat-bath Gibbs (``int8`` spins)
other ``Ising``, ``CurieWeiss``,     single-site flip Metropolis (spins or bits)
any discrete ``EnergyModel``
``BoltzmannMachine``                 systematic-scan Gibbs from ``model.local_field``
continuous energy (``Gaussian``,     NUTS after window adaptation of step size and diagonal
any callable on ℝ^d)                 mass matrix (``sampler="mala"``/``"hmc"``/``"ula"`` too)
===================================  =========================================================

The discrete kernels are registered per model type with
[`physebm.models.capabilities.default_sampler`][] (below); a new model type registers its own.
Replica exchange (``sampler="replica_exchange"`` or a [`samplers.ReplicaExchange`][]) runs
one of these kernels at every rung of a β ladder and returns the target rung
(`physebm.replica`).
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import samplers
from physebm import replica
from physebm.gibbs import Gibbs
from physebm.models import capabilities
from physebm.models.base import EnergyModel, domain_of, is_shape
from physebm.models.boltzmann import BoltzmannMachine
from physebm.models.capabilities import DefaultSampler
from physebm.models.ising import Ising
from physebm.models.rbm import RBM
from physebm.validation import check_beta
from samplers.sharding import batch_sharding

__all__ = ["SampleResult", "sample"]

CONTINUOUS = ("nuts", "mala", "hmc", "ula")
DISCRETE = ("gibbs", "metropolis")


class SampleResult(NamedTuple):
    """Samples and diagnostics from [`sample`][].

    Attributes:
        samples: positions, leaves shaped (num_chains, num_draws, *event_shape); for an RBM
            the pair ``(v, h)``.
        info: per-draw scalar info of the kernel (acceptance_rate, is_divergent, ...), leaves
            (num_chains, num_draws).
        state: final kernel state (leading axis: chains), to continue sampling.
        sampler: the kernel used (``"block_gibbs"``, ``"checkerboard"``, ``"nuts"``, ...).
        beta: the inverse temperature sampled.
        parameters: kernel parameters (e.g. the adapted ``step_size``), a dict.
        num_nonfinite: (num_chains,) steps rejected because they produced NaN/inf.
        stats: run-level statistics of the kernel, None for most: for replica exchange the
            [`samplers.ReplicaExchangeReport`][] of the whole run (per-pair swap
            acceptance a_k, rejection r_k = 1 − a_k, Λ = Σ r_k, round trips per label and
            per step, the predicted rate 1 / (2 + 2Λ)), pooled over chains (ladders).
    """

    samples: Any
    info: Any
    state: Any
    sampler: str
    beta: jax.Array
    parameters: dict
    num_nonfinite: jax.Array
    stats: Any = None


def _count(n, name):
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"{name} must be a positive integer, got {n!r}")
    return int(n)


def _random_discrete(key, shape, domain):
    bits = jax.random.bernoulli(key, 0.5, shape)
    return (2 * bits.astype(jnp.int8) - 1) if domain == "spin" else bits.astype(jnp.int8)


def _random_positions(key, shape, domain, num_chains, dtype):
    """Uniform random spins/bits of ``shape`` (one key per part of a tuple of shapes)."""
    if is_shape(shape):
        return _random_discrete(key, (num_chains, *shape), domain).astype(dtype)
    keys = jax.random.split(key, len(shape))
    return tuple(
        _random_discrete(k, (num_chains, *part), domain).astype(dtype)
        for k, part in zip(keys, shape, strict=True)
    )


def _initial_positions(key, energy, choice, num_chains, init, event_shape):
    if init is not None:
        if event_shape is not None and not is_shape(event_shape):  # parts, e.g. an RBM's (v, h)
            dt = jnp.result_type(float)
            return tuple(
                jnp.broadcast_to(jnp.asarray(part, dt), (num_chains, *shape))
                for part, shape in zip(init, event_shape, strict=True)
            )
        x = jnp.asarray(init)
        if event_shape is None:  # batched iff the leading axis is num_chains
            batched = x.ndim >= 1 and x.shape[0] == num_chains
            shape = x.shape[1:] if batched else x.shape
        else:
            shape = tuple(event_shape)
            if x.shape[x.ndim - len(shape) :] != shape or x.ndim not in (
                len(shape),
                len(shape) + 1,
            ):
                raise ValueError(
                    f"init must have shape {shape} or (num_chains, *{shape}) (the "
                    f"model's event shape), got {x.shape}"
                )
        if x.ndim == len(shape):
            x = jnp.broadcast_to(x, (num_chains, *shape))
        if x.shape[0] != num_chains:
            raise ValueError(
                f"init must be one position or num_chains = {num_chains} of them, got "
                f"leading size {x.shape[0]}"
            )
        return x
    if choice is not None and domain_of(energy) in ("spin", "bits"):
        return _random_positions(
            key, energy.event_shape, domain_of(energy), num_chains, choice.position_dtype
        )
    if event_shape is not None and not is_shape(event_shape):  # parts, e.g. real v, bits h
        base = capabilities.default_base(energy)
        if base is None:
            raise ValueError(
                f"{type(energy).__name__}'s position has parts {event_shape} and no default "
                "base is registered to start from: pass init (one position or num_chains)"
            )
        return base.sample(key, num_chains)
    if event_shape is None:
        raise ValueError("a continuous energy needs init (positions) or event_shape to start from")
    return jax.random.normal(key, (num_chains, *tuple(event_shape)))


def _check_discrete(energy, sampler) -> None:
    if sampler not in (None, *DISCRETE):
        raise ValueError(
            f"sampler must be one of {DISCRETE} for {type(energy).__name__}, got {sampler!r}"
        )


@capabilities.default_sampler.register(EnergyModel)
def _metropolis_sampler(energy, beta, sampler) -> DefaultSampler | None:
    """Single-site flip Metropolis for spins or bits; None (a gradient kernel) on ℝ^d."""
    if energy.domain not in ("spin", "bits"):
        return None
    _check_discrete(energy, sampler)
    if sampler == "gibbs":
        raise ValueError(
            f"sampler='gibbs' is not available for {type(energy).__name__}; use 'metropolis'"
        )
    target = Gibbs(energy, beta).log_unnormalized
    algorithm = samplers.BoundKernel(samplers.FlipMetropolis(energy.domain), target)
    return DefaultSampler("metropolis", algorithm, jnp.result_type(float))


@capabilities.default_sampler.register(Ising)
def _ising_sampler(energy: Ising, beta, sampler) -> DefaultSampler:
    """Checkerboard heat-bath Gibbs on a periodic 2-D lattice with even sides, else Metropolis.

    On such a lattice the random starts are ``int8`` spins for either kernel.
    """
    _check_discrete(energy, sampler)
    fast = len(energy.shape) == 2 and energy.periodic and all(s % 2 == 0 for s in energy.shape)
    if fast and sampler in (None, "gibbs"):
        target = capabilities.kernel_target(energy, beta)  # PeriodicIsing2D(βJ, βh)
        algorithm = samplers.BoundKernel(samplers.Checkerboard(), target)
        return DefaultSampler("checkerboard", algorithm, jnp.int8)
    choice = _metropolis_sampler(energy, beta, sampler)
    return choice._replace(position_dtype=jnp.int8) if fast else choice


@capabilities.default_sampler.register(BoltzmannMachine)
def _boltzmann_sampler(energy: BoltzmannMachine, beta, sampler) -> DefaultSampler:
    """Systematic-scan Gibbs from ``local_field`` (``"gibbs"``, default) or Metropolis."""
    _check_discrete(energy, sampler)
    if sampler in (None, "gibbs"):
        kernel = samplers.ColoredGibbs(np.arange(energy.num_units), energy.domain)
        algorithm = samplers.BoundKernel(kernel, capabilities.kernel_target(energy, beta))
        return DefaultSampler("gibbs", algorithm, jnp.result_type(float))
    return _metropolis_sampler(energy, beta, sampler)


@capabilities.default_sampler.register(RBM)
def _rbm_sampler(energy: RBM, beta, sampler) -> DefaultSampler:
    """Block Gibbs on (v, h): h | v then v | h."""
    _check_discrete(energy, sampler)
    if sampler == "metropolis":
        raise ValueError("sampler='metropolis' is not available for RBM; use 'gibbs'")
    target = capabilities.kernel_target(energy, beta)  # BernoulliRBM(βW, βb, βc)
    algorithm = samplers.BoundKernel(samplers.BlockGibbs(), target)
    return DefaultSampler("block_gibbs", algorithm, jnp.result_type(float))


def _given_kernel(sampler, energy, beta) -> DefaultSampler:
    """The choice for a kernel object passed as ``sampler=`` (a samplers Kernel or a blackjax
    factory), run on the model's structured target where it has one
    ([`kernel_target`][physebm.models.capabilities.kernel_target]), else on −βE; random starts are
    float spins/bits."""
    kernel = samplers.as_kernel(sampler, "sampler")
    target = capabilities.kernel_target(energy, beta)
    if target is None:
        target = Gibbs(energy, beta).log_unnormalized
    algorithm = samplers.BoundKernel(kernel, target)
    return DefaultSampler(type(kernel).__name__, algorithm, jnp.result_type(float))


@eqx.filter_jit
def _window_adaptation(key, kernel_class, logdensity, x0, num_warmup: int, extra: tuple):
    """Stan-style warm-up of (ε, M⁻¹) on one chain from ``x0``, compiled once per shapes: the
    log density is a pytree argument (β and the energy's parameters are traced)."""
    warmup = samplers.window_adaptation(kernel_class, logdensity, **dict(extra))
    (_, params), _ = warmup.run(key, x0, num_steps=num_warmup)
    return {k: params[k] for k in ("step_size", "inverse_mass_matrix")}


def _continuous_algorithm(key, logdensity, x0, sampler, step_size, num_warmup, num_leapfrog):
    """``(name, BoundKernel, parameters)`` of the gradient kernel ``sampler`` on ``logdensity``;
    NUTS/HMC without ``step_size`` adapt ε and a diagonal M⁻¹ first (on the first chain)."""
    name = "nuts" if sampler is None else sampler
    if name not in CONTINUOUS:
        raise ValueError(
            f"sampler must be one of {CONTINUOUS} for a continuous energy, got {sampler!r}"
        )
    if name in ("mala", "ula"):
        if step_size is None:
            raise ValueError(f"sampler={name!r} needs step_size (ε on the log density −βE)")
        kernel = samplers.MALA(step_size) if name == "mala" else samplers.ULA(step_size)
        return name, samplers.BoundKernel(kernel, logdensity), {"step_size": step_size}
    kernel_class = samplers.NUTS if name == "nuts" else samplers.HMC
    extra = () if name == "nuts" else (("num_integration_steps", num_leapfrog),)
    if step_size is not None:
        size = int(np.prod(x0.shape[1:]))  # no device op: this runs on every call
        params = {"step_size": step_size, "inverse_mass_matrix": jnp.ones(size, x0.dtype)}
    else:
        params = _window_adaptation(key, kernel_class, logdensity, x0[0], num_warmup, extra)
    kernel = kernel_class(params["step_size"], params["inverse_mass_matrix"], *dict(extra).values())
    return name, samplers.BoundKernel(kernel, logdensity), params


def _energy_and_beta(model_or_gibbs, beta):
    """The energy and the checked β of ``model_or_gibbs`` (a Gibbs' own β unless ``beta``)."""
    if isinstance(model_or_gibbs, Gibbs):
        energy = model_or_gibbs.energy
        beta = model_or_gibbs.beta if beta is None else beta
    elif callable(model_or_gibbs):
        energy = model_or_gibbs
    else:
        raise TypeError(
            f"model_or_gibbs must be a model, an energy callable or a Gibbs, got "
            f"{type(model_or_gibbs).__name__}"
        )
    return energy, check_beta(1.0 if beta is None else beta, scalar=True)


def _report_nonfinite(num_nonfinite, on_nonfinite: str) -> None:
    """Raise (or warn) when steps were rejected for producing NaN/inf states."""
    counts = np.asarray(num_nonfinite)  # one transfer, summed on the host
    bad = int(counts.sum())
    if not bad:
        return
    msg = (
        f"sampling produced a non-finite state (NaN/inf energy or gradient) in {bad} "
        f"step(s) over {int((counts > 0).sum())} chain(s); those steps were "
        "rejected. Check the energy for NaN/overflow, or lower step_size."
    )
    if on_nonfinite == "raise":
        raise FloatingPointError(msg)
    warnings.warn(msg, RuntimeWarning, stacklevel=3)


def _replica_starts(key, energy, num_chains, num_replicas, init, event_shape):
    """(num_chains, K, *event) float starts: ``init`` copied to every rung, else independent
    uniform spins/bits (or standard normals on ℝ^d) for each of the num_chains · K replicas."""
    if init is not None:
        x = _initial_positions(key, energy, None, num_chains, init, event_shape)
        x = replica.replica_positions(x, num_replicas)
    else:
        choice = DefaultSampler(replica.NAME, None, jnp.result_type(float))
        x = _initial_positions(key, energy, choice, num_chains * num_replicas, None, event_shape)
        x = replica.split_replicas(x, num_chains, num_replicas)
    return jax.tree.map(lambda a: jnp.asarray(a, jnp.result_type(float)), x)


def _sample_replica_exchange(key, energy, beta, sampler, options: dict, run_kw: dict, init):
    """[`sample`][] with replica exchange (its docstring): the ladder's tempered family of
    ``energy``, K replicas per chain, the samples of the target rung (β_k = ``beta``, the
    coldest rung when ``beta`` is None) and the run's replica-exchange report."""
    event_shape = options.pop("event_shape")
    pt = replica.replica_kernel(sampler, energy, beta, **options)
    rung = replica.target_rung(pt.betas, beta)
    num_chains, num_replicas = run_kw.pop("num_chains"), pt.betas.shape[0]
    family = replica.tempered_family(energy)
    alg = replica.TargetRung(samplers.BoundKernel(pt, family), jnp.asarray(rung, jnp.int32))
    key_init, _, key_run = jax.random.split(key, 3)
    x0 = _replica_starts(key_init, energy, num_chains, num_replicas, init, event_shape)
    on_nonfinite = run_kw.pop("on_nonfinite")
    res = samplers.run(key_run, alg, x0, trace_fn=replica.target_rung_trace, **run_kw)
    _report_nonfinite(res.num_nonfinite, on_nonfinite)
    report = samplers.replica_exchange_report(res.state.pt)
    params = {"betas": pt.betas, "target_rung": rung, "inner": type(pt.inner).__name__}
    beta = pt.betas[-1] if beta is None else beta
    samples = replica.unpack_trace(res.trace)
    return SampleResult(
        samples, res.info, res.state.pt, replica.NAME, beta, params, res.num_nonfinite, report
    )


def sample(
    model_or_gibbs,
    *,
    key,
    num_chains: int,
    num_steps: int,
    sampler=None,
    beta=None,
    init=None,
    event_shape=None,
    num_burnin: int = 0,
    thin: int = 1,
    step_size=None,
    num_warmup: int = 300,
    num_leapfrog: int = 10,
    on_nonfinite: str = "raise",
    betas=None,
    num_replicas: int | None = None,
    progress: bool | None = False,
    mesh=None,
    axis_name: str | None = None,
) -> SampleResult:
    """Draw samples of p_β(x) ∝ exp(−β E(x)) with a kernel chosen for the model.

    Args:
        model_or_gibbs: a built-in model, any energy callable ``x -> E(x)``, or a
            [`Gibbs`][] (whose β is used unless ``beta`` is given).
        key: PRNG key.
        num_chains: independent chains (vmapped).
        num_steps: kept steps per chain after burn-in (a multiple of ``thin``); one step is a
            full sweep for the Gibbs and Metropolis kernels.
        sampler: ``None`` (default for the model, see the module table and
            [`physebm.models.capabilities.default_sampler`][]), ``"gibbs"``,
            ``"metropolis"``, ``"nuts"``, ``"hmc"``, ``"mala"`` or ``"ula"``; or a kernel
            object, the same the estimators take: a [`samplers.Kernel`][] (e.g.
            ``samplers.HeatBath("spin")``, ``samplers.Checkerboard()``) or a blackjax factory
            such as ``functools.partial(blackjax.mala, step_size=0.1)``. It runs on the model's
            structured target where it has one (``capabilities.kernel_target``), else on −βE.
            Replica exchange: a [`samplers.ReplicaExchange`][] ``(inner, betas)``, or
            ``"replica_exchange"`` (the model's default kernel, MALA(``step_size``) on ℝ^d, at
            every rung of ``betas``); see below.
        beta: inverse temperature β > 0 (default: the Gibbs object's, else 1).
        init: one position or ``num_chains`` positions (required for a continuous energy
            without ``event_shape``); an RBM takes ``(v, h)``. Default for discrete models:
            uniform random states.
        event_shape: shape of one configuration for a continuous energy without one.
        num_burnin: steps discarded first.
        thin: keep every ``thin``-th state.
        step_size: step ε on log p = −βE (required for ``"mala"``/``"ula"``; for NUTS/HMC it
            skips window adaptation).
        num_warmup: window-adaptation steps for NUTS/HMC (on the first chain's start).
        num_leapfrog: leapfrog steps per HMC proposal.
        on_nonfinite: ``"raise"`` (default) a ``FloatingPointError`` if any step produced a
            NaN/inf state (it was rejected, the samples are finite); ``"warn"`` to only warn.
        betas: the ladder of ``sampler="replica_exchange"``, (K,) increasing; default
            ``num_replicas`` rungs geometric from β/10 to β.
        num_replicas: K of that default ladder (8 if omitted).
        progress: a tqdm bar over the burn-in steps and kept draws; the run is then a few
            calls of compiled segments, bit-identical to one call and compiled once
            (``samplers.run``'s ``progress``); ``None`` shows it only on a terminal without
            ``CI=true``; never inside ``jit``/``vmap``. The NUTS/HMC warm-up has no bar.
        mesh: a ``jax.sharding.Mesh`` (Explicit or Auto axes) to spread the chains over its
            ``axis_name`` axis (``samplers.run``'s ``mesh``); ``num_chains`` must be a multiple
            of that axis's size. Integer kernels (spins, bits) give bit-identical samples to
            ``mesh=None``, float kernels agree to rounding; the NUTS/HMC warm-up runs on
            one chain, unsharded.
        axis_name: the mesh axis of the chains (default: the mesh's only axis).

    Replica exchange: each chain is a ladder of K replicas, replica k sampling
    p_{β_k} ∝ exp(−β_k E) with the inner kernel (on the model's structured target at β = 1
    scaled by β_k, [`samplers.Tempered`][]), neighbours swapping after every step with
    probability min(1, exp((β_{k+1} − β_k)(E(x_{k+1}) − E(x_k)))) (even-odd scheme). The
    samples are the *target rung*'s, the rung with β_k = β (relative tolerance 1e-6; a β
    that is not on the ladder is a ``ValueError``); without a β (a plain model, no ``beta=``)
    it is the coldest rung, β_{K−1}, and ``beta`` in the result is that rung's. Starts: ``init``
    copied to every rung, else independent random states per replica. ``SampleResult.stats``
    is the run's [`samplers.ReplicaExchangeReport`][] (swap acceptance per pair, Λ, round
    trips), ``info`` the per-draw swap fields ((num_chains, draws, K − 1)), ``state`` the
    ladders' final `ReplicaExchangeState` (leading axis: chains),
    and ``parameters`` holds ``betas``, ``target_rung`` and the ``inner`` kernel's name. Cost:
    K inner steps and K log densities per step; the samples are one rung (memory as one chain).

    Compiled once: every kernel runs as a [`samplers.BoundKernel`][] (the kernel and the
    model's target, pytrees whose array leaves are β, the parameters and the step size)
    through the one jitted driver of [`samplers.run`][samplers.run.run], and the NUTS/HMC warm-up is
    one jitted function too, so a second call with the same model type and shapes, counts and
    sampler choice — and another key, β, step size or parameter values (for replica exchange
    also another ladder of the same K, or target rung) — compiles nothing.
    An energy that is a plain function is compared by identity: define it once, not as a new
    lambda per call.

    Memory: the samples, num_chains × (num_steps / thin) × event size in the kernel's
    position dtype (``int8`` for the checkerboard Ising kernel, float otherwise), the per-draw
    info, num_chains × (num_steps / thin) per scalar field of the kernel's info (six for NUTS:
    acceptance rate, divergence, energy, tree depth and size, turning), plus one kernel state
    per chain; burn-in and thinned-away steps are never stored.

    Returns:
        [`SampleResult`][] with ``samples`` shaped (num_chains, draws, *event_shape).

    Example:
        >>> res = physebm.sample(Ising((16, 16)), key=jax.random.key(0), num_chains=8,
        ...                      num_steps=1000, beta=0.4)
        >>> res.samples.shape   # (8, 1000, 16, 16), int8 spins
    """
    num_chains = _count(num_chains, "num_chains")
    num_steps = _count(num_steps, "num_steps")
    batch_sharding(mesh, axis_name, num_chains, "num_chains")  # its errors, before any work
    if on_nonfinite not in ("raise", "warn"):
        raise ValueError(f"on_nonfinite must be 'raise' or 'warn', got {on_nonfinite!r}")
    beta_given = beta is not None or isinstance(model_or_gibbs, Gibbs)
    energy, beta = _energy_and_beta(model_or_gibbs, beta)
    if event_shape is None:
        event_shape = getattr(energy, "event_shape", None)
    if replica.is_replica_exchange(sampler):
        options = dict(betas=betas, num_replicas=num_replicas, step_size=step_size)
        options["event_shape"] = event_shape
        run_kw = dict(num_chains=num_chains, num_steps=num_steps, num_burnin=num_burnin)
        run_kw.update(thin=thin, on_nonfinite=on_nonfinite, progress=progress)
        run_kw.update(mesh=mesh, axis_name=axis_name)
        beta = beta if beta_given else None
        return _sample_replica_exchange(key, energy, beta, sampler, options, run_kw, init)
    if betas is not None or num_replicas is not None:
        raise ValueError(
            f"betas and num_replicas are options of sampler='replica_exchange', got "
            f"sampler={sampler!r}"
        )
    key_init, key_warm, key_run = jax.random.split(key, 3)
    given = sampler is not None and not isinstance(sampler, str)
    if given:
        choice = _given_kernel(sampler, energy, beta)
    else:
        choice = capabilities.default_sampler(energy, beta, sampler)
    x0 = _initial_positions(key_init, energy, choice, num_chains, init, event_shape)
    if choice is not None:
        name, alg, params = choice.name, choice.algorithm, {}
    else:
        logdensity = Gibbs(energy, beta).log_unnormalized
        x0 = jnp.asarray(x0, dtype=jnp.result_type(float))
        name, alg, params = _continuous_algorithm(
            key_warm, logdensity, x0, sampler, step_size, num_warmup, num_leapfrog
        )
    res = samplers.run(
        key_run, alg, x0, num_steps=num_steps, num_burnin=num_burnin, thin=thin,
        progress=progress, mesh=mesh, axis_name=axis_name,
    )  # fmt: skip
    _report_nonfinite(res.num_nonfinite, on_nonfinite)
    return SampleResult(res.trace, res.info, res.state, name, beta, params, res.num_nonfinite)
