"""Exact log Z of Boltzmann machines, RBMs, Curie–Weiss and Gaussians vs independent references."""

import ground_truth as gt
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.special import logsumexp

from physebm.models import RBM, BoltzmannMachine, CurieWeiss, Gaussian, Ising
from physebm.partition import exact

BETAS = np.array([0.3, 1.0, 2.7])


def _random_couplings(n, seed, scale=0.7):
    rng = np.random.default_rng(seed)
    A = rng.normal(scale=scale, size=(n, n))
    return (A + A.T) / 2, rng.normal(scale=0.5, size=n)


@pytest.mark.parametrize("domain", ["spin", "bits"])
@pytest.mark.parametrize("n", [1, 6, 16])
def test_boltzmann_machine_equals_brute_force(domain, n):
    W, b = _random_couplings(n, seed=n)
    result = exact(BoltzmannMachine(W, b, domain=domain), jnp.asarray(BETAS))
    assert result.method == "enumeration"
    assert result.info == {"num_states": 2**n}  # n = 16 runs in 4 blocks of 2^14
    energies = gt.boltzmann_energies(W, b, domain)
    ref = np.array([gt.log_z_from_energies(energies, beta) for beta in BETAS])
    np.testing.assert_allclose(np.asarray(result.log_z), ref, rtol=1e-12, atol=0)


def _rbm(nv, nh, seed):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(scale=1.0, size=(nv, nh)),
        rng.normal(scale=0.5, size=nv),
        rng.normal(scale=0.5, size=nh),
    )


@pytest.mark.parametrize("nv, nh", [(4, 7), (7, 4), (5, 5), (15, 3)])
def test_rbm_smaller_layer_equals_joint_enumeration(nv, nh):
    W, b, c = _rbm(nv, nh, seed=nv * 10 + nh)
    result = exact(RBM(W, b, c), jnp.asarray(BETAS))
    assert result.method == "enumeration"
    assert result.diagnostics["num_states"] == 2 ** min(nv, nh)
    assert result.diagnostics["num_summed_units"] == max(nv, nh)
    ref = np.array([gt.rbm_joint_log_z(W, b, c, beta) for beta in BETAS])
    np.testing.assert_allclose(np.asarray(result.log_z), ref, rtol=1e-12, atol=0)


def test_rbm_beta_multiplies_the_joint_energy():
    """log Z(β) = logsumexp_v(−β F_β(v)), not logsumexp_v(−β F₁(v)): they differ at β ≠ 1."""
    W, b, c = _rbm(4, 6, seed=3)
    model = RBM(W, b, c)
    v = jnp.asarray(gt.all_bits(4))
    for beta in (0.4, 2.5):
        right = float(exact(model, beta).log_z)
        wrong = float(logsumexp(-beta * model.free_energy(v, 1.0)))
        assert right == pytest.approx(gt.rbm_joint_log_z(W, b, c, beta), rel=1e-12)
        assert abs(right - wrong) > 0.1
    # At β = 1 the two coincide.
    assert float(exact(model, 1.0).log_z) == pytest.approx(
        float(logsumexp(-model.free_energy(v, 1.0))), rel=1e-12
    )


@pytest.mark.parametrize("N", [1, 2, 7, 14])
@pytest.mark.parametrize("J, h", [(1.0, 0.0), (1.0, 0.2), (-0.5, 0.3), (2.0, -0.1)])
def test_curie_weiss_equals_brute_force(N, J, h):
    result = exact(CurieWeiss(N, J=J, h=h), jnp.asarray(BETAS))
    assert result.method == "magnetization_sum"
    assert result.info == {"num_terms": N + 1}
    ref = np.array([gt.curie_weiss_log_z_brute(N, beta, J, h) for beta in BETAS])
    np.testing.assert_allclose(np.asarray(result.log_z), ref, rtol=1e-12, atol=0)


@pytest.mark.parametrize("beta, h", [(0.5, 0.0), (1.5, 0.0), (1.5, 0.1), (0.8, 0.3)])
def test_curie_weiss_free_energy_per_spin_approaches_mean_field(beta, h):
    """−log Z/(βN) = f_MF + O(1/N) away from β = 1 (Laplace: the fluctuation and degeneracy
    terms in log Z are O(1)). Bound: |Δf| ≤ 3/(βN), and it shrinks ~10× from N = 10³ to 10⁴."""
    f_mf = gt.curie_weiss_free_energy_limit(beta, 1.0, h)
    gaps = []
    for N in (1_000, 10_000):
        log_z = float(exact(CurieWeiss(N, h=h), beta).log_z)
        assert np.isfinite(log_z)
        gaps.append(abs(-log_z / (beta * N) - f_mf))
        assert gaps[-1] < 3 / (beta * N)
    assert 5 < gaps[0] / gaps[1] < 20


