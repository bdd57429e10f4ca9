"""Progress bars of physebm.sample, samplers.run, AIS, TI, SMC and enumeration: with
``progress=True`` the run is cut into compiled segments with a tqdm bar between them, and its
results are bit-identical to the run in one call (same steps, same keys); segments of other
lengths compile nothing new; inside jit the bar is skipped and the result is the same.
Deterministic checks (exact equality)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_compile_once import count_compilations

import physebm
import samplers
import samplers.progress
from physebm.enumeration import logsumexp_over_states
from physebm.models import RBM, Gaussian, Ising
from physebm.partition import ais, smc, thermodynamic_integration

KEY = jax.random.key(13)
GAUSS = Gaussian(jnp.array([1.0, -0.5]), jnp.array([[2.0, 0.3], [0.3, 1.0]]))


def assert_same(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.fixture
def short_segments(monkeypatch):
    """Many segments: 3 steps first, then one step per call."""
    monkeypatch.setattr(samplers.progress, "FIRST_CALL_STEPS", 3)
    monkeypatch.setattr(samplers.progress, "TARGET_SECONDS", 1e-9)


def sampled(result):
    return result.samples, result.info, result.state, result.num_nonfinite


@pytest.mark.parametrize(
    ("model", "kwargs"),
    [
        (Ising((8, 8)), {"beta": 0.4, "num_burnin": 5}),  # packed checkerboard states, int8
        (GAUSS, {"sampler": "mala", "step_size": 0.5, "thin": 3, "num_burnin": 4}),
        (RBM(np.full((4, 3), 0.3), np.zeros(4), np.zeros(3)), {}),  # (v, h) block Gibbs
        (Ising((4, 4)), {"beta": 0.6, "sampler": "replica_exchange", "num_replicas": 3}),
    ],
    ids=["checkerboard", "mala-thin-burnin", "rbm", "replica-exchange"],
)
def test_sample_with_progress_is_bit_identical(model, kwargs, short_segments, capsys):
    run = dict(key=KEY, num_chains=3, num_steps=30, **kwargs)
    plain = physebm.sample(model, **run)
    shown = physebm.sample(model, progress=True, **run)
    assert_same(sampled(plain), sampled(shown))
    err = capsys.readouterr().err
    assert "sample" in err and "100%" in err


@pytest.mark.slow  # default-suite time: with the slow tests (CI runs them)
def test_run_means_without_trace(short_segments):
    kw = dict(num_steps=40, logdensity_fn=lambda x: -0.5 * jnp.sum(x**2), num_burnin=7, thin=2)
    for keep_trace, mean in ((False, None), (True, True)):
        args = (KEY, samplers.MALA(0.5), jnp.zeros((5, 2)))
        plain = samplers.run(*args, keep_trace=keep_trace, mean=mean, **kw)
        shown = samplers.run(*args, keep_trace=keep_trace, mean=mean, progress=True, **kw)
        assert_same(plain, shown)


@pytest.mark.parametrize(
    "model, beta", [(GAUSS, 1.5), (Ising((4, 4)), 0.44)], ids=["mala", "heat-bath"]
)
def test_ais_with_progress_is_bit_identical(model, beta, short_segments, capsys):
    """Forward run and its checks (halved schedule; reverse AIS from exact samples for the
    Ising model)."""
    kw = dict(key=KEY, num_temperatures=40, num_chains=16)
    plain = ais(model, beta, **kw)
    shown = ais(model, beta, progress=True, **kw)
    assert float(plain.log_z) == float(shown.log_z) and float(plain.upper) == float(shown.upper)
    for name in ("log_weights", "acceptance_rate", "increment_variance", "log_z_half_schedule"):
        np.testing.assert_array_equal(np.asarray(plain.info[name]), np.asarray(shown.info[name]))
    assert_same(plain.info["final_kernel"], shown.info["final_kernel"])
    err = capsys.readouterr().err
    assert "ais" in err and "ais check: halved schedule" in err


def test_ti_with_progress_is_bit_identical(short_segments, capsys):
    """Both sweeps (the backward one from exact samples of the Ising model)."""
    kw = dict(key=KEY, num_temperatures=6, num_chains=4, num_samples=6, num_burnin=2)
    plain = thermodynamic_integration(Ising((4, 4)), 0.44, **kw)
    shown = thermodynamic_integration(Ising((4, 4)), 0.44, progress=True, **kw)
    assert float(plain.log_z) == float(shown.log_z) and float(plain.stderr) == float(shown.stderr)
    for name in ("integrand", "log_z_forward", "log_z_backward", "acceptance_rate"):
        np.testing.assert_array_equal(np.asarray(plain.info[name]), np.asarray(shown.info[name]))
    err = capsys.readouterr().err
    assert "ti:" in err and "ti: backward" in err and "100%" in err


@pytest.mark.slow  # default-suite time: with the slow tests (CI runs them)
def test_smc_with_progress_is_bit_identical(short_segments, capsys):
    """The replicas' steps in segments after the adaptive pilot."""
    kw = dict(key=KEY, num_particles=32, num_replicas=4)
    plain = smc(Ising((4, 4)), 0.44, **kw)
    shown = smc(Ising((4, 4)), 0.44, progress=True, **kw)
    for name in ("replica_log_z", "num_steps", "acceptance_rate", "tempering_schedule"):
        np.testing.assert_array_equal(np.asarray(plain.info[name]), np.asarray(shown.info[name]))
    assert float(plain.log_z) == float(shown.log_z)
    assert "smc" in capsys.readouterr().err


