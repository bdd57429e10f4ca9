"""Small built-in data sets, generated on the fly from a PRNG key — nothing is downloaded.

- 2-D toys for density estimation with energies: [`two_moons`][], [`rings`][],
  [`eight_gaussians`][], [`checkerboard`][], [`spiral`][]. Each returns an array
  ``(num_samples, 2)`` inside the box given by `DATASETS` ``[name].bounds``.
- Labelled 2-D data for conditional EBMs / classifiers: [`blobs`][] -> ``(x, y)``.
- Binarised digits: [`digits`][] -> ``(images, labels)``, 8×8 images with pixels in {0, 1}
  (bits, not spins), made from hand-drawn templates ([`digit_templates`][]) by random
  shifts, stroke thickening and pixel flips; [`distort_digits`][] draws random views of given
  images (shifts, thickening/thinning, flips), the paired views of a joint-embedding model.

Every generator takes ``key`` and ``num_samples`` first and is deterministic given the key.
[`load`][] picks one by name and returns a [`Dataset`][]; closed-form data densities are
available from [`log_density`][] where they exist (``eight_gaussians``, ``checkerboard``,
``blobs``), the best log-likelihood any model can reach.
"""

from __future__ import annotations

import difflib
import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from samplers.base import check_count

__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetInfo",
    "blobs",
    "checkerboard",
    "digit_templates",
    "digits",
    "distort_digits",
    "eight_gaussians",
    "list_datasets",
    "load",
    "log_density",
    "rings",
    "spiral",
    "two_moons",
]


# ---------------------------------------------------------------- argument checks


def _check_key(key) -> jax.Array:
    if isinstance(key, jax.Array) and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(f"key must be a single PRNG key, got a key array of shape {key.shape}")
        return key
    if isinstance(key, jax.Array | np.ndarray) and key.dtype == np.uint32 and key.shape == (2,):
        return key
    raise TypeError(
        "key must be a JAX PRNG key (jax.random.key(0) or jax.random.PRNGKey(0)), got "
        f"{type(key).__name__}{getattr(key, 'shape', '')}"
    )


def _check_count(n, name: str = "num_samples", minimum: int = 1) -> int:
    return check_count(n, name, minimum)


def _check_real(v, name: str, *, low: float = 0.0, high: float = math.inf, strict=False):
    if isinstance(v, bool) or not isinstance(v, int | float | np.number):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    v = float(v)
    ok = math.isfinite(v) and (v > low if strict else v >= low) and v <= high
    if not ok:
        rel = ">" if strict else ">="
        raise ValueError(f"{name} must be finite, {rel} {low:g} and <= {high:g}, got {v}")
    return v


# ---------------------------------------------------------------- 2-D toys


def two_moons(key, num_samples: int, *, noise: float = 0.1) -> jax.Array:
    """Two interleaving half circles, scaled by 2 and centred (x ∈ [−3, 3], y ∈ [−1.5, 1.5]).

    Upper moon ``2·(cos t − 0.5, sin t − 0.25)``, lower moon ``2·(0.5 − cos t, 0.25 − sin t)``
    with t ~ U[0, π], plus isotropic Gaussian noise of standard deviation ``noise``.

    Args:
        key: JAX PRNG key.
        num_samples: number of points (split evenly between the moons, at random).
        noise: standard deviation of the added noise (≥ 0).

    Returns:
        Array ``(num_samples, 2)``.
    """
    key, n = _check_key(key), _check_count(num_samples)
    noise = _check_real(noise, "noise")
    k1, k2, k3 = jax.random.split(key, 3)
    t = jax.random.uniform(k1, (n,), maxval=jnp.pi)
    upper = jax.random.bernoulli(k2, 0.5, (n,))
    sign = jnp.where(upper, 1.0, -1.0)[:, None]
    arc = jnp.stack([jnp.cos(t) - 0.5, jnp.sin(t) - 0.25], axis=-1)
    return 2.0 * sign * arc + noise * jax.random.normal(k3, (n, 2))


