"""The physebm command: a tiny comparison whose numbers are checked, and clear errors."""

import json

import numpy as np
import pytest

from physebm.cli.experiment2d import Settings, run_comparison
from physebm.cli.main import main

TINY = dict(
    num_steps=40,
    num_train=1000,
    num_test=500,
    quad_points=201,
    ais_temperatures=400,
    ais_chains=128,
    chain_count=8,
    chain_steps=1000,
    progress=False,
)


@pytest.fixture(scope="module")
def tiny_run():
    return run_comparison(Settings(objectives=("pcd", "hinge"), **TINY), log=lambda m: None)


def test_quadrature_and_ais_agree(tiny_run):
    for r in tiny_run["results"]:
        # |AIS − quadrature| within 4 combined standard errors (two-sided rate 6e-5)
        assert abs(r.agreement_z) < 4, (r.name, r.agreement_z)
        assert r.boundary_ratio < 1e-6
        assert np.isfinite(r.heldout_ll_quad)
        assert r.heldout_ll_ais == pytest.approx(r.heldout_ll_quad, abs=5 * r.log_z_ais_stderr)


def test_healthy_chains_have_small_rhat(tiny_run):
    # The maximum-likelihood model is compact (its negatives shaped it); its replica-exchange
    # chains mix: R-hat < 1.01 on positions and energy with a bulk ESS over 400.
    pcd = tiny_run["results"][0].chain_summary
    assert pcd.max_rhat < 1.01, pcd.max_rhat
    assert pcd.min_ess_bulk > 400
    for r in tiny_run["results"]:
        assert np.isfinite(r.chain_summary.max_rhat)


def test_report_files(tiny_run, tmp_path):
    import functools

    from physebm.cli import report
    from physebm.models import mlp_energy

    paths = report.write(tiny_run, tmp_path, lambda r: functools.partial(mlp_energy, r.params))
    data = json.loads((tmp_path / "results.json").read_text())
    assert set(data["models"]) == {"pcd", "hinge"}
    text = (tmp_path / "report.md").read_text()
    assert "held-out LL" in text and "![landscapes](landscapes.png)" in text
    for p in paths.values():
        assert p.exists() and p.stat().st_size > 0


def test_logz_exact(capsys):
    assert main(["logz", "--model", "ising", "--size", "4", "--beta", "0.4406867935097715"]) == 0
    out = capsys.readouterr().out
    assert "kaufman" in out and "15.521915458755" in out


def test_logz_estimator_reports_its_error_against_exact(capsys):
    argv = [
        "logz",
        "--model",
        "rbm",
        "--size",
        "6",
        "--hidden",
        "4",
        "--method",
        "ais",
        "--num-temperatures",
        "300",
        "--num-chains",
        "64",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    z = float(out.split("error")[1].split("=")[1].split("stderr")[0])
    assert abs(z) < 4  # AIS within 4 stderr of the enumerated log Z


@pytest.mark.parametrize(
    "argv, message",
    [
        (["logz", "--beta", "-1"], "--beta must be a positive finite number"),
        (["logz", "--beta", "nan"], "--beta must be a positive finite number"),
        (["logz", "--size", "1"], "--size must be >= 2"),
        (["logz", "--method", "ais", "--num-chains", "1"], "must be >= 2"),
        (["logz", "--size", "40", "--h", "0.1"], "no exact route"),
        (["compare", "--objectives", "pcd,magic", "--out", "{tmp}"], "--objectives must be"),
        (["compare", "--dataset", "mnist", "--out", "{tmp}"], "--dataset must be one of"),
        (["compare", "--steps", "0", "--out", "{tmp}"], "--num-steps must be >= 1"),
        (["compare", "--out", "/proc/physebm-cannot-write"], "is not a writable folder"),
    ],
)
def test_clear_errors(argv, message, capsys, tmp_path):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_unknown_command_and_choice_exit_with_usage(capsys):
    with pytest.raises(SystemExit) as err:
        main(["frobnicate"])
    assert err.value.code == 2
    with pytest.raises(SystemExit):
        main(["logz", "--method", "guess"])
    assert "invalid choice" in capsys.readouterr().err


def test_digits_rbm_exact_and_ais_agree(tmp_path):
    from physebm.cli.digits import compare_rbms

    out = compare_rbms(
        ("cd1", "exact"),
        num_steps=60,
        num_train=500,
        num_test=300,
        num_hidden=8,
        ais_temperatures=500,
        ais_chains=64,
        out=tmp_path,
    )
    for name, m in out["models"].items():
        # AIS on the trained RBM agrees with exact enumeration within 4 stderr
        assert abs(m["ais_minus_exact_in_sd"]) < 4, (name, m["ais_minus_exact_in_sd"])
    # exact maximum likelihood fits the training objective it optimises better than CD-1
    assert out["models"]["exact"]["heldout_ll_exact"] > out["models"]["cd1"]["heldout_ll_exact"]
    assert (tmp_path / "report.md").exists() and (tmp_path / "digits_samples.png").exists()


def test_digits_errors(capsys, tmp_path):
    argv = ["compare", "--dataset", "digits", "--objectives", "nce", "--out", str(tmp_path)]
    assert main(argv) == 2
    assert "--objectives for digits must be a subset" in capsys.readouterr().err
