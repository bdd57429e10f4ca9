"""Bayesian inference of the inverse temperature β from observed Ising configurations.

Given n configurations s₁..sₙ of a periodic L×L Ising model (J = 1, h = 0) drawn at an unknown
β*, the likelihood is exact because Kaufman's formula gives log Z(β) for any finite torus:

    log p(s₁..sₙ | β) = −β Σᵢ E(sᵢ) − n log Z(β).

numpyro's NUTS samples the posterior of β under a uniform prior on (0, 1.5), differentiating
through ``physebm.partition.exact`` (autodiff in β). The energy enters only through the
sufficient statistic Σᵢ E(sᵢ), and the maximum-likelihood β solves U(β̂) = mean E(sᵢ) — the
script checks the posterior mean against that root and its spread against the Fisher
information n·Var_β(E) = n·C(β)/β².

Observations come from the checkerboard Gibbs sampler of ``samplers`` (long burn-in, thinned).

Run: python examples/ising_beta_inference.py [--size 16] [--num-obs 20] [--beta-true 0.35]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.infer import MCMC, NUTS
from scipy.optimize import brentq

import samplers
from physebm import thermodynamics
from physebm.models import Ising
from physebm.partition import exact


def observe(key, model: Ising, beta: float, num_obs: int, num_sweeps: int):
    """``num_obs`` configurations, one per independent chain, after ``num_sweeps`` sweeps."""
    algo = samplers.ising_checkerboard(beta, J=model.J, h=model.h)
    k_init, k_run = jax.random.split(key)
    init = jnp.where(jax.random.bernoulli(k_init, 0.5, (num_obs, *model.shape)), 1, -1)
    res = samplers.run(k_run, algo, init.astype(jnp.int8), num_steps=num_sweeps, keep_trace=False)
    return res.state.position.astype(float)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=16)
    p.add_argument("--num-obs", type=int, default=20)
    p.add_argument("--beta-true", type=float, default=0.35)
    p.add_argument("--num-sweeps", type=int, default=500)
    p.add_argument("--num-samples", type=int, default=1000)
    args = p.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    model = Ising((args.size, args.size))
    obs = observe(jax.random.key(1), model, args.beta_true, args.num_obs, args.num_sweeps)
    energies = jax.vmap(model)(obs)
    n, total_e = len(energies), float(jnp.sum(energies))

    def numpyro_model():
        beta = numpyro.sample("beta", dist.Uniform(0.0, 1.5))
        numpyro.factor("likelihood", -beta * total_e - n * exact(model, beta).log_z)

    mcmc = MCMC(
        NUTS(numpyro_model),
        num_warmup=300,
        num_samples=args.num_samples,
        num_chains=1,
        progress_bar=False,
    )
    mcmc.run(jax.random.key(2))
    post = np.asarray(mcmc.get_samples()["beta"])

    mean_e = total_e / n
    mle = brentq(lambda b: float(thermodynamics(model, b).internal_energy) - mean_e, 0.01, 1.49)
    th = thermodynamics(model, mle)
    fisher_sd = float(mle / np.sqrt(n * float(th.heat_capacity)))
    print(
        f"{args.num_obs} configurations of a periodic {args.size}x{args.size} Ising model "
        f"at beta* = {args.beta_true}"
    )
    print(f"mean energy per site of the data      {mean_e / model.num_sites:.5f}")
    print(f"maximum likelihood beta (U(b) = mean)  {mle:.5f}")
    print(f"posterior mean +- sd (NUTS)            {post.mean():.5f} +- {post.std():.5f}")
    print(f"Fisher (Laplace) sd at the MLE          {fisher_sd:.5f}")
    return {"posterior": post, "mle": mle, "fisher_sd": fisher_sd, "beta_true": args.beta_true}


if __name__ == "__main__":
    main()
