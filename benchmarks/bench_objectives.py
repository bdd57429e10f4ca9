"""Training-objective speed, all rows measured in one run, ratios against a baseline of the run.

    python benchmarks/bench_objectives.py [--quick] [--float32]

Setting: the MLP energy of ``physebm.models.neural`` (2 → 64 → 64 → 1, swish, fixed
confinement), two-moons data, batch 256, Adam. A "step" is one optimizer update:
value_and_grad of the objective's loss plus ``optax`` update, ``NUM_STEPS`` of them inside one
jitted ``lax.scan`` (as ``physebm.fit`` runs them).

Columns:
* step ms / steps/s: the whole update;
* × base: step time over the baseline row ``energy only`` (loss = mean E(x⁺): one forward and
  backward pass over the batch), measured in the same run;
* sampling ms: for objectives with Markov negatives, the negative sampling alone (the chains
  run by ``objectives.run_chains`` on the same kernel, steps and starting points; for PCD
  ``samplers.advance`` on the replay buffer, bookkeeping included);
* loss ms: the update given fixed negatives (surrogate loss, gradient, Adam).
Each timing is the best of ``REPEATS`` calls after a compiling call.
"""

from __future__ import annotations

import argparse
import functools
import time

import jax
import jax.numpy as jnp
import optax

import samplers
from physebm import datasets
from physebm import objectives as obj
from physebm.models.neural import init_mlp_energy, mlp_energy

BATCH = 256
REPEATS = 5


def best_time(fn, *args) -> float:
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return min(times)


def make_train(objective, optimizer, data, num_steps):
    """Jitted scan of ``num_steps`` updates on batches cycled from ``data``."""
    num_batches = data.shape[0] // BATCH

    @jax.jit
    def train(params, key):
        opt_state = optimizer.init(params)
        state = objective.init(params, key)

        def step(carry, t):
            params, opt_state, state, key = carry
            key, sub = jax.random.split(key)
            start = (t % num_batches) * BATCH
            batch = jax.lax.dynamic_slice_in_dim(data, start, BATCH)
            (loss, (state, _)), grads = jax.value_and_grad(objective.loss, has_aux=True)(
                params, batch, sub, state
            )
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state, state, key), loss

        carry, losses = jax.lax.scan(step, (params, opt_state, state, key), jnp.arange(num_steps))
        return carry[0], losses

    return train


def make_buffer_sampling_only(kernel, num_steps, num_chains, init_fn, reinit_prob):
    """PCD's negative sampling alone: ``samplers.advance`` on a replay buffer per update."""

    @functools.partial(jax.jit, static_argnums=2)
    def sample(params, key, num_updates, data):
        buffer = samplers.init_buffer(init_fn(key, num_chains))

        def one(buffer, t):
            algorithm = kernel(lambda x: -mlp_energy(params, x))
            buffer, x, _ = samplers.advance(
                jax.random.fold_in(key, t),
                buffer,
                algorithm,
                num_steps=num_steps,
                batch_size=BATCH,
                reinit_fraction=reinit_prob,
                noise_fn=init_fn,
            )
            return buffer, jnp.sum(x)

        return jax.lax.scan(one, buffer, jnp.arange(num_updates))[1]

    return sample


