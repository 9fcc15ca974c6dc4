"""Every notebook shows where it stands in the flow with a Mermaid sequenceDiagram, and every
diagram parses. nbval never looks at Markdown, so this is the only check they get.

The parser is Mermaid's own, in the version JupyterLab 4.6 renders with, run in Debian's chromium
through Playwright: `await mermaid.parse(text)` in a page that loaded dist/mermaid.min.js from
disk. `make test` installs that version into .test-tools/ (scripts/install-test-tools.sh) before
pytest starts; the test never runs npm and fails, saying so, when the file is not there. Skipped,
with the reason, when chromium is missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from tests.browser import launch_chromium

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
MERMAID_VERSION = "11.16.1"  # the version bundled with JupyterLab 4.6 (pyproject: jupyterlab>=4.1)
# Where scripts/install-test-tools.sh puts it (the same version is pinned there).
MERMAID_JS = ROOT / ".test-tools" / f"mermaid@{MERMAID_VERSION}" / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
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
def mermaid_js() -> Path:
    if not MERMAID_JS.is_file():
        pytest.fail(f"{MERMAID_JS.relative_to(ROOT)} is missing: run `make test` (or `bash scripts/install-test-tools.sh`), "
                    f"which installs mermaid@{MERMAID_VERSION} from npm before the tests", pytrace=False)
    return MERMAID_JS


@pytest.fixture(scope="module")
def parse(mermaid_js: Path) -> Iterator:
    """parse(text) -> None if Mermaid accepts the diagram, else its error message."""
    with launch_chromium() as browser:
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
