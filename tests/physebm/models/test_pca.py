"""PCA as an energy-based model: closed-form free energies and training through fit."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import integrate, linalg

import physebm
from physebm.models.capabilities import analytic_free_energy
from physebm.models.pca import PCAEnergy
from physebm.objectives.free_energy import free_energy_loss


def _reference_integral_free_energy(W, y, beta):
    """−(1/β) log ∫ exp(−β‖y − Wz‖²) dz by scipy quadrature (k = 1 or 2), centred at the
    least-squares code and scaled by exp(β F_∞) to stay O(1)."""
    z_star = np.linalg.lstsq(W, y, rcond=None)[0]
    f_inf = float(np.sum((y - W @ z_star) ** 2))
    rows = [(float(yi), [float(w) for w in wi]) for yi, wi in zip(y, W, strict=True)]
    z_star = [float(z) for z in z_star]

    def integrand(*u):  # plain floats: E(y, z*+u) = Σ_i (y_i − Σ_j W_ij (z*_j + u_j))²
        z = [zs + uj for zs, uj in zip(z_star, u, strict=True)]
        e = sum((yi - sum(w * zj for w, zj in zip(wi, z, strict=True))) ** 2 for yi, wi in rows)
        return math.exp(-beta * (e - f_inf))

    k = W.shape[1]
    if k == 1:
        val, _ = integrate.quad(integrand, -np.inf, np.inf, epsabs=0, epsrel=1e-12)
    else:
        val, _ = integrate.dblquad(
            integrand, -np.inf, np.inf, -np.inf, np.inf, epsabs=0, epsrel=1e-10
        )
    return f_inf - math.log(val) / beta


@pytest.mark.parametrize(("k", "beta"), [(1, 0.3), (1, 2.0), (2, 0.3), (2, 2.0)])
def test_finite_beta_free_energy_matches_quadrature(k, beta):
    rng = np.random.default_rng(k)
    W = rng.normal(size=(3, k))
    y = rng.normal(size=3)
    got = float(PCAEnergy(W).free_energy(y, beta))
    assert got == pytest.approx(_reference_integral_free_energy(W, y, beta), abs=1e-9)


def test_zero_temperature_is_distance_to_span():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(5, 2))
    y = rng.normal(size=(4, 5))
    q, _ = np.linalg.qr(W)
    residual = y - (y @ q) @ q.T
    model = PCAEnergy(W)
    np.testing.assert_allclose(model.free_energy(y), np.sum(residual**2, -1), atol=1e-12)
    np.testing.assert_allclose(physebm.free_energy(model, y, math.inf), model.free_energy(y))
    np.testing.assert_allclose(
        analytic_free_energy(model)(y, 0.7), model.free_energy(y, 0.7), atol=1e-12
    )
    # a rank-deficient W: the distance to its (1-D) span, the minimum-norm code
    Wd = np.stack([W[:, 0], 2 * W[:, 0]], 1)
    u = W[:, :1] / np.linalg.norm(W[:, 0])
    expected = np.sum((y - (y @ u) @ u.T) ** 2, -1)
    np.testing.assert_allclose(PCAEnergy(Wd).free_energy(y), expected, atol=1e-10)


def test_zero_temperature_gradient_is_exact():
    """∇_W F_∞ with the code held fixed (Danskin) against central finite differences."""
    rng = np.random.default_rng(1)
    W = rng.normal(size=(4, 2))
    y = rng.normal(size=(3, 4))

    @jax.jit
    def f(w):
        return jnp.sum(PCAEnergy(w).free_energy(y))

    grad = jax.grad(f)(jnp.asarray(W))
    eps = 1e-6
    fd = np.zeros_like(W)
    for idx in np.ndindex(*W.shape):
        e = np.zeros_like(W)
        e[idx] = eps
        fd[idx] = (f(W + e) - f(W - e)) / (2 * eps)
    np.testing.assert_allclose(grad, fd, atol=1e-7)


def test_fit_recovers_principal_subspace():
    """Minimising mean F_∞ over W through fit spans the top-k right singular vectors of the
    centred data: every principal angle below 1e-3 rad."""
    rng = np.random.default_rng(2)
    n, d, k = 256, 6, 2
    scales = np.array([3.0, 2.0, 0.8, 0.6, 0.4, 0.3])
    rotation, _ = np.linalg.qr(rng.normal(size=(d, d)))
    y = (rng.normal(size=(n, d)) * scales) @ rotation.T
    y = y - y.mean(0)
    top = np.linalg.svd(y, full_matrices=False)[2][:k].T
    res = physebm.fit(
        free_energy_loss(),
        PCAEnergy(0.1 * rng.normal(size=(d, k))),
        jnp.asarray(y),
        optax.sgd(0.1),
        key=jax.random.key(0),
        num_steps=400,
        batch_size=n,
        progress=False,
    )
    angles = linalg.subspace_angles(np.asarray(res.params.W), top)
    assert np.max(angles) < 1e-3, angles
    assert res.losses[-1] == pytest.approx(np.sum(y**2) / n - np.sum((y @ top) ** 2) / n)


def test_bad_input():
    with pytest.raises(ValueError, match="W must be a \\(d, k\\)"):
        PCAEnergy(np.ones(3))
    with pytest.raises(ValueError, match="W must be finite"):
        PCAEnergy([[np.nan], [1.0]])
    model = PCAEnergy(np.ones((3, 1)))
    with pytest.raises(ValueError, match="y must have trailing shape"):
        model.free_energy(np.ones(4))
    with pytest.raises(ValueError, match="z must have trailing shape"):
        model.energy(np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match="beta must be > 0"):
        model.free_energy(np.ones(3), -1.0)
    with pytest.raises(TypeError, match="free_energy_fn must be a callable"):
        free_energy_loss(3)
    with pytest.raises(TypeError, match="one free energy per example"):
        free_energy_loss(lambda p, y: jnp.sum(y)).loss(None, jnp.ones((2, 3)), None, ())


def test_free_energy_loss_finite_beta_and_weights():
    """The default route at finite β is the closed-form F_β; a Weighted batch weighs it."""
    rng = np.random.default_rng(5)
    model = PCAEnergy(rng.normal(size=(3, 2)))
    y = rng.normal(size=(4, 3))
    w = np.array([1.0, 0.0, 2.0, 1.0])
    f = np.asarray(model.free_energy(y, 2.0))
    loss, (_, aux) = free_energy_loss(beta=2.0).loss(model, jnp.asarray(y), None, ())
    assert float(loss) == pytest.approx(f.mean(), abs=1e-12)
    batch = physebm.objectives.Weighted(jnp.asarray(y), jnp.asarray(w))
    loss, _ = free_energy_loss(beta=2.0).loss(model, batch, None, ())
    assert float(loss) == pytest.approx(np.sum(w * f) / w.sum(), abs=1e-12)
    with pytest.raises(ValueError, match="beta must be > 0"):
        free_energy_loss(beta=0.0)
