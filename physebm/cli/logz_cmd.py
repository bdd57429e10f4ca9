"""``physebm logz``: log Z of a built-in model by a chosen method, with the error where exact
is known."""

from __future__ import annotations

import math
import time

MODELS = ("ising", "ising1d", "curie-weiss", "rbm")
METHODS = ("exact", "ais", "ti", "smc", "reverse-ais")


def add_parser(sub) -> None:
    p = sub.add_parser("logz", help="log Z of a built-in model (exact or an estimator)")
    p.add_argument("--model", choices=MODELS, default="ising")
    p.add_argument(
        "--size",
        type=int,
        default=16,
        help="lattice side (ising: L x L torus), chain length, spins, or RBM visibles",
    )
    p.add_argument("--hidden", type=int, default=8, help="RBM hidden units")
    p.add_argument("--beta", type=float, default=0.44)
    p.add_argument("--J", type=float, default=1.0)
    p.add_argument("--h", type=float, default=0.0)
    p.add_argument("--method", choices=METHODS, default="exact")
    p.add_argument("--num-temperatures", type=int, default=1000, help="AIS/TI/SMC temperatures")
    p.add_argument("--num-chains", type=int, default=128, help="AIS/TI chains, SMC particles")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=run)


def make_model(name: str, size: int, J: float, h: float, hidden: int = 8, seed: int = 0):
    import jax

    from physebm.models import RBM, CurieWeiss, Ising

    if size < 2:
        raise ValueError(f"--size must be >= 2, got {size}")
    if name == "ising":
        return Ising((size, size), J=J, h=h)
    if name == "ising1d":
        return Ising((size,), J=J, h=h)
    if name == "curie-weiss":
        return CurieWeiss(size, J=J, h=h)
    if name == "rbm":
        if hidden < 1:
            raise ValueError(f"--hidden must be >= 1, got {hidden}")
        kw, kb, kc = jax.random.split(jax.random.key(seed), 3)
        return RBM(
            0.5 * jax.random.normal(kw, (size, hidden)),
            0.1 * jax.random.normal(kb, (size,)),
            0.1 * jax.random.normal(kc, (hidden,)),
        )
    raise ValueError(f"--model must be one of {MODELS}, got {name!r}")


def estimate(model, method: str, beta: float, args):
    import jax

    from physebm import partition as P

    key = jax.random.key(args.seed)
    if method == "exact":
        return P.exact(model, beta)
    if args.num_temperatures < 2 or args.num_chains < 2:
        raise ValueError("--num-temperatures and --num-chains must be >= 2")
    if method == "ais":
        return P.ais(
            model, beta, key=key, num_temperatures=args.num_temperatures, num_chains=args.num_chains
        )
    if method == "reverse-ais":
        return P.reverse_ais(
            model, beta, key=key, num_temperatures=args.num_temperatures, num_chains=args.num_chains
        )
    if method == "ti":
        return P.thermodynamic_integration(
            model,
            beta,
            key=key,
            num_temperatures=min(args.num_temperatures, 64),
            num_chains=min(args.num_chains, 32),
        )
    if method == "smc":
        return P.smc(model, beta, key=key, num_particles=args.num_chains)
    raise ValueError(f"--method must be one of {METHODS}, got {method!r}")


def run(args) -> int:
    if not math.isfinite(args.beta) or args.beta <= 0:
        raise ValueError(f"--beta must be a positive finite number, got {args.beta}")
    model = make_model(args.model, args.size, args.J, args.h, args.hidden, args.seed)
    t0 = time.perf_counter()
    res = estimate(model, args.method, args.beta, args)
    seconds = time.perf_counter() - t0
    print(f"model    {args.model} size={args.size} J={args.J} h={args.h} beta={args.beta}")
    print(f"method   {res.method}   ({seconds:.2f} s)")
    print(f"log Z    {float(res.log_z):.12f}")
    print(f"stderr   {float(res.stderr):.3g}")
    print(f"bounds   [{float(res.lower):.12f}, {float(res.upper):.12f}]")
    if args.method != "exact":
        try:
            from physebm.partition import exact

            truth = float(exact(model, args.beta).log_z)
        except ValueError:
            print("exact    (no exact route for this model)")
        else:
            err = float(res.log_z) - truth
            sd = float(res.stderr)
            z = f" = {err / sd:+.2f} stderr" if sd > 0 else ""
            print(f"exact    {truth:.12f}   error {err:+.3e}{z}")
    print(f"reliable {'yes' if res.reliable else 'no'}")
    source = res.info.get("stderr_source")
    if isinstance(source, str):
        print(f"stderr   from {source}")
    for w in res.warnings:
        print(f"warning  {w}")
    return 0