@pytest.mark.parametrize(
    "mean, precision", [([0.3], [[2.0]]), ([0.5, -1.0], [[2.0, 0.6], [0.6, 1.0]])]
)
@pytest.mark.parametrize("beta", [0.5, 2.0])
def test_gaussian_closed_form_equals_quadrature(mean, precision, beta):
    result = exact(Gaussian(jnp.asarray(mean), jnp.asarray(precision)), beta)
    assert result.method == "closed_form"
    ref = gt.gaussian_log_z_quadrature(mean, precision, beta)
    assert float(result.log_z) == pytest.approx(ref, rel=1e-9, abs=1e-10)


@pytest.mark.parametrize("shape", [(3, 3), (9,)])
def test_uncoupled_ising_is_independent_spins(shape):
    model = Ising(shape, J=0.0, h=0.4)
    result = exact(model, jnp.asarray(BETAS))
    assert result.method == "independent"
    energies = gt.ising_energies(shape, J=0.0, h=0.4)
    ref = np.array([gt.log_z_from_energies(energies, beta) for beta in BETAS])
    np.testing.assert_allclose(np.asarray(result.log_z), ref, rtol=1e-13)


@pytest.mark.parametrize(
    "model, other",
    [
        (Ising((3, 4), h=0.2), "transfer_matrix"),
        (Ising((4, 4)), "kaufman"),
        (Ising((11,), J=-0.3, h=0.5, periodic=False), "transfer_matrix"),
        (CurieWeiss(9, J=1.2, h=-0.3), "magnetization_sum"),
    ],
)
def test_forced_enumeration_agrees_with_the_fast_route(model, other):
    betas = jnp.asarray([0.2, 0.9])
    fast = exact(model, betas, method=other)
    slow = exact(model, betas, method="enumeration")
    assert slow.info == {"num_states": 2 ** int(np.prod(model.event_shape))}
    np.testing.assert_allclose(fast.log_z, slow.log_z, rtol=1e-12)


def test_curie_weiss_gaussian_fluctuation_correction():
    """Disordered phase, h = 0: Z = 2ᴺ E[exp(βJ M²/(2N))] → 2ᴺ (1 − βJ)^{−1/2} as N → ∞
    (M/√N is asymptotically standard normal under the uniform measure); corrections O(1/N)."""
    N, beta = 10_000, 0.5
    log_z = float(exact(CurieWeiss(N), beta).log_z)
    assert log_z - N * np.log(2) == pytest.approx(-0.5 * np.log(1 - beta), abs=1e-3)


def test_quoted_reference_values():
    """The values quoted in the docs, each recomputed here from an independent reference."""
    from physebm.models import BETA_C_2D

    ising = {L: float(exact(Ising((L, L)), BETA_C_2D).log_z) for L in (4, 16, 32)}
    assert ising[4] == pytest.approx(gt.ising_log_z_brute((4, 4), gt.BETA_C), rel=1e-14)
    assert ising[4] == pytest.approx(15.5219154587553, rel=1e-13)
    assert ising[16] == pytest.approx(238.642256635133, rel=1e-13)  # see test_exact_kaufman
    assert ising[32] == pytest.approx(952.648079548543, rel=1e-13)
    for periodic, quoted in [(True, 9.30697516340851), (False, 9.05645101605157)]:
        chain = float(exact(Ising((10,), h=0.1, periodic=periodic), 0.7).log_z)
        assert chain == pytest.approx(gt.ising_log_z_brute((10,), 0.7, h=0.1, periodic=periodic))
        assert chain == pytest.approx(quoted, rel=1e-13)
    W, b, c = _rbm(4, 7, seed=47)
    rbm = float(exact(RBM(W, b, c), 1.0).log_z)
    assert rbm == pytest.approx(gt.rbm_joint_log_z(W, b, c, 1.0), rel=1e-13)
    assert rbm == pytest.approx(10.0886632236931, rel=1e-13)
