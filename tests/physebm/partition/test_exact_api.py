"""exact(): vectorisation over β, jit without recompiles, gradients, result fields, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physebm.models import (
    BETA_C_2D,
    RBM,
    BoltzmannMachine,
    CurieWeiss,
    Gaussian,
    Ising,
    KMeansEnergy,
)
from physebm.partition import LogZ, exact

MODELS = {
    "kaufman": Ising((6, 5)),
    "transfer_2d": Ising((4, 5), h=0.2, periodic=False),
    "chain": Ising((30,), h=0.1),
    "curie_weiss": CurieWeiss(50, h=0.05),
    "boltzmann": BoltzmannMachine(jnp.eye(5)[::-1] * 0.3, jnp.linspace(-1, 1, 5)),
    "rbm": RBM(jnp.ones((3, 4)) * 0.2, jnp.zeros(3), jnp.ones(4) * 0.1),
    "gaussian": Gaussian(jnp.zeros(2), jnp.array([[2.0, 0.3], [0.3, 1.0]])),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_vector_beta_equals_scalar_calls_and_result_is_exact(name):
    model = MODELS[name]
    betas = jnp.asarray([0.3, BETA_C_2D, 1.7])
    result = exact(model, betas)
    assert isinstance(result, LogZ)
    assert result.log_z.shape == (3,)
    scalars = np.array([float(exact(model, b).log_z) for b in np.asarray(betas)])
    np.testing.assert_allclose(np.asarray(result.log_z), scalars, rtol=1e-13)
    np.testing.assert_array_equal(result.stderr, np.zeros(3))
    np.testing.assert_array_equal(result.lower, result.log_z)
    np.testing.assert_array_equal(result.upper, result.log_z)


@pytest.mark.parametrize("name", list(MODELS))
def test_jit_over_beta_compiles_once(name):
    model = MODELS[name]
    num_traces = 0

    def log_z(beta):
        nonlocal num_traces
        num_traces += 1
        return exact(model, beta).log_z

    jitted = jax.jit(log_z)
    a, b = float(jitted(0.4)), float(jitted(0.9))
    assert num_traces == 1
    assert a == pytest.approx(float(exact(model, 0.4).log_z), rel=1e-13)
    assert b == pytest.approx(float(exact(model, 0.9).log_z), rel=1e-13)


@pytest.mark.parametrize("name", list(MODELS))
def test_grad_in_beta_matches_central_difference(name):
    model = MODELS[name]
    beta, eps = 0.7, 1e-5
    grad = float(jax.grad(lambda b: exact(model, b).log_z)(beta))
    fd = (float(exact(model, beta + eps).log_z) - float(exact(model, beta - eps).log_z)) / (2 * eps)
    assert grad == pytest.approx(fd, rel=1e-7, abs=1e-7)


def test_full_logz_result_can_be_returned_from_jit():
    model = Ising((4, 4))  # built outside jit: J and h stay concrete, so Kaufman applies
    result = jax.jit(lambda b: exact(model, b))(jnp.asarray([0.3, 0.5]))
    assert result.method == "kaufman"
    assert result.log_z.shape == (2,)


@pytest.mark.parametrize("beta", [0.0, -1.0, float("nan"), float("inf"), -np.inf])
def test_bad_beta_raises_value_error_naming_beta(beta):
    with pytest.raises(ValueError, match="beta"):
        exact(Ising((3, 3)), beta)
    with pytest.raises(ValueError, match="beta"):
        exact(Ising((3, 3)), jnp.asarray([0.5, beta]))


def test_non_numeric_or_matrix_beta_raises():
    with pytest.raises(TypeError, match="beta"):
        exact(Ising((3, 3)), "hot")
    with pytest.raises(ValueError, match="beta must be a scalar or a 1-D array"):
        exact(Ising((3, 3)), jnp.ones((2, 2)))


@pytest.mark.parametrize(
    "model, what",
    [
        (BoltzmannMachine(jnp.zeros((25, 25))), "BoltzmannMachine with 25 units has 2\\^25"),
        (RBM(jnp.zeros((30, 26))), "smaller layer of RBM\\(30, 26\\) has 2\\^26"),
        (Ising((5, 5), h=0.1, periodic=True), None),
    ],
)
def test_too_large_or_no_route_names_model_and_estimators(model, what):
    if what is None:  # 5x5 torus with field is fine (transfer matrix): make it too wide instead
        model = Ising((13, 14), h=0.1)
        what = "Ising"
    with pytest.raises(ValueError, match=what) as info:
        exact(model, 1.0)
    message = str(info.value)
    assert message.startswith("model: no exact route")
    assert "physebm.partition.ais" in message and "thermodynamic" in message


@pytest.mark.parametrize(
    "model", [lambda x: jnp.sum(x**2), KMeansEnergy(jnp.zeros((2, 3))), "ising"]
)
def test_unsupported_model_raises_type_error_listing_supported(model):
    with pytest.raises(TypeError, match=r"model must be one of Gaussian, Ising.*ais"):
        exact(model, 1.0)


def test_bad_method_raises():
    with pytest.raises(ValueError, match="method must be one of"):
        exact(Ising((3, 3)), 1.0, method="magic")
    with pytest.raises(ValueError, match=r"method='kaufman'.*needs h = 0"):
        exact(Ising((3, 3), h=0.1), 1.0, method="kaufman")
    with pytest.raises(ValueError, match=r"method='kaufman'.*periodic 2-D"):
        exact(Ising((4, 4), periodic=False), 1.0, method="kaufman")
    with pytest.raises(ValueError, match=r"method='closed_form' does not apply to this RBM"):
        exact(MODELS["rbm"], 1.0, method="closed_form")


def test_non_positive_definite_gaussian_raises():
    model = Gaussian(jnp.zeros(2), jnp.array([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(ValueError, match="positive definite precision"):
        exact(model, 1.0)


def test_traced_model_parameters_keep_the_route_of_the_concrete_model():
    # Passing the model through jit makes J and h tracers; the route depends only on static
    # information (shape, boundaries, the zero_field flag), so Kaufman is kept.
    model = Ising((4, 6))
    traced = jax.jit(lambda m, b: exact(m, b))(model, 0.5)
    assert traced.method == "kaufman"
    assert float(traced.log_z) == pytest.approx(float(exact(model, 0.5).log_z), rel=1e-12)
    built_inside = jax.jit(lambda b: exact(Ising((4, 6)), b))(0.5)
    assert built_inside.method == "kaufman"
    assert float(built_inside.log_z) == pytest.approx(float(traced.log_z), rel=1e-12)
    # Too large for the transfer matrix: Kaufman under jit, as without it.
    big = jax.jit(lambda m, b: exact(m, b))(Ising((16, 16)), 0.5)
    assert big.method == "kaufman"
    assert float(big.log_z) == pytest.approx(float(exact(Ising((16, 16)), 0.5).log_z), rel=1e-12)
