"""samplers: Markov kernels for negative sampling, annealing and equilibrium sampling.

Every kernel follows the blackjax contract (``init``/``step`` bundled as a
``SamplingAlgorithm``, plus a ``build_kernel()`` that takes the target at call time; the
top-level constructors carry both as attributes, e.g. ``samplers.mala.build_kernel``). This
package knows nothing about energies or models: it consumes log densities, local fields and
conditional samplers. It never imports ``physebm``.

Continuous: :func:`ula` (and :func:`ula_from_energy`, :func:`ula_from_noise`,
:func:`effective_beta`), :func:`mala`, :func:`hmc`, :func:`nuts`, :func:`window_adaptation`.
Discrete: :func:`colored_gibbs`, :func:`ising_checkerboard`, :func:`block_gibbs`
(:func:`bernoulli_rbm_conditionals`), :func:`metropolis`, :func:`colored_metropolis`,
:func:`gibbs_with_gradients`. Composite: :func:`replica_exchange`; persistent chains
(:func:`init_buffer`, :func:`advance`). Driver: :func:`run`.
"""

from samplers import gibbs as _gibbs
from samplers import hmc as _hmc
from samplers import langevin as _langevin
from samplers import lattice as _lattice
from samplers import mala as _mala
from samplers import metropolis as _metropolis
from samplers import tempering as _tempering
from samplers.base import SamplingAlgorithm
from samplers.gibbs import (
    bernoulli_rbm_conditionals,
    block_gibbs,
    checkerboard_colors,
    colored_gibbs,
)
from samplers.hmc import HMC, NUTS, hmc, nuts, window_adaptation
from samplers.langevin import effective_beta, ula, ula_from_energy, ula_from_noise
from samplers.lattice import ising_checkerboard
from samplers.mala import mala
from samplers.metropolis import colored_metropolis, gibbs_with_gradients, metropolis
from samplers.persistent import PersistentBuffer, advance, init_buffer
from samplers.run import RunResult, run, run_states
from samplers.tempering import replica_exchange


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
_attach(metropolis, _metropolis.init, _metropolis.build_kernel)
_attach(colored_metropolis, _gibbs.init, _metropolis.build_colored_kernel)
_attach(gibbs_with_gradients, _metropolis._gwg_init, _metropolis.build_gwg_kernel)
_attach(replica_exchange, _tempering._init, _tempering.build_kernel)

__all__ = [
    "HMC",
    "NUTS",
    "PersistentBuffer",
    "RunResult",
    "SamplingAlgorithm",
    "advance",
    "bernoulli_rbm_conditionals",
    "block_gibbs",
    "checkerboard_colors",
    "colored_gibbs",
    "colored_metropolis",
    "effective_beta",
    "gibbs_with_gradients",
    "hmc",
    "init_buffer",
    "ising_checkerboard",
    "mala",
    "metropolis",
    "nuts",
    "replica_exchange",
    "run",
    "run_states",
    "ula",
    "ula_from_energy",
    "ula_from_noise",
    "window_adaptation",
]
