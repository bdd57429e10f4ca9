"""Margin losses of LeCun et al. (2006): the documented table is recomputed and compared, the
NLL limits are exact identities, and margin/NLL-trained conditional EBMs classify well."""

import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from physebm import objectives as obj
from physebm.objectives import margin as mg
from physebm.training import fit

DOC = Path(__file__).resolve().parents[3] / "docs" / "objectives.md"
HYPER = {"margin": 1.0, "saturation": 1.0, "gamma": 1.0, "beta": 1.0, "h_fn": "hinge"}
COND3_MARGIN = 0.5
K = 3


def doc_table() -> dict[str, dict[str, str]]:
    """Rows of the margin-loss table in docs/objectives.md, keyed by the ``loss=`` name."""
    text = DOC.read_text()
    header = "| loss | `loss=` |"
    lines = text[text.index(header) :].splitlines()
    columns = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        row = dict(zip(columns, cells, strict=True))
        rows[re.sub(r"`", "", row["`loss=`"])] = row
    return rows


def random_energies(num=3000):
    return jax.random.uniform(jax.random.key(30), (num, K), minval=0.0, maxval=3.0)


def computed_properties(name):
    fn = mg.LOSSES[name]
    energies = random_energies()
    correct = jnp.zeros(energies.shape[0], jnp.int32)

    def loss(e, c):
        return fn(e, c, None, **HYPER)

    values = jax.vmap(loss)(energies, correct)
    grads = np.asarray(jax.vmap(jax.grad(loss))(energies, correct))
    e_i, idx = jax.vmap(mg.most_offending)(energies, correct)
    idx = np.asarray(idx)
    d_c = grads[:, 0]
    rows = np.arange(len(idx))
    d_i = grads[rows, idx]
    other = np.where(idx == 1, 2, 1)
    d_other = grads[rows, other]
    tol = 1e-12
    pushes = bool(np.all(d_c >= -tol) and np.any(d_c > tol))
    assert np.all(grads[:, 1:] <= tol), f"{name}: an incorrect answer is pushed down"
    if not np.any(grads[:, 1:] < -tol):
        pulls = "none"
    elif np.all(np.abs(d_other) <= tol) and np.any(d_i < -tol):
        pulls = "most offending"
    else:
        pulls = "all incorrect"
    gap = np.asarray(e_i - energies[:, 0])
    zero = np.asarray(values) == 0.0
    zero_iff = any(np.array_equal(zero, gap >= m) for m in (HYPER["margin"], 0.0))

    # condition 3 on a grid of two-answer energies
    grid = jnp.linspace(0.0, 5.0, 101)
    ec, ei = jnp.meshgrid(grid, grid, indexing="ij")
    pairs = jnp.stack([ec.ravel(), ei.ravel()], axis=1)
    two = np.asarray(jax.vmap(lambda e: fn(e, 0, None, **HYPER))(pairs))
    ec, ei = np.asarray(pairs[:, 0]), np.asarray(pairs[:, 1])
    hp1 = two[ec + COND3_MARGIN < ei - 1e-9].min()
    hp2 = two[ec + COND3_MARGIN > ei + 1e-9].min()
    good = bool(hp1 < hp2 - 1e-12)
    never_zero = bool(np.all(np.asarray(values) > 0))
    return {
        "∂L/∂E_C > 0": "yes" if pushes else "no",
        "pulls up": pulls,
        "L = 0 iff margin met": "yes" if zero_iff else "no",
        "condition 3": "yes" if good else "no",
        "never_zero": never_zero,
    }


def test_doc_table_lists_every_loss():
    assert set(doc_table()) == set(mg.LOSSES)


@pytest.mark.parametrize("name", list(mg.LOSSES))
def test_doc_table_matches_computed_conditions(name):
    row = doc_table()[name]
    props = computed_properties(name)
    for column in ("∂L/∂E_C > 0", "pulls up", "L = 0 iff margin met", "condition 3"):
        assert row[column] == props[column], (name, column, row[column], props[column])
    # the tutorial's margin column is consistent with what was computed
    margin = row["margin"]
    assert (margin == "none") == (props["pulls up"] == "none")
    if margin == "0":
        assert props["condition 3"] == "no"
    if margin == "> 0":
        assert props["never_zero"] and props["condition 3"] == "yes"
    if margin == "m":
        assert props["condition 3"] == "yes"


def test_most_offending_is_computed():
    energies = jnp.array([0.1, 2.0, 0.7, 1.5])
    assert mg.most_offending(energies, 0)[1] == 2  # the correct answer is the global min
    assert mg.most_offending(energies, 2)[1] == 0
    mask = jnp.array([True, True, False, True])
    value, index = mg.most_offending(energies, 0, mask)
    assert index == 3 and value == 1.5
    value, index = mg.most_offending(energies, 0, jnp.array([True, False, False, False]))
    assert value == jnp.inf and index == 0  # no valid incorrect answer
    np.testing.assert_allclose(mg.hinge_loss(energies, 0, mask, margin=1.0), 0.0)
    np.testing.assert_allclose(mg.hinge_loss(energies, 0, None, margin=1.0), 0.4)


