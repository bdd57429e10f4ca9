"""A Bernoulli RBM on binarised 8×8 digits, trained by PCD and evaluated by AIS.

The RBM E(v, h) = −bᵀv − cᵀh − vᵀWh has the visible free energy
F(v) = −bᵀv − Σ_j softplus(c_j + vᵀW_j), so the likelihood of a digit is
log p(v) = −F(v) − log Z. Training uses persistent contrastive divergence: the negative phase
comes from persistent chains that survive between parameter updates, each update one
v → h → v block-Gibbs step (h ~ σ(c + vᵀW), then v ~ σ(b + Wh); `samplers.BlockGibbs` on the
model's structured target), and the loss is the free-energy surrogate
mean F(v⁺) − mean F(v⁻) (the hidden layer summed out). Evaluation estimates log Z by annealed
importance sampling from the *data base-rate* model (independent visibles fitted to the
training data; Salakhutdinov & Murray 2008), and, because the hidden layer is small, also
exactly by summing it out — so the AIS error bar can be checked against the truth.

Run: python examples/rbm_digits.py [--num-hidden 16] [--num-steps 1500]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import optax

import samplers
from physebm import fit
from physebm.datasets import digits
from physebm.models import RBM
from physebm.objectives import persistent_contrastive_divergence
from physebm.partition import ais, exact
from physebm.partition.bases import rbm_base_rate


def rbm_of(params) -> RBM:
    return RBM(params["W"], params["b"], params["c"])


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--num-hidden", type=int, default=16)
    p.add_argument("--num-steps", type=int, default=1500)
    p.add_argument("--num-temperatures", type=int, default=3000)
    args = p.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    k_data, k_test, k_init, k_fit, k_ais = jax.random.split(jax.random.key(0), 5)
    train = digits(k_data, 3000, flatten=True)[0].astype(float)
    test = digits(k_test, 1000, flatten=True)[0].astype(float)
    nv, nh = train.shape[1], args.num_hidden
    rate = jnp.clip(train.mean(0), 1e-3, 1 - 1e-3)
    params = {
        "W": 0.01 * jax.random.normal(k_init, (nv, nh)),
        "b": jnp.log(rate / (1 - rate)),
        "c": jnp.zeros(nh),
    }
    pcd = persistent_contrastive_divergence(
        model_fn=rbm_of,
        kernel=samplers.BlockGibbs(),
        init_fn=lambda key, n: jax.random.bernoulli(key, 0.5, (n, nv)).astype(float),
        num_chains=1000,
        num_steps=1,
        reinit_prob=0.0,
    )
    fitted = fit(
        pcd,
        params,
        train,
        optax.adam(0.01),
        key=k_fit,
        num_steps=args.num_steps,
        batch_size=100,
        progress=False,
    )
    rbm = rbm_of(fitted.params)
    est = ais(
        rbm,
        1.0,
        key=k_ais,
        num_temperatures=args.num_temperatures,
        num_chains=128,
        base=rbm_base_rate(rbm, train),
    )
    truth = float(exact(rbm, 1.0).log_z)
    f_test = float(jnp.mean(rbm.free_energy(test)))
    z = (float(est.log_z) - truth) / float(est.stderr)
    print(f"RBM 64 x {nh}, {args.num_steps} PCD steps")
    print(
        f"log Z   AIS (base-rate base) {float(est.log_z):.4f} +- {float(est.stderr):.4f}   "
        f"exact {truth:.4f}   ({z:+.2f} stderr)"
    )
    print(
        f"held-out log-likelihood per digit: {-f_test - truth:.4f} (exact), "
        f"{-f_test - float(est.log_z):.4f} +- {float(est.stderr):.4f} (AIS)"
    )
    print(f"AIS weight ESS {float(est.diagnostics['ess']):.1f} of 128 chains")
    return {"z": z, "heldout_ll": -f_test - truth, "ais": est}


if __name__ == "__main__":
    main()
