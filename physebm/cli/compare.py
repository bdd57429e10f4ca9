"""``physebm compare`` and the training part of ``physebm demo``."""

from __future__ import annotations

import functools
import sys
import time

from physebm.cli import report
from physebm.cli.experiment2d import OBJECTIVES_2D, Settings, check_settings, run_comparison
from physebm.cli.output import check_output, staged


def add_parser(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="train one energy with several objectives and compare them by likelihood",
    )
    p.add_argument(
        "--dataset",
        default="eight_gaussians",
        help="2-D data set (two_moons, rings, eight_gaussians, checkerboard, spiral) "
        "or 'digits' (binary images, RBM)",
    )
    p.add_argument(
        "--objectives", default=None, help=f"comma-separated; 2-D: {','.join(OBJECTIVES_2D)}"
    )
    p.add_argument("--steps", type=int, default=1500, help="optimizer steps per objective")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--num-train", type=int, default=4000)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    add_output_arguments(p)
    p.set_defaults(run=run)


def add_output_arguments(p) -> None:
    """``--out`` and ``--overwrite`` (see `physebm.cli.output`)."""
    p.add_argument(
        "--out",
        default="physebm-out",
        help="output folder: created, or empty; written in full or not at all",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a non-empty --out (a previous output: a folder of files), once the new "
        "results are complete",
    )


def settings_from_args(args) -> Settings:
    objectives = (
        Settings.objectives
        if args.objectives is None
        else tuple(o.strip() for o in args.objectives.split(",") if o.strip())
    )
    return Settings(
        dataset=args.dataset,
        objectives=objectives,
        num_steps=args.steps,
        batch_size=args.batch_size,
        num_train=args.num_train,
        learning_rate=args.learning_rate,
        seed=args.seed,
    )


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_and_report(settings: Settings, out_dir, overwrite: bool = False) -> dict:
    """Run a comparison, write its report into ``out_dir`` and print the summary table.

    The settings and ``out_dir`` are checked before any work; the files are written into a
    staging folder renamed onto ``out_dir`` when complete (`physebm.cli.output`).
    """
    from physebm.models import mlp_energy

    check_settings(settings)
    check_output(out_dir, overwrite)
    t0 = time.perf_counter()
    run = run_comparison(settings, log=log)
    with staged(out_dir, overwrite) as stage:
        report.write(run, stage.path, lambda r: functools.partial(mlp_energy, r.params))
    files = sorted(p.name for p in stage.final.iterdir())
    print(
        f"\nLikelihood vs margin training on '{settings.dataset}' "
        f"({time.perf_counter() - t0:.0f} s)"
    )
    if run["true_ll"] is not None:
        print(f"held-out LL of the true density: {run['true_ll']:.4f}")
    print(report.console_table(run))
    for r in run["results"]:
        for w in r.warnings:
            print(f"warning [{r.name}]: {w}")
    pngs = sum(f.endswith(".png") for f in files)
    print(f"\nreport: {stage.final / 'report.md'}  (results.json and {pngs} PNGs beside it)")
    return run


def run(args) -> int:
    if args.dataset == "digits":
        from physebm.cli.digits import run_digits

        return run_digits(args)
    run_and_report(settings_from_args(args), args.out, args.overwrite)
    return 0
