"""A small MLP energy for continuous data, in the ``energy_fn(params, x)`` convention.

    E_θ(x) = f_θ(x) + ½ λ ‖x‖²

f_θ is a multilayer perceptron with smooth activations (score matching needs second
derivatives) and a scalar output; the fixed confinement ½λ‖x‖² keeps Z(β) finite for every θ
(f_θ grows at most linearly), so log-likelihoods of trained models are always defined.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

ACTIVATIONS = {
    "swish": jax.nn.swish,
    "softplus": jax.nn.softplus,
    "tanh": jnp.tanh,
    "gelu": jax.nn.gelu,
}


def init_mlp_energy(
    key, dim: int, hidden: Sequence[int] = (64, 64), *, confinement: float = 0.05
) -> dict:
    """Parameters of an MLP energy: ``{"layers": [{"w", "b"}, ...], "confinement": λ}``.

    Weights use LeCun-normal initialisation; the last layer maps to a scalar. ``confinement``
    is stored as an array but [`mlp_energy`][] applies ``stop_gradient`` to it, so training
    never changes it.
    """
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    if confinement < 0:
        raise ValueError(f"confinement must be >= 0, got {confinement}")
    sizes = [dim, *hidden, 1]
    keys = jax.random.split(key, len(sizes) - 1)
    layers = []
    for k, (n_in, n_out) in zip(keys, zip(sizes[:-1], sizes[1:], strict=True), strict=True):
        w = jax.random.normal(k, (n_in, n_out)) / jnp.sqrt(n_in)
        layers.append({"w": w, "b": jnp.zeros(n_out)})
    return {"layers": layers, "confinement": jnp.asarray(confinement, dtype=float)}


def mlp_energy(params: dict, x, activation: str = "swish") -> jax.Array:
    """E_θ(x) = f_θ(x) + ½ λ ‖x‖² for one point x of shape (d,)."""
    act = ACTIVATIONS[activation]
    h = jnp.asarray(x)
    if h.ndim != 1:
        raise ValueError(f"x must be one point of shape (d,), got shape {h.shape}; vmap batches")
    layers = params["layers"]
    for layer in layers[:-1]:
        h = act(h @ layer["w"] + layer["b"])
    out = h @ layers[-1]["w"] + layers[-1]["b"]
    lam = jax.lax.stop_gradient(params["confinement"])
    return out[0] + 0.5 * lam * jnp.sum(jnp.asarray(x) ** 2)
