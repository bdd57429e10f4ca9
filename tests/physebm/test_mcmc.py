"""physebm.sample: default kernels per model, exact references, clear errors.

Statistical assertions use a fixed key and |z| < 3.89 (two-sided false-failure rate 1e-4 each),
the replica-exchange checks |z| ≤ stats_helpers.Z_CRIT (α = 2e-5 each); the MCSE of a mean over
correlated draws is sd/√ESS with ArviZ's ESS over all chains.
"""

import arviz
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from stats_helpers import assert_z

import physebm
from physebm.models import RBM, BoltzmannMachine, CurieWeiss, Gaussian, Ising

Z = float(stats.norm.isf(1e-4 / 2))


@pytest.mark.parametrize("beta", [0.3, 0.6])
def test_ising_16x16_energy_per_spin_matches_exact(beta):
    """Checkerboard Gibbs on the 16×16 torus below (0.3) and above (0.6) β_c ≈ 0.4407:
    mean energy per spin against U(β)/N from Kaufman's exact log Z."""
    model = Ising((16, 16))
    res = physebm.sample(
        model, key=jax.random.key(0), num_chains=16, num_steps=1500, num_burnin=300, beta=beta
    )
    assert res.sampler == "checkerboard" and res.samples.dtype == jnp.int8
    e = np.asarray(jax.vmap(jax.vmap(model))(res.samples)) / 256.0  # (chains, draws)
    exact = float(physebm.thermodynamics(model, beta).internal_energy) / 256.0
    ess = float(arviz.ess(e))
    mcse = e.std(ddof=1) / np.sqrt(ess)
    assert ess > 200
    assert abs(e.mean() - exact) < Z * mcse, (e.mean(), exact, mcse)


@pytest.mark.slow  # default-suite time: with the slow tests (CI runs them)
def test_default_kernels():
    key = jax.random.key(1)
    kw = dict(key=key, num_chains=2, num_steps=2)
    rbm = RBM(jnp.ones((3, 2)) * 0.1)
    assert physebm.sample(rbm, **kw).sampler == "block_gibbs"
    assert physebm.sample(Ising((4, 6)), **kw).sampler == "checkerboard"
    assert physebm.sample(Ising((3, 3)), **kw).sampler == "metropolis"
    assert physebm.sample(Ising((4, 4), periodic=False), **kw).sampler == "metropolis"
    assert physebm.sample(CurieWeiss(5), **kw).sampler == "metropolis"
    bm = BoltzmannMachine(jnp.eye(3) * 0.0 + 0.1 * (1 - jnp.eye(3)), domain="bits")
    assert physebm.sample(bm, **kw).sampler == "gibbs"
    assert physebm.sample(bm, sampler="metropolis", **kw).sampler == "metropolis"
    g = Gaussian(jnp.zeros(2), jnp.eye(2))
    assert physebm.sample(g, num_warmup=20, **kw).sampler == "nuts"
    assert physebm.sample(g, sampler="mala", step_size=0.1, **kw).sampler == "mala"
    v, h = physebm.sample(rbm, **kw).samples
    assert v.shape == (2, 2, 3) and h.shape == (2, 2, 2)


def test_rbm_visible_marginal_matches_free_energy():
    """Final states of 6000 independent chains: p_β(v) ∝ exp(−β F_β(v)), χ² at level 1e-4."""
    rng = np.random.default_rng(2)
    rbm = RBM(rng.normal(size=(4, 3)), rng.normal(size=4) * 0.5, rng.normal(size=3) * 0.5)
    beta = 1.3
    res = physebm.sample(
        rbm, key=jax.random.key(3), num_chains=6000, num_steps=1, num_burnin=30, beta=beta
    )
    v = np.asarray(res.samples[0][:, 0]).astype(int)
    idx = v @ (2 ** np.arange(3, -1, -1))
    all_v = np.array([[(i >> k) & 1 for k in range(3, -1, -1)] for i in range(16)], float)
    logp = -beta * np.asarray(rbm.free_energy(jnp.asarray(all_v), beta))
    p = np.exp(logp - logp.max())
    p /= p.sum()
    counts = np.bincount(idx, minlength=16)
    stat = np.sum((counts - 6000 * p) ** 2 / (6000 * p))
    assert stats.chi2.sf(stat, 15) > 1e-4


