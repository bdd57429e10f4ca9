"""Built-in energies with exact references where they exist.

Every model is an [`EnergyModel`][] (``domain``, ``event_shape``, ``energy``); what it can
do beyond its energy is registered per type in [`physebm.models.capabilities`][].
"""

from physebm.models import capabilities
from physebm.models.base import EnergyModel, LatentEnergyModel, domain_of, event_size
from physebm.models.boltzmann import BoltzmannMachine
from physebm.models.gaussian import Gaussian
from physebm.models.gaussian_rbm import GaussianBernoulliRBM
from physebm.models.ising import BETA_C_2D, CurieWeiss, Ising
from physebm.models.latent import GMMEnergy, KMeansEnergy
from physebm.models.neural import init_mlp_energy, mlp_energy
from physebm.models.pca import PCAEnergy
from physebm.models.rbm import RBM
from physebm.models.sparse_coding import (
    LISTA,
    SparseCodeResult,
    SparseCodingEnergy,
    dictionary_learning_loss,
    lista_loss,
    soft_threshold,
    sparse_code,
    sparse_coding_free_energy,
    unit_columns,
)

__all__ = [
    "BETA_C_2D",
    "BoltzmannMachine",
    "CurieWeiss",
    "EnergyModel",
    "GMMEnergy",
    "Gaussian",
    "GaussianBernoulliRBM",
    "Ising",
    "KMeansEnergy",
    "LISTA",
    "LatentEnergyModel",
    "PCAEnergy",
    "RBM",
    "SparseCodeResult",
    "SparseCodingEnergy",
    "capabilities",
    "dictionary_learning_loss",
    "domain_of",
    "event_size",
    "init_mlp_energy",
    "lista_loss",
    "mlp_energy",
    "soft_threshold",
    "sparse_code",
    "sparse_coding_free_energy",
    "unit_columns",
]
