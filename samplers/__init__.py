"""samplers: Markov kernels for negative sampling, annealing and equilibrium sampling.

One kernel contract, blackjax's, with kernels that are pytrees. A [`Kernel`][] (an equinox
Module) is a Markov-kernel family whose target is given at call time:

    state = kernel.init(position, logdensity_fn, rng_key=None)
    state, info = kernel.step(key, state, logdensity_fn)     # info.acceptance_rate (scalar)
    algorithm = kernel(logdensity_fn)   # blackjax SamplingAlgorithm: init(position, rng_key=None),
                                        # step(key, state)
    kernel.build_kernel()               # -> kernel(key, state, logdensity_fn) -> (state, info)

So a Kernel IS a factory ``logdensity_fn -> SamplingAlgorithm``. Real-valued parameters (step
sizes, mass matrices) are array leaves, so a jitted function taking a kernel as an argument
compiles once for all their values; structural options (domain, colours, order, counts) are
static. This package knows nothing about energies or models (log densities have β absorbed)
and never imports ``physebm``.

Kernels. Continuous: [`ULA`][], [`MALA`][], [`HMC`][], [`NUTS`][] (blackjax's
kernels). Any log density of ±1 spins / {0,1} bits: [`FlipMetropolis`][],
[`HeatBath`][], [`GibbsWithGradients`][]. Structured targets ([`samplers.targets`][],
callable log densities carrying structure): [`Checkerboard`][] and [`SwendsenWang`][]
(cluster moves) on [`PeriodicIsing2D`][] ([`ising_target`][] from β, J, h),
[`ColoredGibbs`][] and [`ColoredMetropolis`][] on [`PairwiseBinary`][],
[`BlockGibbs`][] on [`BernoulliRBM`][] or [`GaussianBernoulliRBM`][]. Composite:
[`ReplicaExchange`][] (target ``beta -> logdensity_fn``, e.g. [`Tempered`][]; swap
acceptance and round trips by [`replica_exchange_report`][], ladders by
[`equal_rejection_ladder`][]). Any blackjax
algorithm: [`Blackjax`][] (an algorithm class and its parameters), [`FromFactory`][]
(a factory such as ``functools.partial(blackjax.mala, step_size=0.1)``); [`as_kernel`][]
accepts either.
Adaptation: [`adapt_step_size`][], [`window_adaptation`][]. Colourings:
[`greedy_coloring`][], [`checkerboard_colors`][].

Constructors that bind a target (each returns a ``SamplingAlgorithm`` whose ``init`` takes
``rng_key=None``): [`ula`][] ([`ula_from_energy`][], [`ula_from_noise`][],
[`effective_beta`][]), [`mala`][samplers.mala.mala], [`hmc`][samplers.hmc.hmc], [`nuts`][],
[`metropolis`][samplers.metropolis.metropolis], [`gibbs_with_gradients`][],
[`ising_checkerboard`][], [`ising_swendsen_wang`][], and, from closures, [`colored_gibbs`][],
[`colored_metropolis`][] (a
local-field function), [`block_gibbs`][] ([`bernoulli_rbm_conditionals`][]), [`replica_exchange`][].
Persistent chains: [`init_buffer`][], [`advance`][]. Driver: [`run`][samplers.run.run] (compiled
once for a Kernel with ``logdensity_fn=`` or a [`BoundKernel`][]), [`run_states`][].
"""

