"""Diagnostics of samplers and estimators: ArviZ data, R-hat/ESS/MCSE, AIS weights, plots.

- [`chains_to_datatree`][], [`run_to_datatree`][]: MCMC runs as ArviZ
  ``xarray.DataTree`` objects (``sample_stats.energy`` the HMC Hamiltonian,
  ``sample_stats.model_energy`` E(x)); [`ais_to_datatree`][], [`logz_to_datatree`][]:
  AIS, SMC and importance-sampling runs, with ``(chain, draw)`` dims ArviZ accepts.
- [`rhat`][], [`ess`][], [`mcse`][], [`weight_ess`][], [`log_mean_exp_stderr`][],
  [`acceptance_summary`][]: statistics on arrays.
- [`summarize_chains`][], [`summarize_ais`][]: reports with actionable warnings.
- [`trace_figure`][], [`rank_figure`][], [`energy_figure`][], [`ais_figure`][]: matplotlib
  ``Figure`` objects; [`save_figure`][] and [`save_chain_plots`][] write them to files.
"""

from physebm.diagnostics.ais import AISSummary, summarize_ais
from physebm.diagnostics.convert import chains_to_datatree, position_names, run_to_datatree
from physebm.diagnostics.estimates import ais_to_datatree, logz_to_datatree
from physebm.diagnostics.plots import (
    ais_figure,
    energy_figure,
    rank_figure,
    save_chain_plots,
    save_figure,
    trace_figure,
)
from physebm.diagnostics.report import ChainSummary, summarize_chains
from physebm.diagnostics.stats import (
    AcceptanceSummary,
    acceptance_summary,
    ess,
    log_mean_exp_stderr,
    mcse,
    rhat,
    weight_ess,
)
from physebm.diagnostics.warning_types import (
    CollapsedChainsWarning,
    DiagnosticWarning,
    LowESSWarning,
    LowWeightESSWarning,
    RhatWarning,
    SamplerWarning,
)

__all__ = [
    "AISSummary",
    "AcceptanceSummary",
    "ChainSummary",
    "CollapsedChainsWarning",
    "DiagnosticWarning",
    "LowESSWarning",
    "LowWeightESSWarning",
    "RhatWarning",
    "SamplerWarning",
    "acceptance_summary",
    "ais_figure",
    "ais_to_datatree",
    "chains_to_datatree",
    "energy_figure",
    "ess",
    "log_mean_exp_stderr",
    "logz_to_datatree",
    "mcse",
    "position_names",
    "rank_figure",
    "rhat",
    "run_to_datatree",
    "save_chain_plots",
    "save_figure",
    "summarize_ais",
    "summarize_chains",
    "trace_figure",
    "weight_ess",
]
