"""Transfer matrices: the Ising chain with field and the 2-D lattice with field / free edges."""

import ground_truth as gt
import jax.numpy as jnp
import numpy as np
import pytest

from physebm.models import BETA_C_2D, Ising
from physebm.partition import exact

BETAS = np.array([0.1, 0.3, 0.7, 2.0, 5.0])


@pytest.mark.parametrize("N", [2, 3, 5, 14])
@pytest.mark.parametrize("periodic", [True, False])
@pytest.mark.parametrize("J, h", [(1.0, 0.0), (1.0, 0.1), (-0.7, -0.5), (0.4, 1.3)])
def test_chain_equals_brute_force_and_closed_form(N, periodic, J, h):
    result = exact(Ising((N,), J=J, h=h, periodic=periodic), jnp.asarray(BETAS))
    assert result.method == "transfer_matrix"
    energies = gt.ising_energies((N,), J=J, h=h, periodic=periodic)
    brute = np.array([gt.log_z_from_energies(energies, b) for b in BETAS])
    closed = np.array([gt.chain_log_z_closed_form(N, b, J, h, periodic) for b in BETAS])
    np.testing.assert_allclose(brute, closed, rtol=1e-12)  # the two references agree
    np.testing.assert_allclose(np.asarray(result.log_z), brute, rtol=1e-12, atol=0)


@pytest.mark.parametrize("periodic", [True, False])
def test_long_chain_at_low_temperature_is_finite_and_exact(periodic):
    N, beta = 100_000, 5.0
    for J, h in [(1.0, 0.1), (-1.0, 0.3), (1.0, 0.0)]:
        log_z = float(exact(Ising((N,), J=J, h=h, periodic=periodic), beta).log_z)
        assert np.isfinite(log_z)
        ref = gt.chain_log_z_closed_form(N, beta, J, h, periodic)
        assert log_z == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize(
    "shape, periodic, J, h",
    [
        ((3, 3), True, 1.0, 0.3),
        ((3, 3), False, 1.0, 0.3),
        ((2, 4), True, -0.8, 0.2),
        ((4, 3), False, -0.8, -0.4),
        ((4, 4), True, 0.6, -0.25),
        ((4, 4), False, 1.0, 0.0),
        ((2, 2), True, 1.0, 0.5),
    ],
)
def test_lattice_transfer_equals_brute_force(shape, periodic, J, h):
    betas = np.array([0.1, BETA_C_2D, 1.2, 3.0])
    result = exact(Ising(shape, J=J, h=h, periodic=periodic), jnp.asarray(betas))
    assert result.method == "transfer_matrix"
    assert result.diagnostics["row_width"] == min(shape)
    energies = gt.ising_energies(shape, J=J, h=h, periodic=periodic)
    ref = np.array([gt.log_z_from_energies(energies, b) for b in betas])
    np.testing.assert_allclose(np.asarray(result.log_z), ref, rtol=1e-12, atol=0)


@pytest.mark.parametrize(
    "shape, periodic, h",
    [((8, 6), False, 0.2), ((9, 7), True, -0.1), ((5, 7), False, 0.05), ((7, 5), True, 0.3)],
)
def test_lattice_transfer_equals_numpy_dense_transfer(shape, periodic, h):
    betas = np.array([0.2, BETA_C_2D, 0.9])
    result = exact(Ising(shape, J=1.0, h=h, periodic=periodic), jnp.asarray(betas))
    # The reference uses rows of length shape[1]; the library always uses the shorter side.
    for orientation in (shape, shape[::-1]):
        ref = np.array(
            [gt.row_transfer_log_z(orientation, b, h=h, periodic=periodic) for b in betas]
        )
        np.testing.assert_allclose(np.asarray(result.log_z), ref, rtol=1e-11, atol=0)


def test_wide_free_lattice_matches_high_temperature_series():
    """Width 13 (8192 row states) with free edges, only a vector is propagated.

    High-temperature expansion of the open M×N lattice at h = 0, t = tanh βJ:
    Z = 2ⁿ cosh(βJ)^B [1 + P t⁴ + D t⁶ + O(t⁸)] with B bonds, P = (M−1)(N−1) plaquettes and
    D = (M−1)(N−2) + (M−2)(N−1) six-bond loops. At β = 0.01 the O(t⁸) terms are ≲ 2e-12.
    """
    M, N, beta = 13, 16, 0.01
    result = exact(Ising((M, N), periodic=False), beta)
    assert result.method == "transfer_matrix"
    assert result.info == {"row_width": 13, "num_rows": 16, "num_row_states": 2**13}
    t = np.tanh(beta)
    bonds = M * (N - 1) + N * (M - 1)
    plaquettes = (M - 1) * (N - 1)
    hexagons = (M - 1) * (N - 2) + (M - 2) * (N - 1)
    series = (
        M * N * np.log(2)
        + bonds * np.log(np.cosh(beta))
        + np.log1p(plaquettes * t**4 + hexagons * t**6)
    )
    assert float(result.log_z) == pytest.approx(series, abs=1e-11)


def test_lattice_too_wide_for_transfer_raises_with_alternatives():
    with pytest.raises(ValueError, match=r"model: no exact route.*shorter side <= 12.*ais"):
        exact(Ising((13, 13), h=0.1), 0.4)
    with pytest.raises(ValueError, match=r"shorter side <= 20.*ais"):
        exact(Ising((21, 21), periodic=False), 0.4)