def test_gaussian_nuts_and_gibbs_object_beta():
    g = Gaussian(jnp.array([1.0, -1.0]), jnp.array([[2.0, 0.5], [0.5, 1.0]]))
    gibbs = physebm.Gibbs(g, beta=3.0)
    res = physebm.sample(gibbs, key=jax.random.key(4), num_chains=4, num_steps=500, num_warmup=200)
    assert float(res.beta) == 3.0 and "step_size" in res.parameters
    x = np.asarray(res.samples)
    cov = np.asarray(g.covariance(3.0))
    for d in range(2):
        ess = float(arviz.ess(x[..., d]))
        assert abs(x[..., d].mean() - float(g.mean[d])) < Z * np.sqrt(cov[d, d] / ess)
    # explicit beta overrides the Gibbs object's
    res2 = physebm.sample(
        gibbs, key=jax.random.key(4), num_chains=2, num_steps=4, beta=0.5, num_warmup=20
    )
    assert float(res2.beta) == 0.5


def test_user_energy_with_init_and_nan_is_reported():
    def energy(x):
        return jnp.where(x[0] > 1.5, jnp.nan, 0.5 * jnp.sum(x**2))

    with pytest.raises(FloatingPointError, match="non-finite state"):
        physebm.sample(
            energy,
            key=jax.random.key(5),
            num_chains=8,
            num_steps=200,
            sampler="ula",
            step_size=0.5,
            init=jnp.zeros(2),
        )
    with pytest.warns(RuntimeWarning, match="non-finite state"):
        res = physebm.sample(
            energy,
            key=jax.random.key(5),
            num_chains=8,
            num_steps=200,
            sampler="ula",
            step_size=0.5,
            init=jnp.zeros(2),
            on_nonfinite="warn",
        )
    assert np.all(np.isfinite(np.asarray(res.samples)))
    assert int(res.num_nonfinite.sum()) > 0


def test_bad_input():
    key = jax.random.key(0)
    g = Gaussian(jnp.zeros(2), jnp.eye(2))
    with pytest.raises(ValueError, match="num_chains must be a positive integer"):
        physebm.sample(g, key=key, num_chains=0, num_steps=2)
    with pytest.raises(ValueError, match="num_steps must be a positive integer"):
        physebm.sample(g, key=key, num_chains=1, num_steps=-3)
    with pytest.raises(ValueError, match="beta must be > 0"):
        physebm.sample(g, key=key, num_chains=1, num_steps=2, beta=-1.0)
    with pytest.raises(ValueError, match="beta must be finite"):
        physebm.sample(g, key=key, num_chains=1, num_steps=2, beta=float("inf"))
    with pytest.raises(ValueError, match="sampler must be one of"):
        physebm.sample(g, key=key, num_chains=1, num_steps=2, sampler="gibbs")
    with pytest.raises(ValueError, match="sampler must be one of"):
        physebm.sample(Ising((4, 4)), key=key, num_chains=1, num_steps=2, sampler="nuts")
    with pytest.raises(ValueError, match="needs init"):
        physebm.sample(lambda x: jnp.sum(x**2), key=key, num_chains=1, num_steps=2)
    with pytest.raises(ValueError, match="needs step_size"):
        physebm.sample(g, key=key, num_chains=1, num_steps=2, sampler="mala")
    with pytest.raises(ValueError, match="init must have shape"):
        physebm.sample(g, key=key, num_chains=2, num_steps=2, init=jnp.zeros(3))
    with pytest.raises(ValueError, match="init must be one position or num_chains"):
        physebm.sample(g, key=key, num_chains=2, num_steps=2, init=jnp.zeros((3, 2)))
    with pytest.raises(TypeError, match="model_or_gibbs must be"):
        physebm.sample(3.0, key=key, num_chains=1, num_steps=2)
    with pytest.raises(ValueError, match="on_nonfinite"):
        physebm.sample(g, key=key, num_chains=1, num_steps=2, on_nonfinite="ignore")
    with pytest.raises(ValueError, match="not available for RBM"):
        physebm.sample(
            RBM(jnp.ones((2, 2))), key=key, num_chains=1, num_steps=2, sampler="metropolis"
        )


