"""Built-in energies with exact references where they exist."""

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
    "GMMEnergy",
    "Gaussian",
    "Ising",
    "KMeansEnergy",
    "RBM",
    "init_mlp_energy",
    "mlp_energy",
]
