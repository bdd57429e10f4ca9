"""Mean-field (lower bound), TAP (approximation), ELBO ≤ log Z ≤ EUBO, IWAE tightening with K.

Mean-field checks are deterministic (exact enumeration references). ELBO/EUBO/IWAE bound checks
are one-sided z-tests, z ≤ 4.11 (false-failure rate α = 2e-5 each, normal stderr, fixed keys):
6 checks. The strict-gap and IWAE-ordering checks are power checks (they hold when the true gap
exceeds the tolerance; the measured z-scores are in the failure messages), and the 0.02 bound on
the IWAE_100 gap and the TAP/mean-field ratio are allowances, not z-tests."""

import ground_truth as gt
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from stats_helpers import ALPHA_ESTIMATE, assert_z, critical_value

from physebm.models import RBM, BoltzmannMachine, CurieWeiss, Ising
from physebm.partition import elbo, iwae, mean_field, tap
from physebm.partition.variational import pairwise_form

KEY = jax.random.key(3)


def _bm_cases():
    rng = np.random.default_rng(5)
    W = rng.normal(0, 0.4, (8, 8))
    W = W + W.T
    b = rng.normal(0, 0.3, 8)
    out = []
    for domain in ("spin", "bits"):
        e = gt.boltzmann_energies(W, b, domain)
        out.append((BoltzmannMachine(W, b, domain=domain), 1.0, gt.log_z_from_energies(e, 1.0)))
    return out


def _cases():
    rng = np.random.default_rng(0)
    W, b, c = rng.normal(0, 0.5, (8, 5)), rng.normal(0, 0.5, 8), rng.normal(0, 0.5, 5)
    return [
        (Ising((4, 4)), 0.3, gt.ising_log_z_brute((4, 4), 0.3)),
        (Ising((4, 4)), 0.6, gt.ising_log_z_brute((4, 4), 0.6)),
        (CurieWeiss(12, 1.0, 0.2), 1.5, gt.curie_weiss_log_z_brute(12, 1.5, 1.0, 0.2)),
        (RBM(W, b, c), 1.0, gt.rbm_joint_log_z(W, b, c, 1.0)),
        *_bm_cases(),
    ]


def test_mean_field_is_a_lower_bound_and_tap_is_not_labelled_one():
    for model, beta, exact in _cases():
        mf = mean_field(model, beta)
        assert float(mf.log_z) <= exact + 1e-10, (type(model).__name__, float(mf.log_z), exact)
        assert mf.lower == mf.log_z and mf.diagnostics["bound"] == "lower"
        assert exact - float(mf.log_z) < 0.25 * abs(exact)  # a useful bound, not −∞
        t = tap(model, beta)
        assert np.isneginf(float(t.lower)) and np.isinf(float(t.upper))


def test_independent_units_are_exact_for_both():
    """W = 0: the factorised q is the Gibbs distribution, so MF = TAP = log Z exactly."""
    b = jnp.array([0.3, -1.2, 0.7, 2.0])
    for domain, ref in (
        ("spin", np.sum(np.log(2 * np.cosh(0.8 * b)))),
        ("bits", np.sum(np.log1p(np.exp(0.8 * b)))),
    ):
        m = BoltzmannMachine(jnp.zeros((4, 4)), b, domain=domain)
        assert float(mean_field(m, 0.8).log_z) == pytest.approx(ref, abs=1e-9)
        assert float(tap(m, 0.8).log_z) == pytest.approx(ref, abs=1e-9)


def test_tap_improves_on_mean_field_at_weak_coupling():
    """The Onsager term is the exact β² correction: at weak coupling TAP is much closer."""
    rng = np.random.default_rng(2)
    W = rng.normal(0, 0.15, (10, 10))
    W = W + W.T
    np.fill_diagonal(W, 0)
    b = rng.normal(0, 0.3, 10)
    exact = gt.log_z_from_energies(gt.boltzmann_energies(W, b, "spin"), 1.0)
    m = BoltzmannMachine(W, b)
    err_mf = exact - float(mean_field(m, 1.0).log_z)
    err_tap = abs(exact - float(tap(m, 1.0).log_z))
    assert err_tap < 0.2 * err_mf, (err_tap, err_mf)


