"""The model protocol (EnergyModel) and the per-type capability registries.

A model defined and registered in this file alone is picked up by ``physebm.partition.exact``,
``physebm.thermodynamics`` and ``physebm.sample``: no library code names it.
"""

import equinox as eqx
import ground_truth as gt
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physebm
import samplers
from physebm.models import (
    RBM,
    BoltzmannMachine,
    CurieWeiss,
    EnergyModel,
    Gaussian,
    GMMEnergy,
    Ising,
    KMeansEnergy,
    LatentEnergyModel,
    capabilities,
    domain_of,
)
from physebm.models.base import DOMAINS
from physebm.partition import exact
from physebm.partition.exact import ExactRoute

W3 = jnp.array([[0.0, 1.0, -0.5], [1.0, 0.0, 0.4], [-0.5, 0.4, 0.0]])
BUILTIN = {
    "ising": (Ising((3, 4)), jnp.ones((3, 4)), 12),
    "curie_weiss": (CurieWeiss(5), jnp.ones(5), 5),
    "boltzmann": (BoltzmannMachine(W3, jnp.ones(3), domain="bits"), jnp.ones(3), 3),
    "rbm": (RBM(jnp.ones((2, 3))), (jnp.ones(2), jnp.ones(3)), 5),
    "gaussian": (Gaussian(jnp.zeros(2), jnp.eye(2)), jnp.ones(2), 2),
}


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_models_are_energy_models(name):
    model, x, num_units = BUILTIN[name]
    assert isinstance(model, EnergyModel)
    assert model.domain in DOMAINS and domain_of(model) == model.domain
    shapes = model.event_shape if name == "rbm" else (model.event_shape,)
    assert tuple(leaf.shape for leaf in jax.tree.leaves(x)) == shapes
    assert float(model(x)) == float(model.energy(x))
    assert capabilities.num_sites(model) == num_units


def test_rbm_position_is_the_pair_and_energy_takes_both_forms():
    rbm, (v, h), _ = BUILTIN["rbm"]
    assert rbm.domain == "bits" and rbm.event_shape == ((2,), (3,))
    assert float(rbm.energy(v, h)) == float(rbm.energy((v, h))) == float(rbm((v, h)))


def test_latent_models_register_their_energies():
    km = KMeansEnergy(jnp.array([[0.0, 0.0], [1.0, 1.0]]))
    gmm = GMMEnergy(jnp.zeros((2, 2)), jnp.stack([jnp.eye(2)] * 2))
    y = jnp.array([1.0, 0.0])
    for model in (km, gmm):
        assert isinstance(model, LatentEnergyModel)
        np.testing.assert_array_equal(capabilities.latent_energies(model)(y), model.energies(y))
        assert float(model.energy(y, 1)) == float(model.energies(y)[1])


def test_unregistered_types_get_the_documented_defaults():
    def fn(x):
        return jnp.sum(x**2)

    for registry in (
        capabilities.exact_routes,
        capabilities.exact_sampler,
        capabilities.default_base,
        capabilities.pairwise_form,
        capabilities.analytic_free_energy,
        capabilities.latent_energies,
    ):
        assert registry(fn) is None
    assert capabilities.default_sampler(fn, 1.0, None) is None
    assert capabilities.pairwise_form(BUILTIN["gaussian"][0]) is None
    assert domain_of(fn) is None
    with pytest.raises(TypeError, match="model must be a built-in physebm model"):
        capabilities.num_sites(fn)


# A user model, registered here and nowhere else.


class Spins(EnergyModel):
    """Independent spins in fields h_i: E(s) = −Σ_i h_i s_i, s_i ∈ {−1, +1}."""

    h: jax.Array
    domain: str = eqx.field(static=True, default="spin")

    @property
    def event_shape(self):
        return self.h.shape

    def energy(self, s):
        return -self.h @ s


class FieldSpins(Spins):
    """The same energy with its exact log Z, exact sampler and heat-bath kernel registered."""