def rings(key, num_samples: int, *, num_rings: int = 3, noise: float = 0.08) -> jax.Array:
    """Concentric circles of radii ``3k/num_rings`` (k = 1..num_rings), uniform along their length.

    A point picks ring k with probability ∝ its radius (so the density along the curves is
    uniform), an angle θ ~ U[0, 2π), and adds Gaussian noise of standard deviation ``noise``.

    Args:
        key: JAX PRNG key.
        num_samples: number of points.
        num_rings: number of circles (≥ 1).
        noise: standard deviation of the radial-and-tangential noise (≥ 0).

    Returns:
        Array ``(num_samples, 2)``.
    """
    key, n = _check_key(key), _check_count(num_samples)
    num_rings = _check_count(num_rings, "num_rings")
    noise = _check_real(noise, "noise")
    k1, k2, k3 = jax.random.split(key, 3)
    radii = 3.0 * jnp.arange(1, num_rings + 1) / num_rings
    ring = jax.random.categorical(k1, jnp.log(radii), shape=(n,))
    theta = jax.random.uniform(k2, (n,), maxval=2 * jnp.pi)
    pts = radii[ring][:, None] * jnp.stack([jnp.cos(theta), jnp.sin(theta)], axis=-1)
    return pts + noise * jax.random.normal(k3, (n, 2))


def _eight_centres(radius: float) -> jax.Array:
    angles = 2 * jnp.pi * jnp.arange(8) / 8
    return radius * jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=-1)


def eight_gaussians(key, num_samples: int, *, radius: float = 2.0, std: float = 0.3) -> jax.Array:
    """Equal mixture of 8 isotropic Gaussians centred on a circle.

    ``p(x) = (1/8) Σ_k N(x; r·(cos 2πk/8, sin 2πk/8), std²·I)`` — closed form in
    [`log_density`][].

    Args:
        key: JAX PRNG key.
        num_samples: number of points.
        radius: radius r of the circle of centres (> 0).
        std: standard deviation of each component (> 0).

    Returns:
        Array ``(num_samples, 2)``.
    """
    key, n = _check_key(key), _check_count(num_samples)
    radius = _check_real(radius, "radius", strict=True)
    std = _check_real(std, "std", strict=True)
    k1, k2 = jax.random.split(key)
    comp = jax.random.randint(k1, (n,), 0, 8)
    return _eight_centres(radius)[comp] + std * jax.random.normal(k2, (n, 2))


def checkerboard(key, num_samples: int) -> jax.Array:
    """Uniform on the 8 "black" squares of a 4×4 board of 2×2 squares covering [−4, 4]².

    A square with lower-left corner (2i − 4, 2j − 4) is black when i + j is even; the density
    is 1/32 there and 0 elsewhere ([`log_density`][]).

    Args:
        key: JAX PRNG key.
        num_samples: number of points.

    Returns:
        Array ``(num_samples, 2)``.
    """
    key, n = _check_key(key), _check_count(num_samples)
    k1, k2, k3 = jax.random.split(key, 3)
    i = jax.random.randint(k1, (n,), 0, 4)
    j = 2 * jax.random.randint(k2, (n,), 0, 2) + (i % 2)  # i + j even
    corner = jnp.stack([2.0 * i - 4.0, 2.0 * j - 4.0], axis=-1)
    return corner + 2.0 * jax.random.uniform(k3, (n, 2))


def spiral(key, num_samples: int, *, noise: float = 0.1) -> jax.Array:
    """Two interleaved spiral arms: ``±(−t cos t, t sin t)/3`` with t = 3π·sqrt(u), u ~ U[0, 1].

    Args:
        key: JAX PRNG key.
        num_samples: number of points.
        noise: standard deviation of the added Gaussian noise (≥ 0).

    Returns:
        Array ``(num_samples, 2)`` (|x| ≤ π + a few ``noise``).
    """
    key, n = _check_key(key), _check_count(num_samples)
    noise = _check_real(noise, "noise")
    k1, k2, k3 = jax.random.split(key, 3)
    t = 3 * jnp.pi * jnp.sqrt(jax.random.uniform(k1, (n,)))
    sign = jnp.where(jax.random.bernoulli(k2, 0.5, (n,)), 1.0, -1.0)[:, None]
    arm = jnp.stack([-t * jnp.cos(t), t * jnp.sin(t)], axis=-1) / 3.0
    return sign * arm + noise * jax.random.normal(k3, (n, 2))


# ---------------------------------------------------------------- labelled data


def _blob_centres(num_classes: int, radius: float) -> jax.Array:
    angles = jnp.pi / 2 + 2 * jnp.pi * jnp.arange(num_classes) / num_classes
    return radius * jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=-1)


