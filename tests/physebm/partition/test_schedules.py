"""Annealing schedules: exact step structure, equal thermodynamic length, validation."""

import numpy as np
import pytest

from physebm.partition import schedules as S


def test_linear_geometric_sigmoid_shapes_and_ends():
    for fn in (S.linear, S.geometric, S.sigmoid):
        t = fn(50)
        assert t.shape == (51,) and t[0] == 0.0 and t[-1] == 1.0
        assert np.all(np.diff(t) > 0)
    np.testing.assert_allclose(S.linear(4), [0, 0.25, 0.5, 0.75, 1.0])
    g = S.geometric(5, t_min=1e-4)
    np.testing.assert_allclose(g[1:], [1e-4, 1e-3, 1e-2, 1e-1, 1.0])
    s = S.sigmoid(100)  # dense at both ends: end steps smaller than the middle ones
    d = np.diff(s)
    assert d[0] < d[50] and d[-1] < d[50]


def test_salakhutdinov_murray_steps_are_exact_at_14500():
    t = S.salakhutdinov_murray()
    assert t.shape == (14501,)
    d = np.diff(t)
    np.testing.assert_allclose(d[:500], 1e-3, rtol=1e-9)
    np.testing.assert_allclose(d[500:4500], 1e-4, rtol=1e-7)
    np.testing.assert_allclose(d[4500:], 1e-5, rtol=1e-6)
    assert t[500] == pytest.approx(0.5) and t[4500] == pytest.approx(0.9)
    small = S.salakhutdinov_murray(145)  # proportions kept
    assert small.shape == (146,) and small[5] == pytest.approx(0.5)


def test_equal_thermodynamic_length():
    grid = np.linspace(0, 1, 2001)
    # flat variance → linear schedule
    np.testing.assert_allclose(
        S.from_variance_profile(grid, np.ones(2001), num_temperatures=10),
        np.linspace(0, 1, 11),
        atol=1e-4,
    )
    # sd = 3 on [0, 0.5), 1 on [0.5, 1]: L = 1.5 + 0.5 = 2; with K = 8, each step covers 0.25
    # of length: six steps of 1/12 below 0.5, two of 1/4 above
    var = np.where(grid < 0.5, 9.0, 1.0)
    t = S.from_variance_profile(grid, var, num_temperatures=8)
    np.testing.assert_allclose(t[:7], np.arange(7) / 12, atol=1e-3)
    np.testing.assert_allclose(t[7:], [0.75, 1.0], atol=1e-3)
    # a target per-step increment variance v sets K = ceil(L / sqrt(v)) = ceil(2 / 0.1) = 20
    t = S.from_variance_profile(grid, var, target_increment_variance=0.01)
    assert t.shape == (21,)


def test_get_and_validation_errors():
    assert S.get("linear", 3).shape == (4,)
    np.testing.assert_allclose(S.get(lambda k: np.linspace(0, 1, k + 1), 2), [0, 0.5, 1])
    with pytest.raises(ValueError, match="strictly increasing"):
        S.check_schedule([0.0, 0.5, 0.5, 1.0])
    with pytest.raises(ValueError, match="start at 0 and end at 1"):
        S.check_schedule([0.1, 1.0])
    with pytest.raises(ValueError, match="finite"):
        S.check_schedule([0.0, np.nan, 1.0])
    with pytest.raises(ValueError, match="schedule must be one of"):
        S.get("cubic", 10)
    with pytest.raises(ValueError, match="num_temperatures"):
        S.linear(0)
    with pytest.raises(TypeError, match="num_temperatures"):
        S.linear(2.5)
    with pytest.raises(ValueError, match="exactly one"):
        S.from_variance_profile([0, 1], [1, 1])
    with pytest.raises(ValueError, match="non-negative"):
        S.from_variance_profile([0, 1], [1, -1], num_temperatures=3)
    with pytest.raises(ValueError, match="t_min"):
        S.geometric(10, t_min=0.0)