def test_nll_tends_to_perceptron():
    energies = random_energies(500)
    correct = jnp.arange(500) % K
    perceptron = jax.vmap(mg.perceptron_loss)(energies, correct)
    for beta in (1.0, 10.0, 100.0, 1e4):
        nll = jax.vmap(lambda e, c, b=beta: mg.nll_loss(e, c, beta=b))(energies, correct)
        gap = np.asarray(nll - perceptron)
        assert np.all(gap >= -1e-12) and np.all(gap <= np.log(K) / beta + 1e-12)
    # gradients too, where the minimum is separated by more than 1e-2 (e^{-100} residue)
    g_nll = jax.vmap(jax.grad(lambda e, c: mg.nll_loss(e, c, beta=1e4)))(energies, correct)
    g_per = jax.vmap(jax.grad(mg.perceptron_loss))(energies, correct)
    srt = np.sort(np.asarray(energies), axis=1)
    separated = srt[:, 1] - srt[:, 0] > 1e-2
    np.testing.assert_allclose(g_nll[separated], g_per[separated], atol=1e-12)


def test_two_answer_nll_is_log_loss():
    energies = jax.random.normal(jax.random.key(31), (200, 2))
    correct = jnp.arange(200) % 2
    nll = jax.vmap(lambda e, c: mg.nll_loss(e, c, beta=1.0))(energies, correct)
    log = jax.vmap(mg.log_loss)(energies, correct)
    np.testing.assert_allclose(nll, log, rtol=1e-13, atol=1e-15)
    group = jax.vmap(lambda e, c: mg.group_loss(e, c, beta=1.0))(energies, correct)
    np.testing.assert_allclose(group, log, rtol=1e-13, atol=1e-15)


def test_binary_answers_give_hinge_svm_and_logistic_regression():
    """E(y, x) = −y·G(x), y ∈ {−1, +1}: hinge = max(0, m − 2yG), NLL = log(1 + e^{−2yG})."""
    g = jnp.linspace(-2.0, 2.0, 41)
    for y_index, y in ((0, -1.0), (1, 1.0)):
        energies = jnp.stack([g, -g], axis=1)  # answers (−1, +1): E = −(−1)G, −(+1)G
        hinge = jax.vmap(lambda e, c=y_index: mg.hinge_loss(e, c, margin=0.5))(energies)
        nll = jax.vmap(lambda e, c=y_index: mg.nll_loss(e, c))(energies)
        np.testing.assert_allclose(hinge, jnp.maximum(0.0, 0.5 - 2 * y * g), atol=1e-14)
        np.testing.assert_allclose(nll, jnp.log1p(jnp.exp(-2 * y * g)), rtol=1e-13)


def test_sampled_negatives_with_epsilon_exclusion():
    """Sampled mode: candidates within ε of the positive never count as offending."""

    def energy(p, x, y):
        return jnp.sum((y - p * x) ** 2)

    x = jnp.array([[1.0, 0.0]])
    y = jnp.array([[1.0, 0.0]])
    near, far = jnp.array([1.05, 0.0]), jnp.array([2.0, 0.0])

    def negatives_fn(key, params, data):
        return jnp.stack([near, far])[None]

    objective = obj.margin_objective(
        energy, loss="hinge", negatives_fn=negatives_fn, epsilon=0.1, margin=2.0
    )
    loss = objective.loss(1.0, (x, y), jax.random.key(0), ())[0]
    np.testing.assert_allclose(loss, 2.0 + 0.0 - 1.0)  # E_I from the far negative only


# ---- trained conditional EBMs classify well above chance --------------------------------------

CENTRES = 2.0 * jnp.array([[1.0, 0.0], [-0.5, 0.866], [-0.5, -0.866]])


def blobs(key, num):
    k1, k2 = jax.random.split(key)
    y = jax.random.randint(k1, (num,), 0, 3)
    return CENTRES[y] + 0.7 * jax.random.normal(k2, (num, 2)), y


def class_energy(p, x, y):
    return -(x @ p["w"] + p["b"])[y]


@pytest.mark.parametrize("loss", ["hinge", "log", "nll"])
def test_margin_and_nll_training_classify(loss):
    """3 classes, 300 held-out points: chance is 1/3 with binomial sd 0.027; we require an
    accuracy above 0.8 (17 sd above chance; the Bayes rate for these blobs is about 0.95)."""
    train, test = blobs(jax.random.key(32), 600), blobs(jax.random.key(33), 300)
    objective = obj.margin_objective(class_energy, loss=loss, answers=3, margin=1.0)
    params = {"w": jnp.zeros((2, 3)), "b": jnp.zeros(3)}
    result = fit(
        objective,
        params,
        train,
        optax.adam(0.05),
        key=jax.random.key(34),
        num_steps=200,
        batch_size=64,
        progress=False,
    )
    accuracy = float(jnp.mean(objective.predict(result.params, test[0]) == test[1]))
    assert accuracy > 0.8, accuracy
