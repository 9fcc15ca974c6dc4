"""`make lab`: the bundled mock (unless .env names a real Authgear project) and JupyterLab.

The mock runs as its own process on http://localhost:4000 so that every notebook kernel,
the walkthrough and the learner's browser all talk to the same authorization server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests
from dotenv import dotenv_values

ROOT = Path(__file__).resolve().parent.parent
MOCK_URL = "http://localhost:4000"


def mock_answers() -> bool:
    try:
        return requests.get(MOCK_URL + "/.well-known/openid-configuration", timeout=1).ok
    except requests.RequestException:
        return False


def start_mock() -> subprocess.Popen | None:
    if mock_answers():
        print(f"Using the mock already running at {MOCK_URL}")
        return None
    mock = subprocess.Popen([sys.executable, "-m", "mock_idp"], cwd=ROOT, start_new_session=True)
    deadline = time.monotonic() + 15
    while not mock_answers():
        if mock.poll() is not None or time.monotonic() > deadline:
            sys.exit("The mock could not start on port 4000: is something else using it?")
        time.sleep(0.1)
    return mock


def main() -> None:
    env = {**dotenv_values(ROOT / ".env"), **os.environ}
    mock = None
    if env.get("AUTHGEAR_ENDPOINT"):
        print(f"Using the Authgear project at {env['AUTHGEAR_ENDPOINT']} (from .env)")
    else:
        mock = start_mock()
    notebooks = ROOT / "notebooks"
    try:
        subprocess.run(
            [sys.executable, "-m", "jupyter", "lab", "--notebook-dir", str(notebooks if notebooks.is_dir() else ROOT)],
            cwd=ROOT,
        )
    except KeyboardInterrupt:
        pass
    finally:
        if mock is not None:
            mock.terminate()
            mock.wait(timeout=10)


if __name__ == "__main__":
    main()
