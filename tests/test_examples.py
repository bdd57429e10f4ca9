"""Every example runs with tiny arguments, and what it prints is checked where it can be."""

import importlib.util
import pathlib

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_kmeans_to_gmm_phase_transition(capsys):
    out = load("kmeans_to_gmm").main(["--num-samples", "300", "--num-iters", "150"])
    lo, hi = out["split_interval"]
    # the first split of the centres happens at beta_c = 1 / (2 lambda_max(C)) (grid resolution)
    assert lo <= out["beta_c"] <= hi
    # the likelihood-optimal temperature matches the cluster variance 0.49 to within 25 %
    assert 0.75 < (1 / (2 * out["best_beta"])) / 0.49 < 1.25
    assert "first split observed" in capsys.readouterr().out


def test_every_example_has_a_smoke_test():
    tested = {"kmeans_to_gmm"}
    present = {p.stem for p in EXAMPLES.glob("*.py")}
    missing = present - tested
    if missing:
        pytest.fail(f"examples without a smoke test in tests/test_examples.py: {sorted(missing)}")
