"""Kaufman's finite-lattice formula (periodic 2-D Ising, h = 0) against independent references."""

import functools

import ground_truth as gt
import jax.numpy as jnp
import numpy as np
import pytest

from physebm.models import BETA_C_2D, Ising
from physebm.partition import exact

BETAS = np.array([0.05, 0.2, 0.35, BETA_C_2D, 0.5, 0.8, 1.5])


@functools.cache
def _energies(shape, J):
    return gt.ising_energies(shape, J=J, h=0.0, periodic=True)


def test_beta_c_constant_matches_reference():
    assert BETA_C_2D == pytest.approx(gt.BETA_C, rel=1e-15)


@pytest.mark.parametrize("shape", [(2, 2), (2, 3), (3, 2), (3, 3), (3, 4), (4, 3), (2, 5), (4, 4)])
@pytest.mark.parametrize("J", [1.0, 0.55])
def test_kaufman_equals_brute_force(shape, J):
    result = exact(Ising(shape, J=J), jnp.asarray(BETAS))
    assert result.method == "kaufman"
    ref = np.array([gt.log_z_from_energies(_energies(shape, J), b) for b in BETAS])
    np.testing.assert_allclose(np.asarray(result.log_z), ref, rtol=1e-12, atol=0)


@pytest.mark.parametrize("shape", [(2, 2), (2, 4), (4, 2), (4, 4)])
@pytest.mark.parametrize("J", [-1.0, -0.6])
def test_antiferromagnet_on_even_torus_uses_kaufman(shape, J):
    result = exact(Ising(shape, J=J), jnp.asarray(BETAS))
    assert result.method == "kaufman"
    ref = np.array([gt.log_z_from_energies(_energies(shape, J), b) for b in BETAS])
    np.testing.assert_allclose(np.asarray(result.log_z), ref, rtol=1e-12, atol=0)


@pytest.mark.parametrize("shape", [(3, 3), (2, 3)])
def test_frustrated_odd_antiferromagnet_avoids_kaufman(shape):
    result = exact(Ising(shape, J=-1.0), jnp.asarray(BETAS))
    assert result.method == "transfer_matrix"
    ref = np.array([gt.log_z_from_energies(_energies(shape, -1.0), b) for b in BETAS])
    np.testing.assert_allclose(np.asarray(result.log_z), ref, rtol=1e-12, atol=0)


ALL_BETAS = (0.15, 0.3, BETA_C_2D, 0.5, 0.9)


@pytest.mark.parametrize(
    "shape, J, betas",
    [
        ((5, 5), 1.0, ALL_BETAS),
        ((6, 8), 1.0, ALL_BETAS),
        ((7, 6), 0.7, ALL_BETAS),
        ((8, 8), -1.0, ALL_BETAS),
        ((10, 10), 1.0, (0.3, BETA_C_2D)),  # 1024 x 1024 reference: fewer β to save time
        ((16, 10), 1.0, (BETA_C_2D, 0.9)),
    ],
)
def test_kaufman_equals_numpy_row_transfer_matrix(shape, J, betas):
    betas = np.asarray(betas)
    result = exact(Ising(shape, J=J), jnp.asarray(betas))
    assert result.method == "kaufman"
    ref = np.array([gt.row_transfer_log_z(shape, b, J=J) for b in betas])
    np.testing.assert_allclose(np.asarray(result.log_z), ref, rtol=1e-11, atol=0)


def test_kaufman_equals_library_transfer_matrix_on_torus():
    model = Ising((9, 7))
    betas = jnp.asarray([0.3, BETA_C_2D, 1.1])
    kaufman = exact(model, betas)
    transfer = exact(model, betas, method="transfer_matrix")
    assert (kaufman.method, transfer.method) == ("kaufman", "transfer_matrix")
    np.testing.assert_allclose(kaufman.log_z, transfer.log_z, rtol=1e-12)


def test_kaufman_symmetric_under_swapping_sides():
    # The formula's products run over the columns only, so M <-> N is a real consistency check.
    betas = jnp.asarray([0.2, BETA_C_2D, 0.7])
    a = exact(Ising((6, 11)), betas).log_z
    b = exact(Ising((11, 6)), betas).log_z
    np.testing.assert_allclose(a, b, rtol=1e-13)


def test_16x16_and_32x32_at_beta_c_match_onsager_plus_universal_torus_term():
    """At β_c, ln Z(L×L) = L² f_Onsager + ln Z_CFT(τ=i) + O(L⁻²) (Ising CFT on the torus).

    The residual must be small at L = 16 and shrink by ≈ 4 when L doubles (it is ≈ 3.2e-4 at
    L = 16 and ≈ 8.0e-5 at L = 32); a wrong log Z at 16×16 by more than ~1e-3 fails.
    """
    f_inf = gt.onsager_log_z_per_site(gt.BETA_C)
    assert f_inf == pytest.approx(0.5 * np.log(2) + 2 * gt.CATALAN / np.pi, rel=1e-14)
    universal = gt.critical_torus_universal_log_z()
    residual = {}
    for L in (8, 16, 32):
        log_z = float(exact(Ising((L, L)), BETA_C_2D).log_z)
        residual[L] = log_z - L * L * f_inf - universal
    assert abs(residual[16]) < 1e-3
    for L in (8, 16):
        ratio = residual[L] / residual[2 * L]
        assert 3.5 < ratio < 4.6, (L, residual)


@pytest.mark.parametrize("beta", [0.25, 0.7])
def test_away_from_criticality_log_z_reaches_onsager(beta):
    """Off criticality ln Z(L×L) − L² f_Onsager → 0 (disordered) or ln 2 (ordered: two ground
    states), with corrections exponentially small in L/ξ (ξ ≲ 1.5 here)."""
    log_z = float(exact(Ising((32, 32)), beta).log_z)
    degeneracy = np.log(2) if beta > gt.BETA_C else 0.0
    assert log_z - 1024 * gt.onsager_log_z_per_site(beta) == pytest.approx(degeneracy, abs=1e-9)


def test_extreme_beta_is_finite_and_matches_asymptotics():
    model = Ising((8, 8))
    n = 64
    # β → ∞: two ground states with E = −2Jn; first excitation costs 8J (weight n e^{−8β}).
    for beta in (20.0, 60.0, 500.0):
        log_z = float(exact(model, beta).log_z)
        assert log_z == pytest.approx(np.log(2) + 2 * beta * n + n * np.exp(-8 * beta), rel=1e-15)
    # β → 0: log Z = n log 2 + 2n log cosh β + O(β⁸) (shortest closed loops have 4 bonds).
    for beta in (1e-8, 1e-4):
        log_z = float(exact(model, beta).log_z)
        assert log_z == pytest.approx(n * np.log(2) + 2 * n * np.log(np.cosh(beta)), rel=1e-14)
