"""Property-based tests (hypothesis, derandomized): random small models have exact log Z equal
to brute-force enumeration in numpy; random bad values (β of 0, negative, NaN or inf; NaN/inf
placed in parameters; non-integer sizes; weights that are not a distribution) raise a
documented error naming the argument, never a silent NaN. The estimators (ais, smc, TI,
importance, reverse AIS), ``sample``, ``thermodynamics``, ``fit`` and BAR/MBAR each either give
finite output or raise ValueError/TypeError naming the argument from the library's own checks
(not a JAX traceback) for β of 0, negative, NaN, ±inf, 1e±30, a string or a vector."""

import itertools
import os
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp

import physebm
from physebm import objectives
from physebm.models import RBM, BoltzmannMachine, Gaussian, GMMEnergy, Ising
from physebm.partition import (
    ais,
    bar,
    exact,
    importance,
    mbar,
    reverse_ais,
    smc,
    thermodynamic_integration,
)

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


# ---- every public estimator: finite output or a documented error naming β --------------------
# β from the awkward values (0, negative, NaN, ±inf, a vector where a scalar is meant, a string)
# and positive ones from 1e-30 to 1e30, on tiny random models of a few fixed shapes (parameters
# are traced, so examples of one shape share a compilation); the budgets are tiny on purpose.

POSITIVE_BETAS = [1e-30, 1e-6, 0.3, 1.0, 2.5, 1e6, 1e30]
BAD_BETAS = [0.0, -0.5, float("nan"), float("inf"), float("-inf"), "0.5", np.array([0.5, 1.0])]
ALL_BETAS = POSITIVE_BETAS + BAD_BETAS
ANY_BETA = st.sampled_from(ALL_BETAS)


def is_valid_scalar_beta(beta) -> bool:
    return isinstance(beta, float) and np.isfinite(beta) and beta > 0


def random_model(kind: str):
    """A strategy for one tiny model of a fixed shape with random parameters: ``ising2``/
    ``ising3`` (L×L, L = 2, 3), ``rbm`` (3×2) or ``gaussian1``..``gaussian3`` (d-D)."""
    if kind.startswith("ising"):
        L = int(kind[-1])
        return st.builds(lambda J, h: Ising((L, L), J=J, h=h), REAL, REAL)
    if kind == "rbm":
        arrays = st.lists(REAL, min_size=9, max_size=9).map(np.array)
        return arrays.map(lambda a: RBM(a[:6].reshape(3, 2), a[6:], np.zeros(2)))
    d = int(kind[-1])
    arrays = st.lists(REAL, min_size=d * d + d, max_size=d * d + d).map(np.array)
    return arrays.map(
        lambda a: Gaussian(a[:d], a[d:].reshape(d, d) @ a[d:].reshape(d, d).T + 0.5 * np.eye(d))
    )


def raised_by_library(err: BaseException) -> bool:
    """The innermost frame of ``err`` is physebm/samplers code, not JAX/numpy internals."""
    tb = err.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    name = tb.tb_frame.f_code.co_filename.replace(os.sep, "/")
    return "/physebm/" in name or "/samplers/" in name


def finite_or_documented_error(call, beta, argument: str = "beta"):
    """Run ``call()``: a bad β must raise ValueError/TypeError naming ``argument`` (from the
    library's own checks); a good one must return (or raise the same way, never NaN)."""
    try:
        out = call()
    except (ValueError, TypeError) as err:
        assert argument in str(err), err
        assert raised_by_library(err), err
        return None
    assert is_valid_scalar_beta(beta), f"accepted beta={beta!r}"
    return out


def assert_finite_log_z(res):
    assert np.isfinite(float(res.log_z)), res
    assert np.isfinite(float(res.stderr)) and float(res.stderr) >= 0, res


def sample_kwargs(model) -> dict:
    return dict(sampler="mala", step_size=0.1) if isinstance(model, Gaussian) else {}


KEY = jax.random.key(0)
CALLS = {  # name: (call(model, beta), the model family it runs on: one compiled shape per call)
    "ais": (partial(ais, key=KEY, num_temperatures=3, num_chains=4, check=False), "ising3"),
    "smc": (
        partial(
            smc,
            key=KEY,
            num_particles=4,
            num_replicas=2,
            num_mcmc_steps=1,
            schedule="linear",
            num_temperatures=2,
        ),
        "gaussian2",
    ),
    "thermodynamic_integration": (
        partial(
            thermodynamic_integration,
            key=KEY,
            num_temperatures=2,
            num_chains=2,
            num_samples=2,
            num_burnin=1,
            check=False,
        ),
        "rbm",
    ),
    "importance": (partial(importance, key=KEY, num_samples=8), "gaussian1"),
    "reverse_ais": (partial(reverse_ais, key=KEY, num_temperatures=3, num_chains=4), "ising2"),
    "sample": (
        lambda m, b: physebm.sample(
            m, key=KEY, num_chains=2, num_steps=3, beta=b, **sample_kwargs(m)
        ),
        "gaussian3",
    ),
    "sample_rbm": (
        lambda m, b: physebm.sample(m, key=KEY, num_chains=2, num_steps=3, beta=b),
        "rbm",
    ),
}