def blobs(
    key, num_samples: int, *, num_classes: int = 3, radius: float = 2.0, std: float = 0.7
) -> tuple[jax.Array, jax.Array]:
    """Labelled Gaussian blobs for classification / conditional EBMs.

    Class c (balanced: ``num_samples // num_classes`` or one more each, shuffled) is
    ``N(μ_c, std²·I)`` with μ_c on a circle of radius ``radius`` at angle π/2 + 2πc/K. The
    default overlap gives a Bayes error of about 1.3% (nearest-mean rule; Monte Carlo).

    Args:
        key: JAX PRNG key.
        num_samples: number of points.
        num_classes: number of classes K (≥ 2).
        radius: distance of the class means from the origin (> 0).
        std: per-coordinate standard deviation (> 0).

    Returns:
        ``(x, y)``: points ``(num_samples, 2)`` and integer labels ``(num_samples,)`` in [0, K).
    """
    key, n = _check_key(key), _check_count(num_samples)
    num_classes = _check_count(num_classes, "num_classes", minimum=2)
    radius = _check_real(radius, "radius", strict=True)
    std = _check_real(std, "std", strict=True)
    k1, k2 = jax.random.split(key)
    y = jax.random.permutation(k1, jnp.arange(n) % num_classes).astype(jnp.int32)
    x = _blob_centres(num_classes, radius)[y] + std * jax.random.normal(k2, (n, 2))
    return x, y


# ---------------------------------------------------------------- binarised digits

# 6 rows x 5 columns per digit, placed at rows 1..6, columns 1..5 of an 8x8 image.
_GLYPHS = (
    (".###.", "#...#", "#...#", "#...#", "#...#", ".###."),  # 0
    ("..#..", ".##..", "..#..", "..#..", "..#..", ".###."),  # 1
    (".###.", "#...#", "...#.", "..#..", ".#...", "#####"),  # 2
    ("####.", "....#", ".###.", "....#", "....#", "####."),  # 3
    ("...#.", "..##.", ".#.#.", "#####", "...#.", "...#."),  # 4
    ("#####", "#....", "####.", "....#", "#...#", ".###."),  # 5
    (".###.", "#....", "####.", "#...#", "#...#", ".###."),  # 6
    ("#####", "....#", "...#.", "..#..", ".#...", ".#..."),  # 7
    (".###.", "#...#", ".###.", "#...#", "#...#", ".###."),  # 8
    (".###.", "#...#", "#...#", ".####", "....#", ".###."),  # 9
)
DIGIT_SHAPE = (8, 8)


def digit_templates() -> jax.Array:
    """The 10 clean 8×8 digit templates, pixels in {0, 1}, shape ``(10, 8, 8)``."""
    out = np.zeros((10, *DIGIT_SHAPE))
    for d, glyph in enumerate(_GLYPHS):
        for r, row in enumerate(glyph):
            for c, ch in enumerate(row):
                out[d, 1 + r, 1 + c] = ch == "#"
    return jnp.asarray(out, dtype=jnp.result_type(float))