def test_pairwise_form_reproduces_the_energies():
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.choice([-1.0, 1.0], 16))
    model = Ising((4, 4), J=0.7, h=0.2)
    W, b, _ = pairwise_form(model)
    assert float(-0.5 * x @ W @ x - b @ x) == pytest.approx(float(model(x.reshape(4, 4))))
    cw = CurieWeiss(6, 1.3, -0.4)
    W, b, _ = pairwise_form(cw)
    assert float(-0.5 * x[:6] @ W @ x[:6] - b @ x[:6]) == pytest.approx(float(cw(x[:6])))
    with pytest.raises(TypeError, match="binary pairwise"):
        mean_field(lambda s: s @ s, 1.0)


def test_elbo_below_eubo_above_on_a_gaussian(gaussian):
    model, beta, exact = gaussian
    r = elbo(model, beta, key=KEY, guide="normal", num_steps=1000, num_samples=4000)
    assert_z(float(r.lower) - exact, float(r.stderr), sides=1, what="ELBO ≤ log Z")
    assert_z(exact - float(r.upper), float(r.diagnostics["eubo_stderr"]), sides=1, what="EUBO")
    # the diagonal guide cannot represent the correlation: a strict gap (power check)
    q1 = critical_value(ALPHA_ESTIMATE, sides=1)
    gap_z = (exact - float(r.lower)) / float(r.stderr)
    assert gap_z > q1, f"ELBO gap only {gap_z:.2f} stderr"
    full = elbo(model, beta, key=KEY, guide="multivariate_normal", num_steps=1000, num_samples=4000)
    assert exact - float(full.lower) < exact - float(r.lower)  # the richer guide is tighter
    assert_z(float(full.lower) - exact, float(full.stderr), sides=1, what="full-rank ELBO")


def test_iwae_tightens_with_k_towards_log_z():
    """A non-Gaussian 2-D energy with log Z by quadrature: ELBO < IWAE_10 < IWAE_100 ≤ log Z."""

    def energy(x):
        return 0.25 * jnp.sum(x**4) + 0.5 * x[0] * x[1]

    g1 = np.linspace(-6, 6, 1201)  # numpy trapezoid reference; the integrand is < e^-300 beyond
    xx, yy = np.meshgrid(g1, g1, indexing="ij")
    dens = np.exp(-(0.25 * (xx**4 + yy**4) + 0.5 * xx * yy))
    exact = float(np.log(np.trapezoid(np.trapezoid(dens, g1, axis=1), g1)))
    fit = elbo(energy, 1.0, key=KEY, event_shape=(2,), num_steps=1000, num_samples=2000)
    g, p = fit.diagnostics["guide"], fit.diagnostics["params"]
    # independent draws for each K; groups chosen so that each stderr is about 0.002
    vals = [
        iwae(
            energy,
            1.0,
            key=jax.random.fold_in(KEY, k),
            guide=g,
            params=p,
            num_importance_samples=k,
            num_groups=n,
        )
        for k, n in ((1, 4000), (10, 8000), (100, 800))
    ]
    q1 = critical_value(ALPHA_ESTIMATE, sides=1)
    for a, b in zip(vals, vals[1:], strict=False):  # power checks: IWAE_K rises with K
        rise_z = (float(b.log_z) - float(a.log_z)) / np.hypot(float(a.stderr), float(b.stderr))
        assert rise_z > q1, f"IWAE rise only {rise_z:.2f} combined stderr"
    for v in vals:  # 3 one-sided bound checks at α = 2e-5
        assert_z(float(v.log_z) - exact, float(v.stderr), sides=1, what="IWAE ≤ log Z")
    assert exact - float(vals[-1].log_z) < 0.02


def test_bad_inputs(gaussian):
    model, beta, _ = gaussian
    with pytest.raises(ValueError, match="guide"):
        elbo(model, beta, key=KEY, guide="flow")
    with pytest.raises(ValueError, match="event_shape"):
        elbo(lambda x: x @ x, 1.0, key=KEY)
    with pytest.raises(ValueError, match="damping"):
        mean_field(Ising((2, 2)), 1.0, damping=0.0)
    with pytest.raises(ValueError, match="num_groups"):
        iwae(model, beta, key=KEY, guide=None, params=None, num_groups=1)
