"""Built-in generated data sets: shapes, determinism under a key, value ranges, densities."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physebm import datasets as ds

KEY = jax.random.key(0)
N = 2000


@pytest.mark.parametrize("name", ds.list_datasets())
def test_shapes_determinism_and_bounds(name):
    info = ds.DATASETS[name]
    d = ds.load(name, KEY, N)
    assert d.x.shape == (N, *info.sample_shape)
    assert jnp.issubdtype(d.x.dtype, jnp.floating)
    assert bool(jnp.all(jnp.isfinite(d.x)))
    if info.num_classes:
        assert d.y.shape == (N,) and d.y.dtype == jnp.int32
        assert int(d.y.min()) == 0 and int(d.y.max()) == info.num_classes - 1
    else:
        assert d.y is None
    again = ds.load(name, KEY, N)
    np.testing.assert_array_equal(d.x, again.x)
    other = ds.load(name, jax.random.key(1), N)
    assert not np.array_equal(d.x, other.x)
    # a raw uint32 key works as well
    np.testing.assert_array_equal(ds.load(name, jax.random.PRNGKey(0), N).x, d.x)
    if info.bounds is not None:
        # bounds hold each point with probability >= 1 - 1e-9: all 2000 inside
        (x0, x1), (y0, y1) = info.bounds
        x = np.asarray(d.x)
        assert np.all((x[:, 0] > x0) & (x[:, 0] < x1) & (x[:, 1] > y0) & (x[:, 1] < y1))


def test_checkerboard_support_and_exact_density():
    x = ds.checkerboard(KEY, N)
    lp = ds.log_density("checkerboard", x)
    assert np.all(np.asarray(lp) == pytest.approx(-math.log(32.0)))  # every point on black
    # midpoint rule on a 0.05 grid is exact for a piecewise-constant density on 2x2 squares
    h = 0.05
    g = jnp.arange(-5 + h / 2, 5, h)
    grid = jnp.stack(jnp.meshgrid(g, g, indexing="ij"), -1)
    mass = float(jnp.sum(jnp.exp(ds.log_density("checkerboard", grid))) * h * h)
    assert mass == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("name", ["eight_gaussians", "blobs"])
def test_closed_form_densities_integrate_to_one(name):
    # midpoint rule with h = 0.05 on [-8, 8]²: for a Gaussian of sd σ its error is of order
    # exp(−2π²σ²/h²) < 1e-80 (σ ≥ 0.3), and the mass outside the box (> 8.5 sd from every
    # mean) is < 1e-16; 1e-9 leaves room for float64 round-off.
    h = 0.05
    g = jnp.arange(-8 + h / 2, 8, h)
    grid = jnp.stack(jnp.meshgrid(g, g, indexing="ij"), -1)
    mass = float(jnp.sum(jnp.exp(ds.log_density(name, grid))) * h * h)
    assert mass == pytest.approx(1.0, abs=1e-9)


def test_eight_gaussians_moments():
    # E[x] = 0 with Var(x_i) = r²/2 + σ² = 2.09 per coordinate; z-test at 4 sd
    # (two-sided false-failure rate 6e-5 per coordinate).
    n = 8000
    x = np.asarray(ds.eight_gaussians(KEY, n), dtype=float)
    se = math.sqrt((2.0**2 / 2 + 0.3**2) / n)
    assert np.all(np.abs(x.mean(0)) < 4 * se)
    # every point is within 6σ of its nearest centre (probability e^{-18} per point)
    c = np.asarray(ds._eight_centres(2.0))
    dist = np.min(np.linalg.norm(x[:, None] - c, axis=-1), axis=1)
    assert dist.max() < 6 * 0.3


def _dist_to_moons(x):
    """Distance to the noiseless moons: arcs of radius 2 about (−1, −0.5) and (1, 0.5)."""
    out = []
    for centre, sign in (((-1.0, -0.5), 1.0), ((1.0, 0.5), -1.0)):
        d = (x - np.array(centre)) * sign  # lower moon is the upper one rotated by π
        ang = np.arctan2(d[:, 1], d[:, 0])
        on_arc = (ang >= 0) & (ang <= np.pi)
        radial = np.abs(np.linalg.norm(d, axis=1) - 2.0)
        ends = np.minimum(
            np.linalg.norm(d - [2.0, 0.0], axis=1), np.linalg.norm(d + [2.0, 0], axis=1)
        )
        out.append(np.where(on_arc, radial, ends))
    return np.minimum(*out)


def test_two_moons_rings_spiral_lie_on_their_curves():
    # isotropic 2-D noise of sd σ moves a point by more than 6σ with probability e^{-18}
    noise = 0.1
    x = np.asarray(ds.two_moons(KEY, N, noise=noise), dtype=float)
    assert _dist_to_moons(x).max() < 6 * noise
    exact = np.asarray(ds.two_moons(KEY, N, noise=0.0), dtype=float)
    assert _dist_to_moons(exact).max() < 1e-5
    # rings: radii 1, 2, 3; a point picks ring k with probability k/6
    r = np.linalg.norm(np.asarray(ds.rings(KEY, 6000, noise=0.08), dtype=float), axis=1)
    k = np.rint(r)
    assert np.all(np.abs(r - k) < 6 * 0.08) and set(np.unique(k)) == {1.0, 2.0, 3.0}
    p_outer = np.mean(k == 3)
    assert abs(p_outer - 0.5) < 4 * math.sqrt(0.25 / 6000)
    # spiral: |x| = t/3 ≤ π before noise
    s = np.asarray(ds.spiral(KEY, N, noise=0.0), dtype=float)
    assert np.linalg.norm(s, axis=1).max() <= math.pi + 1e-5


def test_blobs_balanced_and_centred():
    x, y = ds.blobs(KEY, 3001, num_classes=3, std=0.7)
    counts = np.bincount(np.asarray(y), minlength=3)
    assert counts.max() - counts.min() <= 1
    c = np.asarray(ds._blob_centres(3, 2.0))
    for k in range(3):
        xk = np.asarray(x)[np.asarray(y) == k]
        assert np.all(np.abs(xk.mean(0) - c[k]) < 4 * 0.7 / math.sqrt(len(xk)))


def test_digit_templates_and_clean_digits():
    t = ds.digit_templates()
    assert t.shape == (10, 8, 8) and set(np.unique(t)) == {0.0, 1.0}
    assert len({tuple(np.asarray(a).ravel()) for a in t}) == 10  # all distinct
    assert np.all(np.asarray(t)[:, [0, 7], :] == 0) and np.all(np.asarray(t)[:, :, [0, 6, 7]] == 0)
    imgs, labels = ds.digits(KEY, 25, flip_prob=0.0, thicken_prob=0.0, max_shift=0)
    np.testing.assert_array_equal(imgs, t[labels])
    assert np.all(np.bincount(np.asarray(labels), minlength=10) >= 2)
    thick, lab = ds.digits(KEY, 10, flip_prob=0.0, thicken_prob=1.0, max_shift=0)
    tl = np.asarray(t[lab])
    right = np.pad(tl, ((0, 0), (0, 0), (1, 0)))[:, :, :8]
    np.testing.assert_array_equal(thick, np.maximum(tl, right))
    flat, _ = ds.digits(KEY, 7, flatten=True)
    assert flat.shape == (7, 64)


def test_digits_shifts_and_flip_rate():
    imgs, labels = ds.digits(KEY, 500, flip_prob=0.0, thicken_prob=0.0, max_shift=1)
    t = np.asarray(ds.digit_templates())
    padded = np.pad(t, ((0, 0), (1, 1), (1, 1)))
    for img, lab in zip(np.asarray(imgs), np.asarray(labels), strict=True):
        shifts = [
            (dy, dx)
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
            if np.array_equal(img, padded[lab, 1 - dy : 9 - dy, 1 - dx : 9 - dx])
        ]
        assert shifts, "every image is a shifted template"
    # flips: differences from the unflipped images ~ Binomial(500·64, p); 4-sd bound
    p = 0.05
    noisy, _ = ds.digits(KEY, 500, flip_prob=p, thicken_prob=0.0, max_shift=0)
    clean, _ = ds.digits(KEY, 500, flip_prob=0.0, thicken_prob=0.0, max_shift=0)
    m = 500 * 64
    rate = float(np.mean(np.asarray(noisy) != np.asarray(clean)))
    assert abs(rate - p) < 4 * math.sqrt(p * (1 - p) / m)
    assert set(np.unique(np.asarray(noisy))) == {0.0, 1.0}


def test_errors():
    with pytest.raises(ValueError, match="unknown dataset 'two_moon'.*did you mean 'two_moons'"):
        ds.load("two_moon", KEY, 10)
    with pytest.raises(ValueError, match="available: two_moons"):
        ds.load("mnist", KEY, 10)
    with pytest.raises(TypeError, match="name must be a string"):
        ds.load(3, KEY, 10)
    with pytest.raises(TypeError, match="key must be a JAX PRNG key"):
        ds.two_moons(0, 10)
    with pytest.raises(ValueError, match="single PRNG key"):
        ds.two_moons(jax.random.split(KEY, 2), 10)
    with pytest.raises(ValueError, match="num_samples must be >= 1"):
        ds.spiral(KEY, 0)
    with pytest.raises(TypeError, match="num_samples must be an int"):
        ds.spiral(KEY, 2.5)
    with pytest.raises(ValueError, match="noise must be finite, >= 0"):
        ds.two_moons(KEY, 10, noise=-0.1)
    with pytest.raises(ValueError, match="std must be finite, > 0"):
        ds.eight_gaussians(KEY, 10, std=0.0)
    with pytest.raises(ValueError, match="num_classes must be >= 2"):
        ds.blobs(KEY, 10, num_classes=1)
    with pytest.raises(ValueError, match="max_shift must be 0 or 1"):
        ds.digits(KEY, 10, max_shift=2)
    with pytest.raises(ValueError, match="flip_prob must be finite"):
        ds.digits(KEY, 10, flip_prob=0.7)
    with pytest.raises(ValueError, match="no closed-form density"):
        ds.log_density("two_moons", jnp.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., 2\)"):
        ds.log_density("checkerboard", jnp.zeros((3, 3)))
    with pytest.raises(TypeError, match="unexpected keyword"):
        ds.log_density("blobs", jnp.zeros((3, 2)), sigma=1.0)
    with pytest.raises(ValueError, match="kind must be one of"):
        ds.list_datasets("images")
    with pytest.raises(TypeError, match="unexpected keyword"):
        ds.load("checkerboard", KEY, 10, noise=0.1)


def _one_pixel(n, r, c):
    return jnp.zeros((n, 8, 8), jnp.float32).at[:, r, c].set(1.0)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.int32, jnp.bool_])
def test_distort_digits_shapes_dtypes_and_identity(dtype):
    imgs, _ = ds.digits(KEY, 20)
    imgs = imgs.astype(dtype)
    for batch in (imgs, imgs.reshape(20, 64)):
        # no shift, no flips, no thickening: every image comes back unchanged
        same = ds.distort_digits(KEY, batch, max_shift=0, flip_prob=0.0)
        assert same.shape == batch.shape and same.dtype == batch.dtype
        np.testing.assert_array_equal(same, batch)
        view = ds.distort_digits(KEY, batch, max_shift=1, flip_prob=0.1, thicken_prob=0.3)
        assert view.shape == batch.shape and view.dtype == batch.dtype
        assert set(np.unique(np.asarray(view, dtype=float))) <= {0.0, 1.0}
    assert ds.distort_digits(KEY, jnp.zeros((0, 8, 8))).shape == (0, 8, 8)


def test_distort_digits_shift_moves_one_pixel_with_zero_fill():
    n = 300
    centre = ds.distort_digits(KEY, _one_pixel(n, 3, 4), max_shift=1, flip_prob=0.0)
    # the view of image i depends on (key, i) only, so the corner pixel gets the same shifts
    corner = ds.distort_digits(KEY, _one_pixel(n, 0, 0), max_shift=1, flip_prob=0.0)
    seen = set()
    for a, b in zip(np.asarray(centre), np.asarray(corner), strict=True):
        assert a.sum() == 1.0  # an inner pixel is moved, never lost
        (r,), (c,) = np.nonzero(a)
        dy, dx = int(r) - 3, int(c) - 4
        assert abs(dy) <= 1 and abs(dx) <= 1
        seen.add((dy, dx))
        expected = np.zeros((8, 8))
        if dy >= 0 and dx >= 0:
            expected[dy, dx] = 1.0  # zero fill: a shift off the edge loses the pixel (no wrap)
        np.testing.assert_array_equal(b, expected)
    # each of the 9 shifts has probability 1/9: one missing in 300 draws has chance < 9·(8/9)^300
    assert len(seen) == 9
    two = ds.distort_digits(KEY, _one_pixel(n, 3, 4), max_shift=2, flip_prob=0.0)
    assert {tuple(np.argwhere(np.asarray(v))[0] - (3, 4)) for v in two} == {
        (dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
    }  # 25 shifts, a missing one has chance < 25·(24/25)^300 ≈ 1e-4 (fixed key: exact here)


def test_distort_digits_thicken_thin_and_flip_rate():
    dot = _one_pixel(4, 3, 4)
    block = np.zeros((8, 8))
    block[2:5, 3:6] = 1.0
    thick = ds.distort_digits(KEY, dot, max_shift=0, flip_prob=0.0, thicken_prob=1.0)
    np.testing.assert_array_equal(thick, np.broadcast_to(block, (4, 8, 8)))  # 3x3 max filter
    thin = ds.distort_digits(KEY, thick, max_shift=0, flip_prob=0.0, thin_prob=1.0)
    np.testing.assert_array_equal(thin, dot)  # 3x3 min filter keeps only the block's centre
    # a 1-pixel stroke disappears under erosion; the image border counts as 0
    np.testing.assert_array_equal(
        ds.distort_digits(KEY, jnp.ones((2, 8, 8)), max_shift=0, flip_prob=0.0, thin_prob=1.0)[0],
        np.pad(np.ones((6, 6)), 1),
    )
    # flips of an all-zero batch ~ Binomial(1000·64, p) ones; 5-sd bound (false failure ~6e-7)
    p, m = 0.1, 1000 * 64
    rate = float(jnp.mean(ds.distort_digits(KEY, jnp.zeros((1000, 64)), flip_prob=p)))
    assert abs(rate - p) < 5 * math.sqrt(p * (1 - p) / m)


def test_distort_digits_deterministic_and_jittable():
    imgs, _ = ds.digits(KEY, 50, flatten=True)
    kw = {"flip_prob": 0.05, "thicken_prob": 0.2, "thin_prob": 0.1}
    a = ds.distort_digits(jax.random.key(5), imgs, **kw)
    np.testing.assert_array_equal(a, ds.distort_digits(jax.random.key(5), imgs, **kw))
    assert not np.array_equal(a, ds.distort_digits(jax.random.key(6), imgs, **kw))
    jitted = jax.jit(lambda k, x: ds.distort_digits(k, x, **kw))
    np.testing.assert_array_equal(jitted(jax.random.key(5), imgs), a)


def test_distort_digits_errors():
    x = jnp.zeros((3, 8, 8))
    with pytest.raises(TypeError, match="key must be a JAX PRNG key"):
        ds.distort_digits(0, x)
    with pytest.raises(ValueError, match=r"images must have shape \(n, h, w\) or \(n, 64\)"):
        ds.distort_digits(KEY, jnp.zeros((3, 63)))
    with pytest.raises(ValueError, match="images must have shape"):
        ds.distort_digits(KEY, jnp.zeros(64))
    with pytest.raises(TypeError, match="images must hold real pixels"):
        ds.distort_digits(KEY, jnp.zeros((3, 8, 8), jnp.complex64))
    with pytest.raises(ValueError, match="max_shift must be <= min"):
        ds.distort_digits(KEY, x, max_shift=8)
    with pytest.raises(ValueError, match="max_shift must be >= 0"):
        ds.distort_digits(KEY, x, max_shift=-1)
    with pytest.raises(TypeError, match="max_shift must be an int"):
        ds.distort_digits(KEY, x, max_shift=1.5)
    with pytest.raises(ValueError, match="flip_prob must be finite"):
        ds.distort_digits(KEY, x, flip_prob=1.5)
    with pytest.raises(ValueError, match="thicken_prob must be finite"):
        ds.distort_digits(KEY, x, thicken_prob=-0.1)
    with pytest.raises(TypeError, match="thin_prob must be a real number"):
        ds.distort_digits(KEY, x, thin_prob="0.1")
    with pytest.raises(ValueError, match="thicken_prob \\+ thin_prob must be <= 1"):
        ds.distort_digits(KEY, x, thicken_prob=0.6, thin_prob=0.6)