from samplers import cluster as _cluster
from samplers import gibbs as _gibbs
from samplers import hmc as _hmc
from samplers import langevin as _langevin
from samplers import lattice as _lattice
from samplers import mala as _mala
from samplers import metropolis as _metropolis
from samplers import tempering as _tempering
from samplers.adaptation import adapt_step_size, window_adaptation
from samplers.base import SamplingAlgorithm
from samplers.cluster import SwendsenWang, ising_swendsen_wang
from samplers.coloring import checkerboard_colors, greedy_coloring
from samplers.flips import HeatBath, HeatBathInfo, HeatBathState
from samplers.gaussian_rbm import GaussianBernoulliRBM
from samplers.gibbs import (
    BlockGibbs,
    ColoredGibbs,
    bernoulli_rbm_conditionals,
    block_gibbs,
    colored_gibbs,
)
from samplers.hmc import HMC, NUTS, hmc, nuts
from samplers.kernel import Blackjax, FromFactory, Kernel, as_kernel
from samplers.langevin import ULA, effective_beta, ula, ula_from_energy, ula_from_noise
from samplers.lattice import Checkerboard, ising_checkerboard
from samplers.mala import MALA, mala
from samplers.metropolis import (
    ColoredMetropolis,
    FlipMetropolis,
    GibbsWithGradients,
    colored_metropolis,
    gibbs_with_gradients,
    metropolis,
)
from samplers.persistent import PersistentBuffer, advance, init_buffer
from samplers.round_trips import (
    ReplicaExchangeReport,
    equal_rejection_ladder,
    replica_exchange_report,
)
from samplers.run import BoundKernel, RunResult, run, run_states
from samplers.targets import BernoulliRBM, PairwiseBinary, PeriodicIsing2D, ising_target
from samplers.tempering import ReplicaExchange, Tempered, replica_exchange


def _attach(fn, init, build_kernel):
    fn.init = init
    fn.build_kernel = build_kernel
    return fn


_attach(ula, _langevin.init, _langevin.build_kernel)
_attach(mala, _mala.init, _mala.build_kernel)
_attach(hmc, _hmc.init, _hmc.build_hmc_kernel)
_attach(nuts, _hmc.init, _hmc.build_nuts_kernel)
_attach(colored_gibbs, _gibbs.init, _gibbs.build_colored_kernel)
_attach(block_gibbs, _gibbs.init, _gibbs.build_block_kernel)
_attach(ising_checkerboard, _lattice.init, _lattice.build_kernel)
_attach(ising_swendsen_wang, _cluster.init, _cluster.build_kernel)
_attach(metropolis, _metropolis.init, _metropolis.build_kernel)
_attach(colored_metropolis, _gibbs.init, _metropolis.build_colored_kernel)
_attach(gibbs_with_gradients, _metropolis._gwg_init, _metropolis.build_gwg_kernel)
_attach(replica_exchange, _tempering._init, _tempering.build_kernel)

__all__ = [
    "HMC",
    "MALA",
    "NUTS",
    "ULA",
    "BernoulliRBM",
    "Blackjax",
    "BlockGibbs",
    "BoundKernel",
    "Checkerboard",
    "ColoredGibbs",
    "ColoredMetropolis",
    "FlipMetropolis",
    "FromFactory",
    "GaussianBernoulliRBM",
    "GibbsWithGradients",
    "HeatBath",
    "HeatBathInfo",
    "HeatBathState",
    "Kernel",
    "PairwiseBinary",
    "PeriodicIsing2D",
    "PersistentBuffer",
    "ReplicaExchange",
    "ReplicaExchangeReport",
    "RunResult",
    "SamplingAlgorithm",
    "SwendsenWang",
    "Tempered",
    "adapt_step_size",
    "advance",
    "as_kernel",
    "bernoulli_rbm_conditionals",
    "block_gibbs",
    "checkerboard_colors",
    "colored_gibbs",
    "colored_metropolis",
    "effective_beta",
    "equal_rejection_ladder",
    "gibbs_with_gradients",
    "greedy_coloring",
    "hmc",
    "init_buffer",
    "ising_checkerboard",
    "ising_swendsen_wang",
    "ising_target",
    "mala",
    "metropolis",
    "nuts",
    "replica_exchange",
    "replica_exchange_report",
    "run",
    "run_states",
    "ula",
    "ula_from_energy",
    "ula_from_noise",
    "window_adaptation",
]
