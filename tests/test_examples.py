"""Every example runs with tiny arguments, and what it prints is checked where it can be.

The list of examples is the files in ``examples/``: each needs a smoke check registered here with
``@smoke(name, argv)``, or the test run fails for it (a new example cannot go untested).
"""

import importlib.util
import inspect
import pathlib

import numpy as np
import pytest
from stats_helpers import ALPHA, critical_value

from physebm import partition

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"
NAMES = sorted(p.stem for p in EXAMPLES.glob("*.py") if not p.stem.startswith("_"))
CHECKS = {}


def smoke(name, argv):
    """Register ``check(out, printed)`` as the smoke check of ``examples/<name>.py`` run with
    ``main(argv)``; ``out`` is what ``main`` returns, ``printed`` its standard output."""

    def register(check):
        CHECKS[name] = (argv, check)
        return check

    return register


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Examples whose smoke check takes 10-20 s each (mostly compilation): run with the slow tests,
# which CI runs too, to keep the default suite within its time.
SLOW_EXAMPLES = {
    "pca_and_sparse_coding",
    "vae_ppca",
    "dae_vincent",
    "joint_embedding_digits",
    "ising_beta_inference",
    "conditional_classifier",
}


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_EXAMPLES else n for n in NAMES]
)
def test_example(name, capsys):
    if name not in CHECKS:
        pytest.fail(f"examples/{name}.py has no smoke check: add one with @smoke in {__file__}")
    argv, check = CHECKS[name]
    out = load(name).main(argv)
    check(out, capsys.readouterr().out)


def test_every_smoke_check_has_its_example():
    assert NAMES, f"no examples found in {EXAMPLES}"
    assert set(CHECKS) <= set(NAMES), sorted(set(CHECKS) - set(NAMES))


@smoke("kmeans_to_gmm", ["--num-samples", "300", "--num-iters", "150"])
def check_kmeans_to_gmm_phase_transition(out, printed):
    lo, hi = out["split_interval"]
    # the first split of the centres happens at beta_c = 1 / (2 lambda_max(C)) (grid resolution)
    assert lo <= out["beta_c"] <= hi
    # the likelihood-optimal temperature matches the cluster variance 0.49 to within 25 %
    assert 0.75 < (1 / (2 * out["best_beta"])) / 0.49 < 1.25
    assert "first split observed" in printed


@smoke(
    "ising_beta_inference",
    ["--size", "8", "--num-obs", "10", "--num-sweeps", "200", "--num-samples", "400"],
)
def check_ising_beta_inference_posterior(out, printed):
    from numpyro.diagnostics import effective_sample_size

    post, mle, sd = out["posterior"], out["mle"], out["fisher_sd"]
    mcse = post.std() / np.sqrt(float(effective_sample_size(post[None])))
    # posterior mean = MLE up to MCMC error and an O(1/n) skew (10 % of the sd allowed)
    assert abs(post.mean() - mle) < 4 * mcse + 0.1 * sd
    # the posterior sd matches the Laplace / Fisher value n C(b)/b^2 within 25 %
    assert 0.75 < post.std() / sd < 1.25
    # and the truth is inside the posterior (5 sd: false-failure rate < 1e-6)
    assert abs(out["beta_true"] - post.mean()) < 5 * post.std()
    assert "posterior mean" in printed


@smoke(
    "ising_thermodynamics",
    ["--size", "8", "--num-temperatures", "300", "--betas", "0.3", "--methods", "ti,smc"],
)
def check_ising_thermodynamics(out, printed):
    assert abs(out["peak_beta"] - 0.4406868) < 0.3 / 8 + 0.005  # finite-size shift, grid step
    # TI's stderr is the sd of its chains over √C, SMC's the spread of its replicas: z is
    # Student-t with C − 1 dof (the library defaults, 16 chains and 16 replicas), so a bare 5σ
    # bound would fail 1.6e-4 of fresh keys; the tolerance is the t quantile at ALPHA (2e-5)
    # instead: 6.11.
    count = {
        "ti": inspect.signature(partition.thermodynamic_integration).parameters["num_chains"],
        "smc": inspect.signature(partition.smc).parameters["num_replicas"],
    }
    for row in out["rows"]:
        q = critical_value(ALPHA, count[row["method"]].default - 1)
        assert abs(row["z"]) < q, (row, q)
    assert "heat capacity per site peaks" in printed