def digits(
    key,
    num_samples: int,
    *,
    flip_prob: float = 0.03,
    thicken_prob: float = 0.3,
    max_shift: int = 1,
    flatten: bool = False,
) -> tuple[jax.Array, jax.Array]:
    """Binarised 8×8 digit images from templates with random distortions.

    Labels are balanced (each digit ``num_samples // 10`` or one more times, shuffled). Each
    image is its template ([`digit_templates`][]) shifted by (dy, dx) ~ U{−s..s}² with
    zero fill (s = ``max_shift``), thickened with probability ``thicken_prob`` (OR with a copy
    shifted one pixel right), and each pixel flipped independently with probability
    ``flip_prob``.

    Args:
        key: JAX PRNG key.
        num_samples: number of images.
        flip_prob: per-pixel flip probability in [0, 0.5].
        thicken_prob: probability of thickening the strokes, in [0, 1].
        max_shift: largest shift in pixels, 0 or 1 (the templates have a 1-pixel margin).
        flatten: return images as ``(num_samples, 64)`` instead of ``(num_samples, 8, 8)``.

    Returns:
        ``(images, labels)``: bits {0., 1.} of the default float dtype and int32 labels in 0..9.
    """
    key, n = _check_key(key), _check_count(num_samples)
    flip_prob = _check_real(flip_prob, "flip_prob", high=0.5)
    thicken_prob = _check_real(thicken_prob, "thicken_prob", high=1.0)
    s = _check_count(max_shift, "max_shift", minimum=0)
    if s > 1:
        raise ValueError(f"max_shift must be 0 or 1 (templates have a 1-pixel margin), got {s}")
    if not isinstance(flatten, bool):
        raise TypeError(f"flatten must be a bool, got {type(flatten).__name__}")
    k_lab, k_img = jax.random.split(key)
    labels = jax.random.permutation(k_lab, jnp.arange(n) % 10).astype(jnp.int32)
    # fixed-size chunks: one compilation serves every num_samples
    num_chunks = -(-n // _CHUNK)
    padded = jnp.pad(labels, (0, num_chunks * _CHUNK - n)).reshape(num_chunks, _CHUNK)
    images = jnp.concatenate(
        [
            _digit_chunk(jax.random.fold_in(k_img, i), padded[i], flip_prob, thicken_prob, s)
            for i in range(num_chunks)
        ]
    )[:n]
    if flatten:
        images = images.reshape(n, DIGIT_SHAPE[0] * DIGIT_SHAPE[1])
    return images, labels


_CHUNK = 512


@functools.partial(jax.jit, static_argnums=(4,))
def _digit_chunk(key, labels, flip_prob, thicken_prob, s: int):
    templates = digit_templates()
    h, w = DIGIT_SHAPE

    def one(k, template):
        k1, k2, k3 = jax.random.split(k, 3)
        dy, dx = jax.random.randint(k1, (2,), -s, s + 1)
        padded = jnp.pad(template, s)
        img = jax.lax.dynamic_slice(padded, (s - dy, s - dx), (h, w))  # img[i] = t[i - dy]
        right = jnp.pad(img, ((0, 0), (1, 0)))[:, :w]
        img = jnp.where(jax.random.bernoulli(k2, thicken_prob), jnp.maximum(img, right), img)
        flips = jax.random.bernoulli(k3, flip_prob, (h, w))
        return jnp.where(flips, 1.0 - img, img)

    return jax.vmap(one)(jax.random.split(key, labels.shape[0]), templates[labels])


def distort_digits(
    key,
    images,
    *,
    max_shift: int = 1,
    flip_prob: float = 0.05,
    thicken_prob: float = 0.0,
    thin_prob: float = 0.0,
) -> jax.Array:
    """A random view of each image of a batch: shift, thicken or thin, then flip pixels.

    Image i (pixels x ∈ [0, 1], e.g. bits from [`digits`][]) independently gets, in order:

    1. a translation by (dy, dx) ~ U{−s..s}² (s = ``max_shift``) with zero fill, not wrap:
       ``x'[r, c] = x[r − dy, c − dx]``, 0 where ``(r − dy, c − dx)`` is outside the image;
    2. with probability ``thicken_prob`` a 3×3 max filter (dilation,
       ``x''[r, c] = max_{|a|,|b| ≤ 1} x'[r + a, c + b]``), else with probability ``thin_prob``
       a 3×3 min filter (erosion, the same with min), else nothing; pixels outside the image
       count as 0 in both (erosion removes every stroke narrower than 3 pixels);
    3. each pixel flipped, ``x ↦ 1 − x``, independently with probability ``flip_prob``.

    ``max_shift=0, flip_prob=0`` (and no thickening/thinning) is the identity. Jittable: ``key``
    and ``images`` may be traced; the other arguments are Python numbers (compile-time constants).

    Args:
        key: JAX PRNG key; the view of image i depends only on the key and i, not on the other
            images.
        images: batch ``(n, h, w)`` of images, or ``(n, 64)`` of flattened 8×8 images; real
            (float, int or bool) pixels.
        max_shift: largest translation s in pixels in each direction, an integer in
            [0, min(h, w) − 1].
        flip_prob: per-pixel flip probability in [0, 1].
        thicken_prob: probability of the 3×3 max filter, in [0, 1].
        thin_prob: probability of the 3×3 min filter, in [0, 1], with
            ``thicken_prob + thin_prob ≤ 1``.

    Returns:
        The views, of the shape and dtype of ``images``.

    Raises:
        ValueError: for images not ``(n, h, w)`` or ``(n, 64)``, or an argument out of range.
        TypeError: for a bad key, a non-real image dtype, or a non-numeric argument.
    """
    key = _check_key(key)
    x = jnp.asarray(images)
    if not any(jnp.issubdtype(x.dtype, t) for t in (jnp.floating, jnp.integer, jnp.bool_)):
        raise TypeError(f"images must hold real pixels (float, int or bool), got {x.dtype}")
    if x.ndim == 3 and x.shape[1] >= 1 and x.shape[2] >= 1:
        stack = x
    elif x.ndim == 2 and x.shape[1] == DIGIT_SHAPE[0] * DIGIT_SHAPE[1]:
        stack = x.reshape(x.shape[0], *DIGIT_SHAPE)
    else:
        raise ValueError(
            f"images must have shape (n, h, w) or (n, 64) (flattened 8x8), got {x.shape}"
        )
    h, w = stack.shape[1:]
    s = _check_count(max_shift, "max_shift", minimum=0)
    if s > min(h, w) - 1:
        raise ValueError(f"max_shift must be <= min(h, w) - 1 = {min(h, w) - 1}, got {s}")
    flip_prob = _check_real(flip_prob, "flip_prob", high=1.0)
    thicken_prob = _check_real(thicken_prob, "thicken_prob", high=1.0)
    thin_prob = _check_real(thin_prob, "thin_prob", high=1.0)
    if thicken_prob + thin_prob > 1.0:
        raise ValueError(f"thicken_prob + thin_prob must be <= 1, got {thicken_prob} + {thin_prob}")
    work = stack.astype(x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.float32)
    out = _distort_chunk(key, work, s, flip_prob, thicken_prob, thin_prob)
    return out.reshape(x.shape).astype(x.dtype)


@functools.partial(jax.jit, static_argnums=(2,))
def _distort_chunk(key, images, s: int, flip_prob, thicken_prob, thin_prob):
    h, w = images.shape[1:]

    def one(k, img):
        k1, k2, k3 = jax.random.split(k, 3)
        dy, dx = jax.random.randint(k1, (2,), -s, s + 1)
        img = jax.lax.dynamic_slice(jnp.pad(img, s), (s - dy, s - dx), (h, w))
        border = jnp.pad(img, 1)  # zeros outside the image
        windows = jnp.stack([border[a : a + h, b : b + w] for a in range(3) for b in range(3)])
        u = jax.random.uniform(k2)
        img = jnp.where(
            u < thicken_prob,
            jnp.max(windows, axis=0),
            jnp.where(u < thicken_prob + thin_prob, jnp.min(windows, axis=0), img),
        )
        flips = jax.random.bernoulli(k3, flip_prob, (h, w))
        return jnp.where(flips, 1 - img, img)

    return jax.vmap(one)(jax.random.split(key, images.shape[0]), images)


# ---------------------------------------------------------------- registry


class Dataset(NamedTuple):
    """A generated data set: ``x`` and, for labelled data, integer labels ``y`` (else None)."""

    x: jax.Array
    y: jax.Array | None


class DatasetInfo(NamedTuple):
    """Registry entry.

    Attributes:
        name: the name [`load`][] accepts.
        fn: the generator ``fn(key, num_samples, **kwargs)``.
        kind: ``"2d"`` (continuous points), ``"labelled-2d"`` or ``"binary-image"``.
        sample_shape: shape of one sample.
        num_classes: number of label values (0 for unlabelled data).
        bounds: ``((x_min, x_max), (y_min, y_max))`` holding the data with the default
            arguments (with probability ≥ 1 − 1e−9 per point where the noise is Gaussian), for
            quadrature grids; None for images.
    """

    name: str
    fn: Callable[..., Any]
    kind: str
    sample_shape: tuple[int, ...]
    num_classes: int
    bounds: tuple[tuple[float, float], tuple[float, float]] | None


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo("two_moons", two_moons, "2d", (2,), 0, ((-4.0, 4.0), (-3.0, 3.0))),
        DatasetInfo("rings", rings, "2d", (2,), 0, ((-4.0, 4.0), (-4.0, 4.0))),
        DatasetInfo("eight_gaussians", eight_gaussians, "2d", (2,), 0, ((-4.0, 4.0),) * 2),
        DatasetInfo("checkerboard", checkerboard, "2d", (2,), 0, ((-4.0, 4.0), (-4.0, 4.0))),
        DatasetInfo("spiral", spiral, "2d", (2,), 0, ((-4.0, 4.0), (-4.0, 4.0))),
        DatasetInfo("blobs", blobs, "labelled-2d", (2,), 3, ((-7.0, 7.0), (-7.0, 7.0))),
        DatasetInfo("digits", digits, "binary-image", DIGIT_SHAPE, 10, None),
    )
}


