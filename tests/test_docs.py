"""The documentation site builds with --strict, and the guides' code examples run."""

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

# Pages whose examples run in a few seconds; the others (training, AIS, long chains) are slow.
FAST_PAGES = ["concepts.md", "guides/diagnostics.md"]
SLOW_PAGES = [
    "index.md",
    "guides/free-energy.md",
    "guides/datasets.md",
    "guides/exact.md",
    "guides/samplers.md",
    "guides/estimators.md",
    "guides/training.md",
]


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", page.read_text(), flags=re.S | re.M)


@pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings") is None,
    reason="docs extras not installed (pip install -e '.[docs]')",
)
def test_mkdocs_build_strict(tmp_path):
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    cmd = [mkdocs] if mkdocs else [sys.executable, "-m", "mkdocs"]
    proc = subprocess.run(
        [*cmd, "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "site" / "api" / "diagnostics" / "index.html").exists()


def test_every_page_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    missing = sorted(p for p in pages if p not in nav)
    assert not missing, f"pages not in mkdocs.yml nav: {missing}"
    assert set(FAST_PAGES + SLOW_PAGES) <= pages


def test_referenced_example_scripts_exist():
    for page in DOCS.rglob("*.md"):
        for script in re.findall(r"examples/[\w/]+\.py", page.read_text()):
            assert (ROOT / script).exists(), f"{page.relative_to(DOCS)} refers to missing {script}"


def _run_page(page: str, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples may write files (plots)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    blocks = python_blocks(DOCS / page)
    assert blocks, f"{page} has no python examples"
    namespace: dict = {"__name__": "__docs__"}
    for i, block in enumerate(blocks):
        exec(compile(block, f"{page}[block {i}]", "exec"), namespace)  # noqa: S102


@pytest.mark.parametrize("page", FAST_PAGES)
def test_guide_examples_run(page, tmp_path, monkeypatch):
    _run_page(page, tmp_path, monkeypatch)


@pytest.mark.slow
@pytest.mark.parametrize("page", SLOW_PAGES)
def test_guide_examples_run_slow(page, tmp_path, monkeypatch):
    _run_page(page, tmp_path, monkeypatch)
