"""Debian's chromium for the browser tests, driven by Playwright: one place for its path, its
flags and screenshots. `make test` installs chromium first (scripts/install-browser.sh), so a
missing browser fails the test with the command to run instead of skipping it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags chromium tries Google's hosts, which a closed network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@contextmanager
def launch_chromium() -> Iterator[Any]:
    """A headless chromium (a Playwright Browser), closed afterwards."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run `make test` (or `bash scripts/install-browser.sh`), which "
                    "installs Debian's chromium before the tests", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def shot(page: Any, folder: str, name: str) -> Path:
    """A full-page screenshot into test-artifacts/<folder>/<name>.png, to look at after a run."""
    path = ARTIFACTS / folder / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path
