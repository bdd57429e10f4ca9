"""Partition functions: exact routes and estimators, all returning [`LogZ`][]."""

from physebm.partition import assemble, bases, kernels, schedules
from physebm.partition.ais import adaptive_schedule, ais, reverse_ais
from physebm.partition.bar import bar, bar_log_z_ratio, mbar, mbar_log_z
from physebm.partition.bidirectional import bidirectional_ais
from physebm.partition.exact import exact
from physebm.partition.importance import importance
from physebm.partition.result import LogZ
from physebm.partition.smc import smc
from physebm.partition.ti import thermodynamic_integration
from physebm.partition.variational import elbo, iwae, mean_field, tap

__all__ = [
    "LogZ",
    "adaptive_schedule",
    "assemble",
    "ais",
    "bar",
    "bar_log_z_ratio",
    "bases",
    "bidirectional_ais",
    "elbo",
    "exact",
    "importance",
    "kernels",
    "iwae",
    "mbar",
    "mbar_log_z",
    "mean_field",
    "reverse_ais",
    "schedules",
    "smc",
    "tap",
    "thermodynamic_integration",
]
