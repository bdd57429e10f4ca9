"""`physebm compare --dataset digits`: the other energy-based families beside the RBMs."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physebm.cli import digits_families as F
from physebm.cli.digits import compare_families, load_digits, parse_objectives
from physebm.cli.main import main
from physebm.models.sparse_coding import soft_threshold


@pytest.fixture(scope="module")
def small_digits():
    jax.config.update("jax_enable_x64", True)
    return load_digits(0, 300, num_test=200)


def test_parse_objectives_groups_and_order():
    rbm, families = parse_objectives("pca,cd1,families,exact")
    assert rbm == ("cd1", "exact")
    assert families[0] == "pca" and set(families) == set(F.FAMILY_METHODS)
    assert parse_objectives("rbm") == (("cd1", "pcd", "exact"), ())
    with pytest.raises(ValueError, match="got unknown \\['nce'\\]"):
        parse_objectives("pca,nce")


def test_mc_mean_stderr_is_over_the_draws_only():
    # two examples, two draws each: per-example variances 2 and 0 (ddof 1) -> sqrt(2/2)/2
    draws = np.array([[1.0, 3.0], [5.0, 5.0]])
    mean, se = F._mc_mean(draws)
    assert mean == 3.5 and se == pytest.approx(0.5, abs=1e-15)


def test_lasso_kkt_violation_vanishes_at_the_soft_threshold():
    W = jnp.linalg.qr(jax.random.normal(jax.random.key(1), (12, 5)))[0]
    y = jax.random.normal(jax.random.key(2), (40, 12))
    z = soft_threshold(y @ W, F.PENALTY)
    assert F._lasso_kkt_violation(W, y, z) < 1e-12
    assert F._lasso_kkt_violation(W, y, 1.1 * z) > 1e-3  # a wrong code is caught


def test_ppca_is_the_closed_form_maximum_likelihood(small_digits):
    """N(μ, WWᵀ + s²I) at the Tipping-Bishop optimum: the density matches scipy's, and moving
    s² or W off the optimum lowers the training likelihood (the optimum is a maximum)."""
    from scipy.stats import multivariate_normal

    y = F._dequantise(jax.random.key(3), small_digits.train)
    mu, W, s2 = F.ppca_fit(y, F.LATENT)
    eye = jnp.eye(W.shape[0])

    def mean_ll(W, s2):
        return float(jnp.mean(F.gaussian_log_density(mu, W @ W.T + s2 * eye, y)))

    ref = multivariate_normal(np.asarray(mu), np.asarray(W @ W.T + s2 * eye)).logpdf(np.asarray(y))
    np.testing.assert_allclose(F.gaussian_log_density(mu, W @ W.T + s2 * eye, y), ref, rtol=1e-10)
    best = mean_ll(W, s2)
    for W_, s2_ in ((W, 1.1 * s2), (W, 0.9 * s2), (1.05 * W, s2), (0.95 * W, s2)):
        assert mean_ll(W_, s2_) < best - 1e-4
    res = F.run_family(
        "ppca", small_digits, num_steps=1, batch_size=64, lr=0.0, key=jax.random.key(3)
    )
    # a density on the cells [x, x + 1)^64 gives a lower bound on log P(x) <= 0
    assert res.log_likelihood < 0 and res.log_likelihood_stderr > 0


@pytest.mark.slow
def test_every_family_trains_and_scores(small_digits):
    """Two Adam steps of each method: the plumbing, the scores each method defines, and nothing
    else (no score where the model has none)."""
    out = compare_families(tuple(F.FAMILY_METHODS), small_digits, num_steps=2, batch_size=64)
    by_name = {r.name: r for r in out["results"]}
    for name in ("pca", "kmeans", "sparse"):
        r = by_name[name]
        assert r.free_energy is not None and r.atoms is not None and r.log_likelihood is None
    for name in ("ppca", "vae"):
        assert by_name[name].log_likelihood is not None
    for name in ("pair", "infonce", "vicreg", "barlow"):
        r = by_name[name]
        assert 0.0 <= r.probe_accuracy <= 1.0 and r.embedding.shape == (200, 2)
        assert r.free_energy is None and r.log_likelihood is None
    assert by_name["dae"].reconstruction > 0
    for r in out["results"]:
        assert all(np.isfinite(v) for v in r.summary().values() if isinstance(v, float)), r.name
    assert 0.5 < out["raw_probe"] <= 1.0


@pytest.mark.slow
def test_digits_families_command_writes_tables_and_figures(tmp_path, capsys):
    out = tmp_path / "report"
    argv = ["compare", "--dataset", "digits", "--objectives", "exact,pca,sparse,vicreg,vae"]
    argv += ["--steps", "20", "--num-train", "300", "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "The other energy-based families" in text and "vicreg" in text
    results = json.loads((out / "results.json").read_text())
    assert set(results["families"]) == {"pca", "sparse", "vicreg", "vae"}
    assert set(results["rbm"]) == {"exact"}
    for png in ("digits_samples.png", "digits_atoms.png", "digits_embeddings.png"):
        assert (out / png).stat().st_size > 1000
    report = (out / "report.md").read_text()
    assert "## The other energy-based families" in report and "| vae | A2 |" in report
