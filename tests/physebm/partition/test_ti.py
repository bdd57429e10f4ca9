"""Thermodynamic integration against exact log Z; the quadrature-error flag; trapezoid weights.

The TI stderr is the sd of 16 per-chain integrals over √16, so ``within`` uses the Student-t
quantile with 15 dof (|z| ≤ 6.11, α = 2e-5 per check; 3 checks, fixed key). The bound on the
Richardson quadrature-error estimate (< 0.05) is an allowance, not a z-test."""

import jax
import numpy as np
import pytest
from stats_helpers import within

from physebm.partition import thermodynamic_integration
from physebm.partition.ti import trapezoid_weights

KEY = jax.random.key(7)


@pytest.mark.parametrize("fixture", ["gaussian", "small_rbm", "small_ising"])
def test_ti_within_stderr(fixture, request):
    model, beta, exact = request.getfixturevalue(fixture)
    r = thermodynamic_integration(
        model, beta, key=KEY, num_temperatures=32, num_chains=16, num_samples=100, num_burnin=20
    )
    within(r, exact)
    d = r.diagnostics
    assert d["integrand"].shape == (33,) and d["per_chain_integrals"].shape == (16,)
    assert abs(d["discretization_error_estimate"]) < 0.05


def test_coarse_grid_is_flagged(small_ising):
    """Two intervals cannot resolve the integrand: the Richardson estimate must say so."""
    model, beta, exact = small_ising
    r = thermodynamic_integration(
        model, 1.0, key=KEY, num_temperatures=2, num_chains=16, num_samples=100, num_burnin=20
    )
    assert any("quadrature error" in w for w in r.diagnostics["warnings"])
    assert not r.diagnostics["reliable"]


def test_trapezoid_weights_integrate_linear_functions_exactly():
    grid = np.array([0.0, 0.1, 0.35, 0.8, 1.0])
    w = trapezoid_weights(grid)
    assert w.sum() == pytest.approx(1.0)
    assert w @ (3 * grid + 2) == pytest.approx(3.5)


def test_bad_inputs(small_rbm):
    model, beta, _ = small_rbm
    with pytest.raises(ValueError, match="num_burnin"):
        thermodynamic_integration(model, beta, key=KEY, num_burnin=-1)
    with pytest.raises(ValueError, match="num_chains"):
        thermodynamic_integration(model, beta, key=KEY, num_chains=1)
    with pytest.raises(ValueError, match="num_temperatures"):
        thermodynamic_integration(model, beta, key=KEY, num_temperatures=1)
