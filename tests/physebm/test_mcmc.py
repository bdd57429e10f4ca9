"""physebm.sample: default kernels per model, exact references, clear errors.

Statistical assertions use a fixed key and |z| < 3.89 (two-sided false-failure rate 1e-4 each);
the MCSE of a mean over correlated draws is sd/√ESS with ArviZ's ESS over all chains.
"""

import arviz
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

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
