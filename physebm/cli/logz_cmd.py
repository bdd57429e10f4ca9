"""``physebm logz``: log Z of a built-in model by a chosen method."""

from __future__ import annotations

import math

MODELS = ("ising", "ising1d", "curie-weiss")
METHODS = ("exact",)


def add_parser(sub) -> None:
    p = sub.add_parser("logz", help="log Z of a built-in model (exact or an estimator)")
    p.add_argument("--model", choices=MODELS, default="ising")
    p.add_argument("--size", type=int, default=16, help="lattice side / number of spins")
    p.add_argument("--beta", type=float, default=0.44)
    p.add_argument("--J", type=float, default=1.0)
    p.add_argument("--h", type=float, default=0.0)
    p.add_argument("--method", choices=METHODS, default="exact")
    p.set_defaults(run=run)


def make_model(name: str, size: int, J: float, h: float):
    from physebm.models import CurieWeiss, Ising

    if size < 2:
        raise ValueError(f"--size must be >= 2, got {size}")
    if name == "ising":
        return Ising((size, size), J=J, h=h)
    if name == "ising1d":
        return Ising((size,), J=J, h=h)
    if name == "curie-weiss":
        return CurieWeiss(size, J=J, h=h)
    raise ValueError(f"--model must be one of {MODELS}, got {name!r}")


def run(args) -> int:
    from physebm.partition import exact

    if not math.isfinite(args.beta) or args.beta <= 0:
        raise ValueError(f"--beta must be a positive finite number, got {args.beta}")
    model = make_model(args.model, args.size, args.J, args.h)
    res = exact(model, args.beta)
    print(f"model   {args.model} size={args.size} J={args.J} h={args.h} beta={args.beta}")
    print(f"method  {res.method}")
    print(f"log Z   {float(res.log_z):.12f}")
    print(f"stderr  {float(res.stderr):.3g}")
    print(f"bounds  [{float(res.lower):.12f}, {float(res.upper):.12f}]")
    return 0
