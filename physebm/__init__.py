"""physebm: energy-based models with statistical physics.

A user energy E(x) becomes the Gibbs–Boltzmann distribution p_β(x) = exp(−βE(x))/Z(β) with an
explicit inverse temperature β.
"""

from physebm import models, objectives, partition
from physebm.free_energies.continuous import (
    importance_free_energy,
    laplace_free_energy,
    variational_free_energy,
)
from physebm.free_energies.discrete import free_energy, responsibilities, soft_min
from physebm.gibbs import Gibbs
from physebm.mcmc import SampleResult, sample
from physebm.numpyro import GibbsDistribution, gibbs_factor, sample_gibbs
from physebm.partition.result import LogZ
from physebm.saving import load, save
from physebm.thermo import Thermodynamics, thermodynamics, thermodynamics_from_log_z
from physebm.training import FitResult, fit, make_step

__version__ = "0.1.0"

__all__ = [
    "Gibbs",
    "free_energy",
    "responsibilities",
    "soft_min",
    "importance_free_energy",
    "laplace_free_energy",
    "variational_free_energy",
    "GibbsDistribution",
    "LogZ",
    "gibbs_factor",
    "models",
    "partition",
    "sample",
    "SampleResult",
    "sample_gibbs",
    "Thermodynamics",
    "thermodynamics",
    "thermodynamics_from_log_z",
    "objectives",
    "fit",
    "FitResult",
    "make_step",
    "save",
    "load",
]
