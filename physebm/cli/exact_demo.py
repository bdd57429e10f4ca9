"""``physebm demo``: exact thermodynamics of the 2-D Ising model and exact log Z of an RBM."""

from __future__ import annotations

import time

import numpy as np

from physebm.cli._format import table
from physebm.cli.compare import add_output_arguments, run_and_report
from physebm.cli.experiment2d import Settings, check_settings
from physebm.cli.output import check_output


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="run the main demo (exact physics, then training comparison)")
    p.add_argument("--size", type=int, default=32, help="side L of the periodic L x L Ising model")
    p.add_argument("--steps", type=int, default=1500, help="training steps per objective")
    p.add_argument("--exact-only", action="store_true", help="only the exact-physics section")
    add_output_arguments(p)
    p.set_defaults(run=run)


def ising_section(size: int) -> str:
    import jax.numpy as jnp

    from physebm import thermodynamics
    from physebm.models import BETA_C_2D, Ising

    if size < 2:
        raise ValueError(f"--size must be >= 2, got {size}")
    model = Ising((size, size))
    betas = np.array([0.2, 0.3, 0.4, 0.43, BETA_C_2D, 0.45, 0.5, 0.6, 0.8])
    th = thermodynamics(model, jnp.asarray(betas))
    n = size * size
    rows = [
        [
            float(b),
            float(th.log_z[i]) / n,
            float(th.free_energy[i]) / n,
            float(th.internal_energy[i]) / n,
            float(th.heat_capacity[i]) / n,
            float(th.entropy[i]) / n,
        ]
        for i, b in enumerate(betas)
    ]
    head = (
        f"2-D Ising model, periodic {size}x{size}, J = 1, h = 0 (exact: {th_method(model)})\n"
        f"per site; beta_c = 1/2 ln(1 + sqrt 2) = {BETA_C_2D:.10f}\n"
    )
    return head + table(["beta", "log Z/N", "F/N", "U/N", "C/N", "S/N"], rows, ".8f")


def th_method(model) -> str:
    from physebm.partition import exact

    return exact(model, 0.5).method


def rbm_section() -> str:
    import jax

    from physebm.models import RBM
    from physebm.partition import exact

    key_w, key_b, key_c = jax.random.split(jax.random.key(0), 3)
    nv, nh = 20, 10
    rbm = RBM(
        0.5 * jax.random.normal(key_w, (nv, nh)),
        0.1 * jax.random.normal(key_b, (nv,)),
        0.1 * jax.random.normal(key_c, (nh,)),
    )
    rows = []
    for beta in (0.5, 1.0, 2.0):
        res = exact(rbm, beta)
        rows.append([beta, float(res.log_z), res.method])
    head = (
        f"Bernoulli RBM, {nv} visible x {nh} hidden, W ~ N(0, 0.5^2) (seed 0): exact log Z by "
        f"summing out the {min(nv, nh)}-unit layer (2^{min(nv, nh)} terms)\n"
    )
    return head + table(["beta", "log Z", "method"], rows, ".10f")


def run(args) -> int:
    if args.size < 2:
        raise ValueError(f"--size must be >= 2, got {args.size}")
    settings = None if args.exact_only else Settings(num_steps=args.steps)
    if settings is not None:  # every argument checked before the first section runs
        check_settings(settings)
        check_output(args.out, args.overwrite)
    t0 = time.perf_counter()
    print(ising_section(args.size))
    print()
    print(rbm_section())
    print(f"\n(exact physics section took {time.perf_counter() - t0:.1f} s)\n")
    if settings is not None:
        run_and_report(settings, args.out, args.overwrite)
    return 0
