"""Simple importance sampling: exact Gaussian log Z ``within`` (|z| ≤ 4.26, α = 2e-5 per check;
2 checks, fixed keys), ESS, dropped NaN weights, and bad input.

The ``reliable`` assertion on a correct estimate (the Gaussian) inherits the library's
statistical checks (false-alarm rate ``assemble.CHECK_ALPHA`` = 1e-3 each); the ESS and
Pareto-k̂ bounds are allowances against measured values, not z-tests."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from stats_helpers import within

from physebm import Gibbs
from physebm.partition import bases, importance
from physebm.partition.assemble import CHECK_Z_ONE_SIDED
from physebm.partition.importance import log_z_from_log_weights
from physebm.partition.weights import EstimatorWarning, weight_statistics


def test_gaussian_within_stderr_and_ess(gaussian):
    model, beta, exact = gaussian
    base = bases.gaussian(jnp.array([0.8, -0.3]), scale=0.8)
    r = importance(model, beta, key=jax.random.key(0), num_samples=4000, base=base)
    within(r, exact)
    assert 0.2 * 4000 < r.diagnostics["ess"] <= 4000
    assert r.diagnostics["reliable"] and r.lower == r.log_z
    # the same through a Gibbs object (β taken from it)
    r2 = importance(Gibbs(model, beta), key=jax.random.key(0), num_samples=4000, base=base)
    assert float(r2.log_z) == pytest.approx(float(r.log_z), rel=1e-12)


def test_small_rbm_uniform_base(small_rbm):
    """Uniform base, 20000 samples: the estimate is ``within`` the exact value, and with
    k̂ ≈ 0.4 (log-weight variance 3.7) the verdict follows the evidence rule: the upper
    confidence bound k̂ + 3.09 (1 + k̂)/√M (M = ⌈min(N/5, 3√N)⌉ = 425) is above ½, so the
    run is flagged, with the bound in the message."""
    model, beta, exact = small_rbm
    r = importance(model, beta, key=jax.random.key(1), num_samples=20000)
    within(r, exact)
    k = r.diagnostics["pareto_k"]
    bound = k + CHECK_Z_ONE_SIDED * (1 + k) / np.sqrt(np.ceil(min(20000 / 5, 3 * np.sqrt(20000))))
    assert k < 0.5 < bound
    assert not r.diagnostics["reliable"]
    assert any(f"upper confidence bound of Pareto k-hat {bound:.2f}" in w for w in r.warnings)


def test_heavy_tailed_weights_are_flagged(small_ising):
    """Uniform base for the 4×4 Ising at β = 0.44: the rare ordered states carry huge weights,
    log Ẑ falls several stderr below log Z although the ESS (≈ 50) looks usable. The Pareto k̂
    of the (dequantised) weight tail must expose it (measured ≈ 0.94)."""
    model, beta, exact = small_ising
    r = importance(model, beta, key=jax.random.key(0), num_samples=20000)
    assert r.diagnostics["ess"] > 10
    assert r.diagnostics["pareto_k"] > 0.7
    assert not r.diagnostics["reliable"]
    assert any("Pareto" in w for w in r.diagnostics["warnings"])


def test_weight_statistics_match_direct_formulas():
    rng = np.random.default_rng(0)
    lw = rng.normal(0.0, 1.0, 500)
    s = weight_statistics(jnp.asarray(lw))
    w = np.exp(lw)
    assert float(s["log_z"]) == pytest.approx(np.log(w.mean()), rel=1e-12)
    assert float(s["stderr"]) == pytest.approx(w.std(ddof=1) / np.sqrt(500) / w.mean(), rel=1e-10)
    assert float(s["ess"]) == pytest.approx(w.sum() ** 2 / (w**2).sum(), rel=1e-10)


def test_nan_weights_are_dropped_counted_and_warned():
    lw = jnp.array([0.0, jnp.nan, 0.5, jnp.inf, -jnp.inf, 0.2])
    with pytest.warns(EstimatorWarning, match="2 of 6"):
        r = log_z_from_log_weights(lw)
    valid = np.array([0.0, 0.5, -np.inf, 0.2])
    assert float(r.log_z) == pytest.approx(np.log(np.mean(np.exp(valid))), rel=1e-12)
    assert r.diagnostics["num_dropped"] == 2 and not r.diagnostics["reliable"]
    assert np.isfinite(float(r.log_z))


def test_energy_producing_nan_is_flagged():
    def energy(x):  # NaN on half the space
        return jnp.where(x[0] > 0, jnp.nan, 0.5 * x @ x)

    with pytest.warns(EstimatorWarning, match="dropped"):
        r = importance(
            energy, 1.0, key=jax.random.key(1), num_samples=200, base=bases.gaussian(jnp.zeros(2))
        )
    assert 60 < r.diagnostics["num_dropped"] < 140


def test_tiny_ess_is_reported_not_hidden(small_ising):
    model, _, _ = small_ising
    r = importance(model, 2.0, key=jax.random.key(2), num_samples=50)  # β far from uniform
    assert r.diagnostics["ess"] < 10
    assert any("effective sample size" in w for w in r.diagnostics["warnings"])
    assert not r.diagnostics["reliable"]


def test_bad_inputs(gaussian):
    model, beta, _ = gaussian
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="beta is required"):
        importance(model, key=key)
    with pytest.raises(ValueError, match="beta"):
        importance(model, -1.0, key=key)
    with pytest.raises(ValueError, match="num_samples"):
        importance(model, beta, key=key, num_samples=1)
    with pytest.raises(TypeError, match="base"):
        importance(model, beta, key=key, base="uniform")
    with pytest.raises(TypeError, match="no default base"):
        importance(lambda x: x @ x, 1.0, key=key)
    with pytest.raises(TypeError, match="model_or_gibbs"):
        importance(3.0, 1.0, key=key)
