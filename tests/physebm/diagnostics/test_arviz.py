"""ArviZ conventions: the HMC Hamiltonian in ``sample_stats.energy``, estimator trees that
``az.summary``/``az.ess``/arviz-plots accept, model names for positions, netCDF round trips.
All checks are deterministic (equalities of the same numbers computed two ways)."""

import warnings

import arviz as az
import arviz_base
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

import physebm
import samplers
from physebm import diagnostics as dg
from physebm.models import RBM, Ising
from physebm.partition import ais, importance, smc


def hmc_run():
    alg = samplers.hmc(
        lambda x: -0.5 * jnp.sum(x**2),
        step_size=0.5,
        inverse_mass_matrix=jnp.ones(2),
        num_integration_steps=5,
    )
    return samplers.run(jax.random.key(1), alg, jnp.zeros((4, 2)), num_steps=300)


def test_bfmi_reads_the_hamiltonian_not_the_model_energy(tmp_path):
    res = hmc_run()
    dt = dg.run_to_datatree(res, energy_fn=lambda x: 0.5 * jnp.sum(x**2))
    hamiltonian = np.asarray(res.info["energy"])
    np.testing.assert_array_equal(dt["sample_stats"]["energy"].values, hamiltonian)
    np.testing.assert_allclose(
        dt["sample_stats"]["model_energy"].values, 0.5 * (np.asarray(res.trace) ** 2).sum(-1)
    )
    ours = az.bfmi(dt)["energy"].values
    # ArviZ on blackjax's own info, and the formula Σ(ΔH)² / Σ(H − H̄)² per chain
    theirs = az.bfmi(arviz_base.from_dict({"sample_stats": {"energy": hamiltonian}}))
    np.testing.assert_allclose(ours, theirs["energy"].values, rtol=1e-12)
    dev = hamiltonian - hamiltonian.mean(axis=1, keepdims=True)
    by_hand = (np.diff(hamiltonian, axis=1) ** 2).sum(1) / (dev**2).sum(1)
    np.testing.assert_allclose(ours, by_hand, rtol=1e-6)
    assert dg.save_figure(dg.energy_figure(dt), tmp_path / "energy.png").stat().st_size > 5000


def _summaries(tree):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one run: R-hat is undefined (NaN)
        return az.summary(tree), az.ess(tree)


@pytest.mark.parametrize("method", ["ais", "importance"])
def test_weighted_results_convert_to_trees_arviz_accepts(method):
    m = Ising((3, 3))
    key = jax.random.key(0)
    if method == "ais":
        res = ais(m, 0.6, key=key, num_temperatures=20, num_chains=32)
    else:
        res = importance(m, 0.6, key=key, num_samples=64)
    tree = dg.logz_to_datatree(res)
    lw = np.asarray(res.info["log_weights"])
    post = tree["posterior"]
    assert post["log_weights"].dims == ("chain", "draw")
    np.testing.assert_array_equal(post["log_weights"].values[0], lw)
    np.testing.assert_allclose(post["weights"].values.sum(), 1.0, rtol=1e-12)
    assert tree.attrs["log_z"] == float(res.log_z) and tree.attrs["method"] == method
    summary, ess = _summaries(tree)
    assert set(summary.index) == {"log_weights", "weights"}
    assert summary.loc["log_weights", "mean"] == pytest.approx(lw.mean(), abs=0.05)
    assert float(ess["log_weights"]) > 0
    if method == "ais":
        x = tree["particles"]["x"]
        assert x.dims[:2] == ("chain", "draw") and x.shape == (1, 32, 3, 3)
        assert tree["annealing"]["increment_variance"].dims == ("step",)
        assert dg.summarize_ais(tree, warn=False).log_z == float(res.log_z)


def test_smc_result_converts(tmp_path):
    import arviz_plots
    import matplotlib.pyplot as plt

    res = smc(Ising((3, 3)), 0.6, key=jax.random.key(0), num_particles=32)
    tree = dg.logz_to_datatree(res)
    replicas = np.asarray(res.info["replica_log_z"])
    np.testing.assert_array_equal(tree["posterior"]["replica_log_z"].values[0], replicas)
    assert tree["annealing"]["num_steps"].dims == ("chain", "draw")
    summary, _ = _summaries(tree)
    assert summary.loc["replica_log_z", "mean"] == pytest.approx(replicas.mean(), abs=0.05)
    pc = arviz_plots.plot_dist(tree, backend="matplotlib")
    plt.close(pc.get_viz("figure"))
    with pytest.raises(ValueError, match="SMC results keep no per-particle weights"):
        dg.summarize_ais(res)


def test_rbm_positions_are_named_v_and_h():
    rbm = RBM(0.1 * jnp.ones((4, 3)))
    res = physebm.sample(rbm, key=jax.random.key(0), num_chains=2, num_steps=20)
    dt = dg.run_to_datatree(res, energy_fn=rbm)
    assert set(dt["posterior"].data_vars) == {"v", "h"}
    assert dt["posterior"]["v"].shape == (2, 20, 4) and dt["posterior"]["h"].shape == (2, 20, 3)
    assert dg.position_names(rbm) == ("v", "h") and dg.position_names(Ising((2, 2))) is None
    custom = dg.run_to_datatree(res, energy_fn=rbm, var_names=("visible", "hidden"))
    assert set(custom["posterior"].data_vars) == {"visible", "hidden"}


def test_netcdf_round_trip(tmp_path):
    """Trees write to netCDF-4 with the h5netcdf backend (the ``netcdf`` extra)."""
    chains = dg.run_to_datatree(hmc_run(), energy_fn=lambda x: 0.5 * jnp.sum(x**2))
    res = ais(Ising((3, 3)), 0.6, key=jax.random.key(0), num_temperatures=10, num_chains=16)
    for name, tree in (("chains", chains), ("ais", dg.logz_to_datatree(res))):
        path = tmp_path / f"{name}.nc"
        tree.to_netcdf(path)
        back = xr.open_datatree(path)
        assert set(back.children) == set(tree.children)
        for group in tree.children:
            xr.testing.assert_identical(back[group].to_dataset(), tree[group].to_dataset())
        assert dict(back.attrs).keys() == dict(tree.attrs).keys()
        back.close()