def test_kernel_objects_are_samplers_too():
    """The kernel objects the estimators take work as ``sampler=``: on the model's structured
    target they reproduce the default kernels draw for draw (same key, same algorithm)."""
    import functools

    import blackjax

    import samplers

    key = jax.random.key(3)
    ising = Ising((4, 6), h=0.2)
    default = physebm.sample(ising, key=key, num_chains=3, num_steps=20, beta=0.4)
    given = physebm.sample(
        ising, key=key, num_chains=3, num_steps=20, beta=0.4, sampler=samplers.Checkerboard()
    )
    assert given.sampler == "Checkerboard"
    np.testing.assert_array_equal(given.samples, default.samples)
    g = Gaussian(jnp.zeros(2), jnp.eye(2))
    mala = physebm.sample(g, key=key, num_chains=3, num_steps=20, sampler="mala", step_size=0.5)
    factory = functools.partial(blackjax.mala, step_size=0.5)
    bj = physebm.sample(g, key=key, num_chains=3, num_steps=20, sampler=factory)
    np.testing.assert_allclose(bj.samples, mala.samples, rtol=1e-12)
    flips = physebm.sample(
        ising, key=key, num_chains=2, num_steps=5, sampler=samplers.HeatBath("spin")
    )
    assert flips.samples.shape == (2, 5, 4, 6)
    with pytest.raises(TypeError, match="sampler"):
        physebm.sample(g, key=key, num_chains=2, num_steps=5, sampler=object())


def _ising_4x4_exact(beta):
    """⟨E⟩ and ⟨|m|⟩ (m = Σ s / 16) of the periodic 4×4 Ising model, J = 1, h = 0, by
    enumerating its 2^16 states (float64)."""
    s = np.array([[(i >> b) & 1 for b in range(16)] for i in range(2**16)]) * 2 - 1
    lat = s.reshape(-1, 4, 4)
    energy = -np.sum(lat * np.roll(lat, 1, 1) + lat * np.roll(lat, 1, 2), axis=(1, 2))
    logw = -beta * energy
    p = np.exp(logw - logw.max())
    p /= p.sum()
    return float(p @ energy), float(p @ np.abs(s.mean(1)))


def test_replica_exchange_target_rung_matches_exact_ising_4x4():
    """``sample(Gibbs(Ising((4, 4)), 0.6), sampler=ReplicaExchange(Checkerboard(), betas))``
    with betas = 0.1, 0.2, …, 0.6: the target (coldest) rung's mean energy and ⟨|m|⟩ against
    enumeration, |z| ≤ Z_CRIT (α = 2e-5 each, 2 checks; MCSE = sd/√ESS, ArviZ ESS over the
    chains). The report's per-pair acceptance equals the per-draw info's (no burn-in, thin 1:
    the same steps, exact up to float round-off), its counts are the run's, Λ = Σ r_k, and the
    round-trip rate is at most K / (2(K − 1)) per step (exact bounds); the swap floor
    a_k > 0.05 is an allowance (measured 0.51–0.80)."""
    import samplers

    betas = jnp.linspace(0.1, 0.6, 6)
    pt = samplers.ReplicaExchange(samplers.Checkerboard(), betas)
    model = Ising((4, 4))
    c, n = 16, 2000
    res = physebm.sample(
        physebm.Gibbs(model, 0.6), key=jax.random.key(7), num_chains=c, num_steps=n, sampler=pt
    )
    assert res.sampler == "replica_exchange" and res.parameters["target_rung"] == 5
    assert res.samples.shape == (c, n, 4, 4) and res.samples.dtype == jnp.int8
    x = np.asarray(res.samples, float)
    e = np.asarray(jax.vmap(jax.vmap(model))(res.samples))
    abs_m = np.abs(x.mean((2, 3)))
    exact_e, exact_m = _ising_4x4_exact(0.6)
    for name, obs, exact in (("energy", e, exact_e), ("|m|", abs_m, exact_m)):
        ess = float(arviz.ess(obs))
        assert ess > 400, (name, ess)
        mcse = obs.std(ddof=1) / np.sqrt(ess)
        assert_z(obs.mean() - exact, mcse, what=f"replica exchange {name}")

    rep = res.stats
    assert rep.num_ladders == c and rep.num_steps == n and rep.swap_acceptance.shape == (5,)
    assert np.all((rep.swap_acceptance > 0.05) & (rep.swap_acceptance <= 1.0))
    np.testing.assert_allclose(rep.rejection, 1.0 - rep.swap_acceptance)
    np.testing.assert_allclose(rep.barrier, np.sum(rep.rejection))
    info_acc = res.info["swap_acceptance"].sum((0, 1)) / res.info["swap_attempted"].sum((0, 1))
    np.testing.assert_allclose(rep.swap_acceptance, np.asarray(info_acc), rtol=1e-10)
    assert rep.round_trips == int(rep.round_trips_per_label.sum()) > c
    assert rep.round_trips_per_label.shape == (c, 6)
    assert 0.0 < rep.round_trip_rate <= 6 / (2 * 5)  # ≤ one trip per label per 2(K − 1) steps


