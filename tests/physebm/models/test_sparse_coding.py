"""Sparse coding as an energy-based model: the Lasso F_∞, dictionary learning, LISTA, F_β."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import integrate

import physebm
from physebm.models.sparse_coding import (
    LISTA,
    SparseCodingEnergy,
    dictionary_learning_loss,
    lista_loss,
    soft_threshold,
    sparse_code,
    sparse_coding_free_energy,
    unit_columns,
)


def _problem(d=6, k=9, n=4, seed=0):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(d, k))
    return W / np.linalg.norm(W, axis=0), rng.normal(size=(n, d))


@pytest.mark.parametrize("method", ["fista", "ista"])
def test_lasso_matches_scikit_learn(method):
    """sklearn's Lasso minimises (1/(2d))‖y − Ww‖² + α‖w‖₁ (d = rows of W, its samples), so
    α = λ/d gives the same minimiser."""
    sklearn = pytest.importorskip("sklearn.linear_model")
    W, y = _problem()
    lam = 0.3
    res = sparse_code(W, y, lam, method=method, tol=1e-12, max_iterations=20_000)
    assert bool(jnp.all(res.converged)) and int(jnp.max(res.iterations)) < 20_000
    for yi, code, energy in zip(y, res.code, res.energy, strict=True):
        ref = sklearn.Lasso(alpha=lam / W.shape[0], fit_intercept=False, tol=1e-14, max_iter=10**6)
        ref = ref.fit(W, yi).coef_
        np.testing.assert_allclose(code, ref, atol=1e-6)
        e_ref = 0.5 * np.sum((yi - W @ ref) ** 2) + lam * np.sum(np.abs(ref))
        assert float(energy) == pytest.approx(e_ref, abs=1e-10)
        assert float(energy) <= e_ref + 1e-12  # the solver's code is at least as good
    model = SparseCodingEnergy(W, lam)
    np.testing.assert_allclose(physebm.free_energy(model, y, math.inf), res.energy, atol=1e-10)


def test_orthonormal_dictionary_is_soft_thresholding():
    rng = np.random.default_rng(1)
    W, _ = np.linalg.qr(rng.normal(size=(5, 3)))  # orthonormal columns, L = 1
    y = 2 * rng.normal(size=(7, 5))
    lam = 0.5
    res = sparse_code(W, y, lam, tol=1e-14)
    expected = np.sign(y @ W) * np.maximum(np.abs(y @ W) - lam, 0.0)
    np.testing.assert_allclose(res.code, expected, atol=1e-12)
    np.testing.assert_allclose(soft_threshold(y @ W, lam), expected, atol=1e-15)
    assert np.all(np.asarray(res.residual) < 1e-12)


def test_result_reports_non_convergence():
    W, y = _problem()
    res = sparse_code(W, y, 0.1, max_iterations=2, tol=1e-12)
    assert np.all(np.asarray(res.iterations) == 2)
    assert not bool(jnp.any(res.converged))
    assert np.all(np.asarray(res.residual) > 1e-6)


def test_zero_temperature_gradient_is_exact():
    """∇_W F_∞ and ∇_λ F_∞ with the code held fixed (Danskin) against finite differences."""
    W, y = _problem(d=4, k=3, n=3)

    @jax.jit
    def f(w, lam):
        return jnp.sum(SparseCodingEnergy(w, lam).free_energy(y, tol=1e-13, max_iterations=5000))

    gw, gl = jax.grad(f, argnums=(0, 1))(jnp.asarray(W), jnp.asarray(0.2))
    eps = 1e-6
    for idx in np.ndindex(*W.shape):
        e = np.zeros_like(W)
        e[idx] = eps
        assert float(gw[idx]) == pytest.approx(
            float(f(W + e, 0.2) - f(W - e, 0.2)) / (2 * eps), abs=1e-6
        )
    assert float(gl) == pytest.approx(
        float(f(W, 0.2 + eps) - f(W, 0.2 - eps)) / (2 * eps), abs=1e-6
    )


def test_dictionary_learning_one_atom_against_brute_force():
    """d = 2, k = 1: for a unit atom w, F_∞(y) = ½‖y‖² − ½(|wᵀy| − λ)₊², so the best atom
    maximises mean (|wᵀy| − λ)₊² over the angle of w; fit must land on that angle."""
    rng = np.random.default_rng(3)
    y = rng.normal(size=(64, 2)) * np.array([2.0, 0.7]) @ np.array([[0.8, 0.6], [-0.6, 0.8]])
    lam = 0.5
    theta = np.linspace(0, np.pi, 200_001)
    proj = np.abs(np.cos(theta)[:, None] * y[:, 0] + np.sin(theta)[:, None] * y[:, 1])
    best = theta[np.argmax(np.mean(np.maximum(proj - lam, 0) ** 2, 1))]
    res = physebm.fit(
        dictionary_learning_loss(lam, tol=1e-12),
        jnp.array([[1.0], [0.0]]),
        jnp.asarray(y),
        optax.sgd(0.3),
        key=jax.random.key(0),
        num_steps=300,
        batch_size=64,
        progress=False,
    )
    w = np.asarray(unit_columns(res.params))[:, 0]
    angle = np.arctan2(w[1], w[0]) % np.pi
    assert abs(angle - best) < 1e-3, (angle, best)
    assert res.losses[-1] < res.losses[0]


def _matched_abs_cos(W, W_true):
    """|cos| between each true atom and its learned partner, under the permutation (brute force
    over all k!) that maximises their sum: the match up to permutation and sign."""
    c = np.abs(np.asarray(W).T @ np.asarray(W_true))
    k = c.shape[0]
    perm = max(itertools.permutations(range(k)), key=lambda p: sum(c[p[j], j] for j in range(k)))
    return np.array([c[perm[j], j] for j in range(k)])


def test_dictionary_learning_recovers_a_multi_atom_dictionary():
    """y = W*z + 0.01ε with a unit-norm W* (d = 8, k = 4, coherence max|w_iᵀw_j| = 0.35) and
    codes of 1 or 2 active atoms, |z_i| ~ U(1, 2) with random signs; dictionary learning from a
    random V₀ recovers every atom up to permutation and sign. Measured: min |cos| 0.99985 and
    loss 1.10 → 0.2179 (the same optimum, to 1e-10 in the loss, from 8 other random V₀;
    1 − |cos| ~ 1e-4 is the bias of λ and the noise); this V₀ itself matches at min |cos| 0.22.
    With 300 steps instead of 1000 one of those 8 starts was still on a plateau (min |cos|
    0.70); starting from k data examples is already within |cos| 0.9999 of some atoms."""
    rng = np.random.default_rng(14)
    d, k, n = 8, 4, 256
    W_true = rng.normal(size=(d, k))
    W_true /= np.linalg.norm(W_true, axis=0)
    assert np.max(np.abs(W_true.T @ W_true - np.eye(k))) < 0.4  # well-separated atoms
    codes = np.zeros((n, k))
    for row in codes:
        active = rng.choice(k, rng.integers(1, 3), replace=False)
        row[active] = rng.choice([-1.0, 1.0], active.size) * rng.uniform(1, 2, active.size)
    y = codes @ W_true.T + 0.01 * rng.normal(size=(n, d))
    V0 = rng.normal(size=(d, k))
    res = physebm.fit(
        dictionary_learning_loss(0.1),
        jnp.asarray(V0),
        jnp.asarray(y),
        optax.adam(0.05),
        key=jax.random.key(0),
        num_steps=1000,
        batch_size=n,
        progress=False,
    )
    learned = _matched_abs_cos(unit_columns(res.params), W_true)
    start = _matched_abs_cos(unit_columns(jnp.asarray(V0)), W_true)
    assert np.min(learned) > 0.999, learned
    assert np.min(start) < 0.9, start  # the check can fail: a random dictionary is far off
    assert res.losses[-1] < 0.5 * res.losses[0]


def test_lista_starts_as_ista_and_training_saves_iterations():
    W, _ = _problem(d=6, k=9)
    rng = np.random.default_rng(4)
    codes = rng.normal(size=(384, 9)) * (rng.uniform(size=(384, 9)) < 0.25)
    y = jnp.asarray(codes @ W.T + 0.05 * rng.normal(size=(384, 6)))
    train, test = y[:256], y[256:]
    lam, layers = 0.1, 3
    encoder = LISTA.from_dictionary(W, lam, layers)
    ista = sparse_code(W, test, lam, method="ista", max_iterations=layers, tol=0.0)
    np.testing.assert_allclose(encoder(test), ista.code, atol=1e-12)
    model = SparseCodingEnergy(W, lam)
    res = physebm.fit(
        lista_loss(model),
        encoder,
        train,
        optax.adam(3e-3),
        key=jax.random.key(1),
        num_steps=150,
        batch_size=128,
        progress=False,
    )
    f_inf = model.free_energy(test, tol=1e-12, max_iterations=20_000)
    gap_lista = float(jnp.mean(model.energy(test, res.params(test)) - f_inf))
    gap_ista = float(jnp.mean(ista.energy - f_inf))
    assert gap_lista < 0.5 * gap_ista, (gap_lista, gap_ista)


def _box_quadrature(W, y, lam, beta, nodes=160):
    """−(1/β) log ∫ exp(−βE(y, z)) dz for k ≤ 2: Gauss–Legendre on each orthant (E is smooth
    away from the axes), truncated where exp(−β(E − E_min)) < e⁻⁶⁰."""
    k = W.shape[1]
    e_min = float(sparse_code(W, y, lam, tol=1e-13, max_iterations=10_000).energy)
    radius = np.abs(np.linalg.lstsq(W, y, rcond=None)[0]).max() + math.sqrt(
        120 / (beta * np.linalg.eigvalsh(W.T @ W)[0])
    )
    x, w = np.polynomial.legendre.leggauss(nodes)
    x, w = 0.5 * radius * (x + 1), 0.5 * radius * w
    total = 0.0
    for signs in np.ndindex(*(2,) * k):
        s = np.where(np.array(signs) == 0, 1.0, -1.0)
        grids = np.meshgrid(*([x] * k), indexing="ij")
        z = np.stack([g.ravel() for g in grids], 1) * s
        weight = np.prod(np.meshgrid(*([w] * k), indexing="ij"), 0).ravel()
        e = 0.5 * np.sum((y - z @ W.T) ** 2, 1) + lam * np.sum(np.abs(z), 1)
        total += np.sum(weight * np.exp(-beta * (e - e_min)))
    return e_min - math.log(total) / beta


def test_box_quadrature_matches_scipy_quad_for_one_latent():
    W, y, lam, beta = np.array([[1.0], [0.5], [-0.3]]), np.array([0.4, 1.0, 0.2]), 0.7, 2.0
    e = lambda z: 0.5 * np.sum((y - W[:, 0] * z) ** 2) + lam * abs(z)  # noqa: E731
    val = sum(integrate.quad(lambda z: math.exp(-beta * e(z)), a, b, epsabs=0, epsrel=1e-12)[0]
              for a, b in [(-np.inf, 0.0), (0.0, np.inf)])  # fmt: skip
    assert _box_quadrature(W, y, lam, beta) == pytest.approx(-math.log(val) / beta, abs=1e-10)


def _finite_beta_problem(k):
    rng = np.random.default_rng(10 + k)
    W = rng.normal(size=(3, k))
    y = np.array([0.9, -0.4, 0.3])
    lam, beta = 0.6, 1.5
    return SparseCodingEnergy(W, lam), y, beta, _box_quadrature(W, y, lam, beta)


@pytest.mark.parametrize("k", [pytest.param(1, marks=pytest.mark.slow), 2])
def test_finite_beta_importance_and_laplace_against_quadrature(k):
    """Importance sampling within 4σ of the quadrature (false-failure rate ~6e-5); Laplace is
    exact at λ = 0 and off by more than 1e-3 at λ > 0, the L1 kink (quadrature: ~1e-10)."""
    model, y, beta, ref = _finite_beta_problem(k)
    imp = sparse_coding_free_energy(model, y, beta, key=jax.random.key(k), num_samples=4000)
    f_imp, se = float(imp.info["free_energy"]), float(imp.stderr) / beta
    assert abs(f_imp - ref) < 4 * se, (f_imp, ref, se)
    lap = sparse_coding_free_energy(model, y, beta, method="laplace")
    assert abs(float(lap.info["free_energy"]) - ref) > 1e-3
    quadratic = SparseCodingEnergy(model.W, 0.0)
    lap0 = sparse_coding_free_energy(quadratic, y, beta, method="laplace")
    ref0 = _box_quadrature(np.asarray(model.W), y, 0.0, beta)
    assert float(lap0.info["free_energy"]) == pytest.approx(ref0, abs=1e-9)


@pytest.mark.parametrize("k", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_finite_beta_variational_is_an_upper_bound(k):
    """F_var ≥ F_β (Gibbs–Bogoliubov) up to 4σ of its sample estimate."""
    model, y, beta, ref = _finite_beta_problem(k)
    var = sparse_coding_free_energy(
        model, y, beta, method="variational", key=jax.random.key(5), num_steps=50
    )
    assert float(var.info["free_energy"]) > ref - 4 * float(var.stderr) / beta
    assert float(var.info["free_energy"]) - ref < 0.05  # and a close one for this posterior


def test_bad_input():
    W, y = _problem()
    with pytest.raises(ValueError, match="W must be a \\(d, k\\) dictionary"):
        SparseCodingEnergy(np.ones(3), 0.1)
    with pytest.raises(ValueError, match="lam must be >= 0"):
        SparseCodingEnergy(W, -0.1)
    with pytest.raises(ValueError, match="lam must be a scalar"):
        sparse_code(W, y, np.ones(2))
    with pytest.raises(ValueError, match="y must have trailing shape"):
        sparse_code(W, np.ones(5), 0.1)
    with pytest.raises(ValueError, match="method must be one of"):
        sparse_code(W, y, 0.1, method="admm")
    with pytest.raises(ValueError, match="max_iterations"):
        sparse_code(W, y, 0.1, max_iterations=0)
    with pytest.raises(ValueError, match="tol must be a scalar >= 0"):
        sparse_code(W, y, 0.1, tol=-1.0)
    with pytest.raises(ValueError, match="z0 must have shape"):
        sparse_code(W, y, 0.1, z0=np.zeros(9))
    model = SparseCodingEnergy(W, 0.1)
    with pytest.raises(ValueError, match="beta must be math.inf here"):
        physebm.free_energy(model, y, 1.0)
    with pytest.raises(ValueError, match="y must be one data vector"):
        sparse_coding_free_energy(model, y, 1.0, key=jax.random.key(0))
    with pytest.raises(ValueError, match="W must have at most as many atoms"):
        sparse_coding_free_energy(model, y[0], 1.0, key=jax.random.key(0))
    with pytest.raises(ValueError, match="key is required"):
        sparse_coding_free_energy(model, y[0], 1.0)
    with pytest.raises(ValueError, match="method must be one of"):
        sparse_coding_free_energy(model, y[0], 1.0, method="exact")
    with pytest.raises(TypeError, match="model must be a SparseCodingEnergy"):
        lista_loss(W)
    with pytest.raises(ValueError, match="num_layers"):
        LISTA.from_dictionary(W, 0.1, 0)
