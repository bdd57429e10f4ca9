"""``physebm compare`` and the training part of ``physebm demo``."""

from __future__ import annotations

import functools
import sys
import time

from physebm.cli import report
from physebm.cli.experiment2d import OBJECTIVES_2D, Settings, run_comparison


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
    p.add_argument("--out", default="physebm-out", help="output folder (created)")
    p.set_defaults(run=run)


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


def run_and_report(settings: Settings, out_dir) -> dict:
    """Run a comparison, write its report into ``out_dir`` and print the summary table."""
    from physebm.models import mlp_energy

    out = report.prepare_output(out_dir)
    t0 = time.perf_counter()
    run = run_comparison(settings, log=log)
    paths = report.write(run, out, lambda r: functools.partial(mlp_energy, r.params))
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
    print(f"\nreport: {paths['report']}  (results.json and {len(paths) - 2} PNGs beside it)")
    return run


def run(args) -> int:
    if args.dataset == "digits":
        from physebm.cli.digits import run_digits

        return run_digits(args)
    run_and_report(settings_from_args(args), args.out)
    return 0
