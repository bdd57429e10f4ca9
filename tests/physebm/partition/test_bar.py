"""BAR and MBAR: exact ΔF between Gaussians by a z-test on the (asymptotically normal) stderr,
|z| ≤ 4.26 (α = 2e-5 per check, fixed seeds; 6 checks), the K = 2 MBAR = BAR identity, the MBAR
stationarity equations, calibration of the BAR stderr (a central 1 − α binomial interval,
α ≤ 2e-5, 1 check), pymbar (isolated) and bad input. The 5 % agreement of the BAR and MBAR
asymptotic variances is a leading-order allowance, not a z-test."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import binom
from stats_helpers import ALPHA, assert_z, within

from physebm.partition import bar, bar_log_z_ratio, mbar, mbar_log_z
from physebm.partition.bar import _bar_solve

# three 1-D Gaussian states u_k(x) = (x − μ_k)² / (2σ_k²), f_k = −log(√(2π) σ_k)
MU = np.array([0.0, 1.0, 0.5])
SIG = np.array([1.0, 0.5, 0.7])


def _states(rng, n):
    xs = [rng.normal(m, s, k) for m, s, k in zip(MU, SIG, n, strict=True)]
    x = np.concatenate(xs)
    u = (x[None, :] - MU[:, None]) ** 2 / (2 * SIG[:, None] ** 2)
    return xs, u


def test_bar_gaussians_within_stderr():
    rng = np.random.default_rng(0)
    (x0, x1, _), _ = _states(rng, [2000, 1500, 0])
    u0 = lambda x: x**2 / 2  # noqa: E731
    u1 = lambda x: (x - 1.0) ** 2 / (2 * 0.25)  # noqa: E731
    res = bar(u1(x0) - u0(x0), u0(x1) - u1(x1))
    exact = -np.log(SIG[1] / SIG[0])  # f_1 − f_0
    err = float(-res.log_z) - exact  # log_z = log(Z_1/Z_0) = −ΔF
    assert_z(err, float(res.stderr), what=f"BAR ΔF {float(-res.log_z):.6f} vs {exact:.6f}")
    assert 0.005 < float(res.stderr) < 0.1
    assert res.method == "bar" and res.reliable and not res.warnings
    assert float(res.info["delta_f"]) == -float(res.log_z)
    assert "Bennett" in res.info["stderr_source"]


def test_mbar_gaussians_and_identities():
    rng = np.random.default_rng(1)
    n = [1500, 1500, 1000]
    _, u = _states(rng, n)
    out = mbar(u, n)
    res = out.info
    exact = -np.log(SIG / SIG[0])
    for k in (1, 2):
        err = float(res["delta_f"][0, k]) - exact[k]
        assert_z(err, float(res["delta_f_stderr"][0, k]), what=f"MBAR Δf_0{k}")
    np.testing.assert_array_equal(out.log_z, -res["f"])
    np.testing.assert_array_equal(out.stderr, res["delta_f_stderr"][0])
    assert out.method == "mbar" and out.reliable and "Shirts" in res["stderr_source"]
    # the f_k solve the MBAR self-consistent equations to rounding
    log_denom = jax.scipy.special.logsumexp(
        jnp.log(jnp.asarray(n))[:, None] + res["f"][:, None] - u, axis=0
    )
    f_sc = -jax.scipy.special.logsumexp(-u - log_denom, axis=1)
    np.testing.assert_allclose(np.asarray(f_sc - f_sc[0]), np.asarray(res["f"]), atol=1e-10)
    # covariance: symmetric, Θ rows sum to ~0 in the gauge sense is not required; errors ≥ 0
    assert np.allclose(res["theta"], res["theta"].T, atol=1e-12)
    assert float(res["delta_f_stderr"][0, 0]) == pytest.approx(0.0, abs=1e-7)


def test_mbar_two_states_equals_bar():
    rng = np.random.default_rng(2)
    (x0, x1, _), u = _states(rng, [800, 600, 0])
    m = mbar(u[:2], [800, 600])
    b = bar(u[1, :800] - u[0, :800], u[0, 800:] - u[1, 800:])
    assert float(m.log_z[1]) == pytest.approx(float(b.log_z), abs=1e-9)
    # the two asymptotic variances agree to leading order (pymbar: "BAR" vs "MBAR" methods)
    assert float(m.stderr[1]) == pytest.approx(float(b.stderr), rel=0.05)


def test_bar_stderr_calibrated_over_replicates():
    """Over 400 independent replicate data sets, |ΔF − exact| ≤ 1.96 stderr should hold with
    probability 0.95; the count must lie in the central 1 − ALPHA binomial interval (α ≤ 2e-5,
    the binomial being discrete)."""
    rng = np.random.default_rng(3)
    reps, n = 400, 200
    x0 = rng.normal(0.0, 1.0, (reps, n))
    x1 = rng.normal(1.0, 0.5, (reps, n))
    u0 = lambda x: x**2 / 2  # noqa: E731
    u1 = lambda x: (x - 1.0) ** 2 / (2 * 0.25)  # noqa: E731
    df, se, *_ = jax.vmap(_bar_solve)(u1(x0) - u0(x0), u0(x1) - u1(x1))
    covered = int(np.sum(np.abs(np.asarray(df) + np.log(0.5)) <= 1.96 * np.asarray(se)))
    lo, hi = binom.ppf(ALPHA / 2, reps, 0.95), binom.ppf(1 - ALPHA / 2, reps, 0.95)
    assert lo <= covered <= hi, (covered, lo, hi)


def test_high_level_bar_and_mbar_on_a_gaussian_model(gaussian):
    model, _, _ = gaussian
    betas = jnp.array([0.5, 1.0, 2.0])
    keys = jax.random.split(jax.random.key(4), 3)
    samples = [model.sample(k, b, 1000) for k, b in zip(keys, betas, strict=True)]
    exact = np.array([float(model.log_z(b)) for b in betas])
    r = bar_log_z_ratio(model, betas[0], betas[1], samples[0], samples[1])
    within(r, exact[1] - exact[0])
    logz = mbar_log_z(model, betas, samples, log_z_0=exact[0])
    for k in (1, 2):
        err = float(logz.log_z[k]) - exact[k]
        assert_z(err, float(logz.stderr[k]), what=f"mbar_log_z state {k}")
    assert float(logz.info["gradient_norm"]) < 1e-8


def test_bad_inputs():
    with pytest.raises(ValueError, match="w_F"):
        bar(jnp.array([1.0, jnp.nan]), jnp.ones(3))
    with pytest.raises(ValueError, match="w_R"):
        bar(jnp.ones(3), jnp.ones((2, 2)))
    with pytest.raises(ValueError, match="N_k"):
        mbar(jnp.zeros((2, 5)), [2, 2])
    with pytest.raises(ValueError, match="N_k must have shape"):
        mbar(jnp.zeros((2, 5)), [5])
    with pytest.raises(ValueError, match="u_kn"):
        mbar(jnp.zeros(5), [5])
    with pytest.raises(ValueError, match="NaN"):
        mbar(jnp.full((2, 4), jnp.nan), [2, 2])
    with pytest.raises(ValueError, match="beta_0"):
        bar_log_z_ratio(lambda x: x @ x, -1.0, 1.0, jnp.ones((2, 2)), jnp.ones((2, 2)))


PYMBAR_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import pymbar
    data = json.load(sys.stdin)
    u = np.array(data["u"]); n = data["n"]
    r = pymbar.bar(np.array(data["wf"]), np.array(data["wr"]))
    m = pymbar.MBAR(u, n).compute_free_energy_differences()
    print(json.dumps([r["Delta_f"], r["dDelta_f"], m["Delta_f"][0].tolist(),
                      m["dDelta_f"][0].tolist()]))
    """
)