def make_sampling_only(kernel, num_steps, start_fn, beta=1.0):
    """Negative sampling alone: ``num_steps`` kernel steps from ``start_fn`` per update."""

    @functools.partial(jax.jit, static_argnums=2)
    def sample(params, key, num_updates, data):
        def one(key, t):
            k1, k2 = jax.random.split(jax.random.fold_in(key, t))
            batch = jax.lax.dynamic_slice_in_dim(
                data, (t % (data.shape[0] // BATCH)) * BATCH, BATCH
            )
            x0 = start_fn(k1, batch)
            x, _ = obj.run_chains(
                kernel, lambda x: -beta * mlp_energy(params, x), x0, k2, num_steps
            )
            return key, jnp.sum(x)

        return jax.lax.scan(one, key, jnp.arange(num_updates))[1]

    return sample


class EnergyOnly(obj.Objective):
    """Baseline: loss = mean E(x⁺), one forward and backward pass over the batch."""

    def loss(self, params, batch, key, state):
        return jnp.mean(jax.vmap(lambda x: mlp_energy(params, x))(batch)), (state, {})


class FixedNegatives(obj.Objective):
    """The likelihood surrogate with negatives given (to time the loss without sampling)."""

    negatives: jax.Array

    def loss(self, params, batch, key, state):
        e_pos = jax.vmap(lambda x: mlp_energy(params, x))(batch)
        e_neg = jax.vmap(lambda x: mlp_energy(params, x))(jax.lax.stop_gradient(self.negatives))
        return jnp.mean(e_pos) - jnp.mean(e_neg), (state, {})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps (smoke test)")
    parser.add_argument("--float32", action="store_true", help="run in float32 (default x64)")
    args = parser.parse_args(argv)
    jax.config.update("jax_enable_x64", not args.float32)
    num_steps = 5 if args.quick else 50

    key = jax.random.key(0)
    data = datasets.two_moons(key, 64 * BATCH, noise=0.1)
    params = init_mlp_energy(jax.random.key(1), 2, (64, 64))
    optimizer = optax.adam(1e-3)
    mala = functools.partial(samplers.mala, step_size=0.01)
    ula = functools.partial(samplers.ula, step_size=0.01)
    noise = obj.gaussian_noise(data=data)

    def noise_start(key, batch):
        return 2.0 * jax.random.normal(key, batch.shape, batch.dtype)

    def data_start(key, batch):
        return batch

    def buffer_init(key, num):
        return 2.0 * jax.random.normal(key, (num, 2))

    def gaussian_negatives(key, params, batch):
        return noise.sample_fn(key, batch.shape[0] * 16).reshape(batch.shape[0], 16, 2)

    def sigma_energy(p, x, sigma):
        return mlp_energy(p, x) / sigma

    rows = [
        ("energy only (baseline)", EnergyOnly(), None),
        (
            "ML, MALA 20 steps from noise",
            obj.maximum_likelihood(mlp_energy, kernel=mala, num_steps=20, init_fn=noise_start),
            (mala, 20, noise_start),
        ),
        (
            "CD-1, ULA",
            obj.contrastive_divergence(mlp_energy, kernel=ula, num_steps=1),
            (ula, 1, data_start),
        ),
        (
            "CD-10, MALA",
            obj.contrastive_divergence(mlp_energy, kernel=mala, num_steps=10),
            (mala, 10, data_start),
        ),
        (
            "PCD, ULA 10 steps, buffer 8192",
            obj.persistent_contrastive_divergence(
                mlp_energy,
                kernel=ula,
                num_steps=10,
                num_chains=8192,
                reinit_prob=0.05,
                init_fn=lambda k, n: 2.0 * jax.random.normal(k, (n, 2)),
            ),
            (ula, 10, noise_start),
        ),
        ("NCE, nu = 1, fitted Gaussian", obj.nce(mlp_energy, noise=noise), None),
        ("ranking NCE, K = 16", obj.ranking_nce(mlp_energy, noise=noise, num_noise=16), None),
        ("score matching (exact)", obj.score_matching(mlp_energy), None),
        ("denoising SM, sigma = 0.1", obj.denoising_score_matching(mlp_energy, sigma=0.1), None),
        (
            "denoising SM, 10 sigmas",
            obj.denoising_score_matching(sigma_energy, sigmas=jnp.geomspace(0.01, 1.0, 10)),
            None,
        ),
        ("sliced SM, 1 projection", obj.sliced_score_matching(mlp_energy), None),
        (
            "sliced SM-VR, 1 projection",
            obj.sliced_score_matching(mlp_energy, variance_reduced=True),
            None,
        ),
        (
            "hinge, 16 sampled negatives",
            obj.margin_objective(
                lambda p, x: mlp_energy(p, x), loss="hinge", negatives_fn=gaussian_negatives
            ),
            None,
        ),
        (
            "NLL (group), 16 sampled negatives",
            obj.margin_objective(
                lambda p, x: mlp_energy(p, x), loss="nll", negatives_fn=gaussian_negatives
            ),
            None,
        ),
    ]

    print(
        f"device: {jax.devices()[0].device_kind}, x64: {not args.float32}, batch {BATCH}, "
        f"{num_steps} updates per timed call, best of {REPEATS}"
    )
    header = (
        f"{'objective':36s} {'step ms':>9s} {'steps/s':>9s} {'x base':>7s} "
        f"{'sampling ms':>12s} {'loss ms':>8s}"
    )
    print(header)
    print("-" * len(header))
    base = None
    fixed_loss = None
    for name, objective, sampling in rows:
        p = obj.nce_params(params) if name.startswith("NCE") else params
        train = make_train(objective, optimizer, data, num_steps)
        step = best_time(train, p, key) / num_steps
        base = step if base is None else base
        sample_ms = loss_ms = ""
        if sampling is not None:
            sample = sampling if callable(sampling) else make_sampling_only(*sampling)
            sample_ms = f"{1e3 * best_time(sample, params, key, num_steps, data) / num_steps:.3f}"
            if fixed_loss is None:
                negatives = 2.0 * jax.random.normal(key, (BATCH, 2), data.dtype)
                fixed = make_train(FixedNegatives(negatives), optimizer, data, num_steps)
                fixed_loss = best_time(fixed, params, key) / num_steps
            loss_ms = f"{1e3 * fixed_loss:.3f}"
        print(
            f"{name:36s} {1e3 * step:9.3f} {1 / step:9.1f} {step / base:7.2f} "
            f"{sample_ms:>12s} {loss_ms:>8s}"
        )
    print("not timed: ratio matching / MPF (binary data), info_nce (conditional pairs)")


if __name__ == "__main__":
    main()
