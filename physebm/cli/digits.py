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
from physebm.cli.digits_families import (
    EMBEDDINGS,
    FAMILY_METHODS,
    DigitsData,
    raw_pixel_probe,
    run_family,
)
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


DEFAULT_RBM = ("cd1", "pcd", "exact")
DEFAULT_OBJECTIVES = (*DEFAULT_RBM, *FAMILY_METHODS)


def parse_objectives(spec: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``--objectives`` for digits: (RBM objectives, other families), each in the given order.

    ``None``: every RBM objective but ``cd10`` and every family method; ``"rbm"`` and
    ``"families"`` stand for those two groups.
    """
    if spec is None:
        names = DEFAULT_OBJECTIVES
    else:
        groups = {"rbm": DEFAULT_RBM, "families": tuple(FAMILY_METHODS)}
        names = ()
        for o in (o.strip() for o in spec.split(",")):
            names += groups.get(o, (o,) if o else ())
    choices = [*OBJECTIVES_RBM, *FAMILY_METHODS]
    unknown = [n for n in names if n not in choices]
    if unknown or not names:
        raise ValueError(
            f"--objectives for digits must be a subset of {choices} (or the groups 'rbm', "
            f"'families'), got unknown {unknown or '[]'}"
        )
    names = tuple(dict.fromkeys(names))
    return (
        tuple(n for n in names if n in OBJECTIVES_RBM),
        tuple(n for n in names if n in FAMILY_METHODS),
    )


RBM_COLUMNS = [
    "objective",
    "held-out LL (exact)",
    "held-out LL (AIS)",
    "log Z (exact)",
    "log Z (AIS)",
    "AIS-exact (sd)",
    "train s",
]
FAMILY_COLUMNS = [
    "method",
    "family",
    "recon. error",
    "F_inf",
    "held-out LL",
    "probe acc.",
    "eff. rank",
    "train s",
]


def run_digits(args) -> int:
    rbm_names, family_names = parse_objectives(args.objectives)
    check_training_numbers(args.steps, args.batch_size, args.num_train, args.learning_rate)
    check_output(args.out, args.overwrite)
    data = load_digits(args.seed, args.num_train)
    result = compare_rbms(
        rbm_names,
        num_steps=args.steps,
        num_train=args.num_train,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        data=data,
    )
    families = compare_families(
        family_names,
        data,
        num_steps=args.steps,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    with staged(args.out, args.overwrite) as stage:
        write_digits_report(
            stage.path,
            result["models"],
            result["train"],
            result["num_hidden"],
            args.steps,
            families=families,
        )
    if rbm_names:
        print(table(RBM_COLUMNS, result["rows"], ".4f"))
    if family_names:
        print(f"\nThe other energy-based families (raw-pixel probe {families['raw_probe']:.3f}):")
        print(table(FAMILY_COLUMNS, family_rows(families["results"]), ".4f"))
    print(f"\nreport: {stage.final / 'report.md'}")
    return 0


def load_digits(seed: int, num_train: int, num_test: int = 1000) -> DigitsData:
    """The training and held-out digits of a comparison (the keys `compare_rbms` uses)."""
    k_train, k_test, *_ = jax.random.split(jax.random.key(seed), 5)
    train, train_labels = digits(k_train, num_train, flatten=True)
    test, test_labels = digits(k_test, num_test, flatten=True)
    return DigitsData(train.astype(float), train_labels, test.astype(float), test_labels)


def compare_families(names, data: DigitsData, *, num_steps, batch_size=256, seed=0) -> dict:
    """Train and score each method of `FAMILY_METHODS` in ``names`` on ``data``.

    Returns ``{"results": [FamilyResult, ...], "raw_probe": accuracy of a linear probe on the
    raw pixels}``. Every method trains with Adam for ``num_steps`` steps on batches of
    ``batch_size``: learning rate 1e-2 for PCA, K-means, the dictionary and the VAE, 1e-3 for
    the DAE, and a cosine decay from 3e-3 for the joint embeddings. A method's key depends on
    its name, not on its place in ``names``.
    """
    key = jax.random.fold_in(jax.random.key(seed), 14)
    results = []
    for name in names:
        lr = 1e-2 if name in ("pca", "kmeans", "sparse", "vae") else 1e-3
        if name in EMBEDDINGS:
            lr = optax.cosine_decay_schedule(3e-3, num_steps)
        results.append(
            run_family(
                name,
                data,
                num_steps=num_steps,
                batch_size=batch_size,
                lr=lr,
                key=jax.random.fold_in(key, list(FAMILY_METHODS).index(name)),
            )
        )
    return {
        "results": results,
        "raw_probe": raw_pixel_probe(data) if names else None,
        "test_labels": data.test_labels,
    }


def _cell(value, fmt=".3f", stderr=None) -> str:
    if value is None:
        return "—"
    return f"{value:{fmt}}" + ("" if stderr is None else f" ± {stderr:{fmt}}")


def family_rows(results) -> list[list]:
    """One row of `FAMILY_COLUMNS` per `FamilyResult`."""
    return [
        [
            r.name,
            r.family,
            _cell(r.reconstruction),
            _cell(r.free_energy),
            _cell(r.log_likelihood, ".2f", r.log_likelihood_stderr),
            _cell(r.probe_accuracy),
            _cell(r.effective_rank, ".1f"),
            f"{r.seconds:.1f}",
        ]
        for r in results
    ]


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
    data: DigitsData | None = None,
) -> dict:
    """Train an RBM with each objective and score it by exact and AIS log-likelihood; with
    ``out``, write the report there (the command stages it: `physebm.cli.output`); ``data``
    (`load_digits` of the same seed) replaces the digits drawn here."""
    key = jax.random.key(seed)
    _, _, k_init, k_fit, k_ais = jax.random.split(key, 5)
    if data is None:
        data = load_digits(seed, num_train, num_test)
    train, test = data.train, data.test
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


def write_digits_report(
    out: Path,
    models: dict,
    train,
    num_hidden: int,
    num_steps: int,
    families: dict | None = None,
) -> None:
    """``report.md``, ``results.json`` and the figures of a digits comparison into ``out``."""
    from physebm.cli.figures import _pyplot

    plt = _pyplot()
    results = [] if families is None else families["results"]
    if models:
        _rbm_samples_figure(plt, out, models, train, num_hidden)
    atoms = [r for r in results if r.atoms is not None]
    if atoms:
        _atoms_figure(plt, out, atoms)
    embeddings = [r for r in results if r.embedding is not None]
    if embeddings:
        _embeddings_figure(plt, out, embeddings, families["test_labels"])
    data = {k: {kk: vv for kk, vv in v.items() if kk != "params"} for k, v in models.items()}
    data = {"rbm": data, "families": {r.name: r.summary() for r in results}}
    if families is not None:
        data["raw_pixel_probe_accuracy"] = families["raw_probe"]
    (out / "results.json").write_text(json.dumps(data, indent=2))
    lines = ["# physebm: energy-based models on binarised 8×8 digits", ""]
    if models:
        lines += [
            f"RBMs: 64 visible × {num_hidden} hidden bits, {num_steps} Adam steps per "
            "objective. Held-out LL with log Z exact (2^hidden terms) and from AIS.",
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
    if results:
        lines += _families_section(results, families["raw_probe"], num_steps)
    (out / "report.md").write_text("\n".join(lines))


def _families_section(results, raw_probe: float, num_steps: int) -> list[str]:
    lines = [
        "## The other energy-based families",
        "",
        f"Same training and held-out digits, {num_steps} Adam steps each (see "
        "`physebm.cli.digits_families`). Reconstruction: mean ‖x − x̂‖² per held-out digit. "
        "F_∞: mean min_z E(x, z). Held-out LL: nats per digit, a lower bound from a density "
        "fitted to dequantised digits x + u (comparable with the RBMs' exact LL), ± its Monte "
        f"Carlo error. Probe: linear-probe test accuracy (raw pixels: {raw_probe:.3f}).",
        "",
        "| method | family | reconstruction | F_∞ | held-out LL | probe | eff. rank | "
        "check | train s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r, row in zip(results, family_rows(results), strict=True):
        cells = row[:-1] + [r.check, row[-1]]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    if any(r.atoms is not None for r in results):
        lines += ["", "![components, centres and atoms](digits_atoms.png)"]
    if any(r.embedding is not None for r in results):
        lines += ["", "![embeddings](digits_embeddings.png)"]
    return [*lines, ""]


def _rbm_samples_figure(plt, out, models, train, num_hidden) -> None:
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


def _atoms_figure(plt, out, results) -> None:
    """One row per method: its PCA components, K-means centres or dictionary atoms (≤ 16)."""
    fig, axes = plt.subplots(len(results), 1, figsize=(8, 1.3 * len(results)), squeeze=False)
    for ax, r in zip(axes[:, 0], results, strict=True):
        a = np.asarray(r.atoms)[:16].reshape(-1, 8, 8)
        scale = np.abs(a).max(axis=(1, 2), keepdims=True)
        a = a / np.where(scale > 0, scale, 1.0)
        ax.imshow(np.concatenate(list(a), axis=1), cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_title(f"{r.name}: {r.description}", fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out / "digits_atoms.png", dpi=110)
    plt.close(fig)


def _embeddings_figure(plt, out, results, labels) -> None:
    """Held-out embeddings on their first two principal axes, coloured by digit."""
    fig, axes = plt.subplots(1, len(results), figsize=(3 * len(results), 3), squeeze=False)
    for ax, r in zip(axes[0], results, strict=True):
        e = np.asarray(r.embedding)
        sc = ax.scatter(e[:, 0], e[:, 1], c=np.asarray(labels), cmap="tab10", s=3)
        ax.set_title(f"{r.name}: probe {r.probe_accuracy:.2f}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(sc, ax=axes[0].tolist(), label="digit", shrink=0.8)
    fig.savefig(out / "digits_embeddings.png", dpi=110)
    plt.close(fig)