def _pymbar_python():
    """An interpreter that has pymbar, run in a subprocess (pymbar switches jax to 64-bit
    globally on import, so it never enters this process): $PHYSEBM_PYMBAR_PYTHON or ours."""
    for exe in (os.environ.get("PHYSEBM_PYMBAR_PYTHON"), sys.executable):
        if (
            exe
            and subprocess.run([exe, "-c", "import pymbar"], capture_output=True).returncode == 0
        ):
            return exe
    return None


def test_matches_pymbar_in_a_subprocess():
    exe = _pymbar_python()
    if exe is None:
        pytest.skip("pymbar not installed (optional cross-check; set PHYSEBM_PYMBAR_PYTHON)")
    rng = np.random.default_rng(5)
    n = [500, 400, 300]
    (x0, x1, _), u = _states(rng, n)
    wf = (u[1, :500] - u[0, :500]).tolist()
    wr = (u[0, 500:900] - u[1, 500:900]).tolist()
    payload = json.dumps({"u": u.tolist(), "n": n, "wf": wf, "wr": wr})
    out = subprocess.run([exe, "-c", PYMBAR_SCRIPT], input=payload, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    ref = json.loads(out.stdout.strip().splitlines()[-1])
    b, m = bar(jnp.asarray(wf), jnp.asarray(wr)), mbar(u, n)
    assert float(-b.log_z) == pytest.approx(ref[0], abs=1e-8)
    assert float(b.stderr) == pytest.approx(ref[1], rel=1e-6)
    np.testing.assert_allclose(np.asarray(-m.log_z), ref[2], atol=1e-8)
    np.testing.assert_allclose(np.asarray(m.stderr), ref[3], rtol=1e-5, atol=1e-10)


def test_results_are_logz_with_stated_stderr_source_and_warnings():
    rng = np.random.default_rng(6)
    (x0, x1, _), u = _states(rng, [5, 400, 300])
    few = bar(u[1, :5] - u[0, :5], u[0, 5:405] - u[1, 5:405])
    assert not few.reliable and "only 5 forward work values" in few.warnings[0]
    assert np.isneginf(float(few.lower)) and np.isposinf(float(few.upper))
    m = mbar(u, [5, 400, 300])
    assert m.log_z.shape == m.stderr.shape == m.lower.shape == (3,)
    assert float(m.log_z[0]) == 0.0 and m.info["quantity"] == "log(Z_k/Z_0)"
    assert m.info["log_weight_matrix"].shape == (705, 3)
    np.testing.assert_array_equal(m.info["N_k"], [5, 400, 300])


def test_high_level_results_carry_betas(gaussian):
    model, _, _ = gaussian
    keys = jax.random.split(jax.random.key(7), 2)
    s0, s1 = model.sample(keys[0], 0.5, 200), model.sample(keys[1], 1.0, 200)
    r = bar_log_z_ratio(model, 0.5, 1.0, s0, s1)
    assert r.method == "bar" and [float(b) for b in r.info["betas"]] == [0.5, 1.0]
    assert r.info["num_samples"] == (200, 200)
    m = mbar_log_z(model, jnp.array([0.5, 1.0]), [s0, s1], log_z_0=2.0)
    assert float(m.log_z[0]) == 2.0 and m.info["quantity"] == "log Z(beta_k)"
    assert float(m.log_z[1]) - 2.0 == pytest.approx(float(r.log_z), abs=1e-9)  # K = 2: BAR
