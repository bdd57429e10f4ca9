"""``physebm compare --dataset digits``: a Bernoulli RBM on binarised 8×8 digits.

The same RBM (64 visible bits, ``num_hidden`` hidden bits) is trained by CD-k, PCD and exact
maximum likelihood (log Z by summing out the hidden layer, 2^num_hidden terms, differentiated
exactly), and every result is scored by the held-out log-likelihood

    LL = −mean_v F(v) − log Z,   F(v) = −bᵀv − Σ_j softplus(c_j + vᵀW_j),

with log Z exact (enumeration) and by AIS (with stderr): their agreement checks AIS on a model
whose answer is known. CD/PCD chains run v → h → v block Gibbs
([`samplers.BlockGibbs`][] on the RBM's structured target, ``model_fn=rbm_of``): each step
draws h ~ p(h | v) = σ(c + vᵀW), then v ~ p(v | h) = σ(b + Wh), and the loss is the
free-energy (Rao–Blackwellised) surrogate mean F(v⁺) − mean F(sg(v⁻)).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

import samplers
from physebm import objectives as O
from physebm.cli._format import table
from physebm.cli.experiment2d import check_training_numbers
from physebm.cli.output import check_output, staged
from physebm.datasets import digits
from physebm.models import RBM
from physebm.partition import ais, exact
from physebm.training import fit

OBJECTIVES_RBM = ("cd1", "cd10", "pcd", "exact")


def rbm_of(params) -> RBM:
    return RBM(params["W"], params["b"], params["c"])


def free_energy_fn(params, v):
    """E_θ(v) = F(v): the RBM's visible free energy at β = 1."""
    return rbm_of(params).free_energy(v)


def build(name: str, num_visible: int):
    gibbs = samplers.BlockGibbs()
    if name in ("cd1", "cd10"):
        k = 1 if name == "cd1" else 10
        return O.contrastive_divergence(model_fn=rbm_of, kernel=gibbs, num_steps=k)
    if name == "pcd":

        def init_fn(key, num):
            return jax.random.bernoulli(key, 0.5, (num, num_visible)).astype(float)

        return O.persistent_contrastive_divergence(
            model_fn=rbm_of,
            kernel=gibbs,
            init_fn=init_fn,
            num_chains=1024,
            num_steps=1,
            reinit_prob=0.0,
        )
    if name == "exact":
        return O.maximum_likelihood(
            free_energy_fn, log_z_fn=lambda p, beta: exact(rbm_of(p), beta).log_z
        )
    raise ValueError(
        f"--objectives for digits must be a subset of {list(OBJECTIVES_RBM)}, got {name!r}"
    )


def run_digits(args) -> int:
    names = (
        ("cd1", "pcd", "exact")
        if args.objectives is None
        else tuple(o.strip() for o in args.objectives.split(",") if o.strip())
    )
    unknown = [n for n in names if n not in OBJECTIVES_RBM]
    if unknown or not names:
        raise ValueError(
            f"--objectives for digits must be a subset of {list(OBJECTIVES_RBM)}, "
            f"got unknown {unknown or '[]'}"
        )
    check_training_numbers(args.steps, args.batch_size, args.num_train, args.learning_rate)
    check_output(args.out, args.overwrite)
    result = compare_rbms(
        names,
        num_steps=args.steps,
        num_train=args.num_train,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
    )
    with staged(args.out, args.overwrite) as stage:
        write_digits_report(
            stage.path, result["models"], result["train"], result["num_hidden"], args.steps
        )
    print(
        table(
            [
                "objective",
                "held-out LL (exact)",
                "held-out LL (AIS)",
                "log Z (exact)",
                "log Z (AIS)",
                "AIS-exact (sd)",
                "train s",
            ],
            result["rows"],
            ".4f",
        )
    )
    print(f"\nreport: {stage.final / 'report.md'}")
    return 0


def compare_rbms(
    names,
    *,
    num_steps=1000,
    num_train=2000,
    num_test=1000,
    num_hidden=12,
    batch_size=100,
    learning_rate=0.01,
    seed=0,
    out: Path | None = None,
    ais_temperatures=2000,
    ais_chains=128,
) -> dict:
    """Train an RBM with each objective and score it by exact and AIS log-likelihood; with
    ``out``, write the report there (the command stages it: `physebm.cli.output`)."""
    key = jax.random.key(seed)
    k_train, k_test, k_init, k_fit, k_ais = jax.random.split(key, 5)
    train = digits(k_train, num_train, flatten=True)[0].astype(float)
    test = digits(k_test, num_test, flatten=True)[0].astype(float)
    nv = train.shape[1]
    p0 = _initial_rbm_params(k_init, train, num_hidden)
    rows, models = [], {}
    for name in names:
        print(f"[{name}] training RBM {nv}x{num_hidden}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        fitted = fit(
            build(name, nv),
            p0,
            train,
            optax.adam(learning_rate),
            key=k_fit,
            num_steps=num_steps,
            batch_size=batch_size,
        )
        seconds = time.perf_counter() - t0
        row, models[name] = _score_rbm(
            name, fitted.params, test, seconds, k_ais, ais_temperatures, ais_chains
        )
        rows.append(row)
    if out is not None:
        write_digits_report(out, models, train, num_hidden, num_steps)
    return {"rows": rows, "models": models, "train": train, "num_hidden": num_hidden}


