"""AIS and TI on the periodic 2-D Ising model, 8×8 and 16×16 at β ∈ {0.3, β_c, 0.6}, against
Kaufman's exact finite-lattice log Z, each by ``within`` with a fixed key: AIS |z| ≤ 4.26
(normal delta-method stderr), TI |z| ≤ 6.11 (t with 15 dof, 16 chains); α = 2e-5 per check,
12 checks."""

import jax
import pytest
from stats_helpers import within

from physebm.models import BETA_C_2D, Ising
from physebm.partition import ais, exact, thermodynamic_integration

CASES = [(side, beta) for side in (8, 16) for beta in (0.3, BETA_C_2D, 0.6)]


@pytest.mark.parametrize(("side", "beta"), CASES)
def test_ais_lattice(side, beta):
    model = Ising((side, side))
    r = ais(model, beta, key=jax.random.key(side), num_temperatures=1000, num_chains=128)
    assert r.diagnostics["transition"] == "ising_checkerboard_lattice"
    within(r, exact(model, beta).log_z)


@pytest.mark.parametrize(("side", "beta"), CASES)
def test_ti_lattice(side, beta):
    model = Ising((side, side))
    r = thermodynamic_integration(
        model,
        beta,
        key=jax.random.key(side),
        num_temperatures=64,
        num_chains=16,
        num_samples=200,
        num_burnin=50,
    )
    within(r, exact(model, beta).log_z)
