"""Shared fixtures: a fresh mock authorization server over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from mock_idp import RunningServer, serve
from tests.flow import Flow


@pytest.fixture
def idp() -> Iterator[RunningServer]:
    """A mock of its own for each test, on a free port of 127.0.0.1."""
    server = serve(port=0)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def flow(idp: RunningServer) -> Iterator[Flow]:
    """A browser-like client (cookie jar, no auto-redirects) for the demo client."""
    with requests.Session() as browser:
        yield Flow(idp.url, browser)
