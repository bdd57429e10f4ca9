"""Bad input at the door: each call raises a clear error of a stated type whose message names
the argument and what was expected, before any JAX tracing (issue 12's probes); plus the
degenerate cases that still return a value."""

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import physebm
import samplers
from physebm import objectives as obj
from physebm.diagnostics import ess, rhat, summarize_chains
from physebm.models import (
    RBM,
    BoltzmannMachine,
    CurieWeiss,
    Gaussian,
    GMMEnergy,
    Ising,
    KMeansEnergy,
)
from physebm.partition import (
    adaptive_schedule,
    ais,
    bar_log_z_ratio,
    bases,
    exact,
    importance,
    mbar,
    mbar_log_z,
    reverse_ais,
    smc,
    thermodynamic_integration,
)
from physebm.validation import check_key

KEY = jax.random.key(0)
NAN_W = np.array([[np.nan, 0.0], [0.0, 0.0], [0.0, 0.0]])
EYE1 = np.ones((2, 1, 1))
GAUSS = Gaussian(np.zeros(2), np.eye(2))
SAMPLES = jax.random.normal(jax.random.key(1), (50, 2))


def quadratic(p, x):
    return 0.5 * jnp.sum((x - p["m"]) ** 2)


def raises(exc, *words):
    """pytest.raises whose message must contain every one of ``words`` (plain substrings)."""

    class _Ctx:
        def __enter__(self):
            self.ctx = pytest.raises(exc)
            self.info = self.ctx.__enter__()
            return self.info

        def __exit__(self, *a):
            out = self.ctx.__exit__(*a)
            msg = str(self.info.value)
            for w in words:
                assert w in msg, f"{w!r} not in the message {msg!r}"
            return out

    return _Ctx()


# ---- model parameters ------------------------------------------------------------------------

MODEL_CASES = {
    "rbm_nan_W": (lambda: RBM(NAN_W), ValueError, ("W", "finite")),
    "rbm_inf_b": (lambda: RBM(np.zeros((3, 2)), b=[0, np.inf, 0]), ValueError, ("b", "finite")),
    "rbm_nan_c": (lambda: RBM(np.zeros((3, 2)), c=[np.nan, 0]), ValueError, ("c", "finite")),
    "rbm_complex_W": (lambda: RBM(np.ones((3, 2)) * 1j), TypeError, ("W", "real")),
    "ising_nan_h": (lambda: Ising((4, 4), h=np.nan), ValueError, ("h", "finite")),
    "ising_inf_J": (lambda: Ising((4, 4), J=np.inf), ValueError, ("J", "finite")),
    "ising_float_side": (lambda: Ising((2.5, 4)), TypeError, ("shape", "integers")),
    "ising_float_int_side": (lambda: Ising((4.0, 4)), TypeError, ("shape", "integers")),
    "ising_bool_side": (lambda: Ising((True, 4)), TypeError, ("shape", "integers")),
    "ising_small_side": (lambda: Ising((1, 4)), ValueError, ("shape", ">= 2")),
    "ising_three_axes": (lambda: Ising((2, 2, 2)), ValueError, ("shape", "(M, N)")),
    "curie_weiss_nan_J": (lambda: CurieWeiss(4, J=np.nan), ValueError, ("J", "finite")),
    "bm_nan_b": (
        lambda: BoltzmannMachine(np.zeros((3, 3)), b=[0, np.nan, 0]),
        ValueError,
        ("b", "finite"),
    ),
    "bm_inf_W": (lambda: BoltzmannMachine(np.full((2, 2), np.inf)), ValueError, ("W", "finite")),
    "gaussian_nan_mean": (lambda: Gaussian([np.nan, 0], np.eye(2)), ValueError, ("mean",)),
    "gaussian_inf_precision": (
        lambda: Gaussian(np.zeros(2), np.diag([1.0, np.inf])),
        ValueError,
        ("precision", "finite"),
    ),
    "gmm_negative_covariance": (
        lambda: GMMEnergy(np.zeros((2, 1)), np.array([[[1.0]], [[-1.0]]])),
        ValueError,
        ("covariances", "positive definite"),
    ),
    "gmm_asymmetric_covariance": (
        lambda: GMMEnergy(np.zeros((1, 2)), np.array([[[1.0, 0.5], [0.0, 1.0]]])),
        ValueError,
        ("covariances", "symmetric"),
    ),
    "gmm_negative_weight": (
        lambda: GMMEnergy(np.zeros((2, 1)), EYE1, [1.5, -0.5]),
        ValueError,
        ("weights", "non-negative"),
    ),
    "gmm_unnormalised_weights": (
        lambda: GMMEnergy(np.zeros((2, 1)), EYE1, [3.0, 3.0]),
        ValueError,
        ("weights", "sum to 1"),
    ),
    "gmm_nan_mean": (
        lambda: GMMEnergy(np.array([[np.nan], [0.0]]), EYE1),
        ValueError,
        ("means", "finite"),
    ),
    "kmeans_inf_centers": (lambda: KMeansEnergy([[np.inf, 0.0]]), ValueError, ("centers",)),
    "gaussian_log_z_negative_precision": (
        lambda: Gaussian(np.zeros(2), -np.eye(2)).log_z(1.0),
        ValueError,
        ("precision", "positive definite", "diverges"),
    ),
    "gaussian_sample_indefinite": (
        lambda: Gaussian(np.zeros(2), np.diag([1.0, -1.0])).sample(KEY),
        ValueError,
        ("precision", "positive definite"),
    ),
    "exact_negative_precision": (
        lambda: exact(Gaussian(np.zeros(2), -np.eye(2)), 1.0),
        ValueError,
        ("positive definite precision",),
    ),
}


