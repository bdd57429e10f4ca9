"""The README's quick start runs as written."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_quick_start_runs(capsys):
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick start\n\n```python\n(.*?)```", text, re.S)
    assert block, "README has no Quick start python block"
    code = block.group(1)
    assert len(code.splitlines()) <= 22
    exec(compile(code, "README-quick-start", "exec"), {})
    out = capsys.readouterr().out
    assert "kaufman" in out and "238.6422566" in out  # 16x16 torus at beta_c


def test_readme_names_the_two_commands():
    text = (ROOT / "README.md").read_text()
    assert "make demo" in text and "make test" in text
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
