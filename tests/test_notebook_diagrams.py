"""Every notebook shows where it stands in the flow with a Mermaid sequenceDiagram, and every
diagram renders in JupyterLab the way a learner sees it. nbval never looks at Markdown, so this
is the only check they get.

JupyterLab (4.1+) renders a ```mermaid fence of a Markdown cell itself, with the Mermaid of its
own bundle (no network): the test starts a real JupyterLab for the module (a free port of
127.0.0.1, no token, its own config and runtime dirs, serving a tmp copy of notebooks/ so that
nothing it saves lands in the real ones), loads it once in Debian's chromium (tests/browser.py)
and opens the notebooks one after another with JupyterLab's own `docmanager:open` command.

What JupyterLab puts in the page (@jupyterlab/mermaid, read from its bundle):
  rendered  <div class="jp-RenderedMermaid"><figure><img src="data:image/svg+xml,..."> plus the
            source in a hidden <pre><code class="mermaid">
  error     <div class="jp-RenderedMermaid jp-mod-warning"><details class="jp-RenderedMermaid-Details">
            <summary class="jp-RenderedMermaid-Summary">(the source)</summary><pre>(Mermaid's
            parse error)</pre></details>
  neither   a fence JupyterLab did not take for Mermaid stays a plain code block.
So a notebook passes when it holds exactly as many .jp-RenderedMermaid as its Markdown has
```mermaid fences, none of them .jp-mod-warning, each with an <img> the browser decoded
(naturalWidth > 0) whose SVG is a real diagram (its aria-roledescription is not Mermaid's
"error"). Screenshots of each notebook's first diagram land in test-artifacts/diagrams/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
import requests

from mock_idp.server import bind
from tests.browser import launch_chromium, shot

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
# A fence as Markdown reads it: ``` or ~~~, indented too (inside a list item JupyterLab renders it as well).
FENCE = re.compile(r"^[ \t]*(?P<mark>```|~~~)[ \t]*mermaid[ \t]*\n(?P<text>.*?)^[ \t]*(?P=mark)",
                   re.DOTALL | re.MULTILINE)
COPY_IGNORE = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", ".env")
# No news pop-up or update check over the notebook (as `make lab` sets for learners).
LAB_OVERRIDES = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}
RENDER_TIMEOUT_MS = 30_000

OPEN = """async (path) => {
    const widget = await window.jupyterapp.commands.execute('docmanager:open', {path, factory: 'Notebook'});
    await widget.context.ready;
    return widget.id;
}"""
# Closed with its kernel (JupyterLab starts one on open; no need to wait for it).
CLOSE = """async (id) => {
    const widget = Array.from(window.jupyterapp.shell.widgets('main')).find(w => w.id === id);
    if (!widget) return;
    try { await widget.sessionContext.shutdown(); } catch (error) { /* never started */ }
    widget.dispose();
}"""
# What one .jp-RenderedMermaid shows: the error text, or what its <img> holds.
DESCRIBE = """(node) => {
    if (node.classList.contains('jp-mod-warning')) {
        const message = node.querySelector('.jp-RenderedMermaid-Details > pre');
        return {error: (message || node).textContent};  // textContent: the <details> is closed
    }
    const img = node.querySelector('figure > img');
    if (!img) return {error: 'no <img> in the figure'};
    const src = img.getAttribute('src') || '';
    if (!src.startsWith('data:image/svg+xml,')) return {error: 'the <img> is not an SVG: ' + src.slice(0, 80)};
    const svg = new DOMParser().parseFromString(decodeURIComponent(src.slice(src.indexOf(',') + 1)), 'image/svg+xml');
    return {
        complete: img.complete, width: img.naturalWidth, height: img.naturalHeight,
        role: svg.documentElement.getAttribute('aria-roledescription'),
        parseError: svg.querySelector('parsererror') ? svg.querySelector('parsererror').textContent : null,
    };
}"""


def diagrams(path: Path) -> list[str]:
    notebook = nbformat.read(path, as_version=4)
    return [match.group("text") for cell in notebook.cells if cell.cell_type == "markdown"
            for match in FENCE.finditer(cell.source)]


class Lab:
    """The module's JupyterLab, loaded once in chromium; `problems(path)` opens one notebook."""

    def __init__(self, page: Any, root: Path) -> None:
        self.page, self.root = page, root

    def problems(self, path: Path, screenshot: str) -> list[str]:
        """What is wrong with the notebook's diagrams in JupyterLab ([] when all of them render).
        `path` lies under the server's root; the first diagram's screenshot goes to
        test-artifacts/diagrams/<screenshot>.png."""
        from playwright.sync_api import expect

        texts = diagrams(path)
        expected = len(texts)
        widget_id = self.page.evaluate(OPEN, path.relative_to(self.root).as_posix())
        try:
            panel = self.page.locator(f"[id='{widget_id}']")
            rendered = panel.locator(".jp-RenderedMermaid")
            expect(rendered, f"{path.name}: JupyterLab rendered a different number of Mermaid diagrams "
                             f"than the {expected} ```mermaid fences of its Markdown").to_have_count(
                expected, timeout=RENDER_TIMEOUT_MS)
            found = []
            for number in range(expected):
                diagram = rendered.nth(number)
                if number == 0:
                    diagram.scroll_into_view_if_needed()
                    shot(self.page, "diagrams", screenshot)
                if "jp-mod-warning" not in (diagram.get_attribute("class") or ""):
                    # The data: URL decodes without the network; wait for the browser to have done it.
                    expect(diagram.locator("figure > img")).to_have_js_property("complete", True)
                state = diagram.evaluate(DESCRIBE)
                if state.get("error") is not None:
                    found.append(f"diagram {number + 1}: JupyterLab shows an error:\n{state['error']}\n\n"
                                 f"{texts[number]}")
                elif not (state["width"] > 0 and state["height"] > 0):
                    found.append(f"diagram {number + 1}: the browser could not draw its SVG ({state})")
                elif state["parseError"] or state["role"] in (None, "error"):
                    found.append(f"diagram {number + 1}: its SVG is not a diagram ({state})")
            return found
        finally:
            self.page.evaluate(CLOSE, widget_id)


