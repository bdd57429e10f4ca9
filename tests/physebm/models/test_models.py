"""Built-in energies against independent numpy implementations."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import multivariate_normal

from physebm.models import (
    RBM,
    BoltzmannMachine,
    CurieWeiss,
    Gaussian,
    GMMEnergy,
    Ising,
    KMeansEnergy,
)


def ising_energy_loops(s, J, h, periodic):
    """Energy by explicit loops over bonds (independent of the vectorised code)."""
    s = np.asarray(s)
    e = 0.0
    if s.ndim == 1:
        n = len(s)
        for i in range(n if periodic else n - 1):
            e -= J * s[i] * s[(i + 1) % n]
    else:
        m, n = s.shape
        for i in range(m):
            for j in range(n):
                if periodic or j + 1 < n:
                    e -= J * s[i, j] * s[i, (j + 1) % n]
                if periodic or i + 1 < m:
                    e -= J * s[i, j] * s[(i + 1) % m, j]
    return e - h * s.sum()


@pytest.mark.parametrize("shape", [(5,), (2,), (3, 4), (2, 2), (4, 4)])
@pytest.mark.parametrize("periodic", [True, False])
def test_ising_energy_matches_loops(shape, periodic):
    rng = np.random.default_rng(0)
    model = Ising(shape, J=0.7, h=-0.3, periodic=periodic)
    bm = model.to_boltzmann_machine()
    for _ in range(5):
        s = rng.choice([-1.0, 1.0], size=shape)
        ref = ising_energy_loops(s, 0.7, -0.3, periodic)
        assert float(model(jnp.asarray(s))) == pytest.approx(ref, abs=1e-12)
        assert float(bm(jnp.asarray(s).ravel())) == pytest.approx(ref, abs=1e-12)


def test_ising_ground_state_energy():
    model = Ising((4, 4), J=1.0)
    assert float(model(jnp.ones((4, 4)))) == -32.0  # 2 bonds per site on a torus


def test_boltzmann_machine_bits_and_local_field():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(5, 5))
    W = (A + A.T) / 2
    b = rng.normal(size=5)
    for domain, values in (("spin", [-1.0, 1.0]), ("bits", [0.0, 1.0])):
        bm = BoltzmannMachine(W, b, domain=domain)
        x = rng.choice(values, size=5)
        assert float(bm(jnp.asarray(x))) == pytest.approx(-0.5 * x @ W @ x - b @ x, abs=1e-12)
        # The local field gives the exact energy difference of flipping one unit.
        for i in range(5):
            hi, lo = x.copy(), x.copy()
            hi[i], lo[i] = values[1], values[0]
            de = float(bm(jnp.asarray(lo)) - bm(jnp.asarray(hi)))
            scale = 2.0 if domain == "spin" else 1.0
            assert float(bm.local_field(jnp.asarray(x))[i]) * scale == pytest.approx(de, abs=1e-12)


def test_curie_weiss_energy():
    model = CurieWeiss(6, J=1.5, h=0.2)
    s = jnp.array([1.0, 1.0, -1.0, 1.0, -1.0, 1.0])
    M = 2.0
    assert float(model(s)) == pytest.approx(-(1.5 / 12) * M**2 - 0.2 * M, abs=1e-14)


def test_gaussian_log_z_by_quadrature():
    from scipy.integrate import quad

    model = Gaussian(jnp.array([0.3]), jnp.array([[2.5]]))
    beta = 0.8
    val, _ = quad(lambda x: np.exp(-beta * float(model(jnp.array([x])))), -30, 30)
    assert float(model.log_z(beta)) == pytest.approx(np.log(val), abs=1e-10)


def rbm_brute_force(W, b, c, beta):
    nv, nh = W.shape
    vs = np.array(list(itertools.product([0.0, 1.0], repeat=nv)))
    hs = np.array(list(itertools.product([0.0, 1.0], repeat=nh)))
    E = -(vs @ b)[:, None] - (hs @ c)[None, :] - vs @ W @ hs.T
    return vs, E


@pytest.mark.parametrize("beta", [0.4, 1.0, 2.3])
def test_rbm_free_energy_is_the_joint_marginal_at_beta(beta):
    rng = np.random.default_rng(2)
    W, b, c = rng.normal(size=(4, 3)), rng.normal(size=4), rng.normal(size=3)
    rbm = RBM(W, b, c)
    vs, E = rbm_brute_force(W, b, c, beta)
    # exp(−β F_β(v)) = Σ_h exp(−β E(v, h))
    ref = -np.log(np.exp(-beta * E).sum(1)) / beta
    np.testing.assert_allclose(rbm.free_energy(jnp.asarray(vs), beta), ref, rtol=1e-12)
    E_model = jax.vmap(lambda v: jax.vmap(lambda h: rbm.energy(v, h))(jnp.asarray(_hs(3))))(
        jnp.asarray(vs)
    )
    np.testing.assert_allclose(E_model, E, atol=1e-12)
    if beta != 1.0:
        # The common mistake: the marginal is not exp(−β F₁(v)).
        wrong = rbm.free_energy(jnp.asarray(vs), 1.0)
        assert np.max(np.abs(np.asarray(wrong) - ref)) > 1e-2


def _hs(n):
    return np.array(list(itertools.product([0.0, 1.0], repeat=n)))


def test_rbm_hidden_free_energy_and_conditionals():
    rng = np.random.default_rng(3)
    W, b, c = rng.normal(size=(3, 4)), rng.normal(size=3), rng.normal(size=4)
    rbm = RBM(W, b, c)
    beta = 1.7
    vs = np.array(list(itertools.product([0.0, 1.0], repeat=3)))
    hs = _hs(4)
    E = -(vs @ b)[:, None] - (hs @ c)[None, :] - vs @ W @ hs.T
    ref = -np.log(np.exp(-beta * E).sum(0)) / beta
    np.testing.assert_allclose(rbm.free_energy_hidden(jnp.asarray(hs), beta), ref, rtol=1e-12)
    # p(h_j = 1 | v) by enumeration
    p = np.exp(-beta * E[5])
    p /= p.sum()
    np.testing.assert_allclose(rbm.hidden_probs(jnp.asarray(vs[5]), beta), p @ hs, rtol=1e-12)


def test_gmm_free_energy_is_negative_log_density():
    from physebm import free_energy

    rng = np.random.default_rng(4)
    means = rng.normal(size=(3, 2))
    covs = np.stack([np.eye(2) * s + 0.3 * np.ones((2, 2)) for s in (0.5, 1.0, 2.0)])
    weights = np.array([0.2, 0.5, 0.3])
    gmm = GMMEnergy(means, covs, weights)
    y = rng.normal(size=(6, 2))
    dens = sum(
        w * multivariate_normal(m, c).pdf(y) for w, m, c in zip(weights, means, covs, strict=True)
    )
    np.testing.assert_allclose(free_energy(gmm, jnp.asarray(y), 1.0), -np.log(dens), rtol=1e-12)


def test_kmeans_energies():
    km = KMeansEnergy(jnp.array([[0.0, 0.0], [1.0, 2.0]]))
    np.testing.assert_allclose(km.energies(jnp.array([1.0, 1.0])), [2.0, 1.0])
    assert float(km.energy(jnp.array([1.0, 1.0]), 1)) == 1.0


def test_bad_shapes_and_values():
    with pytest.raises(ValueError, match="shape"):
        Ising((1, 4))
    with pytest.raises(ValueError, match="shape"):
        Ising((2, 2, 2))
    with pytest.raises(ValueError, match="s must have trailing shape"):
        Ising((3, 3))(jnp.ones((3, 4)))
    with pytest.raises(ValueError, match="W must be symmetric"):
        BoltzmannMachine(jnp.array([[0.0, 1.0], [0.5, 0.0]]))
    with pytest.raises(ValueError, match="W must be a square"):
        BoltzmannMachine(jnp.ones((2, 3)))
    with pytest.raises(ValueError, match="domain"):
        BoltzmannMachine(jnp.zeros((2, 2)), domain="bool")
    with pytest.raises(ValueError, match="b must have shape"):
        RBM(jnp.ones((3, 2)), b=jnp.ones(2))
    with pytest.raises(ValueError, match="c must have shape"):
        RBM(jnp.ones((3, 2)), c=jnp.ones(3))
    with pytest.raises(ValueError, match="precision must have shape"):
        Gaussian(jnp.zeros(2), jnp.eye(3))
    with pytest.raises(ValueError, match="precision must be symmetric"):
        Gaussian(jnp.zeros(2), jnp.array([[1.0, 0.2], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="N must be a positive integer"):
        CurieWeiss(0)
    with pytest.raises(ValueError, match="covariances must have shape"):
        GMMEnergy(jnp.zeros((2, 2)), jnp.ones((2, 3, 3)))


def test_mlp_energy_shapes_confinement_and_grad():
    from physebm.models import init_mlp_energy, mlp_energy

    params = init_mlp_energy(jax.random.key(0), 2, (8, 8), confinement=0.1)
    x = jnp.array([0.3, -0.7])
    e = mlp_energy(params, x)
    assert e.shape == ()
    g = jax.grad(mlp_energy)(params, x)
    assert float(g["confinement"]) == 0.0  # the confinement is never trained
    assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree_util.tree_leaves(g))
    # far from the origin the quadratic confinement dominates: E grows like ½λ‖x‖²
    far = jnp.array([300.0, -400.0])
    assert float(mlp_energy(params, far)) > 0.5 * 0.1 * 500.0**2 * 0.5
    with pytest.raises(ValueError, match="x must be one point"):
        mlp_energy(params, jnp.ones((3, 2)))
    with pytest.raises(ValueError, match="confinement"):
        init_mlp_energy(jax.random.key(0), 2, confinement=-1.0)
