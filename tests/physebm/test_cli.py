"""The physebm command: a tiny comparison whose numbers are checked, and clear errors."""

import json
import os

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


@pytest.mark.slow  # a 40 s demo-pipeline run or a subprocess: with the slow tests, which CI runs
def test_quadrature_and_ais_agree(tiny_run):
    for r in tiny_run["results"]:
        # |AIS − quadrature| within 4 combined standard errors (two-sided rate 6e-5)
        assert abs(r.agreement_z) < 4, (r.name, r.agreement_z)
        assert r.boundary_ratio < 1e-6
        assert np.isfinite(r.heldout_ll_quad)
        assert r.heldout_ll_ais == pytest.approx(r.heldout_ll_quad, abs=5 * r.log_z_ais_stderr)


@pytest.mark.slow  # a 40 s demo-pipeline run or a subprocess: with the slow tests, which CI runs
def test_healthy_chains_have_small_rhat(tiny_run):
    # The maximum-likelihood model is compact (its negatives shaped it); its replica-exchange
    # chains mix: R-hat < 1.01 on positions and energy with a bulk ESS over 400.
    pcd = tiny_run["results"][0].chain_summary
    assert pcd.max_rhat < 1.01, pcd.max_rhat
    assert pcd.min_ess_bulk > 400
    for r in tiny_run["results"]:
        assert np.isfinite(r.chain_summary.max_rhat)


@pytest.mark.slow  # a 40 s demo-pipeline run or a subprocess: with the slow tests, which CI runs
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
        (["compare", "--steps", "0", "--out", "{tmp}"], "--steps must be >= 1"),
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


@pytest.mark.slow  # an 18 s training run: with the slow tests, which CI runs
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


# ---------------------------------------------------------------------------------------------
# output the command never clobbers (physebm.cli.output)