@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_model_parameters(case):
    fn, exc, words = MODEL_CASES[case]
    with raises(exc, *words):
        fn()


def test_valid_models_still_build():
    """The checks accept what they should: zero mixture weights, numpy integer sides, an int
    side, traced (unchecked) parameters."""
    GMMEnergy(np.zeros((2, 1)), EYE1, [1.0, 0.0])
    assert Ising((np.int64(4), 3)).shape == (4, 3)
    assert Ising(5).shape == (5,)
    e = jax.jit(lambda h: exact(Ising((3, 3), h=h), 0.5).log_z)(jnp.nan)
    assert np.isnan(e)  # traced parameters are not checked (documented)
    log_z = jax.jit(lambda p: Gaussian(jnp.zeros(2), p).log_z(1.0))(-jnp.eye(2))
    assert np.isnan(log_z)  # traced: the Cholesky factor of a non-PD precision is NaN


def test_gaussian_log_z_indefinite_with_positive_determinant():
    """−I in 2-D has det +1: the old slogdet sign test let it through."""
    with raises(ValueError, "precision", "-1"):
        Gaussian(np.zeros(2), -np.eye(2)).log_z(1.0)
    g = Gaussian(np.array([0.3, 0.1]), np.array([[2.0, 0.5], [0.5, 1.0]]))
    expected = np.log(2 * np.pi / 1.5) - 0.5 * np.log(1.75)
    np.testing.assert_allclose(g.log_z(1.5), expected, rtol=1e-12)


# ---- β must be a scalar where it is documented as one ---------------------------------------

BETA_VECTOR = jnp.array([0.3, 0.4])
BETA_CASES = {
    "bar_beta_0": (lambda: bar_log_z_ratio(GAUSS, BETA_VECTOR, 1.0, SAMPLES, SAMPLES), "beta_0"),
    "bar_beta_1": (lambda: bar_log_z_ratio(GAUSS, 1.0, BETA_VECTOR, SAMPLES, SAMPLES), "beta_1"),
    "score_matching": (lambda: obj.score_matching(quadratic, beta=BETA_VECTOR), "beta"),
    "denoising": (
        lambda: obj.denoising_score_matching(quadratic, sigma=0.1, beta=BETA_VECTOR),
        "beta",
    ),
    "sliced": (lambda: obj.sliced_score_matching(quadratic, beta=BETA_VECTOR), "beta"),
    "ratio_matching": (
        lambda: obj.ratio_matching(quadratic, domain="spin", beta=BETA_VECTOR),
        "beta",
    ),
    "cd": (
        lambda: obj.contrastive_divergence(quadratic, kernel=samplers.MALA(0.1), beta=BETA_VECTOR),
        "beta",
    ),
    "info_nce": (lambda: obj.info_nce(quadratic, beta=BETA_VECTOR), "beta"),
    "ais": (lambda: ais(GAUSS, BETA_VECTOR, key=KEY), "beta"),
    "gibbs": (lambda: physebm.Gibbs(GAUSS, beta=BETA_VECTOR), "beta"),
}


