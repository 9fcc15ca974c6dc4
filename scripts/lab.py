"""`make lab`: the bundled mock (unless .env names a real Authgear project) and JupyterLab.

The mock runs as its own process on http://localhost:4000 so that every notebook kernel,
the walkthrough and the learner's browser all talk to the same authorization server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from kit.settings import MOCK_ENDPOINT, SettingsError, load_settings, mock_answers

ROOT = Path(__file__).resolve().parent.parent


FIRST_NOTEBOOK = "01-setup.ipynb"
# JupyterLab's own settings for the kit's environment: no "would you like news?" pop-up over the
# first notebook, no update check (a room of laptops, maybe offline).
LAB_OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}


def quiet_jupyterlab(prefix: Path = Path(sys.prefix)) -> Path:
    """Writes the kit's settings into this environment's JupyterLab overrides.json (merged with
    what is there): they apply to this venv only, never to the learner's other JupyterLabs."""
    path = prefix / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    try:
        current = json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:
        current = {}
    merged = {**current, **{key: {**current.get(key, {}), **value} for key, value in LAB_OVERRIDES.items()}}
    if merged != current:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(merged, indent=2) + "\n")
    return path


def start_mock() -> subprocess.Popen | None:
    if mock_answers():
        print(f"Using the mock already running at {MOCK_ENDPOINT}")
        return None
    mock = subprocess.Popen([sys.executable, "-m", "mock_idp"], cwd=ROOT, start_new_session=True)
    deadline = time.monotonic() + 15
    while not mock_answers():
        if mock.poll() is not None or time.monotonic() > deadline:
            sys.exit("The mock could not start on port 4000: is something else using it?")
        time.sleep(0.1)
    return mock


def main() -> None:
    # A SIGTERM (a closed terminal, `timeout`, a process manager) ends us through `finally`,
    # so the mock we started does not stay behind on port 4000.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        settings = load_settings()
    except SettingsError as exc:
        sys.exit(f"make lab: {exc}")
    mock = None
    if settings.is_mock:
        mock = start_mock()
    else:
        print(f"Using the Authgear project at {settings.endpoint} (from .env)")
    notebooks = ROOT / "notebooks"
    quiet_jupyterlab()
    print(f"JupyterLab opens on {FIRST_NOTEBOOK}: start there, and run its cells from the top (Shift-Enter).")
    print("Stop with Ctrl-C (twice); the mock stops with it.")
    try:
        command = [sys.executable, "-m", "jupyter", "lab", "--notebook-dir", str(notebooks),
                   f"--LabApp.default_url=/lab/tree/{FIRST_NOTEBOOK}"]
        if os.geteuid() == 0:
            command.append("--allow-root")  # containers and workshop VMs often run as root
        subprocess.run(command, cwd=ROOT)
    except KeyboardInterrupt:
        pass
    finally:
        if mock is not None:
            mock.terminate()
            mock.wait(timeout=10)
            print("Stopped the mock.")


if __name__ == "__main__":
    main()
