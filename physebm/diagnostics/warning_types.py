"""Warning categories of `physebm.diagnostics`.

Every problem a diagnostic finds is reported twice: as a Python warning of one of these
categories (filterable, or an error under ``-W error::physebm.diagnostics.RhatWarning``) and as
a string in the result's ``warnings`` tuple, so a report can print it.
"""

from __future__ import annotations

import warnings

__all__ = [
    "CollapsedChainsWarning",
    "DiagnosticWarning",
    "LowESSWarning",
    "LowWeightESSWarning",
    "RhatWarning",
    "SamplerWarning",
]


class DiagnosticWarning(UserWarning):
    """Base class of every warning raised by `physebm.diagnostics`."""


class RhatWarning(DiagnosticWarning):
    """Chains have not mixed: rank-normalised R-hat above the threshold."""


class LowESSWarning(DiagnosticWarning):
    """Too few effective samples for the reported Monte Carlo standard error to be reliable."""


class CollapsedChainsWarning(DiagnosticWarning):
    """Chains lost their diversity: identical, near-identical, or never moving."""


class SamplerWarning(DiagnosticWarning):
    """Divergent transitions, NaN/+inf weights, or an acceptance rate too low to explore."""


class LowWeightESSWarning(DiagnosticWarning):
    """Importance weights dominated by a few chains: AIS/SMC estimate and stderr unreliable."""


def emit(messages: list[str], msg: str, category: type[Warning], warn: bool, stacklevel: int):
    """Append ``msg`` to ``messages`` and, if ``warn``, warn at the caller of the caller."""
    messages.append(msg)
    if warn:
        warnings.warn(msg, category, stacklevel=stacklevel + 2)
