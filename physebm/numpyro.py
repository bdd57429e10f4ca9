"""Use a Gibbs distribution inside a numpyro model.

Two routes:

* :func:`gibbs_factor` — add ``−β E(x)`` to the model's log joint for a value ``x`` that is
  already a sample site (``numpyro.factor``).
* :func:`sample_gibbs` — declare an unconstrained real site ``x`` with an improper flat prior and
  weight it by ``exp(−β E(x))``, so that NUTS/HMC sample x ~ p_β.
* :class:`GibbsDistribution` — a numpyro ``Distribution`` whose ``log_prob`` is the
  *unnormalised* ``−β E(x)`` (Z is unknown in general); fine for MCMC, which never needs Z.
"""

from __future__ import annotations

import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints

from physebm.gibbs import Gibbs


def gibbs_factor(name: str, gibbs: Gibbs, x):
    """``numpyro.factor(name, −β E(x))``: weight the model by the Gibbs density of ``x``."""
    return numpyro.factor(name, gibbs.log_unnormalized(x))


class GibbsDistribution(dist.ImproperUniform):
    """numpyro distribution with unnormalised ``log_prob(x) = −β E(x)`` on ℝ^event_shape.

    ``sample`` is not available (use MCMC); ``log_prob`` omits log Z(β), which MCMC does not
    need. For a normalised density, subtract ``physebm.partition.exact(...).log_z``.

    Args:
        gibbs: the :class:`~physebm.Gibbs` distribution.
        event_shape: shape of one configuration x.
    """

    def __init__(self, gibbs: Gibbs, event_shape: tuple[int, ...], *, validate_args=None):
        self.gibbs = gibbs
        support = (
            constraints.real
            if len(event_shape) == 0
            else constraints.independent(constraints.real, len(event_shape))
        )
        super().__init__(support, (), event_shape, validate_args=validate_args)

    def log_prob(self, value):
        import jax

        fn = self.gibbs.log_unnormalized
        batch_ndim = value.ndim - len(self.event_shape)
        for _ in range(batch_ndim):
            fn = jax.vmap(fn)
        return fn(value)


def sample_gibbs(name: str, gibbs: Gibbs, event_shape: tuple[int, ...]):
    """Declare the site ``name`` distributed as p_β(x) ∝ exp(−β E(x)) (for MCMC)."""
    return numpyro.sample(name, GibbsDistribution(gibbs, tuple(event_shape)))
