"""Shared fixtures: a fresh mock authorization server over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from mock_idp import RunningServer, serve
from tests.flow import Flow


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    """One mock for each test module, on a free port of 127.0.0.1 (starting one per test is slow)."""
    with serve(port=0) as running:
        yield running


@pytest.fixture
def idp(server: RunningServer) -> RunningServer:
    """The module's mock, reset to its starting state (sessions, codes, tokens, clock, log, config)."""
    requests.post(server.url + "/_mock/reset", timeout=10).raise_for_status()
    return server


@pytest.fixture
def flow(idp: RunningServer) -> Iterator[Flow]:
    """A browser-like client (cookie jar, no auto-redirects) for the demo client."""
    with requests.Session() as browser:
        yield Flow(idp.url, browser)