@pytest.mark.parametrize("case", sorted(BETA_CASES))
def test_beta_must_be_scalar(case):
    fn, name = BETA_CASES[case]
    with raises(ValueError, name, "scalar"):
        fn()


def test_mbar_log_z_betas_must_be_a_vector():
    with raises(ValueError, "betas", "1-D"):
        mbar_log_z(GAUSS, jnp.ones((2, 2)), [SAMPLES, SAMPLES])


# ---- MBAR, diagnostics ----------------------------------------------------------------------


def test_mbar_state_without_support():
    u = np.array([[0.0, 1.0, 2.0], [np.inf, np.inf, np.inf]])
    with raises(ValueError, "u_kn", "[1]", "+inf"):
        mbar(u, np.array([3, 0]))
    with raises(ValueError, "u_kn", "[1]"):
        mbar(np.array([[0.0, 1.0, 2.0, 3.0], [np.inf] * 4]), np.array([2, 2]))


def test_mbar_unsampled_state_with_support_is_fine():
    res = mbar(np.array([[0.0, 1.0, 2.0], [1.0, 2.0, 0.5]]), np.array([3, 0]))
    assert np.all(np.isfinite(res.log_z))
    res = mbar(np.array([[0.0, 1.0, 2.0], [1.0, np.inf, 0.5]]), np.array([3, 0]))
    assert np.all(np.isfinite(res.log_z))  # some +inf entries: finite, only a full row refused


DIAG_CASES = {
    "rhat_one_chain": (lambda: rhat(np.random.default_rng(0).normal(size=(1, 100))), "2 chains"),
    "rhat_one_chain_axis1": (
        lambda: rhat(np.random.default_rng(0).normal(size=(100, 1)), chain_axis=1),
        "2 chains",
    ),
    "ess_empty": (lambda: ess(np.zeros((0, 0))), "empty"),
    "ess_no_sites": (lambda: ess(np.zeros((2, 10, 0))), "empty"),
    "ess_1d_empty": (lambda: ess(np.array([])), "(num_chains, num_draws"),
    "rhat_no_chains": (lambda: rhat(np.zeros((0, 10))), "empty"),
}


@pytest.mark.parametrize("case", sorted(DIAG_CASES))
def test_chain_diagnostics(case):
    fn, words = DIAG_CASES[case]
    with raises(ValueError, "x", words):
        fn()


