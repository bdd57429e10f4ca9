"""Gaussian–Bernoulli RBM against quadrature, brute-force sums over h and finite differences."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate
from scipy.special import logsumexp

import physebm
import samplers
from physebm.models import capabilities
from physebm.models.gaussian_rbm import GaussianBernoulliRBM
from physebm.partition import exact
from samplers.gaussian_rbm import GaussianBernoulliRBM as Target

BETA = 0.7
W2 = np.array([[0.6, -0.4], [0.3, 0.9]])
B2, C2, S2 = np.array([0.2, -0.5]), np.array([0.3, -0.6]), np.array([0.8, 1.4])


def np_energy(v, h, W, b, c, s):
    """E(v, h) = Σ (v − b)²/(2σ²) − cᵀh − (v/σ)ᵀWh, written out in numpy."""
    v, h = np.asarray(v, float), np.asarray(h, float)
    return np.sum((v - b) ** 2 / (2 * s**2)) - c @ h - (v / s) @ W @ h


def hidden_states(n):
    return np.array(list(itertools.product((0.0, 1.0), repeat=n)))


def model_of(nv):
    return GaussianBernoulliRBM(W2[:nv], B2[:nv], C2, S2[:nv])


def quadrature_log_z(nv, beta):
    """log Σ_h ∫ exp(−βE(v, h)) dv by scipy quadrature over ℝ^{n_v} (|v| ≤ 15 holds all mass)."""
    W, b, s, hs = W2[:nv], B2[:nv], S2[:nv], hidden_states(2)

    def weight(*v):
        return sum(np.exp(-beta * np_energy(v, h, W, b, C2, s)) for h in hs)

    if nv == 1:
        z, _ = integrate.quad(weight, -15, 15, epsabs=1e-13, epsrel=1e-12)
    else:
        z, _ = integrate.dblquad(
            lambda y, x: weight(x, y), -15, 15, -15, 15, epsabs=1e-12, epsrel=1e-11
        )
    return math.log(z)


@pytest.mark.parametrize("nv", [1, 2])
def test_log_z_matches_quadrature(nv):
    model = model_of(nv)
    res = exact(model, BETA)
    assert res.method == "enumeration" and res.diagnostics["num_states"] == 4
    np.testing.assert_allclose(float(res.log_z), quadrature_log_z(nv, BETA), rtol=1e-9)
    np.testing.assert_allclose(model.log_z(BETA), res.log_z, rtol=1e-14)
    # a β vector, and the model as a jit argument (traced parameters, same route)
    betas = jnp.array([BETA, 1.3])
    np.testing.assert_allclose(exact(model, betas).log_z[0], res.log_z, rtol=1e-12)
    jitted = jax.jit(lambda m, beta: exact(m, beta).log_z)(model, BETA)
    np.testing.assert_allclose(jitted, res.log_z, rtol=1e-12)


def test_hidden_free_energy_is_the_gaussian_integral_over_v():
    model = model_of(1)
    W, b, s = W2[:1], B2[:1], S2[:1]
    for h in hidden_states(2):
        z, _ = integrate.quad(
            lambda v, h=h: np.exp(-BETA * np_energy([v], h, W, b, C2, s)), -15, 15, epsrel=1e-12
        )
        F = float(model.free_energy_hidden(jnp.asarray(h), BETA))
        np.testing.assert_allclose(F, -math.log(z) / BETA, rtol=1e-10)


def test_visible_free_energy_is_the_log_sum_over_h():
    model, hs = model_of(2), hidden_states(2)
    vs = np.random.default_rng(0).normal(size=(5, 2)) * 2
    ref = [-logsumexp([-BETA * np_energy(v, h, W2, B2, C2, S2) for h in hs]) / BETA for v in vs]
    np.testing.assert_allclose(model.free_energy(jnp.asarray(vs), BETA), ref, rtol=1e-12)
    fe = capabilities.analytic_free_energy(model)
    np.testing.assert_allclose(fe(jnp.asarray(vs), BETA), ref, rtol=1e-12)
    # β → ∞: F_∞(v) = min_h E(v, h)
    ref_inf = [min(np_energy(v, h, W2, B2, C2, S2) for h in hs) for v in vs]
    np.testing.assert_allclose(fe(jnp.asarray(vs), math.inf), ref_inf, rtol=1e-12)


def test_conditionals_are_the_joint_normalised():
    model, hs = model_of(2), hidden_states(2)
    v = np.array([0.4, -1.1])
    log_w = np.array([-BETA * np_energy(v, h, W2, B2, C2, S2) for h in hs])
    p_h = np.exp(log_w - logsumexp(log_w))
    np.testing.assert_allclose(model.hidden_probs(jnp.asarray(v), BETA), p_h @ hs, rtol=1e-12)
    # p(v | h) = exp(−βE(v, h) + βF_β(h)) is N(b + σ ⊙ Wh, σ²/β)
    h = hs[3]
    mean, std = np.asarray(model.visible_mean(jnp.asarray(h))), np.asarray(model.visible_std(BETA))
    np.testing.assert_allclose(mean, B2 + S2 * (W2 @ h), rtol=1e-14)
    F_h = float(model.free_energy_hidden(jnp.asarray(h), BETA))
    for x in np.random.default_rng(1).normal(size=(3, 2)):
        log_normal = np.sum(-0.5 * ((x - mean) / std) ** 2 - np.log(np.sqrt(2 * np.pi) * std))
        log_cond = -BETA * np_energy(x, h, W2, B2, C2, S2) + BETA * F_h
        np.testing.assert_allclose(log_normal, log_cond, rtol=1e-12)
    assert float(model.energy(jnp.asarray(x), jnp.asarray(h))) == pytest.approx(
        np_energy(x, h, W2, B2, C2, S2), rel=1e-14
    )


def test_log_z_gradients_match_finite_differences():
    model, eps = model_of(2), 1e-6

    def log_z(W, b, c, s, beta):
        return exact(GaussianBernoulliRBM(W, b, c, s), beta).log_z

    args = [jnp.asarray(a) for a in (W2, B2, C2, S2)] + [jnp.asarray(BETA)]
    grads = jax.grad(log_z, argnums=(0, 1, 2, 3, 4))(*args)
    for k, (arg, grad) in enumerate(zip(args, grads, strict=True)):
        flat = np.asarray(arg, float).ravel()
        fd = np.empty_like(flat)
        for i in range(flat.size):
            up, down = flat.copy(), flat.copy()
            up[i] += eps
            down[i] -= eps
            shifted = [list(args), list(args)]
            shifted[0][k] = jnp.asarray(up.reshape(np.shape(arg)))
            shifted[1][k] = jnp.asarray(down.reshape(np.shape(arg)))
            fd[i] = (float(log_z(*shifted[0])) - float(log_z(*shifted[1]))) / (2 * eps)
        np.testing.assert_allclose(np.ravel(grad), fd, rtol=1e-6, atol=1e-8)
    # d log Z / dβ = −E[E]: the exact mean energy by quadrature-free enumeration
    assert float(grads[4]) == pytest.approx(float(jax.grad(model.log_z)(BETA)), rel=1e-12)


def exact_moments(model, beta):
    """E[v], E[h], E[v²] from the enumerated hidden marginal (v | h Gaussian)."""
    hs = jnp.asarray(hidden_states(model.num_hidden))
    log_p = -beta * model.free_energy_hidden(hs, beta)
    p = np.exp(log_p - logsumexp(log_p))
    m = np.asarray(model.visible_mean(hs))
    var = np.asarray(model.visible_std(beta)) ** 2
    return p @ m, p @ np.asarray(hs), p @ (m**2) + var


def check_moments(v, h, model, beta):
    """|sample mean − exact| ≤ 4 SE for E[v], E[h], E[v²] over independent draws.

    Six statistics at 4σ each: false-failure rate ≈ 6 × 6.3e-5 ≈ 4e-4 (normal approximation).
    """
    v, h = np.asarray(v), np.asarray(h)
    n = v.shape[0]
    for draws, ref in zip((v, h, v**2), exact_moments(model, beta), strict=True):
        se = draws.std(0, ddof=1) / np.sqrt(n)
        assert np.all(np.abs(draws.mean(0) - ref) <= 4 * se), (draws.mean(0), ref, se)


def test_block_gibbs_reproduces_exact_moments():
    """The last state of 4000 independent block-Gibbs chains after 30 sweeps from v = h = 0."""
    model = model_of(2)
    res = physebm.sample(
        model, key=jax.random.key(0), num_chains=4000, num_steps=1, num_burnin=30, beta=BETA,
        init=(jnp.zeros(2), jnp.zeros(2)),
    )  # fmt: skip
    assert res.sampler == "block_gibbs"
    v, h = (x[:, -1] for x in res.samples)
    assert set(np.unique(np.asarray(h))) <= {0.0, 1.0}
    check_moments(v, h, model, BETA)


def test_sample_starts_from_the_default_base_without_init():
    """No init: the chains start from the registered base N(b, σ²) × uniform bits."""
    model = model_of(2)
    res = physebm.sample(
        model, key=jax.random.key(2), num_chains=4000, num_steps=1, num_burnin=30, beta=BETA
    )
    v, h = (x[:, -1] for x in res.samples)
    check_moments(v, h, model, BETA)


def test_exact_sampler_reproduces_exact_moments():
    model = model_of(2)
    sampler = capabilities.exact_sampler(model)
    assert sampler.name == "enumeration"
    v, h = sampler.sample_fn(jax.random.key(1), jnp.asarray(BETA), 4000)
    assert v.shape == (4000, 2) and h.shape == (4000, 2)
    check_moments(v, h, model, BETA)


def test_kernel_target_is_minus_beta_energy():
    model = model_of(2)
    target = capabilities.kernel_target(model, BETA)
    assert isinstance(target, Target)
    for v, h in [(np.array([0.3, -2.0]), np.array([1.0, 0.0])), (np.ones(2), np.ones(2))]:
        ref = -BETA * np_energy(v, h, W2, B2, C2, S2)
        assert float(target((jnp.asarray(v), jnp.asarray(h)))) == pytest.approx(ref, rel=1e-13)


def test_block_gibbs_rejects_a_plain_log_density():
    state = samplers.gibbs.init((jnp.zeros(2), jnp.zeros(2)))
    with pytest.raises(TypeError, match="BlockGibbs needs a samplers.targets.BernoulliRBM"):
        samplers.BlockGibbs().step(jax.random.key(0), state, lambda x: 0.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"W": np.ones(3)}, "W must be a .n_visible, n_hidden. matrix"),
        ({"b": np.ones(3)}, r"b must be a scalar or have shape \(2,\)"),
        ({"c": np.ones(3)}, r"c must be a scalar or have shape \(2,\)"),
        ({"sigma": np.ones(3)}, r"sigma must be a scalar or have shape \(2,\)"),
        ({"sigma": np.array([1.0, 0.0])}, "sigma must be > 0"),
        ({"sigma": -1.0}, "sigma must be > 0"),
        ({"sigma": np.array([1.0, np.nan])}, "sigma must be finite"),
    ],
)
def test_bad_parameters_name_the_argument(kwargs, match):
    args = {"W": W2, "b": B2, "c": C2, "sigma": S2} | kwargs
    with pytest.raises(ValueError, match=match):
        GaussianBernoulliRBM(**args)


def test_bad_calls_name_the_argument():
    model = model_of(2)
    with pytest.raises(ValueError, match=r"v must have trailing shape \(2,\)"):
        model.free_energy(jnp.ones(3), BETA)
    with pytest.raises(ValueError, match=r"h must have trailing shape \(2,\)"):
        model.energy(jnp.ones(2), jnp.ones(3))
    with pytest.raises(ValueError, match="beta must be > 0"):
        exact(model, -1.0)
    with pytest.raises(ValueError, match="sampler must be None or 'gibbs'"):
        physebm.sample(model, key=jax.random.key(0), num_chains=2, num_steps=1, sampler="nuts")
    with pytest.raises(ValueError, match="sigma must be > 0"):
        Target(W2, B2, C2, -S2)
    with pytest.raises(ValueError, match="sigma .n_visible,."):
        Target(W2, B2, C2, S2[:1])
