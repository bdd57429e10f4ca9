"""Property-based tests (hypothesis, derandomized): random small models have exact log Z equal
to brute-force enumeration in numpy; random bad values (β of 0, negative, NaN or inf; NaN/inf
placed in parameters; non-integer sizes; weights that are not a distribution) raise a
documented error naming the argument, never a silent NaN."""

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp

from physebm.models import RBM, BoltzmannMachine, GMMEnergy, Ising
from physebm.partition import exact

SETTINGS = settings(
    max_examples=10,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
REAL = st.floats(-1.0, 1.0, allow_nan=False)
BETA = st.floats(0.05, 2.0)
BAD_BETA = st.sampled_from([0.0, -1.0, -1e-9, float("nan"), float("inf"), float("-inf")])
EXACT_SETTINGS = settings(SETTINGS, max_examples=6)  # a compilation per new size
BAD_VALUE = st.sampled_from([float("nan"), float("inf"), float("-inf")])


def configurations(n: int, domain: str) -> np.ndarray:
    """All 2^n configurations, rows of ±1 (spins) or {0, 1} (bits)."""
    states = np.array(list(itertools.product([0.0, 1.0], repeat=n)))
    return 2 * states - 1 if domain == "spin" else states


def lattice_bonds(shape, periodic: bool) -> list[tuple[int, int]]:
    """Nearest-neighbour pairs (i, j) of a chain or grid, each bond once per direction."""
    idx = np.arange(int(np.prod(shape))).reshape(shape)
    bonds = []
    for axis in range(len(shape)):
        nb = np.roll(idx, -1, axis=axis)
        keep = np.ones(shape, bool)
        if not periodic:
            keep = np.moveaxis(keep, axis, 0)
            keep[-1] = False
            keep = np.moveaxis(keep, 0, axis)
        bonds += list(zip(idx[keep].tolist(), nb[keep].tolist(), strict=True))
    return bonds


@st.composite
def ising_cases(draw):
    ndim = draw(st.sampled_from([1, 2]))
    shape = tuple(draw(st.integers(2, 3 if ndim == 2 else 8)) for _ in range(ndim))
    return shape, draw(REAL), draw(REAL), draw(st.booleans()), draw(BETA)


@EXACT_SETTINGS
@given(ising_cases())
def test_ising_exact_equals_enumeration(case):
    shape, J, h, periodic, beta = case
    s = configurations(int(np.prod(shape)), "spin")
    bonds = np.array(lattice_bonds(shape, periodic))
    energy = -J * np.sum(s[:, bonds[:, 0]] * s[:, bonds[:, 1]], axis=1) - h * s.sum(axis=1)
    res = exact(Ising(shape, J=J, h=h, periodic=periodic), beta)
    np.testing.assert_allclose(float(res.log_z), logsumexp(-beta * energy), rtol=1e-10)


@st.composite
def boltzmann_cases(draw):
    n = draw(st.integers(1, 5))
    a = np.array(draw(st.lists(REAL, min_size=n * n, max_size=n * n))).reshape(n, n)
    b = np.array(draw(st.lists(REAL, min_size=n, max_size=n)))
    return (a + a.T) / 2, b, draw(st.sampled_from(["spin", "bits"])), draw(BETA)


@EXACT_SETTINGS
@given(boltzmann_cases())
def test_boltzmann_exact_equals_enumeration(case):
    W, b, domain, beta = case
    x = configurations(len(b), domain)
    energy = -0.5 * np.einsum("ni,ij,nj->n", x, W, x) - x @ b
    res = exact(BoltzmannMachine(W, b, domain=domain), beta)
    np.testing.assert_allclose(float(res.log_z), logsumexp(-beta * energy), rtol=1e-10)


@st.composite
def rbm_cases(draw):
    nv, nh = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    W = np.array(draw(st.lists(REAL, min_size=nv * nh, max_size=nv * nh))).reshape(nv, nh)
    b = np.array(draw(st.lists(REAL, min_size=nv, max_size=nv)))
    c = np.array(draw(st.lists(REAL, min_size=nh, max_size=nh)))
    return W, b, c, draw(BETA)


@EXACT_SETTINGS
@given(rbm_cases())
def test_rbm_exact_equals_joint_enumeration(case):
    W, b, c, beta = case
    nv = len(b)
    x = configurations(nv + len(c), "bits")
    v, h = x[:, :nv], x[:, nv:]
    energy = -v @ b - h @ c - np.einsum("ni,ij,nj->n", v, W, h)
    res = exact(RBM(W, b, c), beta)
    np.testing.assert_allclose(float(res.log_z), logsumexp(-beta * energy), rtol=1e-10)


# ---- bad values raise, never a silent NaN ---------------------------------------------------

MODELS = {
    "ising": lambda: Ising((3, 3), J=0.5),
    "rbm": lambda: RBM(np.full((3, 2), 0.1)),
    "bm": lambda: BoltzmannMachine(np.zeros((3, 3))),
}


@SETTINGS
@given(st.sampled_from(sorted(MODELS)), BAD_BETA)
def test_exact_refuses_bad_beta(name, beta):
    with pytest.raises(ValueError, match="beta"):
        exact(MODELS[name](), beta)


@SETTINGS
@given(st.sampled_from(sorted(MODELS)), st.sampled_from([1e-12, 1e-6, 1e3, 1e6]))
def test_exact_finite_for_tiny_and_huge_beta(name, beta):
    """Log space keeps log Z finite at extreme β: log 2^n at β → 0, β · (−E_min) at β → ∞."""
    model = MODELS[name]()
    res = exact(model, beta)
    assert np.isfinite(float(res.log_z))
    if beta == 1e-12:
        n = 9 if name == "ising" else (5 if name == "rbm" else 3)
        np.testing.assert_allclose(float(res.log_z), n * np.log(2), rtol=1e-9)


@st.composite
def poisoned_rbm(draw):
    which = draw(st.sampled_from(["W", "b", "c"]))
    nv, nh = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    arrays = {"W": np.zeros((nv, nh)), "b": np.zeros(nv), "c": np.zeros(nh)}
    flat = arrays[which].reshape(-1)
    flat[draw(st.integers(0, flat.size - 1))] = draw(BAD_VALUE)
    return which, arrays


@SETTINGS
@given(poisoned_rbm())
def test_non_finite_rbm_parameters_named(case):
    which, arrays = case
    with pytest.raises(ValueError, match=f"^{which} must be finite"):
        RBM(**arrays)


@SETTINGS
@given(st.sampled_from(["J", "h"]), BAD_VALUE)
def test_non_finite_ising_parameters_named(which, value):
    with pytest.raises(ValueError, match=f"^{which} must be finite"):
        Ising((4, 4), **{which: value})


@SETTINGS
@given(
    st.lists(
        st.one_of(st.integers(-2, 6), st.floats(-2, 6, allow_nan=False), st.booleans()),
        min_size=1,
        max_size=3,
    )
)
def test_ising_shape_is_checked(sides):
    valid = (
        len(sides) in (1, 2)
        and all(isinstance(s, int) and not isinstance(s, bool) for s in sides)
        and all(s >= 2 for s in sides)
    )
    if valid:
        assert Ising(tuple(sides)).shape == tuple(sides)
    else:
        with pytest.raises((TypeError, ValueError), match="shape"):
            Ising(tuple(sides))


@SETTINGS
@given(st.lists(st.floats(-1.0, 2.0, allow_nan=False), min_size=2, max_size=4), st.booleans())
def test_gmm_weights_form_a_distribution_or_raise(weights, normalise):
    w = np.array(weights)
    if normalise and np.abs(w).sum() > 0:
        w = np.abs(w) / np.abs(w).sum()
    K = len(w)
    args = (np.zeros((K, 1)), np.ones((K, 1, 1)), w)
    if np.all(w >= 0) and abs(w.sum() - 1) <= 1e-6:
        energies = GMMEnergy(*args).energies(np.zeros(1))
        assert not np.any(np.isnan(energies))
    else:
        with pytest.raises(ValueError, match="weights"):
            GMMEnergy(*args)
