"""Free energies over latent variables, F_β(x) = −(1/β) log Σ_z exp(−β E(x, z)).

* [`discrete`][]: exact over a discrete latent (enumeration, the RBM's analytic hidden sum,
  the β → ∞ minimum), with the soft minimum and responsibilities it is built from.
* [`continuous`][]: over a continuous latent, estimated (Laplace, importance sampling,
  a variational upper bound).
* [`amortized`][]: amortised bounds with an encoder q(z | y) (negative ELBO, IWAE).

The package is named in the plural so that the function ``physebm.free_energy`` does not
shadow it.
"""

from physebm.free_energies.amortized import (
    GaussianEncoder,
    LinearGaussianEncoder,
    amortized_free_energy,
    iwae_free_energy,
    linear_encoder,
    variational_free_energy_bound,
)
from physebm.free_energies.continuous import (
    importance_free_energy,
    laplace_free_energy,
    variational_free_energy,
)
from physebm.free_energies.discrete import free_energy, responsibilities, soft_min

__all__ = [
    "GaussianEncoder",
    "LinearGaussianEncoder",
    "amortized_free_energy",
    "free_energy",
    "importance_free_energy",
    "iwae_free_energy",
    "laplace_free_energy",
    "linear_encoder",
    "responsibilities",
    "soft_min",
    "variational_free_energy",
    "variational_free_energy_bound",
]
