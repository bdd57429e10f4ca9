"""A Gibbs distribution inside a numpyro model: normalised log_prob, NUTS on x and on β."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
import stats_helpers
from numpyro.diagnostics import effective_sample_size
from numpyro.infer import MCMC, NUTS
from numpyro.infer.util import log_density
from scipy.special import logsumexp
from scipy.stats import gamma

from physebm import Gibbs, GibbsDistribution, gibbs_factor, sample_gibbs
from physebm.models import BoltzmannMachine, Gaussian, Ising
from physebm.numpyro import SpinConstraint, UnnormalizedDensityError
from physebm.partition import exact

MEAN = jnp.array([1.0, -2.0])
PRECISION = jnp.array([[2.0, 0.6], [0.6, 1.0]])
BETA = 2.0
Z = 5.0  # |z| bound per statistic: two-sided false-failure rate ≈ 6e-7 each


def _check_moments(samples):
    """Mean and covariance within Z MCSE (MCSE from ESS of each statistic's series)."""
    x = np.asarray(samples)  # (chains, draws, 2)
    cov = np.linalg.inv(BETA * np.asarray(PRECISION))
    for i in range(2):
        series = x[..., i]
        ess = float(effective_sample_size(series))
        mcse = np.sqrt(cov[i, i] / ess)
        assert abs(series.mean() - float(MEAN[i])) < Z * mcse
    for i in range(2):
        for j in range(i, 2):
            prod = (x[..., i] - float(MEAN[i])) * (x[..., j] - float(MEAN[j]))
            ess = float(effective_sample_size(prod))
            mcse = prod.std() / np.sqrt(ess)
            assert abs(prod.mean() - cov[i, j]) < Z * mcse, (i, j, prod.mean(), cov[i, j])


def _run(model, site="x", num_chains=2, **kwargs):
    mcmc = MCMC(
        NUTS(model),
        num_warmup=400,
        num_samples=2000,
        num_chains=num_chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(0), **kwargs)
    return mcmc.get_samples(group_by_chain=True)[site]


def test_nuts_on_gibbs_distribution_recovers_gaussian_moments():
    gibbs = Gibbs(Gaussian(MEAN, PRECISION), beta=BETA)
    _check_moments(_run(lambda: sample_gibbs("x", gibbs, (2,))))


def test_gibbs_factor_route_matches_distribution_log_prob():
    gibbs = Gibbs(Gaussian(MEAN, PRECISION), beta=BETA)
    d = GibbsDistribution(gibbs, (2,), normalized=False)
    xs = jnp.array([[0.0, 0.0], [1.0, -1.0], [2.0, 3.0]])
    np.testing.assert_allclose(d.log_prob(xs), jax.vmap(gibbs.log_unnormalized)(xs), rtol=1e-14)

    def model(normalized):
        x = numpyro.sample(
            "x",
            numpyro.distributions.ImproperUniform(
                numpyro.distributions.constraints.real_vector, (), event_shape=(2,)
            ),
        )
        gibbs_factor("energy", gibbs, x, normalized=normalized)

    lp, _ = log_density(model, (False,), {}, {"x": xs[1]})
    assert float(lp) == float(gibbs.log_unnormalized(xs[1]))
    # the default is normalised: the Gaussian's closed-form log Z is subtracted
    lp, _ = log_density(model, (None,), {}, {"x": xs[1]})
    log_z = float(exact(gibbs.energy, BETA).log_z)
    assert float(lp) == pytest.approx(float(gibbs.log_unnormalized(xs[1])) - log_z, rel=1e-14)


# ------------------------------------------------------------------ normalisation


def test_gaussian_log_prob_is_the_normal_density():
    """Deterministic: the closed-form log Z makes log_prob the N(μ, (βA)⁻¹) log density."""
    d = GibbsDistribution(Gibbs(Gaussian(MEAN, PRECISION), BETA))
    assert d.normalization == "exact:closed_form" and d.is_normalized and d.event_shape == (2,)
    xs = jnp.array([[0.0, 0.0], [1.0, -1.0], [2.0, 3.0]])
    ref = dist.MultivariateNormal(MEAN, precision_matrix=BETA * PRECISION).log_prob(xs)
    np.testing.assert_allclose(d.log_prob(xs), ref, rtol=1e-12)


@pytest.mark.parametrize(
    "model",
    [Ising((3, 3)), Ising((2, 4), J=0.7, h=0.3), BoltzmannMachine(0.3 * jnp.eye(5)[::-1], None)],
    ids=["ising-kaufman", "ising-field", "boltzmann"],
)
def test_discrete_log_prob_sums_to_one_over_all_states(model):
    """Deterministic: Σ_x p_β(x) = 1 over the enumerated states, and grad in β is E − U."""
    d = GibbsDistribution(Gibbs(model, 0.45))
    assert d.is_normalized and d.normalization.startswith("exact:")
    n = int(np.prod(d.event_shape))
    states = stats_helpers.all_states(n, model.domain).reshape(-1, *d.event_shape)
    lp = np.asarray(d.log_prob(jnp.asarray(states, dtype=float)))
    assert abs(logsumexp(lp)) < 1e-12
    # d/dβ log p_β(x) = −E(x) + ⟨E⟩_β: the exact route is differentiable in β
    p = np.exp(lp)
    energies = np.asarray(jax.vmap(model)(jnp.asarray(states, dtype=float)))
    x0 = jnp.asarray(states[3], dtype=float)
    g = jax.grad(lambda b: GibbsDistribution(Gibbs(model, b)).log_prob(x0))(0.45)
    assert float(g) == pytest.approx(-energies[3] + p @ energies, rel=1e-10, abs=1e-12)


def test_batched_factor_in_a_plate_and_observed_site_agree():
    model = Ising((3, 3))
    obs = GibbsDistribution(Gibbs(model, 0.4)).sample(jax.random.key(5), (7,))
    assert obs.shape == (7, 3, 3)

    def by_factor(beta):
        with numpyro.plate("obs", 7):
            gibbs_factor("s", Gibbs(model, beta), obs)

    def by_site(beta):
        with numpyro.plate("obs", 7):
            sample_gibbs("s", Gibbs(model, beta), obs=obs)

    lp_factor, _ = log_density(by_factor, (0.4,), {}, {})
    lp_site, _ = log_density(by_site, (0.4,), {}, {})
    d = GibbsDistribution(Gibbs(model, 0.4))
    expected = sum(float(d.log_prob(o)) for o in obs)
    assert float(lp_factor) == pytest.approx(expected, rel=1e-12)
    assert float(lp_site) == pytest.approx(expected, rel=1e-12)


@pytest.mark.slow  # default-suite time: with the slow tests (CI runs them)
def test_beta_posterior_by_nuts_matches_quadrature():
    """β ~ Gamma(4, 4) with 20 exact Ising(4×4) draws at β* = 0.4: NUTS on the normalised
    likelihood −β ΣE(sᵢ) − n log Z(β) against quadrature of prior × likelihood on a grid
    (exact log Z). Tolerance Z_CRIT = 4.26 MCSE (α = 2e-5), the MCSE from the ESS of the
    draws; the unnormalised likelihood (no log Z) puts the mean many tolerances away."""
    model = Ising((4, 4))
    obs = GibbsDistribution(Gibbs(model, 0.4)).sample(jax.random.key(11), (20,))
    total_e = float(jnp.sum(jax.vmap(model)(obs)))

    def numpyro_model():
        beta = numpyro.sample("beta", dist.Gamma(4.0, 4.0))
        with numpyro.plate("obs", obs.shape[0]):
            sample_gibbs("s", Gibbs(model, beta), obs=obs)

    draws = np.asarray(_run(numpyro_model, "beta", num_chains=4))
    grid = np.linspace(1e-3, 3.0, 6001)
    log_post = gamma.logpdf(grid, 4.0, scale=0.25) - grid * total_e
    log_post -= obs.shape[0] * np.asarray(exact(model, grid).log_z)
    w = np.exp(log_post - log_post.max())
    mean = np.trapezoid(grid * w, grid) / np.trapezoid(w, grid)
    sd = np.sqrt(np.trapezoid((grid - mean) ** 2 * w, grid) / np.trapezoid(w, grid))
    mcse = sd / np.sqrt(float(effective_sample_size(draws)))
    stats_helpers.assert_z(draws.mean() - mean, mcse, what="NUTS E[beta | data] vs quadrature")
    # power: without −n log Z(β) the posterior is Gamma(4, 4 + ΣE) (improper when 4 + ΣE ≤ 0)
    rate = 4.0 + total_e
    assert rate <= 0 or abs(4.0 / rate - mean) > 10 * stats_helpers.Z_CRIT * mcse


# ------------------------------------------------------------------ unknown log Z


def quartic(x):
    return 0.25 * jnp.sum(x**4)


def test_latent_beta_or_parameter_without_log_z_raises():
    def latent_beta():
        beta = numpyro.sample("beta", dist.Gamma(4.0, 4.0))
        sample_gibbs("x", Gibbs(quartic, beta), (2,), obs=jnp.ones(2))

    def latent_parameter():
        theta = numpyro.sample("theta", dist.Gamma(4.0, 4.0))
        sample_gibbs("x", Gibbs(lambda x: theta * quartic(x), 1.0), (2,), obs=jnp.ones(2))

    for model in (latent_beta, latent_parameter):
        with pytest.raises(UnnormalizedDensityError, match="doubly-intractable"):
            _run(model, "x")
    # unguarded on request; and a user's log Z makes it a proper likelihood
    d = GibbsDistribution(Gibbs(quartic, 2.0), (2,), normalized=False)
    assert not d.is_normalized and d.normalization == "unnormalized"
    d = GibbsDistribution(Gibbs(quartic, 2.0), (2,), log_z_fn=lambda b: -0.5 * jnp.log(b))
    assert float(d.log_prob(jnp.ones(2))) == pytest.approx(-1.0 + 0.5 * np.log(2.0))
    with pytest.raises(ValueError, match="normalized=True needs log Z"):
        GibbsDistribution(Gibbs(quartic, 2.0), (2,), normalized=True)


def test_x_only_inference_without_log_z_is_allowed():
    """Sampling x alone needs no Z: the guarded density differentiates in x."""
    d = GibbsDistribution(Gibbs(quartic, 2.0), (2,))
    assert d.normalization == "unnormalized (guarded)" and not d.is_normalized
    x = jnp.array([1.0, -2.0])
    np.testing.assert_allclose(jax.grad(d.log_prob)(x), -2.0 * x**3, rtol=1e-14)
    xs = _run(lambda: sample_gibbs("x", Gibbs(quartic, 2.0), (2,)))
    assert np.all(np.isfinite(np.asarray(xs)))


def test_shapes_support_sample_and_errors():
    d = GibbsDistribution(Gibbs(Ising((3, 3)), 0.4))
    assert isinstance(d.support.base_constraint, SpinConstraint) and d.support.is_discrete
    x = d.sample(jax.random.key(0), (2, 5))
    assert x.shape == (2, 5, 3, 3) and bool(jnp.all(jnp.abs(x) == 1))
    assert d.log_prob(x).shape == (2, 5)
    for bad in (jnp.ones(9), jnp.ones((3, 4)), jnp.ones((5, 4, 3))):
        with pytest.raises(ValueError, match=r"event_shape \(3, 3\), got shape"):
            d.log_prob(bad)
    with pytest.raises(NotImplementedError, match="physebm.sample"):
        GibbsDistribution(Gibbs(quartic, 1.0), (2,)).sample(jax.random.key(0))
    with pytest.raises(ValueError, match="event_shape must be given"):
        GibbsDistribution(Gibbs(quartic, 1.0))
    with pytest.raises(TypeError, match="gibbs must be a physebm.Gibbs"):
        GibbsDistribution(Ising((3, 3)))
    with pytest.raises(ValueError, match="do not pass normalized=False"):
        GibbsDistribution(Gibbs(quartic, 1.0), (2,), log_z_fn=jnp.log, normalized=False)
