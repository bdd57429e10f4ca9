"""Built-in energies with exact references where they exist.

Every model is an [`EnergyModel`][] (``domain``, ``event_shape``, ``energy``); what it can
do beyond its energy is registered per type in [`physebm.models.capabilities`][].
"""

from physebm.models import capabilities
from physebm.models.base import EnergyModel, LatentEnergyModel, domain_of, event_size
from physebm.models.boltzmann import BoltzmannMachine
from physebm.models.gaussian import Gaussian
from physebm.models.ising import BETA_C_2D, CurieWeiss, Ising
from physebm.models.latent import GMMEnergy, KMeansEnergy
from physebm.models.neural import init_mlp_energy, mlp_energy
from physebm.models.rbm import RBM

__all__ = [
    "BETA_C_2D",
    "BoltzmannMachine",
    "CurieWeiss",
    "EnergyModel",
    "GMMEnergy",
    "Gaussian",
    "Ising",
    "KMeansEnergy",
    "LatentEnergyModel",
    "RBM",
    "capabilities",
    "domain_of",
    "event_size",
    "init_mlp_energy",
    "mlp_energy",
]
