"""Every example runs with tiny arguments, and what it prints is checked where it can be."""

import importlib.util
import pathlib

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_kmeans_to_gmm_phase_transition(capsys):
    out = load("kmeans_to_gmm").main(["--num-samples", "300", "--num-iters", "150"])
    lo, hi = out["split_interval"]
    # the first split of the centres happens at beta_c = 1 / (2 lambda_max(C)) (grid resolution)
    assert lo <= out["beta_c"] <= hi
    # the likelihood-optimal temperature matches the cluster variance 0.49 to within 25 %
    assert 0.75 < (1 / (2 * out["best_beta"])) / 0.49 < 1.25
    assert "first split observed" in capsys.readouterr().out


def test_ising_beta_inference_posterior(capsys):
    from numpyro.diagnostics import effective_sample_size

    out = load("ising_beta_inference").main(
        ["--size", "8", "--num-obs", "10", "--num-sweeps", "200", "--num-samples", "400"]
    )
    post, mle, sd = out["posterior"], out["mle"], out["fisher_sd"]
    mcse = post.std() / np.sqrt(float(effective_sample_size(post[None])))
    # posterior mean = MLE up to MCMC error and an O(1/n) skew (10 % of the sd allowed)
    assert abs(post.mean() - mle) < 4 * mcse + 0.1 * sd
    # the posterior sd matches the Laplace / Fisher value n C(b)/b^2 within 25 %
    assert 0.75 < post.std() / sd < 1.25
    # and the truth is inside the posterior (5 sd: false-failure rate < 1e-6)
    assert abs(out["beta_true"] - post.mean()) < 5 * post.std()
    assert "posterior mean" in capsys.readouterr().out


def test_ising_thermodynamics(capsys):
    out = load("ising_thermodynamics").main(
        ["--size", "8", "--num-temperatures", "300", "--betas", "0.3", "--methods", "ti,smc"]
    )
    assert abs(out["peak_beta"] - 0.4406868) < 0.3 / 8 + 0.005  # finite-size shift, grid step
    for row in out["rows"]:
        assert abs(row["z"]) < 5, row  # 5 stderr: false-failure rate < 1e-6 per estimate
    assert "heat capacity per site peaks" in capsys.readouterr().out


def test_conditional_classifier():
    out = load("conditional_classifier").main(["--num-steps", "300"])
    for loss, r in out.items():
        assert r["accuracy"] > 0.9, (loss, r)  # chance is 1/3, Bayes accuracy about 0.987


def test_every_example_has_a_smoke_test():
    tested = {
        "kmeans_to_gmm",
        "ising_beta_inference",
        "ising_thermodynamics",
        "conditional_classifier",
        "rbm_digits",
    }
    present = {p.stem for p in EXAMPLES.glob("*.py")}
    missing = present - tested
    if missing:
        pytest.fail(f"examples without a smoke test in tests/test_examples.py: {sorted(missing)}")


def test_rbm_digits_ais_matches_exact():
    out = load("rbm_digits").main(
        ["--num-hidden", "8", "--num-steps", "200", "--num-temperatures", "500"]
    )
    assert abs(out["z"]) < 5  # AIS within 5 stderr of the exact log Z (rate < 1e-6)
    assert out["heldout_ll"] > -44.4  # better than independent fair coins: 64 log(1/2)
