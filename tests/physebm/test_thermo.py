"""Thermodynamics (F, U, S, C) by autodiff of the exact log Z, against independent references."""

import ground_truth as gt
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physebm import Thermodynamics, thermodynamics
from physebm.models import BETA_C_2D, RBM, BoltzmannMachine, CurieWeiss, Gaussian, Ising
from physebm.partition import exact

MODELS = {
    "kaufman": Ising((5, 6)),
    "transfer_2d": Ising((3, 4), J=0.8, h=0.3, periodic=False),
    "chain": Ising((40,), h=-0.2),
    "curie_weiss": CurieWeiss(60, h=0.1),
    "boltzmann_bits": BoltzmannMachine(
        jnp.array([[0.0, 1.0, -0.5], [1.0, 0.0, 0.4], [-0.5, 0.4, 0.0]]),
        jnp.array([0.2, -0.3, 0.1]),
        domain="bits",
    ),
    "rbm": RBM(jnp.array([[0.5, -1.0, 0.3], [0.8, 0.2, -0.6]]), jnp.array([0.1, -0.2])),
}
BETAS = np.array([0.2, BETA_C_2D, 0.9, 2.0])


def _log_z(model, beta):
    return float(exact(model, beta).log_z)


@pytest.mark.parametrize("name", list(MODELS))
def test_internal_energy_and_heat_capacity_match_finite_differences(name):
    model = MODELS[name]
    betas = jnp.asarray(BETAS)
    th = thermodynamics(model, betas)
    eps = 1e-4
    # Vectorised calls with the same β-array shape reuse one compilation.
    lz = [np.asarray(exact(model, betas + k * eps).log_z) for k in (-2, -1, 0, 1, 2)]
    u_fd = -(lz[3] - lz[1]) / (2 * eps)
    d2_fd = (-lz[4] + 16 * lz[3] - 30 * lz[2] + 16 * lz[1] - lz[0]) / (12 * eps**2)
    scale = 1 + np.abs(lz[2])
    np.testing.assert_allclose(th.log_z, lz[2], rtol=1e-14)
    # Truncation O(ε²·∂³), O(ε⁴·∂⁶) and rounding ε_mach·|log Z|/ε, ε_mach·|log Z|/ε² errors.
    assert np.all(np.abs(np.asarray(th.internal_energy) - u_fd) <= 1e-7 * scale)
    assert np.all(np.abs(np.asarray(th.heat_capacity) - BETAS**2 * d2_fd) <= 1e-4 * scale)
    # C = −β² ∂U/∂β, with U itself from autodiff.
    u_plus = np.asarray(thermodynamics(model, betas + eps).internal_energy)
    u_minus = np.asarray(thermodynamics(model, betas - eps).internal_energy)
    du = (u_plus - u_minus) / (2 * eps)
    np.testing.assert_allclose(th.heat_capacity, -(BETAS**2) * du, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("shape, h", [((3, 3), 0.0), ((3, 3), 0.25), ((2, 4), -0.4)])
def test_moments_equal_brute_force_averages(shape, h):
    """U = ⟨E⟩ and C = β² Var(E) under p_β ∝ e^{−βE}, enumerating all 2^n states."""
    energies = gt.ising_energies(shape, J=1.0, h=h, periodic=True)
    th = thermodynamics(Ising(shape, h=h), jnp.asarray(BETAS))
    for i, beta in enumerate(BETAS):
        w = np.exp(-beta * energies - gt.log_z_from_energies(energies, beta))
        mean = np.sum(w * energies)
        var = np.sum(w * (energies - mean) ** 2)
        assert float(th.internal_energy[i]) == pytest.approx(mean, rel=1e-11, abs=1e-11)
        assert float(th.heat_capacity[i]) == pytest.approx(beta**2 * var, rel=1e-10, abs=1e-11)
        s = -np.sum(w * np.log(w))  # Gibbs entropy −Σ p log p
        assert float(th.entropy[i]) == pytest.approx(s, rel=1e-11)
        assert float(th.free_energy[i]) == pytest.approx(mean - s / beta, rel=1e-11, abs=1e-11)


def test_periodic_chain_energy_matches_analytic_derivative():
    """Z = (2 cosh K)^N + (2 sinh K)^N at h = 0, so U = −J ∂_K log Z has a closed form."""
    N, J = 12, 0.8
    th = thermodynamics(Ising((N,), J=J), jnp.asarray(BETAS))
    for i, beta in enumerate(BETAS):
        K = beta * J
        c, s = 2 * np.cosh(K), 2 * np.sinh(K)
        dlogz_dk = N * (c ** (N - 1) * s + s ** (N - 1) * c) / (c**N + s**N)
        assert float(th.internal_energy[i]) == pytest.approx(-J * dlogz_dk, rel=1e-12)


def test_gaussian_equipartition():
    """log Z = (d/2) log(2π/β) − ½ log det A: U = d/(2β), C = d/2 exactly."""
    model = Gaussian(jnp.zeros(3), jnp.diag(jnp.array([1.0, 2.0, 5.0])))
    th = thermodynamics(model, jnp.asarray(BETAS))
    np.testing.assert_allclose(th.internal_energy, 3 / (2 * BETAS), rtol=1e-13)
    np.testing.assert_allclose(th.heat_capacity, np.full(4, 1.5), rtol=1e-12)


GRID = 601  # one β-array length for the lattice tests below: one compilation per lattice size


@pytest.mark.slow  # default-suite time: with the slow tests (CI runs them)
def test_ising_heat_capacity_peak_approaches_beta_c():
    """Finite-size scaling on the L × L torus: the peak of C/N sits at β_c − a/L (a ≈ 0.15 for
    the torus) and its height grows like (8 K_c²/π) ln L (Ferdinand & Fisher 1969)."""
    betas = jnp.linspace(0.38, 0.50, GRID)  # spacing 2e-4
    peak_beta, peak_c = {}, {}
    for L in (16, 32):
        th = thermodynamics(Ising((L, L)), betas).per_site()
        c = np.asarray(th.heat_capacity)
        i = int(np.argmax(c))
        assert 0 < i < len(betas) - 1  # an interior maximum
        peak_beta[L], peak_c[L] = float(betas[i]), c[i]
    assert abs(peak_beta[16] - BETA_C_2D) < 0.3 / 16
    assert peak_beta[16] < peak_beta[32] < BETA_C_2D
    ratio = (BETA_C_2D - peak_beta[16]) / (BETA_C_2D - peak_beta[32])
    assert 1.6 < ratio < 2.4  # shift ∝ 1/L
    log_growth = 8 * BETA_C_2D**2 / np.pi * np.log(2)  # = 0.3428
    assert peak_c[32] - peak_c[16] == pytest.approx(log_growth, abs=0.02)


def test_entropy_is_non_negative_and_reaches_log2_per_spin():
    n = 256
    betas = jnp.geomspace(1e-6, 30.0, GRID)
    th = thermodynamics(Ising((16, 16)), betas)
    per = th.per_site()
    assert np.all(np.asarray(per.entropy) >= -1e-12)
    assert np.all(np.asarray(per.heat_capacity) >= -1e-12)
    assert np.all(np.asarray(per.entropy) <= np.log(2) + 1e-12)
    assert float(per.entropy[0]) == pytest.approx(np.log(2), abs=1e-10)  # β = 1e-6
    assert float(th.entropy[-1]) == pytest.approx(np.log(2), abs=1e-9)  # two ground states
    assert float(th.internal_energy[-1]) == pytest.approx(-2 * n, rel=1e-12)
    # S decreases monotonically as β grows (dS/dβ = −C/β ≤ 0).
    assert np.all(np.diff(np.asarray(th.entropy)) <= 1e-9)


def test_curie_weiss_entropy_per_spin_and_per_site_helper():
    model = CurieWeiss(200)
    th = thermodynamics(model, jnp.asarray([1e-6, 0.5]))
    assert th.num_sites == 200
    per = th.per_site()
    assert isinstance(per, Thermodynamics) and per.num_sites == 1
    np.testing.assert_allclose(per.log_z, th.log_z / 200)
    np.testing.assert_allclose(per.heat_capacity, th.heat_capacity / 200)
    np.testing.assert_array_equal(per.beta, th.beta)
    assert float(per.entropy[0]) == pytest.approx(np.log(2), abs=1e-8)


def test_thermodynamics_is_vectorised_and_jit_compiles_once():
    model = Ising((6, 6))
    num_traces = 0

    def heat_capacity(beta):
        nonlocal num_traces
        num_traces += 1
        return thermodynamics(model, beta).heat_capacity

    jitted = jax.jit(heat_capacity)
    a, b = float(jitted(0.3)), float(jitted(0.6))
    assert num_traces == 1
    vec = thermodynamics(model, jnp.asarray([0.3, 0.6]))
    np.testing.assert_allclose([a, b], vec.heat_capacity, rtol=1e-13)


def test_bad_input():
    with pytest.raises(ValueError, match="beta"):
        thermodynamics(Ising((3, 3)), -0.5)
    with pytest.raises(ValueError, match="beta"):
        thermodynamics(Ising((3, 3)), jnp.asarray([0.5, np.nan]))
    with pytest.raises(TypeError, match="model must be one of"):
        thermodynamics(lambda x: x @ x, 1.0)
