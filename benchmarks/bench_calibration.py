"""Calibration at scale: are the estimators' error bars and ``reliable`` flags worth betting on?

For each cell (problem, estimator, budget) the estimator runs over N seeds in one jitted
``jax.vmap`` (applied chunk by chunk, one compilation per cell) and is scored against the exact
log Z by z = (log Ẑ − log Z)/stderr. Problems (``benchmarks/calibration.py`` says how each
exact value is obtained):

* ``gauss10``      Gaussian 10-D, random SPD precision (easy; closed form);
* ``rbm``          RBM 64×16 trained by CD-1 on the binarised UCI digits (enumeration);
* ``ising16-0.3``  16×16 periodic Ising at β = 0.3 (easy), ``ising16-bc`` at β_c,
  ``ising16-0.6`` at β = 0.6, ``ising32-bc`` 32×32 at β_c (Kaufman);
* ``cw1000``       Curie–Weiss N = 1000, βJ = 1.2, h = 0.01, metastable (magnetisation sum);
* ``dwell``        1-D double well 12(x² − 1)² + 0.5x, β = 1 (adaptive quadrature, float64).

Columns: N seeds, mean and sd of z, coverage of |z| ≤ 2 and ≤ 3 with Wilson 95 % score
intervals, the fraction flagged unreliable, N, sd(z) and coverage among runs flagged reliable,
wall time (compilation included), and the targets: ``cov3`` (reliable runs: the Wilson
interval of the ±3σ coverage reaches 99 %), ``sd`` (reliable runs: 0.8 ≤ sd(z) ≤ 1.25),
``rel`` (large budget, easy problem: ≥ 90 % flagged reliable); ``-`` where a target does not
apply (or fewer than 20 reliable runs). Run:

    python benchmarks/bench_calibration.py                     # every cell, 500 seeds
    python benchmarks/bench_calibration.py --quick             # 100 seeds, small budgets
    python benchmarks/bench_calibration.py --cells 'ising16-*/ais/*' --json out.json
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import time

import numpy as np
from calibration import BUDGETS, all_cells, cell_settings, run_cell, summarise

HEAD = (
    f"| {'cell':<28} | {'settings':<22} | {'N':>4} | {'mean z':>6} | {'sd z':>6} "
    f"| {'cov±2 [95% CI]':<19} | {'cov±3 [95% CI]':<19} | {'unrel':>5} | {'N rel':>5} "
    f"| {'mean rel':>8} | {'sd rel':>6} | {'cov±2 rel':>9} | {'cov±3 rel [95% CI]':<19} "
    f"| {'cov3':>4} | {'sd':>4} | {'rel':>4} | {'s':>6} |"
)


def _cov(s: dict, k: int) -> str:
    lo, hi = s[f"cov{k}_ci"]
    return f"{s[f'cov{k}']:.3f} [{lo:.3f},{hi:.3f}]" if s["n"] else "-"


def _verdict(v) -> str:
    return "-" if v is None else ("PASS" if v else "FAIL")


def _short(settings: dict) -> str:
    abbrev = dict(
        num_temperatures="K",
        num_chains="ch",
        num_samples="S",
        num_burnin="B",
        num_particles="P",
        num_replicas="R",
        num_mcmc_steps="m",
    )
    return " ".join(f"{abbrev.get(k, k)}={v}" for k, v in settings.items())


def format_row(row: dict) -> str:
    if "error" in row:
        return f"| {row['cell']:<28} | {_short(row['settings']):<22} | ERROR {row['error'][:150]}"
    a, r = row["all"], row["rel"]
    sd_rel = f"{r['sd']:6.3f}" if r["n"] > 1 else "     -"
    mean_rel = f"{r['mean']:+8.2f}" if r["n"] else "       -"
    cov2_rel = f"{r['cov2']:9.3f}" if r["n"] else "        -"
    return (
        f"| {row['cell']:<28} | {_short(row['settings']):<22} | {a['n']:4d} | {a['mean']:+6.2f} "
        f"| {a['sd']:6.3f} | {_cov(a, 2):<19} | {_cov(a, 3):<19} | {row['frac_unreliable']:5.3f} "
        f"| {r['n']:5d} | {mean_rel} | {sd_rel} | {cov2_rel} | {_cov(r, 3):<19} "
        f"| {_verdict(row['pass_cov3']):>4} | {_verdict(row['pass_sd']):>4} "
        f"| {_verdict(row['pass_reliable']):>4} | {row['seconds']:6.1f} |"
    )


def select(patterns: list[str] | None, budgets) -> list[str]:
    """The cells matching any of the ``fnmatch`` patterns (all cells for None)."""
    cells = all_cells(budgets)
    if not patterns:
        return cells
    chosen = [c for c in cells if any(fnmatch.fnmatch(c, p) for p in patterns)]
    if not chosen:
        raise SystemExit(f"--cells {patterns} matches none of: {' '.join(all_cells())}")
    return chosen


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 seeds, small budgets only")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per cell (default 500)")
    parser.add_argument("--cells", nargs="+", help="fnmatch patterns problem/estimator/budget")
    parser.add_argument("--json", help="save the table (and every z and flag) to this file")
    parser.add_argument("--from-json", help="re-render (and re-judge) a saved table; no runs")
    parser.add_argument("--list", action="store_true", help="list the cells and exit")
    args = parser.parse_args(argv)
    budgets = ("small",) if args.quick else BUDGETS
    num_seeds = args.seeds or (100 if args.quick else 500)
    cells = select(args.cells, budgets)
    if args.list:
        print("\n".join(f"{c:<30} {_short(cell_settings(c))}" for c in cells))
        return []
    if args.from_json:
        with open(args.from_json) as f:
            runs = [_loaded(r) for r in json.load(f) if r["cell"] in cells]
    else:
        print(f"{len(cells)} cells, {num_seeds} seeds each")
        runs = (run_cell(cell, num_seeds) for cell in cells)
    t0, rows = time.perf_counter(), render(runs)
    _report(rows, sum(r.get("seconds", 0.0) for r in rows) if args.from_json else None, t0)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1, default=float)
    return rows


def render(runs) -> list[dict]:
    """Print the table of ``runs`` (from :func:`run_cell`), one section per problem, as each
    run arrives; return the rows (with every z and flag)."""
    print("z = (log Ẑ - exact)/stderr; intervals: Wilson score, 95 %")
    rows, last = [], None
    for run in runs:
        name = run["cell"].split("/")[0]
        if name != last:
            rule = "|".join("-" * len(c) for c in HEAD.split("|")[1:-1])
            print(
                f"\n## {name}: {run['problem']} ({run['regime']}); exact log Z = "
                f"{run['exact']:.8f}\n\n{HEAD}\n|{rule}|"
            )
            last = name
        row = summarise(run)
        print(format_row(row), flush=True)
        if "error" not in run:
            row["z"], row["reliable"] = run["z"].tolist(), run["reliable"].tolist()
        rows.append(row)
    return rows


def _loaded(row: dict) -> dict:
    """A saved row back as a run: z and flags as arrays, statistics dropped."""
    run = {k: v for k, v in row.items() if k not in ("all", "rel") and not k.startswith("pass")}
    if "error" not in run:
        run["z"], run["reliable"] = np.asarray(run["z"], float), np.asarray(run["reliable"], bool)
    return run


def _report(rows: list[dict], cell_seconds: float | None, t0: float) -> None:
    fails = [
        (r["cell"], t)
        for r in rows
        for t in ("pass_cov3", "pass_sd", "pass_reliable")
        if r[t] is False
    ]
    errors = [r["cell"] for r in rows if "error" in r]
    minutes = (time.perf_counter() - t0 if cell_seconds is None else cell_seconds) / 60
    print(
        f"\n{len(rows)} cells in {minutes:.1f} min; {len(fails)} target failures; "
        f"{len(errors)} cells raised: {' '.join(errors)}"
    )
    for cell, t in fails:
        print(f"  FAIL {cell}: {t[5:]}")
    judged = sum(r[t] is not None for r in rows for t in ("pass_cov3", "pass_sd"))
    print(
        f"  (reliable-run targets judged in {judged} of {2 * len(rows)} cases; "
        f"{sum(r['rel']['n'] == 0 for r in rows if 'rel' in r)} cells had no reliable run)"
    )


if __name__ == "__main__":
    main()
