"""Every notebook shows where it stands in the flow with a Mermaid sequenceDiagram, and every
diagram parses. nbval never looks at Markdown, so this is the only check they get.

The parser is Mermaid's own, in the version JupyterLab 4.6 renders with, run in Debian's chromium
through Playwright: `npm install mermaid@<version>` once into pytest's cache directory
(.pytest_cache, git-ignored), then `await mermaid.parse(text)` in a page that loaded
dist/mermaid.min.js from disk. No network once installed; skipped, with the reason, when npm or
chromium is missing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
MERMAID_VERSION = "11.16.1"  # the version bundled with JupyterLab 4.6 (pyproject: jupyterlab>=4.1)
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]
FENCE = re.compile(r"^```mermaid[ \t]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
PARSE = """async (text) => {
    try { await mermaid.parse(text); return null; }
    catch (error) { return String((error && error.message) || error); }
}"""


def diagrams(path: Path) -> list[str]:
    notebook = nbformat.read(path, as_version=4)
    return [match.group(1) for cell in notebook.cells if cell.cell_type == "markdown"
            for match in FENCE.finditer(cell.source)]


@pytest.fixture(scope="module")
def mermaid_js(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = getattr(request.config, "cache", None)
    base = cache.mkdir("mermaid") if cache is not None else tmp_path_factory.mktemp("mermaid")
    prefix = Path(base) / MERMAID_VERSION
    script = prefix / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
    if script.is_file():
        return script
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed, so Mermaid's parser cannot be fetched to check the diagrams")
    try:
        subprocess.run(
            [npm, "install", "--prefix", str(prefix), "--no-save", "--no-audit", "--no-fund", "--ignore-scripts",
             "--loglevel=error", f"mermaid@{MERMAID_VERSION}"],
            check=True, capture_output=True, text=True, timeout=600,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        output = (getattr(error, "stderr", None) or str(error)).strip()[-500:]
        pytest.skip(f"npm could not install mermaid@{MERMAID_VERSION} (no registry access?): {output}")
    assert script.is_file(), f"npm installed mermaid but {script} is missing: has the package layout changed?"
    return script


@pytest.fixture(scope="module")
def parse(mermaid_js: Path) -> Iterator:
    """parse(text) -> None if Mermaid accepts the diagram, else its error message."""
    if not CHROMIUM.is_file():
        pytest.skip("chromium is missing: run `bash scripts/install-browser.sh`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_content("<!doctype html><html><body></body></html>")
            page.add_script_tag(path=str(mermaid_js))
            page.evaluate("mermaid.initialize({startOnLoad: false})")
            yield lambda text: page.evaluate(PARSE, text)
        finally:
            browser.close()


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, "No notebooks/NN-*.ipynb found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_notebook_has_a_sequence_diagram_that_parses(path: Path, parse) -> None:
    found = diagrams(path)
    assert any(text.lstrip().startswith("sequenceDiagram") for text in found), (
        f"{path.name} has no ```mermaid sequenceDiagram fence showing where it stands in the flow"
    )
    for number, text in enumerate(found, start=1):
        error = parse(text)
        assert error is None, f"{path.name}, diagram {number} does not parse:\n{error}\n\n{text}"


def test_a_broken_diagram_is_caught(parse) -> None:
    """The check is real: Mermaid refuses a message without a receiver, and a ';' in a message
    (Mermaid reads it as the end of a statement, a mistake that is easy to make in prose)."""
    assert parse("sequenceDiagram\n    participant A\n    A->>B: fine\n") is None
    assert parse("sequenceDiagram\n    A->>: nobody receives this\n") is not None
    assert parse("sequenceDiagram\n    A->>B: code; then state\n") is not None
