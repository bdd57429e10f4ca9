"""Convergence report of a multi-chain run, with warnings a user can act on."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from physebm.diagnostics._chain_checks import (
    acceptance_warnings,
    collapse_warnings,
    ess_warnings,
    nonfinite_warning,
    rhat_warnings,
)
from physebm.diagnostics._checks import nan_arg as _nan_arg
from physebm.diagnostics._checks import positive as _positive
from physebm.diagnostics.convert import chains_to_datatree
from physebm.diagnostics.stats import AcceptanceSummary, ess, mcse, rhat

__all__ = ["ChainSummary", "summarize_chains"]


@dataclass(frozen=True)
class ChainSummary:
    """Convergence report of a multi-chain run (positions and energy).

    Per-variable dicts map a name (each position variable and ``"energy"``) to an array of
    the variable's event shape.

    Attributes:
        num_chains: number of chains.
        num_draws: draws per chain.
        rhat: rank-normalised split R-hat per site.
        ess_bulk: bulk ESS per site.
        ess_tail: tail ESS (5%/95% quantiles) per site.
        mcse_mean: Monte Carlo standard error of the mean per site.
        mean: mean over chains and draws per site.
        sd: standard deviation over chains and draws per site.
        max_rhat: the largest finite R-hat over all sites and variables.
        min_ess_bulk: the smallest finite bulk ESS.
        min_ess_tail: the smallest finite tail ESS.
        acceptance: acceptance/divergence statistics when recorded, else None.
        collapsed: True when the chains of some variable are identical or near-identical at
            the last draw.
        num_stuck_chains: chains whose position never changed.
        warnings: the warning messages, in the order found.
        site_index: for variables subsampled by ``max_sites``, the flat (C-order) indices of
            the sites the per-site arrays refer to (their arrays are then 1-D).
    """

    num_chains: int
    num_draws: int
    rhat: dict[str, np.ndarray]
    ess_bulk: dict[str, np.ndarray]
    ess_tail: dict[str, np.ndarray]
    mcse_mean: dict[str, np.ndarray]
    mean: dict[str, np.ndarray]
    sd: dict[str, np.ndarray]
    max_rhat: float
    min_ess_bulk: float
    min_ess_tail: float
    acceptance: AcceptanceSummary | None
    collapsed: bool
    num_stuck_chains: int
    warnings: tuple[str, ...] = field(default_factory=tuple)
    site_index: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no warning was raised."""
        return not self.warnings

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary: scalars and per-variable worst values (None for NaN)."""

        def num(v):
            v = float(v)
            return v if math.isfinite(v) else None

        per_var = {}
        for name in self.rhat:
            per_var[name] = {
                "max_rhat": num(_nan_arg(self.rhat[name], "max")[0]),
                "min_ess_bulk": num(_nan_arg(self.ess_bulk[name], "min")[0]),
                "min_ess_tail": num(_nan_arg(self.ess_tail[name], "min")[0]),
                "max_mcse_mean": num(_nan_arg(self.mcse_mean[name], "max")[0]),
            }
            if self.mean[name].ndim == 0:
                per_var[name]["mean"] = num(self.mean[name])
                per_var[name]["sd"] = num(self.sd[name])
        out = {
            "num_chains": self.num_chains,
            "num_draws": self.num_draws,
            "max_rhat": num(self.max_rhat),
            "min_ess_bulk": num(self.min_ess_bulk),
            "min_ess_tail": num(self.min_ess_tail),
            "collapsed": self.collapsed,
            "num_stuck_chains": self.num_stuck_chains,
            "sites_checked": {k: int(v.size) for k, v in self.site_index.items()},
            "variables": per_var,
            "warnings": list(self.warnings),
        }
        if self.acceptance is not None:
            out["acceptance_rate"] = num(self.acceptance.mean)
            out["min_chain_acceptance_rate"] = num(self.acceptance.min_chain)
            out["num_divergent"] = self.acceptance.num_divergent
        return out

    def to_markdown(self) -> str:
        """A Markdown table: one row per variable with its worst site, then the warnings."""
        d = self.to_dict()

        def fmt(v, spec):
            return "n/a" if v is None else format(v, spec)

        lines = [
            f"{self.num_chains} chains x {self.num_draws} draws",
            "",
            "| variable | max R-hat | min bulk ESS | min tail ESS | max MCSE(mean) |",
            "|---|---|---|---|---|",
        ]
        for name, v in d["variables"].items():
            lines.append(
                f"| {name} | {fmt(v['max_rhat'], '.4f')} | {fmt(v['min_ess_bulk'], '.0f')} | "
                f"{fmt(v['min_ess_tail'], '.0f')} | {fmt(v['max_mcse_mean'], '.3g')} |"
            )
        if self.acceptance is not None:
            lines += [
                "",
                f"acceptance rate {fmt(d['acceptance_rate'], '.3f')} (lowest chain "
                f"{fmt(d['min_chain_acceptance_rate'], '.3f')}), "
                f"{self.acceptance.num_divergent} divergent transitions",
            ]
        lines += ["", "Warnings:" if self.warnings else "No warnings."]
        lines += [f"- {w}" for w in self.warnings]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_markdown()


_STATISTICS = ("rhat", "ess_bulk", "ess_tail", "mcse_mean", "mean", "sd")


def summarize_chains(
    trace,
    *,
    energy=None,
    acceptance_rate=None,
    diverging=None,
    chain_axis: int = 0,
    max_rhat: float = 1.01,
    min_ess_bulk: float = 100.0,
    min_ess_tail: float = 400.0,
    min_acceptance: float = 0.05,
    collapse_rtol: float = 1e-3,
    max_sites: int | None = None,
    warn: bool = True,
) -> ChainSummary:
    """R-hat, bulk/tail ESS and MCSE of chain positions and energy, with actionable warnings.

    Checks, each producing a warning (category in brackets) and a string in the result:

    - R̂ > ``max_rhat`` for any site or the energy [[`RhatWarning`][]]. R̂ is checked on
      every site, so with many sites an occasional 1.01 can be chance; the energy is the
      single most informative scalar.
    - bulk ESS < ``min_ess_bulk`` or tail ESS < ``min_ess_tail`` [[`LowESSWarning`][]]: the
      MCSE (``sd/sqrt(ESS)``) is then itself too uncertain to be reported as an error bar.
    - at the last draw, all chains identical, or the across-chain standard deviation
      ≤ ``collapse_rtol`` × the overall standard deviation of the trace; or chains that never
      moved [[`CollapsedChainsWarning`][]] — the signature of collapsed persistent chains.
    - divergent transitions, non-finite states rejected by [`samplers.run`][samplers.run.run]
      (``num_nonfinite``), or a chain whose mean acceptance rate is below ``min_acceptance``
      [[`SamplerWarning`][]].

    Args:
        trace: a ``DataTree`` from [`chains_to_datatree`][], or positions as accepted by it
            (an array ``(num_chains, num_draws, ...)`` or a pytree of them).
        energy: per-step model energies E(x) ``(num_chains, num_draws)`` (ignored for a
            ``DataTree``, which carries them in ``sample_stats.model_energy``); reported as
            the variable ``"energy"``.
        acceptance_rate: per-step acceptance probabilities (idem).
        diverging: per-step divergence flags (idem).
        chain_axis: 0 (chains first) or 1 (draws first) for array inputs.
        max_rhat: R-hat threshold (1.01, Vehtari et al. 2021).
        min_ess_bulk: bulk ESS below which the MCSE of a mean is unreliable.
        min_ess_tail: tail ESS below which tail quantiles are unreliable.
        min_acceptance: lowest acceptable per-chain mean acceptance rate.
        collapse_rtol: relative across-chain spread under which chains count as collapsed.
        max_sites: check R-hat/ESS/MCSE on at most this many evenly spaced sites of each
            variable (ArviZ costs ~10 ms per site and statistic: a 32×32 lattice takes ~10 s
            in full); ``site_index`` records which. None: every site. The collapse checks
            always use every site.
        warn: also issue Python warnings (the strings are always in the result).

    Returns:
        [`ChainSummary`][].
    """
    _check_thresholds(max_rhat, min_ess_bulk, min_ess_tail, min_acceptance, collapse_rtol)
    _check_max_sites(max_sites)
    dt = _as_datatree(trace, energy, acceptance_rate, diverging, chain_axis)
    stats = dt["sample_stats"].to_dataset() if "sample_stats" in dt.children else xr.Dataset()
    variables = _chain_variables(dt["posterior"].to_dataset(), stats)
    num_chains, num_draws = next(iter(variables.values())).shape[:2]
    res, site_index = _site_statistics(variables, max_sites)

    msgs: list[str] = []
    rhat_warnings(res["rhat"], variables, site_index, max_rhat, msgs, warn)
    for key, limit, label in (
        ("ess_bulk", min_ess_bulk, "bulk"),
        ("ess_tail", min_ess_tail, "tail"),
    ):
        ess_warnings(res[key], variables, site_index, limit, label, msgs, warn)
    collapsed, num_stuck = collapse_warnings(variables, collapse_rtol, msgs, warn)
    nonfinite_warning(int(dt.attrs.get("num_nonfinite", 0)), msgs, warn)
    acc = acceptance_warnings(stats, min_acceptance, msgs, warn)

    return ChainSummary(
        num_chains=int(num_chains),
        num_draws=int(num_draws),
        rhat=res["rhat"],
        ess_bulk=res["ess_bulk"],
        ess_tail=res["ess_tail"],
        mcse_mean=res["mcse_mean"],
        mean=res["mean"],
        sd=res["sd"],
        max_rhat=_overall(res["rhat"], "max"),
        min_ess_bulk=_overall(res["ess_bulk"], "min"),
        min_ess_tail=_overall(res["ess_tail"], "min"),
        acceptance=acc,
        collapsed=collapsed,
        num_stuck_chains=num_stuck,
        warnings=tuple(msgs),
        site_index=site_index,
    )


def _check_thresholds(max_rhat, min_ess_bulk, min_ess_tail, min_acceptance, collapse_rtol):
    """Raise unless R-hat/ESS limits are > 0 and acceptance/collapse limits are ≥ 0."""
    for name, v in (("max_rhat", max_rhat), ("min_ess_bulk", min_ess_bulk)):
        _positive(v, name)
    _positive(min_ess_tail, "min_ess_tail")
    _positive(min_acceptance, "min_acceptance", allow_zero=True)
    _positive(collapse_rtol, "collapse_rtol", allow_zero=True)


def _check_max_sites(max_sites) -> None:
    """Raise unless ``max_sites`` is None or an int ≥ 1."""
    if max_sites is not None and (
        isinstance(max_sites, bool) or not isinstance(max_sites, int | np.integer) or max_sites < 1
    ):
        raise ValueError(f"max_sites must be None or an int >= 1, got {max_sites!r}")


def _as_datatree(trace, energy, acceptance_rate, diverging, chain_axis) -> xr.DataTree:
    """``trace`` itself when it is a ``DataTree`` with a posterior, else its conversion."""
    if isinstance(trace, xr.DataTree):
        if "posterior" not in trace.children:
            raise ValueError("trace DataTree must have a 'posterior' group (chains_to_datatree)")
        return trace
    return chains_to_datatree(
        trace,
        energy=energy,
        acceptance_rate=acceptance_rate,
        diverging=diverging,
        chain_axis=chain_axis,
    )


def _chain_variables(post: xr.Dataset, stats: xr.Dataset) -> dict[str, np.ndarray]:
    """Each position variable, then the model energy (``sample_stats.model_energy``) if
    recorded, named ``"energy"``, as ``(chain, draw, ...)`` arrays."""
    variables: dict[str, np.ndarray] = {}
    for name, da in post.data_vars.items():
        variables[str(name)] = da.transpose("chain", "draw", ...).values
    if "model_energy" in stats:
        variables["energy"] = stats["model_energy"].transpose("chain", "draw").values
    return variables


def _site_statistics(
    variables: dict[str, np.ndarray], max_sites: int | None
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """R-hat, bulk/tail ESS, MCSE, mean and sd per site of each variable, and the subsample.

    A variable with more than ``max_sites`` sites is checked on ``max_sites`` evenly spaced
    flat indices (C order), recorded in the second dict; its per-site arrays are then 1-D.
    """
    res: dict[str, dict[str, np.ndarray]] = {k: {} for k in _STATISTICS}
    site_index: dict[str, np.ndarray] = {}
    num_chains, num_draws = next(iter(variables.values())).shape[:2]
    for name, a in variables.items():
        size = int(np.prod(a.shape[2:]))
        if max_sites is not None and size > max_sites:
            idx = np.unique(np.linspace(0, size - 1, max_sites).round().astype(int))
            site_index[name] = idx
            a = a.reshape(num_chains, num_draws, size)[:, :, idx]
        # R-hat compares chains: undefined (NaN, no warning) for a single chain
        res["rhat"][name] = rhat(a) if num_chains > 1 else np.full(a.shape[2:], np.nan)
        res["ess_bulk"][name] = ess(a, method="bulk")
        res["ess_tail"][name] = ess(a, method="tail")
        res["mcse_mean"][name] = mcse(a)
        res["mean"][name] = a.astype(float).mean(axis=(0, 1))
        res["sd"][name] = a.astype(float).std(axis=(0, 1), ddof=1)
    return res, site_index


def _overall(per_variable: dict[str, np.ndarray], worst: str) -> float:
    """The worst (``"max"`` or ``"min"``) finite value over all variables, NaN if none."""
    vals = [_nan_arg(v, worst)[0] for v in per_variable.values()]
    vals = [v for v in vals if not math.isnan(v)]
    if not vals:
        return math.nan
    return max(vals) if worst == "max" else min(vals)
