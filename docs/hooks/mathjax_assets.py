"""mkdocs hook: serve MathJax from the site itself, so math renders with no network.

The MathJax 3 build comes from the ``django-static-mathjax`` wheel (the ``docs`` extra; the
package ships the MathJax distribution as static files and needs no Django to be read). The
combined TeX/MathML-to-CHTML component, its web fonts and the components it loads on demand
(TeX extensions, menu, accessibility) are copied to ``assets/mathjax/``; ``mkdocs.yml`` loads
``assets/mathjax/tex-mml-chtml.js``. MathJax finds its fonts and extensions relative to that
script, so a site copied anywhere (or served from ``localhost``) renders math offline.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

DEST = "assets/mathjax"
# Relative to MathJax's es5/ folder: the combined component and what it loads lazily.
PARTS = ["tex-mml-chtml.js", "output/chtml", "input/tex/extensions", "ui", "a11y"]


def mathjax_root() -> Path:
    """The es5/ folder of the installed MathJax distribution."""
    spec = importlib.util.find_spec("mathjax")
    if spec is None or spec.origin is None:
        raise PluginError(
            "MathJax is not installed: the docs serve it from the site, "
            "install the docs extra (pip install -e '.[docs]')"
        )
    root = Path(spec.origin).parent / "static" / "mathjax" / "es5"
    if not (root / "tex-mml-chtml.js").is_file():
        raise PluginError(f"the installed 'mathjax' package has no MathJax 3 build at {root}")
    return root


def mathjax_files(root: Path) -> list[Path]:
    """The files of ``PARTS`` under ``root``, sorted."""
    found: list[Path] = []
    for part in PARTS:
        path = root / part
        found.extend([path] if path.is_file() else (p for p in path.rglob("*") if p.is_file()))
    return sorted(found)


def on_files(files, config):  # mkdocs hook signature
    root = mathjax_root()
    for path in mathjax_files(root):
        dest = f"{DEST}/{path.relative_to(root).as_posix()}"
        files.append(File.generated(config, dest, abs_src_path=str(path)))
    return files
