"""The documentation site builds with --strict, and the guides' code examples run.

The built site is read as an offline reader gets it: no Sphinx role left literal, nothing loaded
from another host (MathJax and its fonts are served by the site), and only public names on the
API pages.
"""

import importlib
import importlib.util
import pkgutil
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
    "guides/rbm.md",
    "guides/gaussian-rbm.md",
    "guides/latent_linear.md",
    "guides/devices.md",
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


needs_docs_extras = pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings") is None,
    reason="docs extras not installed (pip install -e '.[docs]')",
)

# A Sphinx role as it reaches the HTML when nothing converts it: :func:`fit` -> :func:<code>fit.
SPHINX_ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|attr|data|exc|obj|const):(?:<code>|`)")
# What a page loads from another host: scripts, stylesheets, fonts, images, CSS imports.
REMOTE_LOAD = re.compile(
    r"<(?:script|img|iframe|source)\b[^>]*\bsrc=[\"']?(?:https?:)?//"
    r"|<link\b[^>]*\bhref=[\"']?(?:https?:)?//"
    r"|@import\s+(?:url\()?[\"']?(?:https?:)?//"
    r"|url\([\"']?(?:https?:)?//"
)
# The helpers the API pages used to list (issue: internal helpers on the API pages).
INTERNAL_HELPERS = ["check_beta_vector", "map_over_beta"]
# Modules whose __all__ is public beside the packages' (docs/hooks/public_api.py, mkdocs.yml).
NAMESPACES = ["physebm.datasets", "physebm.numpyro"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site built with ``mkdocs build --strict`` (once for this module)."""
    out = tmp_path_factory.mktemp("docs") / "site"
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    cmd = [mkdocs] if mkdocs else [sys.executable, "-m", "mkdocs"]
    proc = subprocess.run(
        [*cmd, "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def html_pages(site: Path, under: str = "") -> dict[str, str]:
    return {str(p.relative_to(site)): p.read_text() for p in sorted((site / under).rglob("*.html"))}


@needs_docs_extras
def test_mkdocs_build_strict(site):
    assert (site / "api" / "diagnostics" / "index.html").exists()


@needs_docs_extras
def test_site_has_no_literal_sphinx_roles(site):
    found = {
        page: sorted(set(re.findall(SPHINX_ROLE.pattern + r"[^<`]*", text)))
        for page, text in html_pages(site).items()
        if SPHINX_ROLE.search(text)
    }
    assert not found, f"literal Sphinx roles (use [`name`][] cross-references): {found}"
    api = html_pages(site, "api")
    assert sum(text.count('class="autorefs autorefs-internal"') for text in api.values()) > 100


@needs_docs_extras
def test_site_loads_nothing_from_another_host(site):
    assets = {**html_pages(site)}
    for css in sorted(site.rglob("*.css")):
        assets[str(css.relative_to(site))] = css.read_text()
    remote = {
        name: sorted(set(m.group(0) for m in REMOTE_LOAD.finditer(text)))
        for name, text in assets.items()
        if REMOTE_LOAD.search(text)
    }
    assert not remote, f"loaded from another host: {remote}"


@needs_docs_extras
def test_math_is_typeset_by_the_sites_own_mathjax(site):
    mathjax = site / "assets" / "mathjax"
    assert (mathjax / "tex-mml-chtml.js").stat().st_size > 500_000
    fonts = list((mathjax / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    assert len(fonts) > 20, "MathJax's CHTML fonts are served by the site"
    pages = {name: text for name, text in html_pages(site).items() if 'class="arithmatex"' in text}
    assert {"concepts/index.html", "guides/exact/index.html"} <= set(pages)
    for name, text in pages.items():
        scripts = re.findall(r"<script[^>]*\bsrc=\"([^\"]+)\"", text)
        assert any(s.endswith("assets/mathjax/tex-mml-chtml.js") for s in scripts), name
        assert all(not s.startswith(("http:", "https:", "//")) for s in scripts), name


def exported_names() -> set[str]:
    """Names reachable through ``__all__`` from the packages and NAMESPACES, by import."""
    roots = list(NAMESPACES)
    for top in ("physebm", "samplers"):
        pkg = importlib.import_module(top)
        roots.append(top)
        for info in pkgutil.walk_packages(pkg.__path__, f"{top}."):
            if info.ispkg and not any(part.startswith("_") for part in info.name.split(".")):
                roots.append(info.name)
    names: set[str] = set()
    seen: set[str] = set()
    while roots:
        module = importlib.import_module(roots.pop())
        if module.__name__ in seen:
            continue
        seen.add(module.__name__)
        for name in getattr(module, "__all__", []):
            value = getattr(module, name)
            if isinstance(value, type(module)):
                roots.append(value.__name__)
            else:
                names.add(name)
    return names


def module_level_ids(text: str) -> set[tuple[str, str]]:
    """(module, name) for every API heading of a module-level object (not a class member)."""
    out = set()
    for ident in re.findall(r'<h\d id="((?:physebm|samplers)\.[\w.]+)"[^>]*class="doc', text):
        parts = ident.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            module = ".".join(parts[:cut])
            try:
                importlib.import_module(module)
            except ImportError:
                continue
            if cut == len(parts) - 1 and not isinstance(
                getattr(sys.modules[module], parts[cut], None), type(sys)
            ):
                out.add((module, parts[cut]))
            break
    return out


@needs_docs_extras
def test_api_pages_show_public_names_only(site):
    api = html_pages(site, "api")
    exported = exported_names()
    shown = set().union(*(module_level_ids(text) for text in api.values()))
    assert len(shown) > 150
    internal = sorted(f"{m}.{n}" for m, n in shown if n not in exported)
    assert not internal, f"API pages show names that no __all__ exports: {internal}"
    helpers = [n for n in INTERNAL_HELPERS if any(n in text for text in api.values())]
    helpers += sorted({n for _, n in shown if n.startswith(("MAX_", "MIN_"))})
    assert not helpers, f"internal helpers on the API pages: {helpers}"


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


def browser() -> str | None:
    return next((b for b in ("chromium", "chromium-browser") if shutil.which(b)), None)


def rendered_dom(url: str, tmp_path: Path) -> str:
    """The page's DOM after scripts ran, in headless Chromium that can reach 127.0.0.1 only."""
    proc = subprocess.run(
        [
            browser(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--virtual-time-budget=20000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@needs_docs_extras
@pytest.mark.skipif(browser() is None, reason="no headless Chromium (apt-get install chromium)")
@pytest.mark.parametrize("page", ["", "guides/exact/", "api/partition/"])
def test_pages_render_offline_in_a_browser(site, page, tmp_path):
    """Home, a guide and an API page served from 127.0.0.1 with every other host unresolvable."""
    import functools
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        dom = rendered_dom(f"http://127.0.0.1:{server.server_port}/{page}", tmp_path)
    finally:
        server.shutdown()
    assert 'class="md-content"' in dom, dom[-2000:]
    assert not SPHINX_ROLE.search(dom)
    raw_math = re.findall(r'<span class="arithmatex">\\\(.*?</span>', dom)
    assert not raw_math, f"math left unrendered: {raw_math[:3]}"
    if page != "api/partition/":
        assert "<mjx-container" in dom, "MathJax typeset nothing"
