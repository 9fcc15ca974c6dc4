"""The notebooks' browser step in its three modes (the kernel's listener, paste-back,
unattended): a callback cell run again after the login came back gives the same address
and says so, in every mode, and never starts a second login behind the learner's back."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator

import pytest
import requests

from kit.notebook import login_in_browser
from kit.settings import Settings
from mock_idp import MockConfig, RunningServer, serve
from mock_idp.browser import Browser
from mock_idp.config import client_from_dict
from mock_idp.server import bind


@pytest.fixture(scope="module")
def listener_port() -> int:
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture(scope="module")
def idp(listener_port: int) -> Iterator[RunningServer]:
    config = MockConfig.demo()
    config.clients["mock-client"] = client_from_dict({
        "client_id": "mock-client", "client_secret": "mock-secret",
        "redirect_uris": [f"http://localhost:{listener_port}/auth-redirect"]})
    with serve(port=0, config=config) as running:
        yield running


def settings_for(idp: RunningServer, port: int) -> Settings:
    return Settings(idp.url, "mock-client", "mock-secret", f"http://localhost:{port}/auth-redirect", is_mock=True)


def authorization_url(idp: RunningServer, settings: Settings) -> str:
    return idp.url + "/oauth2/authorize?" + urllib.parse.urlencode({
        "client_id": settings.client_id, "redirect_uri": settings.redirect_url, "response_type": "code",
        "scope": "openid", "state": "s1"})


def authorize_requests(idp: RunningServer) -> int:
    return sum(1 for e in requests.get(idp.url + "/_mock/exchanges").json()["exchanges"] if e["path"] == "/oauth2/authorize")


def test_unattended_callback_run_twice_gives_the_same_address(idp: RunningServer, listener_port: int,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KIT_AUTOLOGIN", "1")
    requests.delete(idp.url + "/_mock/exchanges")
    settings = settings_for(idp, listener_port)
    pending = login_in_browser(settings, authorization_url(idp, settings))
    first = pending.callback()
    assert "code=" in first and "state=s1" in first
    capsys.readouterr()
    assert pending.callback() == first
    assert "already came back" in capsys.readouterr().out
    assert authorize_requests(idp) == 1  # no second login


def test_listener_callback_run_twice_gives_the_same_address(idp: RunningServer, listener_port: int,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("KIT_AUTOLOGIN", raising=False)
    monkeypatch.delenv("KIT_PASTE_BACK", raising=False)
    settings = settings_for(idp, listener_port)
    pending = login_in_browser(settings, authorization_url(idp, settings))
    assert "listening at" in capsys.readouterr().out
    with Browser() as person:  # the learner's browser: logs in, then lands on the kernel's listener
        landed = person.login(pending.url, until=settings.redirect_url, email="alice@example.com", password="alice123")
        assert requests.get(landed, timeout=10).status_code == 200
    first = pending.callback(timeout=10)
    assert first == landed
    assert pending.callback() == first  # not "replaced by a newer one"
    assert "already came back" in capsys.readouterr().out


def test_paste_back_callback_run_twice_asks_once(idp: RunningServer, listener_port: int,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("KIT_AUTOLOGIN", raising=False)
    monkeypatch.setenv("KIT_PASTE_BACK", "1")
    settings = settings_for(idp, listener_port)
    pending = login_in_browser(settings, authorization_url(idp, settings))
    pasted = settings.redirect_url + "?code=abc&state=s1"
    answers = iter([pasted])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    assert pending.callback() == pasted
    assert pending.callback() == pasted  # asked once: a second input() would raise StopIteration
    assert "already came back" in capsys.readouterr().out


def test_a_silent_probe_says_no_page_will_show_and_never_logs_in(idp: RunningServer, listener_port: int,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """press="nothing" (notebook 08's prompt=none probes): the learner is told no page will show;
    unattended, the notebook brings no password, so a login page that does show is a failure."""
    from kit import notebook
    from mock_idp.browser import BrowserError

    monkeypatch.setenv("KIT_AUTOLOGIN", "1")
    monkeypatch.setattr(notebook, "BROWSER", requests.Session())  # a browser nobody logged in with
    settings = settings_for(idp, listener_port)
    probe = authorization_url(idp, settings) + "&prompt=none"
    landed = login_in_browser(settings, probe, press="nothing").callback()
    assert "error=login_required" in landed and "code=" not in landed  # nobody is logged in on this browser
    said = capsys.readouterr().out
    assert "No page will show" in said and "pressing nothing" in said and "log in:" not in said
    with pytest.raises(BrowserError):  # without prompt=none the login page shows: not filled in
        login_in_browser(settings, authorization_url(idp, settings), press="nothing").callback()
    with pytest.raises(ValueError, match="press must be one of"):
        login_in_browser(settings, probe, press="Login")
