"""Training objectives behind one signature.

Every factory takes keyword-only hyperparameters and returns an [`Objective`][] with
``init(params, key) -> state`` and ``loss(params, batch, key, state) -> (loss, (state, aux))``,
so swapping maximum likelihood for NCE or a hinge loss changes one line. Sign convention:
p_θ(x) = exp(−β E_θ(x)) / Z_θ; every loss is minimised; negatives pass through stop_gradient.
"""

from physebm.objectives import margin
from physebm.objectives.amortized import AmortizedParams, amortized_variational
from physebm.objectives.autoencoder import (
    dae_asymmetry,
    dae_energy,
    dae_score,
    denoising_autoencoder,
)
from physebm.objectives.base import (
    EmptyState,
    Objective,
    Weighted,
    as_kernel,
    from_build_kernel,
    run_chains,
)
from physebm.objectives.contrastive import (
    contrastive_divergence,
    persistent_contrastive_divergence,
)
from physebm.objectives.free_energy import FreeEnergyLoss, free_energy_loss
from physebm.objectives.joint_embedding import (
    barlow_twins,
    collapse_diagnostics,
    joint_energy,
    linear_probe_accuracy,
    pair_loss,
    vicreg,
)
from physebm.objectives.likelihood import enumerate_states, maximum_likelihood
from physebm.objectives.margin import LOSSES as MARGIN_LOSSES
from physebm.objectives.margin import margin_objective, most_offending
from physebm.objectives.nce import (
    NCEParams,
    Noise,
    gaussian_noise,
    info_nce,
    nce,
    nce_params,
    ranking_nce,
)
from physebm.objectives.ratio_matching import minimum_probability_flow, ratio_matching
from physebm.objectives.score_matching import (
    denoising_score_matching,
    score_matching,
    sliced_score_matching,
)

__all__ = [
    "AmortizedParams",
    "MARGIN_LOSSES",
    "EmptyState",
    "FreeEnergyLoss",
    "NCEParams",
    "Noise",
    "Objective",
    "Weighted",
    "amortized_variational",
    "as_kernel",
    "barlow_twins",
    "collapse_diagnostics",
    "contrastive_divergence",
    "dae_asymmetry",
    "dae_energy",
    "dae_score",
    "denoising_autoencoder",
    "denoising_score_matching",
    "enumerate_states",
    "free_energy_loss",
    "from_build_kernel",
    "gaussian_noise",
    "info_nce",
    "joint_energy",
    "linear_probe_accuracy",
    "margin",
    "margin_objective",
    "maximum_likelihood",
    "minimum_probability_flow",
    "most_offending",
    "nce",
    "nce_params",
    "pair_loss",
    "persistent_contrastive_divergence",
    "ranking_nce",
    "ratio_matching",
    "run_chains",
    "score_matching",
    "sliced_score_matching",
    "vicreg",
]
