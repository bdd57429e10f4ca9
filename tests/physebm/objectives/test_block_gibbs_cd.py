"""CD-k and PCD with v → h → v block Gibbs on an RBM, against exact enumeration.

A 4 × 3 RBM has 16 visible and 8 hidden states, so the one-step block-Gibbs transition
K_β(v, v') = Σ_h p_β(h | v) p_β(v' | h), the visible marginal p_β(v) ∝ exp(−β F_β(v)), and the
mean and covariance of ∇_θ F_β(v') under either are exact sums. The objectives' gradients are
means over N independent chains, so their standard errors are exact too: every component is
required within 4σ (a false-failure rate below 19 · 6.3e-5 ≈ 1.2e-3 per test).
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import samplers
from physebm.models import RBM, Gaussian
from physebm.objectives.contrastive import (
    contrastive_divergence,
    persistent_contrastive_divergence,
)

NV, NH = 4, 3
BETA = 0.7
SIGMAS = 4.0


def rbm_of(params):
    return RBM(params["W"], params["b"], params["c"])


def params0():
    rng = np.random.default_rng(3)
    return {
        "W": jnp.asarray(rng.normal(0.0, 0.8, (NV, NH))),
        "b": jnp.asarray(rng.normal(0.0, 0.5, NV)),
        "c": jnp.asarray(rng.normal(0.0, 0.5, NH)),
    }


def states(n):
    return jnp.asarray(list(itertools.product((0.0, 1.0), repeat=n)))


def grad_free_energy(params, v):
    """β ∇_θ F_β(v) per row of v, flattened: (num_v, num_params)."""

    def f(p, x):
        return BETA * rbm_of(p).free_energy(x, BETA)

    g = jax.vmap(jax.grad(f), (None, 0))(params, v)
    return jnp.concatenate([g[k].reshape(len(v), -1) for k in ("W", "b", "c")], axis=1)


def flat(tree):
    return jnp.concatenate([tree[k].ravel() for k in ("W", "b", "c")])


def transition(params):
    """K_β(v, v') over the 16 visible states, (16, 16), rows sum to 1."""
    rbm, vs, hs = rbm_of(params), states(NV), states(NH)
    ph = rbm.hidden_probs(vs, BETA)  # (16, 3)
    p_h = jnp.prod(jnp.where(hs[None], ph[:, None], 1 - ph[:, None]), -1)  # (16 v, 8 h)
    pv = rbm.visible_probs(hs, BETA)  # (8, 4)
    p_v = jnp.prod(jnp.where(vs[None], pv[:, None], 1 - pv[:, None]), -1)  # (8 h, 16 v')
    return p_h @ p_v


def marginal(params):
    logp = -BETA * rbm_of(params).free_energy(states(NV), BETA)
    return jax.nn.softmax(logp)


def loss_grad(objective, params, batch, key):
    """The flattened gradient of one loss call from a fresh state, and the new state."""
    state = objective.init(params, jax.random.key(11))
    grad, (new_state, aux) = jax.grad(lambda p: objective.loss(p, batch, key, state), has_aux=True)(
        params
    )
    return flat(grad), state, new_state, aux


def test_cd1_block_gibbs_gradient_is_its_exact_expectation():
    params = params0()
    vs = states(NV)
    data_idx = jnp.array([0, 5, 10, 15, 6])
    reps = 4000
    batch = jnp.repeat(vs[data_idx], reps, axis=0)
    cd1 = contrastive_divergence(model_fn=rbm_of, kernel=samplers.BlockGibbs(), beta=BETA)
    got = loss_grad(cd1, params, batch, jax.random.key(0))[0]
    g = grad_free_energy(params, vs)  # (16, P)
    K = transition(params)[data_idx]  # (5, 16)
    mean_neg = K @ g  # E[β∇F(v⁻) | v⁺ = v_i]
    want = jnp.mean(g[data_idx] - mean_neg, axis=0)
    var_i = K @ g**2 - mean_neg**2  # Var[β∇F(v⁻) | v_i]
    stderr = jnp.sqrt(jnp.sum(reps * var_i, axis=0)) / len(batch)
    np.testing.assert_array_less(np.abs(got - want), SIGMAS * stderr + 1e-12)
    # the estimate is not the ML gradient: CD-1 is biased here, far beyond its stderr
    ml = jnp.mean(g[data_idx], 0) - marginal(params) @ g
    assert np.max(np.abs(got - ml) / stderr) > 10


def test_pcd_block_gibbs_with_many_steps_gives_the_ml_gradient():
    """Re-seeded chains start from the same uniform bits, so every chain ends in q_k ≈ p."""
    params = params0()
    vs = states(NV)
    num_chains, k = 20000, 30
    q = np.full(16, 1 / 16) @ np.linalg.matrix_power(np.asarray(transition(params)), k)
    p = np.asarray(marginal(params))
    assert 0.5 * np.abs(q - p).sum() < 1e-6  # k steps from uniform bits have mixed
    pcd = persistent_contrastive_divergence(
        model_fn=rbm_of,
        kernel=samplers.BlockGibbs(),
        init_fn=lambda key, n: jax.random.bernoulli(key, 0.5, (n, NV)).astype(float),
        num_chains=num_chains,
        num_steps=k,
        reinit_prob=0.5,
        beta=BETA,
    )
    data = vs[jnp.array([1, 2, 12, 15])]
    batch = jnp.tile(data, (num_chains // 4, 1))
    got, state, new, aux = loss_grad(pcd, params, batch, jax.random.key(1))
    g = grad_free_energy(params, vs)
    ml = jnp.mean(g[jnp.array([1, 2, 12, 15])], 0) - p @ g
    stderr = jnp.sqrt((p @ g**2 - (p @ g) ** 2) / num_chains)
    np.testing.assert_array_less(np.abs(got - ml), SIGMAS * stderr + 1e-12)
    # the buffer holds (v, h) pairs of bits, written back after the step
    for positions in (state.positions, new.positions):
        assert positions[0].shape == (num_chains, NV) and positions[1].shape == (num_chains, NH)
    assert set(np.unique(np.asarray(new.positions[0]))) <= {0.0, 1.0}
    assert not np.array_equal(np.asarray(new.positions[0]), np.asarray(state.positions[0]))
    assert abs(float(aux["reseeded"]) - 0.5) < 4 * np.sqrt(0.25 / num_chains)


def test_structured_kernel_without_model_fn_is_refused():
    def energy(p, v):
        return rbm_of(p).free_energy(v)

    with pytest.raises(ValueError, match="model_fn"):
        contrastive_divergence(energy, kernel=samplers.BlockGibbs())
    with pytest.raises(ValueError, match="model_fn"):
        persistent_contrastive_divergence(
            energy, kernel=samplers.BlockGibbs(), init_fn=lambda k, n: None, num_chains=4
        )


def test_bad_model_fn_is_refused():
    with pytest.raises(TypeError, match="model_fn must be a callable"):
        contrastive_divergence(model_fn=3, kernel=samplers.BlockGibbs())
    with pytest.raises(ValueError, match="not both"):
        contrastive_divergence(lambda p, v: 0.0, model_fn=rbm_of, kernel=samplers.BlockGibbs())
    gauss = contrastive_divergence(
        model_fn=lambda p: Gaussian(jnp.zeros(2), jnp.eye(2)), kernel=samplers.BlockGibbs()
    )
    with pytest.raises(TypeError, match="kernel_target"):
        gauss.init({}, jax.random.key(0))