@capabilities.exact_routes.register(FieldSpins)
def _field_spins_routes(model):
    def log_z_fn(beta):  # Z = Π_i 2 cosh(β h_i)
        return jnp.sum(jnp.logaddexp(beta * model.h, -beta * model.h))

    return {"closed_form": ExactRoute(log_z_fn, "closed_form", {"num_sites": model.h.shape[0]})}


@capabilities.exact_sampler.register(FieldSpins)
def _field_spins_exact_sampler(model):
    def sample_fn(key, beta, num):
        p_up = jax.nn.sigmoid(2 * beta * model.h)
        return jnp.where(jax.random.uniform(key, (num, *model.h.shape)) < p_up, 1.0, -1.0)

    return capabilities.ExactSampler("independent", sample_fn)


@capabilities.default_sampler.register(FieldSpins)
def _field_spins_sampler(model, beta, sampler):
    # Every spin is redrawn from p(s_i = +1) = σ(2βh_i) each sweep (any two colours: the spins
    # do not interact), so every kept state is an exact independent draw.
    colors = np.arange(model.h.shape[0]) % 2
    alg = samplers.colored_gibbs(lambda s: model.h, beta, colors)
    return capabilities.DefaultSampler("field_heat_bath", alg, jnp.result_type(float))


H = jnp.array([0.3, -0.8, 1.5])
BETAS = np.array([0.2, 1.0, 2.5])


def test_user_model_exact_log_z_against_enumeration():
    model = FieldSpins(H)
    energies = -gt.all_spins(3) @ np.asarray(H)
    result = exact(model, jnp.asarray(BETAS))
    assert result.method == "closed_form"
    expected = [gt.log_z_from_energies(energies, b) for b in BETAS]
    np.testing.assert_allclose(result.log_z, expected, rtol=1e-13)
    assert float(exact(model, 1.0, method="closed_form").log_z) == pytest.approx(expected[1])


def test_user_model_thermodynamics():
    th = physebm.thermodynamics(FieldSpins(H), jnp.asarray(BETAS))
    bh = BETAS[:, None] * np.asarray(H)
    u = -np.sum(np.asarray(H) * np.tanh(bh), axis=1)  # U = −Σ h_i tanh(βh_i)
    c = np.sum(bh**2 / np.cosh(bh) ** 2, axis=1)  # C = Σ (βh_i)² sech²(βh_i)
    np.testing.assert_allclose(th.internal_energy, u, rtol=1e-12)
    np.testing.assert_allclose(th.heat_capacity, c, rtol=1e-12)
    assert th.num_sites == 3  # from the EnergyModel default: the size of event_shape
    np.testing.assert_allclose(th.per_site().log_z, th.log_z / 3, rtol=1e-15)


def test_user_model_sample_uses_its_registered_kernel():
    beta = 0.7
    res = physebm.sample(
        FieldSpins(H), key=jax.random.key(0), num_chains=50, num_steps=200, beta=beta
    )
    assert res.sampler == "field_heat_bath"
    s = np.asarray(res.samples).reshape(-1, 3)  # 10 000 independent exact draws
    m = np.tanh(beta * np.asarray(H))
    se = np.sqrt((1 - m**2) / s.shape[0])
    assert np.all(np.abs(s.mean(0) - m) < 5 * se)  # false-failure rate ~2e-6


def test_user_model_exact_sampler_is_registered():
    beta = 0.7
    sampler = capabilities.exact_sampler(FieldSpins(H))
    assert sampler.name == "independent"
    s = np.asarray(sampler.sample_fn(jax.random.key(1), beta, 10_000))
    m = np.tanh(beta * np.asarray(H))
    assert np.all(np.abs(s.mean(0) - m) < 5 * np.sqrt((1 - m**2) / 10_000))


def test_unregistered_discrete_model_gets_metropolis_and_no_exact_route():
    model = Spins(H)
    res = physebm.sample(model, key=jax.random.key(0), num_chains=2, num_steps=3, beta=0.5)
    assert res.sampler == "metropolis" and res.samples.shape == (2, 3, 3)
    with pytest.raises(TypeError, match=r"model must be one of Gaussian, Ising.*Spins"):
        exact(model, 1.0)
