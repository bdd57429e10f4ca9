"""The warnings of [`physebm.diagnostics.summarize_chains`][], one check each.

Each check appends its messages to ``msgs`` and, with ``warn``, issues them as Python warnings
attributed to the caller of ``summarize_chains`` (which calls these functions directly).
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from physebm.diagnostics._checks import nan_arg as _nan_arg
from physebm.diagnostics._checks import site_label as _site
from physebm.diagnostics.stats import acceptance_summary
from physebm.diagnostics.warning_types import (
    CollapsedChainsWarning,
    LowESSWarning,
    RhatWarning,
    SamplerWarning,
    emit,
)

_SL = 2
"""``emit`` stack level from a check called by ``summarize_chains``: warns at the user's call."""


def worst_site(name, arr, j, site_index, variables) -> str:
    """``[i, j]`` label of entry ``j`` of ``name``'s per-site array ``arr``."""
    return _site(arr, j, site_index.get(name), variables[name].shape[2:])


def rhat_warnings(rhats, variables, site_index, max_rhat, msgs, warn) -> None:
    """Warn for each variable whose worst R-hat exceeds ``max_rhat``."""
    num_chains = next(iter(variables.values())).shape[0]
    for n, r in rhats.items():
        value, j = _nan_arg(r, "max")
        if value > max_rhat:
            emit(
                msgs,
                f"chains not mixed: R-hat of {n}{worst_site(n, r, j, site_index, variables)} "
                f"= {value:.3f} > {max_rhat:g} "
                f"across {num_chains} chains. Run the chains longer, discard more burn-in, or "
                "use a sampler that crosses between modes (replica exchange); averages and "
                "error bars from this run are not trustworthy.",
                RhatWarning,
                warn,
                _SL,
            )


def ess_warnings(esses, variables, site_index, limit, label, msgs, warn) -> None:
    """Warn for each variable whose smallest ``label`` (bulk/tail) ESS is below ``limit``.

    The advice scales the draws per chain to reach the limit: ⌈num_draws · limit / ESS⌉.
    """
    num_draws = next(iter(variables.values())).shape[1]
    for n, e in esses.items():
        value, j = _nan_arg(e, "min")
        if value < limit:
            need = math.ceil(num_draws * limit / max(value, 1.0))
            emit(
                msgs,
                f"{label} ESS of {n}{worst_site(n, e, j, site_index, variables)} = "
                f"{value:.0f} < {limit:g}: the Monte "
                f"Carlo standard error is too uncertain to report. Run about {need} draws "
                f"per chain (now {num_draws}) or more chains, or thin less.",
                LowESSWarning,
                warn,
                _SL,
            )


def collapse_message(name: str, flat: np.ndarray, collapse_rtol: float) -> str | None:
    """Why the chains ``flat`` ``(chain, draw, site)`` of ``name`` collapsed, or None.

    Collapsed: more than one chain, and at the last draw all chains identical, or the
    across-chain sd sqrt(mean_sites Var_chains x_last) ≤ ``collapse_rtol`` × the overall sd
    sqrt(mean_sites Var_{chains, draws} x).
    """
    num_chains = flat.shape[0]
    last = flat[:, -1]
    scale = float(np.sqrt(np.mean(flat.var(axis=(0, 1)))))
    spread = float(np.sqrt(np.mean(last.var(axis=0))))
    if num_chains > 1 and np.all(last == last[0]):
        return (
            f"all {num_chains} chains of {name} are identical at the last draw: they carry "
            "one sample, not many. Check that each chain got its own key and initial "
            "state; for persistent chains re-seed a fraction of them from noise."
        )
    if num_chains > 1 and spread <= collapse_rtol * scale:
        return (
            f"chains of {name} collapsed: across-chain sd at the last draw {spread:.3g} <= "
            f"{collapse_rtol:g} x overall sd {scale:.3g}. Persistent chains lost their "
            "diversity (mode collapse): re-seed a fraction from noise (replay buffer), "
            "lower the step size, or sample at a smaller beta."
        )
    return None


def collapse_warnings(variables, collapse_rtol, msgs, warn) -> tuple[bool, int]:
    """Warn for collapsed position variables and for chains that never moved.

    Returns:
        (whether some variable collapsed, the largest number of stuck chains of a variable).
    """
    collapsed, num_stuck = False, 0
    num_chains, num_draws = next(iter(variables.values())).shape[:2]
    for name, a in variables.items():
        if name == "energy":
            continue
        flat = a.reshape(num_chains, num_draws, -1).astype(float)
        msg = collapse_message(name, flat, collapse_rtol)
        if msg is not None:
            collapsed = True
            emit(msgs, msg, CollapsedChainsWarning, warn, _SL)
        stuck = np.all(flat == flat[:, :1], axis=(1, 2))
        num_stuck = max(num_stuck, int(stuck.sum()))
    if num_stuck and num_draws > 1:
        emit(
            msgs,
            f"{num_stuck} of {num_chains} chains never moved in {num_draws} draws: every "
            "proposal was rejected. Lower the step size (continuous) or check the kernel.",
            CollapsedChainsWarning,
            warn,
            _SL,
        )
    return collapsed, num_stuck


def nonfinite_warning(num_nonfinite: int, msgs, warn) -> None:
    """Warn when the run rejected steps whose state was non-finite."""
    if num_nonfinite:
        emit(
            msgs,
            f"{num_nonfinite} steps produced a non-finite state (NaN/inf energy or position) "
            "and were rejected: the step size is too large or the energy overflows there.",
            SamplerWarning,
            warn,
            _SL,
        )


def acceptance_warnings(stats: xr.Dataset, min_acceptance, msgs, warn):
    """Acceptance summary of ``stats`` (None without rates or flags); warn on divergences and
    on a chain whose mean acceptance rate is below ``min_acceptance``."""
    acc_rate = (
        stats["acceptance_rate"].transpose("chain", "draw").values
        if ("acceptance_rate" in stats)
        else None
    )
    div = stats["diverging"].transpose("chain", "draw").values if "diverging" in stats else None
    if acc_rate is None and div is None:
        return None
    acc = acceptance_summary(acc_rate, div)
    if acc.num_divergent:
        emit(
            msgs,
            f"{acc.num_divergent} divergent transitions ({acc.divergence_rate:.2%} of "
            "steps): the integrator is unstable there; lower the step size or adapt it.",
            SamplerWarning,
            warn,
            _SL,
        )
    if acc_rate is not None and acc.min_chain < min_acceptance:
        emit(
            msgs,
            f"lowest per-chain acceptance rate {acc.min_chain:.3f} < {min_acceptance:g} "
            f"(mean {acc.mean:.3f}): the step size is too large for this energy/beta; "
            "lower it or use step-size adaptation.",
            SamplerWarning,
            warn,
            _SL,
        )
    return acc