def test_summarize_one_chain_keeps_nan_rhat():
    """summarize_chains reports R-hat as undefined (NaN) for one chain instead of raising."""
    x = np.random.default_rng(0).normal(size=(1, 200, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = summarize_chains(x)
    assert np.all(np.isnan(s.rhat["x"]))


# ---- PRNG keys, energies -------------------------------------------------------------------

BAD_KEYS = {
    "int": 0,
    "none": None,
    "float": 1.5,
    "uint32_3": np.zeros(3, np.uint32),
    "int32_2": np.zeros(2, np.int32),
    "string": "seed",
}


@pytest.mark.parametrize("key", sorted(BAD_KEYS))
@pytest.mark.parametrize(
    "fn", ["ais", "reverse_ais", "adaptive_schedule", "ti", "smc", "importance", "check_key"]
)
def test_key_must_be_a_prng_key(fn, key):
    call = {
        "ais": functools.partial(ais, GAUSS, 1.0),
        "ti": functools.partial(thermodynamic_integration, GAUSS, 1.0),
        "smc": functools.partial(smc, GAUSS, 1.0),
        "importance": functools.partial(importance, GAUSS, 1.0),
        "reverse_ais": functools.partial(reverse_ais, GAUSS, 1.0),
        "adaptive_schedule": functools.partial(adaptive_schedule, GAUSS, 1.0),
        "check_key": lambda key: check_key(key),
    }[fn]
    with raises(TypeError, "key", "PRNG key"):
        call(key=BAD_KEYS[key])


@pytest.mark.parametrize("fn", [ais, reverse_ais, thermodynamic_integration])
def test_check_must_be_a_bool(fn):
    with raises(TypeError, "check", "True or False"):
        fn(GAUSS, 1.0, key=KEY, check="no")


def test_key_array_is_not_one_key():
    with raises(ValueError, "key", "single"):
        ais(GAUSS, 1.0, key=jax.random.split(KEY, 3))


def test_good_keys_pass_traced_too():
    assert check_key(KEY) is KEY
    legacy = jax.random.PRNGKey(0)
    assert check_key(legacy) is legacy
    jax.jit(check_key)(KEY)
    jax.vmap(check_key)(jax.random.split(KEY, 2))


def test_ais_vector_energy():
    base = bases.gaussian(np.zeros(2))
    with raises(TypeError, "model_or_gibbs", "scalar", "(2,)"):
        ais(lambda x: x**2, 1.0, key=KEY, base=base)
    for estimator in (thermodynamic_integration, smc, importance):
        with raises(TypeError, "model_or_gibbs", "scalar"):
            estimator(lambda x: x**2, 1.0, key=KEY, base=base)


# ---- data in fit ------------------------------------------------------------------------------

X = np.random.default_rng(0).normal(size=(32, 2))
P = {"m": jnp.zeros(2)}
CD = obj.contrastive_divergence(quadratic, kernel=samplers.MALA(0.1))
FIT_CASES = {
    "scalar": (obj.score_matching(quadratic), 1.0, ValueError, ("data", "leading axis")),
    "strings": (obj.score_matching(quadratic), np.array(["a", "b"]), TypeError, ("data",)),
    "complex": (obj.score_matching(quadratic), X * 1j, TypeError, ("data", "real")),
    "nan": (obj.score_matching(quadratic), np.where(X > 1, np.nan, X), ValueError, ("NaN",)),
    "empty": (obj.score_matching(quadratic), np.zeros((0, 2)), ValueError, ("data",)),
    "ragged": (obj.score_matching(quadratic), (X, X[:5]), ValueError, ("data", "[5, 32]")),
    "int_score": (obj.score_matching(quadratic), X.astype(int), TypeError, ("data", "float")),
    "int_dsm": (
        obj.denoising_score_matching(quadratic, sigma=0.1),
        X.astype(int),
        TypeError,
        ("data", "floating point"),
    ),
    "int_cd": (CD, X.astype(int), TypeError, ("data", "floating point")),
    "int_weighted": (
        obj.score_matching(quadratic),
        obj.Weighted(X.astype(int), np.ones(32)),
        TypeError,
        ("data", "floating point"),
    ),
}


@pytest.mark.parametrize("case", sorted(FIT_CASES))
def test_fit_data(case):
    objective, data, exc, words = FIT_CASES[case]
    with raises(exc, *words):
        physebm.fit(objective, P, data, optax.sgd(1e-2), key=KEY, num_steps=2, batch_size=4)


def test_fit_accepts_integer_bits_where_legit():
    """Ratio matching only evaluates energies: integer (or bool) bits are fine."""
    rm = obj.ratio_matching(lambda p, x: -jnp.dot(p["m"], x), domain="bits")
    bits = (X > 0).astype(int)
    res = physebm.fit(rm, P, bits, optax.sgd(1e-2), key=KEY, num_steps=2, batch_size=4)
    assert np.all(np.isfinite(res.losses))


def test_loss_checks_traced_batch_dtype():
    """The objective's own loss checks a traced batch too (dtypes are static)."""
    sm = obj.score_matching(quadratic)
    with raises(TypeError, "batch", "floating point"):
        jax.jit(lambda b: sm.loss(P, b, KEY, sm.init(P, KEY))[0])(jnp.zeros((4, 2), jnp.int32))