@pytest.mark.slow  # default-suite time: with the slow tests (CI runs them)
def test_replica_exchange_samples_the_rung_of_beta():
    """The same key and ladder sample the same replicas whatever β: the draws are the rung with
    β_k = β (the last draw is the final state of rung k), the coldest rung without β."""
    import samplers

    pt = samplers.ReplicaExchange(samplers.Checkerboard(), jnp.array([0.2, 0.3, 0.45]))
    kw = dict(key=jax.random.key(8), num_chains=3, num_steps=5, sampler=pt)
    for beta, rung in ((0.3, 1), (0.45, 2), (None, 2)):
        res = physebm.sample(Ising((4, 6)), beta=beta, **kw)
        assert res.parameters["target_rung"] == rung
        assert float(res.beta) == pytest.approx([0.2, 0.3, 0.45][rung])
        final = np.asarray(res.state.position[:, rung])
        np.testing.assert_array_equal(np.asarray(res.samples[:, -1]), final)
    # sampler="replica_exchange": the model's default kernel on a geometric ladder β/10 … β
    res = physebm.sample(
        Ising((3, 3)),
        beta=0.5,
        sampler="replica_exchange",
        num_replicas=4,
        **{k: v for k, v in kw.items() if k != "sampler"},
    )
    np.testing.assert_allclose(res.parameters["betas"], 0.5 * np.geomspace(0.1, 1.0, 4))
    assert res.parameters["inner"] == "FlipMetropolis" and res.samples.shape == (3, 5, 3, 3)
    v, h = physebm.sample(
        RBM(0.3 * jnp.ones((3, 2))), key=jax.random.key(9), num_chains=2, num_steps=4,
        sampler="replica_exchange", betas=[0.5, 1.0],
    ).samples  # fmt: skip
    assert v.shape == (2, 4, 3) and h.shape == (2, 4, 2)
    g = Gaussian(jnp.zeros(2), jnp.eye(2))
    res = physebm.sample(
        g, key=jax.random.key(9), num_chains=2, num_steps=4, sampler="replica_exchange",
        step_size=0.3, init=jnp.ones(2), num_replicas=3,
    )  # fmt: skip
    assert res.parameters["inner"] == "MALA" and res.state.position.shape == (2, 3, 2)


def test_replica_exchange_errors():
    import samplers

    key = jax.random.key(0)
    pt = samplers.ReplicaExchange(samplers.Checkerboard(), jnp.array([0.2, 0.4]))
    kw = dict(key=key, num_chains=1, num_steps=2)
    with pytest.raises(ValueError, match=r"beta = 0.3 .* must be a rung"):
        physebm.sample(physebm.Gibbs(Ising((4, 4)), 0.3), sampler=pt, **kw)
    with pytest.raises(ValueError, match="carries its own ladder"):
        physebm.sample(Ising((4, 4)), sampler=pt, betas=[0.1, 0.2], **kw)
    with pytest.raises(ValueError, match="options of sampler='replica_exchange'"):
        physebm.sample(Ising((4, 4)), betas=[0.1, 0.2], **kw)
    with pytest.raises(ValueError, match="num_replicas must be an integer"):
        physebm.sample(Ising((4, 4)), sampler="replica_exchange", num_replicas=1, **kw)
    with pytest.raises(ValueError, match="not both"):
        physebm.sample(
            Ising((4, 4)), sampler="replica_exchange", num_replicas=3, betas=[0.1, 1.0], **kw
        )
    with pytest.raises(ValueError, match="needs step_size"):
        g = Gaussian(jnp.zeros(2), jnp.eye(2))
        physebm.sample(g, sampler="replica_exchange", **kw)
    with pytest.raises(ValueError, match="strictly increasing"):
        physebm.sample(Ising((4, 4)), sampler="replica_exchange", betas=[0.4, 0.2], **kw)