def free_port() -> int:
    sock = bind("127.0.0.1", 0)
    try:
        return sock.getsockname()[1]
    finally:
        sock.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    base_dir = tmp_path_factory.mktemp("jupyterlab")
    root = base_dir / "root"
    shutil.copytree(ROOT / "notebooks", root / "notebooks", ignore=COPY_IGNORE)
    settings = base_dir / "settings"
    settings.mkdir()
    (settings / "overrides.json").write_text(json.dumps(LAB_OVERRIDES))
    log = base_dir / "jupyterlab.log"
    port = free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(base_dir / "config"),
           "JUPYTER_RUNTIME_DIR": str(base_dir / "runtime")}
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               "--ServerApp.token=", "--ServerApp.port_retries=0", "--notebook-dir", str(root),
               f"--LabApp.app_settings_dir={settings}", "--expose-app-in-browser", "--allow-root"]
    with log.open("w") as log_file:
        server = subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(base + "/api", timeout=2)
                break
            except requests.ConnectionError:
                if server.poll() is not None:
                    pytest.fail(f"JupyterLab exited:\n{log.read_text()[-3000:]}", pytrace=False)
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer within 60 s:\n{log.read_text()[-3000:]}", pytrace=False)
                time.sleep(0.2)
        with launch_chromium() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(base + "/lab?reset")  # ?reset: an empty workspace, no notebook restored
            page.wait_for_function("() => window.jupyterapp !== undefined", timeout=60_000)
            page.evaluate("() => window.jupyterapp.restored.then(() => true)")
            yield Lab(page, root)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, "No notebooks/NN-*.ipynb found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_notebook_diagrams_render_in_jupyterlab(path: Path, lab: Lab) -> None:
    copy = lab.root / "notebooks" / path.name
    found = diagrams(copy)
    assert any(text.lstrip().startswith("sequenceDiagram") for text in found), (
        f"{path.name} has no ```mermaid sequenceDiagram fence showing where it stands in the flow"
    )
    problems = lab.problems(copy, path.stem)
    assert not problems, f"{path.name}: " + "\n\n".join(problems)


@pytest.mark.parametrize("broken", [
    "sequenceDiagram\n    A->>: nobody receives this\n",
    "sequenceDiagram\n    A->>B: code; then state\n",  # Mermaid reads ';' as the end of a statement
], ids=["no-receiver", "semicolon"])
def test_a_broken_diagram_is_caught(broken: str, lab: Lab, request: pytest.FixtureRequest) -> None:
    """The check is real: in a copy of the notebooks dir, one notebook's first diagram replaced by
    a broken one is reported with Mermaid's error, and its other diagrams still count."""
    name = request.node.callspec.id
    folder = lab.root / f"broken-{name}"
    shutil.copytree(lab.root / "notebooks", folder)
    path = folder / NOTEBOOKS[0].name
    notebook = nbformat.read(path, as_version=4)
    cell = next(cell for cell in notebook.cells if cell.cell_type == "markdown" and FENCE.search(cell.source))
    cell.source = FENCE.sub(lambda _: f"```mermaid\n{broken}```", cell.source, count=1)
    cell.source += "\n\n```mermaid\nsequenceDiagram\n    participant A\n    A->>B: fine\n```\n"
    nbformat.write(notebook, path)
    problems = lab.problems(path, f"broken-{name}")
    assert len(problems) == 1, problems
    assert problems[0].startswith("diagram 1: JupyterLab shows an error:"), problems
    assert re.search(r"(Parse|Lexical) error on line 2", problems[0]), problems  # Mermaid's own message