def test_enumeration_with_progress_matches_one_call(short_segments, capsys):
    """64 blocks of 16 states: the bar's segments visit the same blocks as ``lax.map``."""
    w = jax.random.normal(jax.random.key(3), (10, 10))

    def log_weight(x):
        return -jnp.einsum("bi,ij,bj->b", x, w, x)

    plain = logsumexp_over_states(log_weight, 10, block_log2=4, progress=False)
    shown = logsumexp_over_states(log_weight, 10, block_log2=4, progress=True)
    assert float(plain) == float(shown)
    assert "enumeration" in capsys.readouterr().err
    jitted = jax.jit(lambda w: logsumexp_over_states(lambda x: x @ w, 10, 4, progress=True))
    assert float(jitted(jnp.ones(10))) == pytest.approx(10 * np.log1p(np.e), rel=1e-12)
    assert "enumeration" not in capsys.readouterr().err  # no bar inside jit


def test_segments_compile_once(monkeypatch):
    """A second run with another key, β and other segment lengths compiles nothing."""
    model = Ising((8, 8))
    physebm.sample(model, key=KEY, num_chains=2, num_steps=20, beta=0.3, progress=True)
    ais(GAUSS, 1.5, key=KEY, num_temperatures=30, num_chains=8, progress=True, check=False)
    monkeypatch.setattr(samplers.progress, "FIRST_CALL_STEPS", 2)
    monkeypatch.setattr(samplers.progress, "TARGET_SECONDS", 1e-9)
    with count_compilations() as names:
        res = physebm.sample(
            model, key=jax.random.key(1), num_chains=2, num_steps=20, beta=0.5, progress=True
        )
        jax.block_until_ready(res.samples)
        r = ais(GAUSS, 1.2, key=jax.random.key(2), num_temperatures=30, num_chains=8,
                progress=True, check=False)  # fmt: skip
        jax.block_until_ready(r.log_z)
    assert names == [], names


def test_no_bar_inside_jit(capsys):
    """Traced arguments: one compiled loop, no bar, the same result."""

    def log_z(key):
        return ais(
            GAUSS, 1.5, key=key, num_temperatures=20, num_chains=8, progress=True, check=False
        ).log_z

    traced = jax.jit(log_z)(KEY)
    assert "ais" not in capsys.readouterr().err
    plain = ais(GAUSS, 1.5, key=KEY, num_temperatures=20, num_chains=8, check=False).log_z
    np.testing.assert_allclose(traced, plain, rtol=1e-12)


def test_show_progress(monkeypatch):
    monkeypatch.setenv("CI", "true")
    assert samplers.progress.show_progress(None) is False
    assert samplers.progress.show_progress(True) is True
    monkeypatch.delenv("CI")
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    assert samplers.progress.show_progress(None) is True
    assert samplers.progress.show_progress(False) is False
