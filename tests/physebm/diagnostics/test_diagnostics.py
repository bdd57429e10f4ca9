"""Diagnostics: R-hat, ESS, MCSE, importance-weight ESS, ArviZ conversion, reports, plots."""

import json
import math
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
from scipy.signal import lfilter

from physebm import LogZ
from physebm import diagnostics as dg


def iid_chains(seed, shape=(4, 1000, 3)):
    return np.random.default_rng(seed).normal(size=shape)


def ar1_chains(seed, rho, num_chains, num_draws, num_sites):
    """Stationary AR(1): x_t = ρ x_{t−1} + sqrt(1−ρ²) ε_t, x_0 ~ N(0, 1); unit variance."""
    rng = np.random.default_rng(seed)
    eps = rng.normal(size=(num_chains, num_draws, num_sites))
    eps[:, 0] = rng.normal(size=(num_chains, num_sites)) / math.sqrt(1 - rho**2)
    return lfilter([math.sqrt(1 - rho**2)], [1.0, -rho], eps, axis=1)


def caught(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, [w.category for w in rec]


# ------------------------------------------------------------------ R-hat


def test_rhat_iid_chains_below_threshold_and_no_warning():
    # 4 iid N(0,1) chains x 1000 draws, split into 8 halves of n = 500. Then
    # R̂² ≈ (n−1)/n + F/n with F ~ F(7, 3992), so R̂ > 1.01 needs F > 11.05:
    # P ≈ P(χ²_7 > 77) ≈ 5e-14 per site and statistic (bulk, folded), 3 sites: false-failure
    # rate < 1e-12.
    x = iid_chains(0)
    r = dg.rhat(x)
    assert r.shape == (3,)
    assert np.all(r < 1.01), r
    summary, cats = caught(dg.summarize_chains, x, energy=0.5 * (x**2).sum(-1))
    assert summary.max_rhat < 1.01
    assert dg.RhatWarning not in cats
    assert not any("R-hat" in w for w in summary.warnings)


def test_rhat_shifted_chains_fires_warning():
    # chain k has mean k (k = 0..3), unit within-chain sd: between-chain variance of the means
    # 5/3 >> within 1, so R̂_bulk ≈ sqrt(1 + 5/3) ≈ 1.6 up to sampling noise of a few %.
    x = iid_chains(1) + np.arange(4.0)[:, None, None]
    r = dg.rhat(x)
    assert np.all(r > 1.3), r
    with pytest.warns(dg.RhatWarning, match="R-hat of x"):
        warnings.simplefilter("ignore", dg.LowESSWarning)  # also low, not under test here
        summary = dg.summarize_chains(x)
    assert summary.max_rhat > 1.3
    assert any("chains not mixed" in w for w in summary.warnings)
    assert not summary.ok


def test_rhat_chain_axis_one_is_the_transpose():
    x = iid_chains(2, (3, 200, 2))
    np.testing.assert_array_equal(dg.rhat(np.swapaxes(x, 0, 1), chain_axis=1), dg.rhat(x))


# ------------------------------------------------------------------ ESS / MCSE


@pytest.mark.parametrize("method", ["mean", "bulk"])
def test_ess_of_ar1_matches_theory(method):
    # ESS of the mean of a stationary AR(1) chain: M·N·(1−ρ)/(1+ρ) = 4·1000/3 = 1333.3.
    # 64 independent replicates (as sites); the per-replicate relative sd of the estimator is
    # ~7.5%, so the replicate mean has se ~0.9%. Tolerance: 4·se (false-failure ≈ 6e-5 for a
    # normal mean) + 2% for the known small-sample bias of Geyer's truncated estimator (−1.6%
    # for iid draws of this size in ArviZ's implementation).
    rho, c, n, reps = 0.5, 4, 1000, 64
    x = ar1_chains(3, rho, c, n, reps)
    theory = c * n * (1 - rho) / (1 + rho)
    e = dg.ess(x, method=method) / theory
    se = e.std(ddof=1) / math.sqrt(reps)
    assert abs(e.mean() - 1.0) < 4 * se + 0.02, (e.mean(), se)
    # a wrong ESS (e.g. ignoring autocorrelation, 4000) is far outside the tolerance
    assert abs(c * n / theory - 1.0) > 10 * (4 * se + 0.02)


def test_mcse_is_sd_over_root_ess_mean():
    x = ar1_chains(4, 0.7, 4, 500, 3)
    ess_mean = dg.ess(x, method="mean")
    sd = x.reshape(-1, 3).std(axis=0, ddof=1)
    np.testing.assert_allclose(dg.mcse(x), sd / np.sqrt(ess_mean), rtol=1e-10)


def test_tail_ess_defined_and_lower_bulk_for_correlated_chains():
    x = ar1_chains(5, 0.9, 4, 400, 2)
    assert np.all(dg.ess(x, method="tail") < 4 * 400)
    assert np.all(dg.ess(x) < dg.ess(iid_chains(5, (4, 400, 2))))


# ------------------------------------------------------------------ importance weights


def test_weight_ess_hand_computed():
    # w = (1, 2, 3, 4) times e^1000: ESS = (Σw)²/Σw² = 100/30, exact in log space.
    lw = jnp.log(jnp.array([1.0, 2.0, 3.0, 4.0])) + 1000.0
    assert float(dg.weight_ess(lw)) == pytest.approx(10.0 / 3.0, rel=1e-12)
    assert float(dg.weight_ess(jnp.zeros(7))) == pytest.approx(7.0, rel=1e-12)
    assert float(dg.weight_ess(jnp.array([3.0, -jnp.inf, -jnp.inf]))) == pytest.approx(1.0)
    assert float(dg.weight_ess(jnp.full(3, -jnp.inf))) == 0.0
    # batched and under jit
    batch = jnp.stack([lw, jnp.zeros(4)])
    np.testing.assert_allclose(jax.jit(dg.weight_ess)(batch), [10 / 3, 4.0], rtol=1e-12)


def test_log_mean_exp_stderr_hand_computed():
    # w = (1,2,3,4): mean 2.5, sample sd sqrt(5/3); se(log mean) = sd/(sqrt(4)·2.5).
    lw = np.log([1.0, 2.0, 3.0, 4.0]) - 7.0
    expected = math.sqrt(5.0 / 3.0) / (2.0 * 2.5)
    assert float(dg.log_mean_exp_stderr(lw)) == pytest.approx(expected, rel=1e-12)
    s = dg.summarize_ais(lw, warn=False)
    assert s.log_z == pytest.approx(math.log(2.5) - 7.0, rel=1e-12)
    # the AIS rule: max(delta method, log-normal error sqrt(log(1 + (e^var - 1)/N))); all four
    # log-weights are inside Tukey's lower fence (Q1 - 1.5 IQR = -7.46 < -7)
    lognormal = math.sqrt(math.log1p(math.expm1(np.var(lw, ddof=1)) / 4))
    assert lognormal > expected
    assert s.stderr == pytest.approx(lognormal, rel=1e-12)
    assert s.weight_ess == pytest.approx(10.0 / 3.0, rel=1e-12)
    assert s.log_weight_var == pytest.approx(np.var(lw, ddof=1), rel=1e-12)


def test_weight_ess_rejects_nan_and_posinf():
    with pytest.raises(ValueError, match="log_weights contains 1 NaN"):
        dg.weight_ess(jnp.array([0.0, jnp.nan]))
    with pytest.raises(ValueError, match=r"\+inf"):
        dg.weight_ess(jnp.array([0.0, jnp.inf]))
    with pytest.raises(ValueError, match="at least 2"):
        dg.log_mean_exp_stderr(jnp.array([0.0]))


def test_summarize_ais_drops_invalid_weights():
    lw = np.log([1.0, 2.0, 3.0, 4.0, np.nan, np.inf])
    s, cats = caught(dg.summarize_ais, lw)
    assert dg.SamplerWarning in cats and "2 of 6 log-weights" in s.warnings[0]
    assert s.num_dropped == 2 and s.num_chains == 4
    assert s.weight_ess == pytest.approx(10.0 / 3.0, rel=1e-12)
    assert dg.ais_to_datatree(lw).attrs["num_invalid"] == 2


def test_summarize_ais_warns_on_degenerate_weights():
    lw = np.zeros(64)
    lw[0] = 10.0  # one chain carries e^10 / (e^10 + 63) ≈ 99.7% of the weight
    with pytest.warns(dg.LowWeightESSWarning, match="ESS = 1.0 of 64"):
        s = dg.summarize_ais(lw)
    assert s.weight_ess < 1.01 and s.warnings
    healthy, cats = caught(dg.summarize_ais, np.random.default_rng(0).normal(0, 0.1, 64))
    assert dg.LowWeightESSWarning not in cats and healthy.ess_fraction > 0.95
    json.dumps(healthy.to_dict())


def test_summarize_ais_agrees_with_the_ais_result():
    """One weight-statistics implementation: the report of an AIS result repeats its fields."""
    from physebm.models import Ising
    from physebm.partition import ais

    res = ais(Ising((3, 3)), 0.6, key=jax.random.key(0), num_temperatures=30, num_chains=64)
    lw = res.info["log_weights"]
    for run in (res, dg.logz_to_datatree(res)):
        s = dg.summarize_ais(run, warn=False)
        assert s.stderr == pytest.approx(float(res.stderr), rel=1e-12, abs=1e-12)
        assert s.log_z == pytest.approx(float(res.log_z), rel=1e-12, abs=1e-12)
        assert s.weight_ess == pytest.approx(float(res.info["ess"]), rel=1e-12)
        assert s.log_weight_var == pytest.approx(res.info["log_weight_variance"], rel=1e-12)
        assert s.num_dropped == res.info["num_dropped"] and s.num_chains == 64
        assert s.reliable == res.reliable and s.warnings[: len(res.warnings)] == res.warnings
    assert float(dg.weight_ess(lw)) == pytest.approx(float(res.info["ess"]), rel=1e-12)
    delta = float(dg.log_mean_exp_stderr(lw))
    assert delta == pytest.approx(float(res.info["stderr_delta"]), rel=1e-12)
    lwa = np.asarray(lw)
    q1, q3 = np.percentile(lwa, [25, 75])
    fenced = lwa[lwa >= q1 - 1.5 * (q3 - q1)]  # Tukey's lower fence
    lognormal = np.sqrt(np.log1p(np.expm1(np.var(fenced, ddof=1)) / lwa.size))
    assert float(res.stderr) == pytest.approx(max(delta, lognormal), rel=1e-12)
    raw = dg.summarize_ais(np.asarray(lw), warn=False)  # the same rule from bare log-weights
    assert raw.stderr == pytest.approx(float(res.stderr), rel=1e-12)


def test_logz_to_datatree_keeps_the_verdict():
    res = LogZ(1.0, 0.1, method="ais", warnings=["few chains"], info={"log_weights": np.zeros(8)})
    attrs = dg.logz_to_datatree(res).attrs
    assert attrs["reliable"] == 0 and attrs["warnings"] == ["few chains"]
    s = dg.summarize_ais(res, warn=False)
    assert not s.reliable and s.warnings[0] == "few chains" and s.stderr == 0.1


# ------------------------------------------------------------------ conversion


def test_chains_to_datatree_array_roundtrip():
    x = iid_chains(6, (3, 50, 2))
    e = (x**2).sum(-1)
    dt = dg.chains_to_datatree(
        x, energy=e, acceptance_rate=np.full((3, 50), 0.5), attrs={"beta": 2.0}
    )
    post = dt["posterior"]["x"]
    assert post.dims == ("chain", "draw", "x_dim_0")
    np.testing.assert_array_equal(post.coords["chain"], np.arange(3))
    np.testing.assert_array_equal(post.coords["draw"], np.arange(50))
    np.testing.assert_array_equal(post.values, x)
    np.testing.assert_array_equal(dt["sample_stats"]["model_energy"].values, e)
    assert dt["sample_stats"]["model_energy"].dims == ("chain", "draw")
    assert "energy" not in dt["sample_stats"]  # reserved for a sampler's Hamiltonian
    assert dt.attrs["beta"] == 2.0
    # draws-first layout gives the same tree
    dt2 = dg.chains_to_datatree(np.swapaxes(x, 0, 1), energy=e.T, chain_axis=1)
    np.testing.assert_array_equal(dt2["posterior"]["x"].values, x)
    np.testing.assert_array_equal(dt2["sample_stats"]["model_energy"].values, e)


def test_chains_to_datatree_pytrees_dims_and_blackjax_info():
    rng = np.random.default_rng(7)
    v, h = rng.integers(0, 2, (2, 10, 4, 4)), rng.integers(0, 2, (2, 10, 3))
    dt = dg.chains_to_datatree({"v": v, "h": h}, dims={"h": ["hidden"]})
    assert dt["posterior"]["v"].dims == ("chain", "draw", "v_dim_0", "v_dim_1")
    assert dt["posterior"]["h"].dims == ("chain", "draw", "hidden")
    assert set(dg.chains_to_datatree((v, h))["posterior"].data_vars) == {"x_0", "x_1"}
    named = dg.chains_to_datatree((v, h), var_names=("v", "h"))["posterior"]
    np.testing.assert_array_equal(named["h"].values, h)
    with pytest.raises(ValueError, match="var_names must be 2 distinct names"):
        dg.chains_to_datatree((v, h), var_names=("v",))

    class Info(NamedTuple):  # the fields of blackjax's HMCInfo that matter here
        momentum: np.ndarray
        acceptance_rate: np.ndarray
        is_divergent: np.ndarray
        energy: np.ndarray

    info = Info(
        np.zeros((2, 10, 3)), np.full((2, 10), 0.9), np.zeros((2, 10), bool), np.ones((2, 10))
    )
    dt = dg.chains_to_datatree(h, sample_stats=info, energy=np.zeros((2, 10)))
    stats = set(dt["sample_stats"].data_vars)
    assert stats == {"acceptance_rate", "diverging", "energy", "model_energy"}
    assert dt["sample_stats"]["diverging"].dtype == bool
    # the sampler's Hamiltonian keeps ArviZ's name; the model energy has its own
    np.testing.assert_array_equal(dt["sample_stats"]["energy"].values, np.ones((2, 10)))
    np.testing.assert_array_equal(dt["sample_stats"]["model_energy"].values, np.zeros((2, 10)))


def test_chains_to_datatree_bad_input():
    x = np.zeros((2, 10, 3))
    with pytest.raises(ValueError, match="chain_axis must be 0"):
        dg.chains_to_datatree(x, chain_axis=2)
    with pytest.raises(ValueError, match=r"positions\['x'\] must have shape"):
        dg.chains_to_datatree(np.zeros(5))
    with pytest.raises(ValueError, match="model_energy must have leading shape"):
        dg.chains_to_datatree(x, energy=np.zeros((2, 9)))
    with pytest.raises(ValueError, match="all leaves must share"):
        dg.chains_to_datatree({"a": x, "b": np.zeros((3, 10))})
    with pytest.raises(ValueError, match=r"dims\['x'\] must name 1"):
        dg.chains_to_datatree(x, dims={"x": ["a", "b"]})
    with pytest.raises(TypeError, match="must be numeric"):
        dg.chains_to_datatree(np.array([["a"]]))


def test_ais_to_datatree_and_from_logz():
    rng = np.random.default_rng(8)
    inc = rng.normal(0, 0.1, (16, 20))
    betas = np.linspace(0.0, 1.0, 21)
    dt = dg.ais_to_datatree(inc.sum(1), log_increments=inc, betas=betas)
    ds = dt["annealing"]
    assert ds["log_increments"].dims == ("chain", "draw", "step")
    np.testing.assert_allclose(ds["log_weight_path"].values[0, :, -1], inc.sum(1))
    np.testing.assert_allclose(ds["beta"].values, betas[1:])
    dt_t = dg.ais_to_datatree(inc.sum(1), log_increments=inc.T, betas=betas[1:], chain_axis=1)
    np.testing.assert_array_equal(dt_t["annealing"]["log_increments"].values[0], inc)
    with pytest.raises(ValueError, match="betas must have num_steps"):
        dg.ais_to_datatree(inc.sum(1), log_increments=inc, betas=betas[:5])
    with pytest.raises(ValueError, match="16 particles"):
        dg.ais_to_datatree(np.zeros(15), log_increments=inc)
    with pytest.raises(ValueError, match="increment_variance must have num_steps = 20"):
        dg.ais_to_datatree(inc.sum(1), log_increments=inc, increment_variance=np.ones(3))

    res = LogZ(log_z=1.0, stderr=0.1, method="ais", info={"log_weights": inc.sum(1)})
    dtz = dg.logz_to_datatree(res)
    assert dtz.attrs["method"] == "ais" and dtz.attrs["log_z"] == 1.0
    assert dg.summarize_ais(res, warn=False).num_chains == 16
    # the keys physebm.partition.ais records: schedule t_0..t_K and increment_variance (K,)
    diag = {
        "log_weights": jnp.asarray(inc.sum(1)),
        "schedule": jnp.linspace(0.0, 1.0, 21),
        "increment_variance": jnp.asarray(inc.var(0, ddof=1)),
        "transition": "mala",
    }
    dtz = dg.logz_to_datatree(LogZ(log_z=1.0, stderr=0.1, method="ais", info=diag))
    np.testing.assert_allclose(dtz["annealing"]["t"].values, np.linspace(0, 1, 21)[1:])
    np.testing.assert_allclose(dtz["annealing"]["increment_variance"].values, inc.var(0, ddof=1))
    np.testing.assert_allclose(ds["increment_variance"].values, inc.var(0, ddof=1))
    with pytest.raises(ValueError, match="log_weights.*replica_log_z"):
        dg.logz_to_datatree(LogZ.exact(0.0, method="kaufman"))


# ------------------------------------------------------------------ reports


def test_identical_chains_collapse_warning():
    common = np.random.default_rng(9).normal(size=(1, 200, 2))
    x = np.repeat(common, 4, axis=0)  # every chain the same trajectory (e.g. a shared key)
    with pytest.warns(dg.CollapsedChainsWarning, match="identical at the last draw"):
        s = dg.summarize_chains(x)
    assert s.collapsed


def test_near_collapse_and_stuck_chains():
    rng = np.random.default_rng(10)
    x = rng.normal(size=(4, 200, 2))
    x[:, -50:] = 1.5 + 1e-6 * rng.normal(size=(4, 50, 2))  # chains fell into one point
    s, cats = caught(dg.summarize_chains, x)
    assert s.collapsed and dg.CollapsedChainsWarning in cats
    assert any("collapsed: across-chain sd" in w for w in s.warnings)
    y = rng.normal(size=(4, 200, 2))
    y[2] = 0.3  # one chain never moves
    s, cats = caught(dg.summarize_chains, y)
    assert s.num_stuck_chains == 1 and not s.collapsed and dg.CollapsedChainsWarning in cats
    assert any("1 of 4 chains never moved" in w for w in s.warnings)
    healthy, cats = caught(dg.summarize_chains, iid_chains(11))
    assert not healthy.collapsed and dg.CollapsedChainsWarning not in cats


def test_low_ess_and_sampler_warnings():
    x = ar1_chains(12, 0.99, 4, 200, 1)
    s, cats = caught(dg.summarize_chains, x)
    assert dg.LowESSWarning in cats and any("bulk ESS of x" in w for w in s.warnings)
    acc = np.full((4, 1000), 0.8)
    acc[1] = 0.01
    div = np.zeros((4, 1000), bool)
    div[0, :5] = True
    x = iid_chains(13)
    with pytest.warns(dg.SamplerWarning) as rec:
        s = dg.summarize_chains(x, acceptance_rate=acc, diverging=div)
    text = " ".join(str(w.message) for w in rec)
    assert "5 divergent transitions" in text and "acceptance rate 0.010" in text
    assert s.acceptance.num_divergent == 5
    assert s.acceptance.min_chain == pytest.approx(0.01)
    d = s.to_dict()
    json.dumps(d)
    assert d["num_divergent"] == 5 and d["variables"]["x"]["max_rhat"] < 1.01
    md = s.to_markdown()
    assert "| x |" in md and "divergent" in md


def test_max_sites_subsamples_and_labels_sites():
    x = iid_chains(18, (4, 300, 6, 5))
    x[:, :, 5, 4] += np.arange(4.0)[:, None]  # the last site (flat index 29) is not mixed
    s, cats = caught(dg.summarize_chains, x, max_sites=4)
    np.testing.assert_array_equal(s.site_index["x"], [0, 10, 19, 29])
    assert s.rhat["x"].shape == (4,) and s.to_dict()["sites_checked"] == {"x": 4}
    assert dg.RhatWarning in cats and any("R-hat of x[5, 4]" in w for w in s.warnings)
    full, _ = caught(dg.summarize_chains, x)
    np.testing.assert_allclose(s.rhat["x"], full.rhat["x"].ravel()[[0, 10, 19, 29]])
    with pytest.raises(ValueError, match="max_sites must be None or an int"):
        dg.summarize_chains(x, max_sites=0)


def test_summary_of_datatree_uses_energy_and_no_warning_when_warn_false():
    x = iid_chains(14, (4, 500, 2))
    dt = dg.chains_to_datatree(x, energy=0.5 * (x**2).sum(-1))
    s, cats = caught(dg.summarize_chains, dt)
    assert set(s.rhat) == {"x", "energy"} and s.ok and not cats
    y = x + np.arange(4.0)[:, None, None]
    s, cats = caught(dg.summarize_chains, y, warn=False)
    assert not cats and s.warnings


def test_bad_arguments():
    x = iid_chains(15, (2, 20, 1))
    with pytest.raises(ValueError, match="max_rhat must be"):
        dg.summarize_chains(x, max_rhat=-1.0)
    with pytest.raises(TypeError, match="min_ess_bulk must be a real"):
        dg.summarize_chains(x, min_ess_bulk="100")
    with pytest.raises(ValueError, match="at least 4 draws"):
        dg.rhat(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        dg.ess(np.full((2, 10), np.nan))
    with pytest.raises(ValueError, match="not an ArviZ ESS method"):
        dg.ess(x, method="nope")
    with pytest.raises(ValueError, match="acceptance_rate must lie in"):
        dg.acceptance_summary(np.full((2, 10), 1.5))
    with pytest.raises(ValueError, match="'posterior' group"):
        dg.summarize_chains(xr.DataTree())


# ------------------------------------------------------------------ plots


def test_figures_returned_and_written_headless(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    monkeypatch.setenv("CI", "true")
    monkeypatch.delenv("DISPLAY", raising=False)
    open_before = set(plt.get_fignums())
    x = iid_chains(16, (3, 100, 5))
    # an energy plot needs the sampler's Hamiltonian (here a stand-in: E(x) + ½|p|², p ~ N(0, I))
    hamiltonian = 0.5 * (x**2).sum(-1) + 0.5 * (iid_chains(19, (3, 100, 5)) ** 2).sum(-1)
    dt = dg.chains_to_datatree(x, energy=0.5 * (x**2).sum(-1), sample_stats={"energy": hamiltonian})
    paths = dg.save_chain_plots(dt, tmp_path / "out", prefix="m_", max_sites=2)
    inc = np.random.default_rng(0).normal(0, 0.1, (8, 10))
    fig = dg.ais_figure(
        dg.ais_to_datatree(inc.sum(1), log_increments=inc, betas=np.linspace(0, 1, 11))
    )
    assert isinstance(fig, Figure) and len(fig.axes) == 3  # paths, weights, variance
    paths["ais"] = dg.save_figure(fig, tmp_path / "ais.png")
    res = LogZ(
        log_z=0.0,
        method="ais",
        diagnostics={
            "log_weights": inc.sum(1),
            "increment_variance": inc.var(0),
            "schedule": np.linspace(0, 1, 11),
        },
    )
    paths["ais_logz"] = dg.save_figure(dg.ais_figure(res), tmp_path / "ais_logz.png")
    paths["ais_weights_only"] = dg.save_figure(dg.ais_figure(inc.sum(1)), tmp_path / "w.png")
    assert set(paths) == {"trace", "rank", "energy", "ais", "ais_weights_only", "ais_logz"}
    for p in paths.values():
        data = p.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, p
    assert paths["trace"].name == "m_trace.png"
    assert set(plt.get_fignums()) == open_before  # figures closed
    fig = dg.trace_figure(dt, max_sites=2)
    assert isinstance(fig, Figure) and plt.fignum_exists(fig.number)  # open until saved
    with pytest.raises(ValueError, match=r"must end in one of \.png, \.pdf, \.svg"):
        dg.save_figure(fig, tmp_path / "trace.jpg")
    assert dg.save_figure(fig, tmp_path / "trace.svg").read_bytes().lstrip().startswith(b"<?xml")
    with pytest.raises(TypeError, match="fig must be a matplotlib Figure"):
        dg.save_figure(dt, tmp_path / "t.png")
    with pytest.raises(ValueError, match="no sample_stats.energy"):
        dg.energy_figure(dg.chains_to_datatree(x, energy=(x**2).sum(-1)))
    model_energy_only = dg.chains_to_datatree(x, energy=(x**2).sum(-1))
    assert "energy" not in dg.save_chain_plots(model_energy_only, tmp_path / "m", max_sites=2)
    with pytest.raises(ValueError, match="max_sites"):
        dg.rank_figure(dt, max_sites=0)


def test_run_to_datatree_from_samplers_run():
    import samplers

    # MALA on a 2-D standard normal; the energy is E(x) = |x|²/2 (β = 1)
    alg = samplers.mala(lambda x: -0.5 * jnp.sum(x**2), 0.9)
    x0 = jax.random.normal(jax.random.key(1), (4, 2))
    res = samplers.run(jax.random.key(2), alg, x0, num_steps=1000, num_burnin=100)
    dt = dg.run_to_datatree(res, energy_fn=lambda x: 0.5 * jnp.sum(x**2), attrs={"beta": 1.0})
    assert dt["posterior"]["x"].shape == (4, 1000, 2)
    assert {"model_energy", "acceptance_rate"} <= set(dt["sample_stats"].data_vars)
    np.testing.assert_allclose(
        dt["sample_stats"]["model_energy"].values, 0.5 * (np.asarray(res.trace) ** 2).sum(-1)
    )
    assert dt.attrs["num_nonfinite"] == 0
    s, cats = caught(dg.summarize_chains, dt)
    # a healthy run: bulk/tail ESS ≈ 1500-1900 here, i.e. ~200 effective draws per split
    # half-chain; treating those as iid, R̂ > 1.01 needs F(7, ∞) > 5.2, P ≈ 6e-6.
    assert s.max_rhat < 1.01 and s.ok and not cats, s.warnings
    # the MCSE is what the z-test needs: E[x] = 0 and E[E] = 1, 4-sd bound (false-failure
    # rate ≈ 6e-5 per quantity when the MCSE is right)
    assert np.all(np.abs(s.mean["x"]) < 4 * s.mcse_mean["x"])
    assert abs(s.mean["energy"] - 1.0) < 4 * s.mcse_mean["energy"]
    assert 0.3 < s.acceptance.mean < 1.0
    with pytest.raises(ValueError, match="not both"):
        dg.run_to_datatree(res, energy=np.zeros((4, 1000)), energy_fn=lambda x: 0.0)
    with pytest.raises(ValueError, match="no trace"):
        dg.run_to_datatree(res._replace(trace=None))


def test_run_to_datatree_from_physebm_sample():
    import physebm
    from physebm.models import Ising

    res = physebm.sample(Ising((4, 4)), key=jax.random.key(3), num_chains=4, num_steps=50, beta=0.3)
    dt = dg.run_to_datatree(res, energy_fn=Ising((4, 4)))
    assert dt["posterior"]["x"].shape == (4, 50, 4, 4)
    assert dt.attrs["beta"] == pytest.approx(0.3) and dt.attrs["sampler"] == res.sampler
    assert dt["sample_stats"]["model_energy"].shape == (4, 50)


def test_nonfinite_steps_reported():
    x = iid_chains(17, (4, 100, 1))
    dt = dg.chains_to_datatree(x, attrs={"num_nonfinite": 3})
    s, cats = caught(dg.summarize_chains, dt)
    assert dg.SamplerWarning in cats and any(
        "3 steps produced a non-finite" in w for w in s.warnings
    )