@smoke("conditional_classifier", ["--num-steps", "300"])
def check_conditional_classifier(out, printed):
    for loss, r in out.items():
        assert r["accuracy"] > 0.9, (loss, r)  # chance is 1/3, Bayes accuracy about 0.987


@smoke("rbm_digits", ["--num-hidden", "8", "--num-steps", "200", "--num-temperatures", "500"])
def check_rbm_digits_ais_matches_exact(out, printed):
    assert abs(out["z"]) < 5  # AIS within 5 stderr of the exact log Z (rate < 1e-6)
    assert out["heldout_ll"] > -44.4  # better than independent fair coins: 64 log(1/2)


@smoke("ising_exact_mle", ["--size", "32", "--num-obs", "64", "--num-sweeps", "300"])
def check_ising_exact_mle_recovers_J(out, printed):
    # Ĵ is asymptotically normal about J* with the Fisher stderr (64 independent draws of a
    # 32x32 torus); the bound is the two-sided normal quantile at ALPHA (2e-5): 4.26 stderr.
    assert abs(out["J_hat"] - out["J_true"]) < critical_value(ALPHA) * out["stderr"], out
    assert 0.001 < out["stderr"] < 0.005  # 1 / sqrt(n β² Var B), Var B ≈ 1.9 per bond here
    assert "exact MLE" in printed


@smoke("pca_and_sparse_coding", ["--quick"])
def check_pca_and_sparse_coding(out, printed):
    assert np.max(out["pca"]["angles"]) < 1e-3  # the fit spans numpy's top-2 SVD subspace
    assert abs(out["pca"]["fit_loss"] - out["pca"]["svd_loss"]) < 1e-6 * out["pca"]["svd_loss"]
    for method in ("fista", "ista"):  # orthonormal W: the Lasso is the soft threshold
        assert out["soft_threshold"][method]["max_error"] < 1e-8
    for row in out["lista"]:  # the trained encoder beats the T ISTA steps it started from
        assert row["lista_gap"] < row["ista_gap"], row
        assert row["ista_iters"] is not None and row["ista_iters"] > row["T"], row
    assert "principal angles" in printed


@smoke("vae_ppca", ["--quick"])
def check_vae_ppca_bounds(out, printed):
    assert out["max_exact_gap"] < 1e-10  # the exact posterior: F_K = -log p(y) for every draw
    (m1, s1), _, (m16, s16) = out["gaps"]["mean-field"].values()
    q = critical_value(ALPHA)
    # the K = 1 gap is KL(q || posterior) (averaged over y), the K = 16 one smaller
    assert abs(m1 - out["mean_field_kl"]) < q * s1 + 0.02 * out["mean_field_kl"], (m1, s1)
    assert m16 < m1 - q * np.hypot(s1, s16) / 2
    for m, s in out["gaps"]["ELBO-trained"].values():  # a bound: never below -log p beyond noise
        assert m > -q * s
    assert out["gaps"]["ELBO-trained"][1][0] < m1  # training beats the mean-field family


@smoke("dae_vincent", ["--quick"])
def check_dae_vincent(out, printed):
    assert abs(out["loss_ratio"] - 1) < 1e-10  # DAE loss = 2 sigma^4 DSM loss, same noise
    assert out["energy_error"] < 1e-10 and out["score_grad_error"] < 1e-10
    # sampling error with n = 4000: O(1/sqrt(n)) ~ 0.016 per entry, a few of them
    assert out["A_error"] < 0.1 and out["dae_score_vs_optimum"] < 0.2
    assert out["dsm_vs_optimum"] < 0.1 and out["dae_score_vs_dsm"] < 0.2


@smoke("joint_embedding_digits", ["--quick"])
def check_joint_embedding_collapse(out, printed):
    rows = out["rows"]
    assert rows["invariance only"]["min_std"] < 1e-3  # pure invariance collapses
    assert rows["VICReg"]["min_std"] > 0.3  # the variance hinge keeps every dimension spread
    assert out["raw_probe_accuracy"] > 0.5
