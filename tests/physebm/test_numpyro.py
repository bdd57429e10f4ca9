"""A Gibbs distribution inside a numpyro model, sampled by numpyro's NUTS."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
from numpyro.diagnostics import effective_sample_size
from numpyro.infer import MCMC, NUTS

from physebm import Gibbs, GibbsDistribution, gibbs_factor, sample_gibbs
from physebm.models import Gaussian

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


def _run(model):
    mcmc = MCMC(
        NUTS(model),
        num_warmup=400,
        num_samples=2000,
        num_chains=2,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(0))
    return mcmc.get_samples(group_by_chain=True)["x"]


def test_nuts_on_gibbs_distribution_recovers_gaussian_moments():
    gibbs = Gibbs(Gaussian(MEAN, PRECISION), beta=BETA)
    _check_moments(_run(lambda: sample_gibbs("x", gibbs, (2,))))


def test_gibbs_factor_route_matches_distribution_log_prob():
    gibbs = Gibbs(Gaussian(MEAN, PRECISION), beta=BETA)
    d = GibbsDistribution(gibbs, (2,))
    xs = jnp.array([[0.0, 0.0], [1.0, -1.0], [2.0, 3.0]])
    np.testing.assert_allclose(d.log_prob(xs), jax.vmap(gibbs.log_unnormalized)(xs), rtol=1e-14)

    def model():
        x = numpyro.sample(
            "x",
            numpyro.distributions.ImproperUniform(
                numpyro.distributions.constraints.real_vector, (), event_shape=(2,)
            ),
        )
        gibbs_factor("energy", gibbs, x)

    from numpyro.infer.util import log_density

    lp, _ = log_density(model, (), {}, {"x": xs[1]})
    assert float(lp) == float(gibbs.log_unnormalized(xs[1]))