@pytest.mark.parametrize("name", sorted(CALLS))
@settings(SETTINGS, max_examples=3)
@given(data=st.data())
def test_estimators_and_sample_finite_or_refuse_beta(name, data):
    """Every β of `ALL_BETAS` on a few random models of the call's family (β is traced, so
    each call compiles once): finite log Z and stderr (samples), or a named error."""
    call, family = CALLS[name]
    model = data.draw(random_model(family), label="model")
    for beta in ALL_BETAS:
        res = finite_or_documented_error(lambda: call(model, beta), beta)  # noqa: B023
        if res is None:
            continue
        if name.startswith("sample"):
            for leaf in jax.tree.leaves(res.samples):
                assert np.all(np.isfinite(np.asarray(leaf))), (beta, leaf)
        else:
            assert_finite_log_z(res)


@pytest.mark.parametrize("family", ["ising3", "rbm", "gaussian2"])
@settings(SETTINGS, max_examples=2)
@given(data=st.data())
def test_thermodynamics_finite_or_refuses_beta(family, data):
    """A 1-D β is documented (vectorised); every other accepted β gives finite F, U, S, C."""
    model = data.draw(random_model(family), label="model")
    for beta in ALL_BETAS:
        try:
            th = physebm.thermodynamics(model, beta)
        except (ValueError, TypeError) as err:
            assert "beta" in str(err) and raised_by_library(err), err
            assert not is_valid_scalar_beta(beta) and np.ndim(beta) != 1
            continue
        assert is_valid_scalar_beta(beta) or np.ndim(beta) == 1, beta
        for field in ("log_z", "free_energy", "internal_energy", "entropy", "heat_capacity"):
            assert np.all(np.isfinite(np.asarray(getattr(th, field)))), (beta, field, th)


def quadratic_energy(p, x):
    return 0.5 * jnp.sum((x - p["m"]) ** 2)


FIT_DATA = np.random.default_rng(0).normal(size=(16, 2))


@settings(SETTINGS, max_examples=8)
@given(beta=ANY_BETA)
def test_fit_score_matching_finite_or_refuses_beta(beta):
    """``fit`` with one tiny objective: finite losses, or the non-finite guard says it stopped."""

    def call():
        objective = objectives.score_matching(quadratic_energy, beta=beta)
        return physebm.fit(
            objective,
            {"m": jnp.zeros(2)},
            FIT_DATA,
            optax.sgd(1e-3),
            key=KEY,
            num_steps=3,
            batch_size=8,
            progress=False,
        )

    res = finite_or_documented_error(call, beta)
    if res is not None:
        assert np.all(np.isfinite(res.losses)) or (res.stopped_early and res.message), res
        assert all(np.all(np.isfinite(np.asarray(v))) for v in jax.tree.leaves(res.params))


def assert_finite_or_flagged(res):
    """A non-finite estimate or stderr (no overlap, a degenerate sample) is never silent: the
    result is marked unreliable and says why."""
    values = np.concatenate([np.ravel(res.log_z), np.ravel(res.stderr)])
    if not np.all(np.isfinite(values)):
        assert not res.reliable and res.warnings, res


WORK = st.lists(
    st.one_of(st.floats(-5.0, 5.0), st.sampled_from([float("nan"), float("inf"), -float("inf")])),
    min_size=1,
    max_size=4,
)


@settings(SETTINGS, max_examples=12)
@given(w_F=WORK, w_R=WORK)
def test_bar_finite_or_refuses_work(w_F, w_R):
    """Reduced work values with NaN/±inf placed among them: a finite answer or a clear error."""
    try:
        res = bar(np.array(w_F), np.array(w_R))
    except (ValueError, TypeError) as err:
        assert ("w_F" in str(err) or "w_R" in str(err)) and raised_by_library(err), err
        return
    assert_finite_or_flagged(res)


@settings(SETTINGS, max_examples=12)
@given(
    u=st.lists(
        st.one_of(st.floats(-3.0, 3.0), st.sampled_from([float("nan"), float("inf")])),
        min_size=6,
        max_size=6,
    ),
    N_k=st.sampled_from([[1, 2], [2, 1], [3, 0], [0, 3], [1, 1]]),
)
def test_mbar_finite_or_refuses_input(u, N_k):
    """Two states, three samples; NaN/inf reduced energies and empty states placed at random."""
    u_kn = np.array(u).reshape(2, 3)
    try:
        res = mbar(u_kn, np.array(N_k))
    except (ValueError, TypeError) as err:
        assert ("u_kn" in str(err) or "N_k" in str(err)) and raised_by_library(err), err
        return
    assert_finite_or_flagged(res)