def listing(folder):
    """{relative path: text} of every file under ``folder`` (hidden ones included)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()[:40] for p in folder.rglob("*") if p.is_file()
    }


@pytest.fixture
def fake_training(monkeypatch, request):
    """``compare``/``demo`` with the tiny run in place of the training (the output is real);
    the tiny run (a 40 s fixture) is made only when a test gets as far as training."""
    from physebm.cli import compare

    calls = []

    def run_comparison(settings, log=print):
        calls.append(settings)
        return request.getfixturevalue("tiny_run")

    monkeypatch.setattr(compare, "run_comparison", run_comparison)
    return calls


@pytest.mark.parametrize(
    "argv, message",
    [
        (["compare", "--steps", "-5"], "--steps must be >= 1, got -5"),
        (["compare", "--batch-size", "0"], "--batch-size must be >= 1"),
        (["compare", "--batch-size", "500", "--num-train", "100"], "--batch-size (500)"),
        (["compare", "--learning-rate", "-1"], "--learning-rate must be"),
        (["compare", "--objectives", "pcd,magic"], "--objectives must be"),
        (["compare", "--dataset", "digits", "--steps", "0"], "--steps must be >= 1"),
        (["compare", "--dataset", "digits", "--objectives", "nce"], "--objectives for digits"),
        (["demo", "--steps", "0"], "--steps must be >= 1"),
        (["demo", "--size", "1"], "--size must be >= 2"),
    ],
)
def test_argument_errors_create_nothing(argv, message, capsys, tmp_path, fake_training):
    out = tmp_path / "new" / "out"
    assert main([*argv, "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""  # refused before any section ran
    assert list(tmp_path.iterdir()) == [] and fake_training == []


@pytest.mark.parametrize("command", [["compare"], ["compare", "--dataset", "digits"], ["demo"]])
def test_non_empty_out_is_refused_before_any_work(command, capsys, tmp_path, fake_training):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "report.md").write_text("my own notes")
    assert main([*command, "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert "is not empty (report.md); pass --overwrite" in captured.err and captured.out == ""
    assert listing(tmp_path) == {"mine/report.md": b"my own notes"} and fake_training == []


def test_out_that_is_a_file_is_refused(capsys, tmp_path, fake_training):
    (tmp_path / "f").write_text("x")
    assert main(["compare", "--out", str(tmp_path / "f"), "--overwrite"]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


@pytest.mark.slow  # a 40 s demo-pipeline run or a subprocess: with the slow tests, which CI runs
def test_output_is_written_in_full_and_rerun_needs_overwrite(capsys, tmp_path, fake_training):
    out = tmp_path / "a" / "b"
    assert main(["compare", "--out", str(out)]) == 0
    first = listing(tmp_path)
    assert {"a/b/report.md", "a/b/results.json", "a/b/landscapes.png"} <= set(first)
    assert os.listdir(tmp_path / "a") == ["b"]  # no staging folder left beside it
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask  # an ordinary folder, not mkdtemp's 0o700
    assert f"report: {out / 'report.md'}" in capsys.readouterr().out
    assert main(["compare", "--out", str(out)]) == 2  # a second run does not clobber it
    (out / "stale.txt").write_text("from an older run")
    assert main(["compare", "--out", str(out), "--overwrite"]) == 0
    assert listing(tmp_path) == first  # replaced: the stale file is gone
    assert len(fake_training) == 2


@pytest.mark.slow  # a 40 s demo-pipeline run or a subprocess: with the slow tests, which CI runs
def test_demo_rerun_with_overwrite(capsys, tmp_path, fake_training):
    """What ``make demo`` does (``physebm demo --overwrite``), twice in a row."""
    out = tmp_path / "physebm-out"
    for _ in range(2):
        assert main(["demo", "--size", "4", "--out", str(out), "--overwrite"]) == 0
        assert "2-D Ising model, periodic 4x4" in capsys.readouterr().out
        assert (out / "report.md").exists() and os.listdir(tmp_path) == ["physebm-out"]


@pytest.mark.slow  # a 40 s demo-pipeline run or a subprocess: with the slow tests, which CI runs
@pytest.mark.parametrize("previous", [False, True])
def test_sigint_mid_write_leaves_no_mix(previous, capsys, tmp_path, fake_training, monkeypatch):
    """A real SIGINT while the figures are written: the old folder is untouched (or there is
    none), and no staging folder is left. (Python's own SIGINT handler is installed for the
    test: a process started in the background by a non-interactive shell inherits SIGINT
    ignored, and then a raised SIGINT does nothing.)"""
    import signal

    from physebm.cli import figures

    previous_handler = signal.signal(signal.SIGINT, signal.default_int_handler)

    out = tmp_path / "out"
    if previous:
        out.mkdir()
        (out / "report.md").write_text("old report")
    monkeypatch.setattr(figures, "samples", lambda run, path: signal.raise_signal(signal.SIGINT))
    try:
        assert main(["compare", "--out", str(out), "--overwrite"]) == 130
    finally:
        signal.signal(signal.SIGINT, previous_handler)
    assert "interrupted" in capsys.readouterr().err
    assert listing(tmp_path) == ({"out/report.md": b"old report"} if previous else {})
    assert os.listdir(tmp_path) == (["out"] if previous else [])


@pytest.mark.slow  # a 40 s demo-pipeline run or a subprocess: with the slow tests, which CI runs
def test_exception_mid_write_removes_the_staging_folder(tmp_path, fake_training, monkeypatch):
    from physebm.cli import figures

    def boom(run, path):
        raise RuntimeError("plotting failed")

    monkeypatch.setattr(figures, "losses", boom)
    with pytest.raises(RuntimeError, match="plotting failed"):
        main(["compare", "--out", str(tmp_path / "x" / "out")])
    assert list(tmp_path.iterdir()) == []  # the parent it created is gone too


def test_overwrite_never_replaces_a_folder_with_folders_or_the_working_folder(
    capsys, tmp_path, fake_training, monkeypatch
):
    (tmp_path / "sub").mkdir()
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["compare", "--out", str(tmp_path), "--overwrite"]) == 2
    assert "holds folders (sub)" in capsys.readouterr().err
    (tmp_path / "sub").rmdir()
    monkeypatch.chdir(tmp_path)
    assert main(["compare", "--out", ".", "--overwrite"]) == 2
    assert "working folder" in capsys.readouterr().err
    assert listing(tmp_path) == {"notes.txt": b"mine"}


def test_staged_output_goes_elsewhere_if_out_fills_meanwhile(tmp_path, capsys):
    from physebm.cli.output import check_output, staged

    target = check_output(tmp_path / "out")
    with staged(target) as stage:
        (stage.path / "report.md").write_text("new")
        assert (stage.path / "INCOMPLETE").exists()
        target.mkdir()
        (target / "theirs.txt").write_text("theirs")
    assert stage.final == tmp_path / "out-1"
    assert listing(tmp_path) == {"out/theirs.txt": b"theirs", "out-1/report.md": b"new"}
    assert "the results are in" in capsys.readouterr().err


@pytest.mark.slow  # a 40 s demo-pipeline run or a subprocess: with the slow tests, which CI runs
def test_sigint_to_the_command_in_a_subprocess(tmp_path):
    """``python -m physebm.cli compare --dataset digits`` (a one-step RBM run) gets a real
    SIGINT once its staging folder appears: exit code 130, no staging folder left, and
    ``--out`` holds either the previous output untouched or the complete new one."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "out"
    out.mkdir()
    (out / "report.md").write_text("old report")
    argv = ["compare", "--dataset", "digits", "--objectives", "cd1", "--steps", "1"]
    argv += ["--num-train", "100", "--batch-size", "10", "--out", str(out), "--overwrite"]
    log = (tmp_path / "stderr.txt").open("w")
    # `python -m physebm.cli` with Python's SIGINT handler installed first: a test run in the
    # background of a non-interactive shell inherits SIGINT ignored, and Python then keeps it so
    run_cli = (
        "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "sys.argv = ['physebm.cli', *sys.argv[1:]]; runpy.run_module('physebm.cli', "
        "run_name='__main__', alter_sys=True)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", run_cli, *argv],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=log,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )

    def staging():
        return [p for p in os.listdir(tmp_path) if p.startswith(".out.incomplete-")]

    deadline = time.monotonic() + 300
    while not staging() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert staging(), f"no staging folder appeared (exit code {proc.poll()})"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130
    log.close()
    assert "interrupted" in (tmp_path / "stderr.txt").read_text()
    assert sorted(os.listdir(tmp_path)) == ["out", "stderr.txt"]  # no staging folder left
    files = listing(out)
    complete = {"report.md", "results.json", "digits_samples.png"}
    assert files == {"report.md": b"old report"} or (
        set(files) == complete and files["report.md"] != b"old report"
    ), sorted(files)
