"""``report.md``, ``results.json`` and PNGs of a 2-D comparison run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from physebm.cli import figures
from physebm.cli._format import table


def summary_rows(run: dict) -> list[list]:
    rows = []
    for r in run["results"]:
        s = r.chain_summary
        rows.append(
            [
                r.name,
                r.heldout_ll_quad,
                f"{r.heldout_ll_ais:.4f} ± {r.log_z_ais_stderr:.4f}",
                r.log_z_quad,
                f"{r.log_z_ais:.4f} ± {r.log_z_ais_stderr:.4f}",
                f"{r.agreement_z:+.2f}",
                f"{s.max_rhat:.4f}",
                f"{s.min_ess_bulk:.0f}",
                f"{r.train_seconds:.1f}",
            ]
        )
    return rows


HEADERS = [
    "objective",
    "held-out LL (quad)",
    "held-out LL (AIS)",
    "log Z (quad)",
    "log Z (AIS)",
    "AIS-quad (sd)",
    "max R-hat",
    "min ESS",
    "train s",
]


def results_json(run: dict) -> dict:
    s = run["settings"]
    out = {
        "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(s).items()},
        "true_heldout_ll": run["true_ll"],
        "models": {},
    }
    for r in run["results"]:
        cs = r.chain_summary
        out["models"][r.name] = {
            "description": r.description,
            "heldout_ll_quadrature": r.heldout_ll_quad,
            "heldout_ll_ais": r.heldout_ll_ais,
            "log_z_quadrature": r.log_z_quad,
            "log_z_quadrature_error": r.log_z_quad_err,
            "quadrature_boundary_density_ratio": r.boundary_ratio,
            "log_z_ais": r.log_z_ais,
            "log_z_ais_stderr": r.log_z_ais_stderr,
            "log_z_ais_reliable": bool(r.ais_result.reliable),
            "ais_weight_ess": r.ais_ess,
            "ais_minus_quadrature_in_sd": r.agreement_z,
            "chains_max_rhat": cs.max_rhat,
            "chains_min_ess_bulk": cs.min_ess_bulk,
            "chains_min_ess_tail": cs.min_ess_tail,
            "replica_swap_acceptance": r.swap_acceptance,
            "train_seconds": r.train_seconds,
            "final_loss": float(r.losses[-1]) if len(r.losses) else None,
            "warnings": list(r.warnings),
        }
    return out


def write(run: dict, out: Path, energy_of) -> dict[str, Path]:
    """Write every artefact into ``out``; returns the paths written."""
    from physebm.diagnostics import ais_figure, chains_to_datatree, save_chain_plots, save_figure

    paths = {
        "landscapes": figures.landscapes(run, out / "landscapes.png", energy_of),
        "samples": figures.samples(run, out / "samples.png"),
        "losses": figures.losses(run, out / "losses.png"),
    }
    for r in run["results"]:
        paths[f"ais_{r.name}"] = save_figure(ais_figure(r.ais_result), out / f"ais_{r.name}.png")
        tree = chains_to_datatree(r.chains, energy=r.chain_energy, attrs={"beta": 1.0})
        for kind, p in save_chain_plots(tree, out, prefix=f"chains_{r.name}_").items():
            paths[f"{kind}_{r.name}"] = p
    data = results_json(run)
    (out / "results.json").write_text(json.dumps(data, indent=2, default=_jsonable))
    paths["results"] = out / "results.json"
    (out / "report.md").write_text(markdown(run))
    paths["report"] = out / "report.md"
    return paths


def _jsonable(v):
    if isinstance(v, np.generic):
        return v.item()
    return str(v)


def markdown(run: dict) -> str:
    """``report.md``: settings, summary table, objectives, figures and per-model diagnostics."""
    s = run["settings"]
    res = run["results"]
    lines = _markdown_intro(s)
    if run["true_ll"] is not None:
        lines += [f"Held-out LL of the true data density: **{run['true_ll']:.4f}**.", ""]
    lines += ["## Summary", "", _markdown_table(HEADERS, summary_rows(run)), ""]
    lines += _markdown_objectives(res)
    lines += _markdown_figures(s)
    for r in res:
        lines += _markdown_diagnostics(r, s)
    lines += ["## Training losses", "", "![losses](losses.png)", ""]
    return "\n".join(lines)


def _markdown_intro(s) -> list[str]:
    """Title, the data and model settings, and how the log-likelihood is scored."""
    return [
        "# physebm: likelihood vs margin training, compared by likelihood",
        "",
        f"Data set `{s.dataset}` ({s.num_train} training / {s.num_test} held-out points). One MLP "
        f"energy (2 → {' → '.join(map(str, s.hidden))} → 1, swish, confinement "
        f"½·{s.confinement}·‖x‖²), {s.num_steps} Adam steps (lr {s.learning_rate}, batch "
        f"{s.batch_size}) per objective, seed {s.seed}.",
        "",
        "Every trained energy is read as p(x) = exp(−E(x))/Z at β = 1 and scored by the same "
        "held-out log-likelihood LL = −mean E(x_test) − log Z. log Z comes from 2-D Simpson "
        f"quadrature ({s.quad_points}² points) and, independently, from AIS "
        f"({s.ais_temperatures} temperatures × {s.ais_chains} chains, Gaussian base); "
        "'AIS-quad (sd)' is their difference in units of the combined standard error.",
        "",
    ]


def _markdown_objectives(res) -> list[str]:
    """The best held-out likelihood and one line per objective."""
    best = max(res, key=lambda r: r.heldout_ll_quad)
    return [
        f"Best held-out likelihood: **{best.name}** ({best.heldout_ll_quad:.4f}).",
        "",
        "Objectives:",
        "",
        *[f"- **{r.name}**: {r.description}" for r in res],
        "",
        "Margin losses only ask that data sit at least a margin below the sampled negatives; "
        "nothing ties exp(−E) to the data density, so their likelihood shows what the energy "
        "looks like when read as a probability model.",
        "",
    ]


def _markdown_figures(s) -> list[str]:
    """The learned densities and negative samples sections, and the diagnostics heading."""
    return [
        "## Learned densities",
        "",
        "![landscapes](landscapes.png)",
        "",
        "## Negative samples",
        "",
        "Replica exchange over β ∈ [0.05, 1] (8 rungs, MALA inside); the β = 1 replica of "
        f"{s.chain_count} chains × {s.chain_steps} draws per model. R-hat (rank-normalised) and "
        "bulk ESS are computed on positions and energy.",
        "",
        "![samples](samples.png)",
        "",
        "## Diagnostics",
        "",
    ]


def _markdown_diagnostics(r, s) -> list[str]:
    """One model's diagnostics: swap acceptance, AIS ESS, quadrature checks, warnings, plots."""
    return [
        f"### {r.name}",
        "",
        f"- replica swap acceptance: {r.swap_acceptance:.2f}; AIS weight ESS "
        f"{r.ais_ess:.0f} of {s.ais_chains}",
        f"- quadrature error estimate {r.log_z_quad_err:.1e}, density on the box edge "
        f"{r.boundary_ratio:.1e} of the peak",
        *(f"- warning: {w}" for w in r.warnings),
        "",
        f"![ais](ais_{r.name}.png) ![trace](chains_{r.name}_trace.png) "
        f"![rank](chains_{r.name}_rank.png)",
        "",
    ]


def _markdown_table(headers, rows) -> str:
    def fmt(v):
        return f"{v:.4f}" if isinstance(v, float) else str(v)

    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(out)


def console_table(run: dict) -> str:
    return table(HEADERS, summary_rows(run), ".4f")
