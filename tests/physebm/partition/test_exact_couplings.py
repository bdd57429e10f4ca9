"""exact() is differentiable in every model parameter, and keeps its route under jit and vmap.

The route is chosen from static information only (shape, boundaries, ``Ising.zero_field``), so
a model passed to ``jit`` as an argument, built inside ``jit``/``vmap``/``grad``, or
differentiated with respect to its couplings and fields takes the route of the concrete model.
Gradients are checked against central finite differences (float64, see tests/conftest.py) and,
for Kaufman's route, against enumeration.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physebm.models import RBM, BoltzmannMachine, CurieWeiss, Ising
from physebm.partition import exact

BETA = 0.7
W5 = jnp.asarray(np.random.default_rng(0).normal(size=(5, 5)))
W5 = 0.3 * (W5 + W5.T)
B5 = jnp.linspace(-1.0, 1.0, 5)
W_RBM = 0.3 * jnp.asarray(np.random.default_rng(1).normal(size=(5, 3)))

# name: (model of (J, h), its route, whether h is a parameter of that route)
CASES = {
    "kaufman_even": (lambda J, h: Ising((6, 8), J=J), "kaufman", False),
    "kaufman_odd": (lambda J, h: Ising((5, 7), J=J), "kaufman", False),
    "transfer_torus_field": (lambda J, h: Ising((4, 5), J=J, h=h), "transfer_matrix", True),
    "transfer_free": (
        lambda J, h: Ising((4, 5), J=J, h=h, periodic=False),
        "transfer_matrix",
        True,
    ),
    "transfer_chain": (lambda J, h: Ising((30,), J=J, h=h), "transfer_matrix", True),
    "magnetization_sum": (lambda J, h: CurieWeiss(40, J=J, h=h), "magnetization_sum", True),
    "enumeration_ising": (lambda J, h: Ising((3, 3), J=J, h=h), "enumeration", True),
    "enumeration_boltzmann": (lambda J, h: BoltzmannMachine(J * W5, h * B5), "enumeration", True),
    "enumeration_rbm": (
        lambda J, h: RBM(J * W_RBM, h * jnp.ones(5), -h * jnp.ones(3)),
        "enumeration",
        True,
    ),
}
POINTS = [(0.6, 0.2), (-0.4, -0.3)]


def _log_z(case, method="auto"):
    build, _, _ = CASES[case]
    return lambda J, h: exact(build(J, h), BETA, method=method).log_z


def _central_difference(f, x, y, step=1e-5):
    dx = (f(x + step, y) - f(x - step, y)) / (2 * step)
    dy = (f(x, y + step) - f(x, y - step)) / (2 * step)
    return np.array([float(dx), float(dy)])


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("point", POINTS)
def test_grad_in_coupling_and_field_matches_central_differences(case, point):
    build, method, has_field = CASES[case]
    J, h = point
    if case == "kaufman_odd" and J < 0:
        J = -J  # a frustrated odd torus: Kaufman's formula needs J > 0 (see the NaN test)
    if not has_field:
        h = 0.0
    routes = []

    def log_z(J, h):
        res = exact(build(J, h), BETA, method=method)
        routes.append(res.method)
        return res.log_z

    grad = np.array([float(g) for g in jax.grad(log_z, argnums=(0, 1))(J, h)])
    assert set(routes) == {method}
    fd = _central_difference(log_z, J, h)
    np.testing.assert_allclose(grad, fd, rtol=1e-7, atol=1e-7)
    if not has_field:
        assert grad[1] == 0.0  # structurally zero field: h is not a parameter of the route


@pytest.mark.parametrize(
    "shape",
    [
        (4, 4),
        pytest.param((2, 4), marks=pytest.mark.slow),
        pytest.param((2, 3), marks=pytest.mark.slow),
    ],
)
def test_kaufman_first_and_second_derivatives_in_J_equal_enumeration(shape):
    Js = np.array([-0.9, -1e-9, 0.0, 1e-9, 0.3, 0.9])
    if shape[0] % 2 or shape[1] % 2:
        Js = Js[Js >= 0]  # frustrated odd torus: Kaufman's formula needs J > 0

    def by(method):
        return lambda J: exact(Ising(shape, J=J), BETA, method=method).log_z

    for derivative in (lambda f: f, jax.grad, lambda f: jax.grad(jax.grad(f))):
        got = jax.jit(jax.vmap(derivative(by("kaufman"))))(Js)
        ref = jax.jit(jax.vmap(derivative(by("enumeration"))))(Js)
        np.testing.assert_allclose(np.asarray(got), np.asarray(ref), rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("case", CASES)
def test_jit_with_the_model_as_argument_keeps_the_route(case):
    build, method, has_field = CASES[case]
    model = build(0.6, 0.2 if has_field else 0.0)
    ref = exact(model, BETA)
    traced = jax.jit(lambda m, b: exact(m, b))(model, BETA)
    assert traced.method == ref.method  # traced J and h: the route of the concrete model
    assert ref.method == method or method == "enumeration"  # enumeration is the last resort
    assert float(traced.log_z) == pytest.approx(float(ref.log_z), rel=1e-13)
    forced = jax.jit(lambda m, b: exact(m, b, method=method))(model, BETA)
    assert forced.method == method
    assert float(forced.log_z) == pytest.approx(float(ref.log_z), rel=1e-12)


@pytest.mark.parametrize("shape", [(16, 16), (32, 32), (12, 12)])
def test_model_built_inside_jit_uses_kaufman(shape):
    result = jax.jit(lambda J, b: exact(Ising(shape, J=J), b))(1.0, 0.44)
    assert result.method == "kaufman"
    ref = exact(Ising(shape, J=1.0), 0.44)
    assert float(result.log_z) == pytest.approx(float(ref.log_z), rel=1e-13)


def test_grad_with_respect_to_the_model_pytree():
    # jax.grad over the Ising module itself: J is a leaf, as is the (structurally zero) h.
    model = Ising((16, 16), J=0.8)
    routes = []

    def log_z(m):
        res = exact(m, 0.5)
        routes.append(res.method)
        return res.log_z

    grad = jax.grad(log_z)(model)
    assert routes == ["kaufman"]
    fd = _central_difference(lambda J, h: exact(Ising((16, 16), J=J), 0.5).log_z, 0.8, 0.0)
    assert float(grad.J) == pytest.approx(fd[0], rel=1e-7)
    assert float(grad.h) == 0.0  # ⟨M⟩ = 0 at zero field


def _log_z_16(J):
    return exact(Ising((16, 16), J=J), 1.0).log_z


@pytest.mark.slow  # default-suite time: with the slow tests (CI runs them)
def test_vmap_over_a_batch_of_couplings_of_either_sign():
    Js = jnp.array([-1.2, -0.3, 0.0, 1e-10, 0.2, 0.44, 1.5])
    log_z = jax.vmap(_log_z_16)(Js)
    ref = [float(_log_z_16(float(J))) for J in Js]
    np.testing.assert_allclose(np.asarray(log_z), ref, rtol=1e-13)
    assert float(log_z[2]) == pytest.approx(256 * np.log(2.0), rel=1e-15)
    # ∂ log Z/∂J = β⟨B⟩ is odd in J (even torus) and ∂² log Z/∂J² = β² Var B = 2 × 256 at J = 0
    grads = jax.vmap(jax.grad(_log_z_16))(jnp.concatenate([Js, -Js]))
    np.testing.assert_allclose(np.asarray(grads[: len(Js)]), -np.asarray(grads[len(Js) :]))
    assert float(grads[2]) == 0.0
    assert float(jax.grad(jax.grad(_log_z_16))(0.0)) == pytest.approx(512.0, rel=1e-12)


def test_vmap_over_couplings_and_fields_on_the_transfer_matrix():
    Js, hs = jnp.array([-0.5, 0.1, 0.7]), jnp.array([0.3, -0.2, 0.0])
    got = jax.vmap(lambda J, h: exact(Ising((4, 5), J=J, h=h), BETA).log_z)(Js, hs)
    ref = [
        exact(Ising((4, 5), J=float(J), h=float(h)), BETA).log_z
        for J, h in zip(Js, hs, strict=True)
    ]
    np.testing.assert_allclose(np.asarray(got), np.asarray(ref), rtol=1e-13)


def test_frustrated_odd_torus_with_traced_negative_J_is_nan():
    # A concrete J < 0 on an odd torus takes another route; a traced one cannot, and gives NaN.
    assert exact(Ising((3, 5), J=-0.5), BETA).method == "transfer_matrix"
    traced = jax.jit(lambda J: exact(Ising((3, 5), J=J), BETA))(-0.5)
    assert traced.method == "kaufman" and np.isnan(float(traced.log_z))


def test_zero_field_is_a_static_flag_set_at_construction():
    assert Ising((4, 4)).zero_field and Ising((4, 4), h=0.0).zero_field
    assert Ising((4, 4), h=jnp.asarray(0)).zero_field
    assert not Ising((4, 4), h=0.1).zero_field
    flags = []

    def inside(J, h):
        flags.append((Ising((4, 4), J=J).zero_field, Ising((4, 4), J=J, h=h).zero_field))
        return exact(Ising((4, 4), J=J, h=h), BETA).log_z

    jax.jit(inside)(0.5, 0.0)  # h traced: a field parameter even though its value is 0
    assert flags == [(True, False)]
    with pytest.raises(ValueError, match=r"method='kaufman'.*needs h = 0 known at construction"):
        jax.jit(lambda h: exact(Ising((16, 16), h=h), BETA, method="kaufman").log_z)(0.0)


@pytest.mark.slow  # default-suite time: with the slow tests (CI runs them)
def test_curvature_in_J_is_finite_at_high_temperature_on_large_tori():
    # ∂² log Z/∂J² = β² Var B per bond is size-independent at high temperature (correlation
    # length ≪ L); on a 64x64 torus the ρ → 1 limit of Kaufman's zero mode once overflowed.
    Js = jnp.array([1e-7, 1e-5, 1e-3, 1e-2, 0.1])

    def per_bond(L):
        curvature = jax.vmap(jax.grad(jax.grad(lambda J: exact(Ising((L, L), J=J), 1.0).log_z)))
        return np.asarray(curvature(Js)) / (2 * L * L)

    small, large = per_bond(16), per_bond(64)
    assert np.all(np.isfinite(large))
    np.testing.assert_allclose(large, small, rtol=1e-10)
    np.testing.assert_allclose(small[:3], 1.0, atol=1e-5)  # Var B → number of bonds as J → 0