def list_datasets(kind: str | None = None) -> list[str]:
    """Names of the built-in data sets, optionally only those of one ``kind``."""
    kinds = sorted({i.kind for i in DATASETS.values()})
    if kind is not None and kind not in kinds:
        raise ValueError(f"kind must be one of {kinds} or None, got {kind!r}")
    return [n for n, i in DATASETS.items() if kind is None or i.kind == kind]


def _info(name) -> DatasetInfo:
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    if name not in DATASETS:
        close = difflib.get_close_matches(name, list(DATASETS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown dataset {name!r}{hint}; available: {', '.join(DATASETS)}")
    return DATASETS[name]


def load(name: str, key, num_samples: int, **kwargs) -> Dataset:
    """Generate a built-in data set by name.

    Args:
        name: one of [`list_datasets`][] (``"two_moons"``, ``"rings"``,
            ``"eight_gaussians"``, ``"checkerboard"``, ``"spiral"``, ``"blobs"``,
            ``"digits"``).
        key: JAX PRNG key.
        num_samples: number of samples.
        **kwargs: keyword arguments of the generator (e.g. ``noise=0.05``).

    Returns:
        [`Dataset`][] ``(x, y)`` with ``y=None`` for unlabelled data.

    Raises:
        ValueError: for an unknown name (the message lists the available ones).
    """
    info = _info(name)
    out = info.fn(key, num_samples, **kwargs)
    if isinstance(out, tuple):
        return Dataset(*out)
    return Dataset(out, None)


def log_density(name: str, x, **kwargs) -> jax.Array:
    """Exact log density of a data set's generating distribution, where it has a closed form.

    - ``eight_gaussians``: ``log((1/8) Σ_k N(x; μ_k, std²I))`` (kwargs ``radius``, ``std``).
    - ``checkerboard``: ``log(1/32)`` on the black squares, ``-inf`` elsewhere.
    - ``blobs``: the marginal ``log((1/K) Σ_c N(x; μ_c, std²I))`` (kwargs ``num_classes``,
      ``radius``, ``std``).

    Args:
        name: data set name.
        x: points ``(..., 2)``.
        **kwargs: the generator's shape arguments, if not the defaults.

    Returns:
        Array of shape ``x.shape[:-1]``.

    Raises:
        ValueError: for data sets without a closed-form density, or ``x`` not ending in 2.
    """
    _info(name)
    x = jnp.asarray(x)
    if x.ndim < 1 or x.shape[-1] != 2:
        raise ValueError(f"x must have shape (..., 2), got {x.shape}")
    if name == "checkerboard":
        if kwargs:
            raise TypeError(f"checkerboard takes no shape arguments, got {sorted(kwargs)}")
        cell = jnp.floor((x + 4.0) / 2.0)
        inside = jnp.all((x >= -4.0) & (x < 4.0), axis=-1)
        black = (cell[..., 0] + cell[..., 1]) % 2 == 0
        return jnp.where(inside & black, -jnp.log(32.0), -jnp.inf)
    if name == "eight_gaussians":
        radius = _check_real(kwargs.pop("radius", 2.0), "radius", strict=True)
        std = _check_real(kwargs.pop("std", 0.3), "std", strict=True)
        centres, k = _eight_centres(radius), 8
    elif name == "blobs":
        k = _check_count(kwargs.pop("num_classes", 3), "num_classes", minimum=2)
        radius = _check_real(kwargs.pop("radius", 2.0), "radius", strict=True)
        std = _check_real(kwargs.pop("std", 0.7), "std", strict=True)
        centres = _blob_centres(k, radius)
    else:
        raise ValueError(
            f"dataset {name!r} has no closed-form density; closed forms exist for "
            "'eight_gaussians', 'checkerboard' and 'blobs'"
        )
    if kwargs:
        raise TypeError(f"unexpected keyword argument(s) for {name!r}: {sorted(kwargs)}")
    sq = jnp.sum((x[..., None, :] - centres) ** 2, axis=-1)
    log_comp = -sq / (2 * std**2) - jnp.log(2 * jnp.pi * std**2)
    return logsumexp(log_comp, axis=-1) - jnp.log(k)