def _initial_rbm_params(key, train, num_hidden: int) -> dict:
    """W ~ 0.01·N(0, 1), visible biases b = logit(clip(mean of the data)), hidden biases 0."""
    nv = train.shape[1]
    mean = jnp.clip(train.mean(0), 1e-3, 1 - 1e-3)
    return {
        "W": 0.01 * jax.random.normal(key, (nv, num_hidden)),
        "b": jnp.log(mean) - jnp.log1p(-mean),
        "c": jnp.zeros(num_hidden),
    }


def _score_rbm(name, params, test, seconds, key, ais_temperatures, ais_chains):
    """The table row and the results of one trained RBM.

    Held-out LL = −mean_v F(v_test) − log Z, with log Z exact and by AIS; the agreement is
    z = (log Z_AIS − log Z_exact) / stderr_AIS.
    """
    rbm = rbm_of(params)
    log_z = float(exact(rbm, 1.0).log_z)
    est = ais(rbm, 1.0, key=key, num_temperatures=ais_temperatures, num_chains=ais_chains)
    f_test = float(jnp.mean(rbm.free_energy(test)))
    z = (float(est.log_z) - log_z) / float(est.stderr)
    row = [
        name,
        -f_test - log_z,
        f"{-f_test - float(est.log_z):.4f} ± {float(est.stderr):.4f}",
        log_z,
        f"{float(est.log_z):.4f} ± {float(est.stderr):.4f}",
        f"{z:+.2f}",
        f"{seconds:.1f}",
    ]
    model = {
        "heldout_ll_exact": -f_test - log_z,
        "heldout_ll_ais": -f_test - float(est.log_z),
        "log_z_exact": log_z,
        "log_z_ais": float(est.log_z),
        "log_z_ais_stderr": float(est.stderr),
        "log_z_ais_reliable": bool(est.reliable),
        "log_z_ais_warnings": list(est.warnings),
        "ais_minus_exact_in_sd": z,
        "train_seconds": seconds,
        "params": params,
    }
    return row, model


def write_digits_report(out: Path, models: dict, train, num_hidden: int, num_steps: int) -> None:
    from physebm.cli.figures import _pyplot

    plt = _pyplot()
    fig, axes = plt.subplots(len(models), 1, figsize=(8, 1.3 * len(models)), squeeze=False)
    for ax, (name, m) in zip(axes[:, 0], models.items(), strict=True):
        res = samplers.run(
            jax.random.key(1),
            samplers.block_gibbs(
                *samplers.bernoulli_rbm_conditionals(
                    m["params"]["W"], m["params"]["b"], m["params"]["c"], 1.0
                )
            ),
            (jnp.asarray(train[:16]), jnp.zeros((16, num_hidden))),
            num_steps=200,
            keep_trace=False,
        )
        v = np.asarray(res.state.position[0]).reshape(16, 8, 8)
        ax.imshow(np.concatenate(list(v), axis=1), cmap="gray_r", interpolation="nearest")
        ax.set_title(f"{name}: samples after 200 block-Gibbs sweeps", fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out / "digits_samples.png", dpi=110)
    plt.close(fig)
    data = {k: {kk: vv for kk, vv in v.items() if kk != "params"} for k, v in models.items()}
    (out / "results.json").write_text(json.dumps(data, indent=2))
    lines = [
        "# physebm: RBMs on binarised 8×8 digits",
        "",
        f"64 visible × {num_hidden} hidden bits, {num_steps} Adam steps per objective. "
        "Held-out LL with log Z exact (2^hidden terms) and from AIS.",
        "",
        "| objective | held-out LL (exact) | held-out LL (AIS) | AIS − exact (sd) |",
        "|---|---|---|---|",
    ]
    for name, m in models.items():
        lines.append(
            f"| {name} | {m['heldout_ll_exact']:.4f} | {m['heldout_ll_ais']:.4f} ± "
            f"{m['log_z_ais_stderr']:.4f} | {m['ais_minus_exact_in_sd']:+.2f} |"
        )
    lines += ["", "![samples](digits_samples.png)", ""]
    (out / "report.md").write_text("\n".join(lines))
