"""`start.py lab`'s (`make lab`'s) setup: JupyterLab opens on notebook 01 without its news pop-up,
and make goes through start.py."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import requests

from mock_idp.server import bind

ROOT = Path(__file__).resolve().parent.parent


def lab_script():
    spec = importlib.util.spec_from_file_location("kit_lab_script", ROOT / "scripts" / "lab.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_overrides_are_merged_into_the_environments_jupyterlab_settings(tmp_path: Path) -> None:
    lab = lab_script()
    settings = tmp_path / "share" / "jupyter" / "lab" / "settings"
    settings.mkdir(parents=True)
    (settings / "overrides.json").write_text(json.dumps({
        "@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"},
        "@jupyterlab/apputils-extension:notification": {"doNotDisturbMode": True},
    }))
    path = lab.quiet_jupyterlab(tmp_path)
    written = json.loads(path.read_text())
    assert written["@jupyterlab/apputils-extension:themes"] == {"theme": "JupyterLab Dark"}  # kept
    assert written["@jupyterlab/apputils-extension:notification"] == {
        "doNotDisturbMode": True, "fetchNews": "false", "checkForUpdates": False}
    before = path.stat().st_mtime_ns
    lab.quiet_jupyterlab(tmp_path)
    assert path.stat().st_mtime_ns == before  # nothing to change: not rewritten


def test_a_real_jupyterlab_reads_them_and_opens_notebook_01(tmp_path: Path) -> None:
    lab = lab_script()
    settings_dir = lab.quiet_jupyterlab(tmp_path).parent
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    sock.close()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt")}
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ServerApp.token=",
               "--notebook-dir", str(ROOT / "notebooks"), f"--LabApp.default_url=/lab/tree/{lab.FIRST_NOTEBOOK}",
               f"--LabApp.app_settings_dir={settings_dir}", "--allow-root"]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                home = requests.get(base + "/", allow_redirects=False, timeout=2)
                break
            except requests.ConnectionError:
                assert server.poll() is None, server.stderr.read() if server.stderr else "JupyterLab exited"
                assert time.monotonic() < deadline, "JupyterLab did not start within 60 s"
                time.sleep(0.3)
        assert re.match(r"/lab/tree/01-setup\.ipynb", home.headers["location"]), home.headers
        answer = requests.get(base + "/lab/api/settings/@jupyterlab/apputils-extension:notification", timeout=10)
        assert answer.status_code == 200, answer.text[:300]
        # Overrides become the schema's defaults, which the learner's own settings may still change.
        defaults = {name: spec.get("default") for name, spec in answer.json()["schema"]["properties"].items()}
        assert defaults["fetchNews"] == "false" and defaults["checkForUpdates"] is False, defaults
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_make_goes_through_start_py() -> None:
    """One path: `make lab` and `make test` run start.py, which installs the learner's packages
    without the test tools for `lab` (tests/test_start.py checks what it installs)."""
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^START = .*\$\(PYTHON\) start\.py", makefile, re.MULTILINE), "START runs start.py"
    for target in ("setup", "setup-test", "lab", "test", "mock", "walkthrough", "bench"):
        assert re.search(rf"^{target}:\n\t\$\(START\) {target}$", makefile, re.MULTILINE), target
    assert re.search(r"^room:\n\t\$\(START\) room \$\(ROOM_ARGS\)$", makefile, re.MULTILINE)
    recipes = [line for line in makefile.splitlines() if line.startswith("\t")]
    assert not any("pip" in line or "venv" in line for line in recipes), "the Makefile installs nothing itself"
