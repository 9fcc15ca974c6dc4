"""What a notebook says under an error the kit recognises (kit.notebook.exchange_advice, used
by show() and quick_login): what it means, and what to do next, in the notebook's words;
when the cell itself sent other credentials than the settings, it says so instead."""

from __future__ import annotations

import pytest
import requests

from kit import advice
from kit.notebook import exchange_advice, quick_login
from mock_idp import RunningServer
from tests.flow import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, Flow


@pytest.fixture
def project(idp: RunningServer, monkeypatch: pytest.MonkeyPatch) -> RunningServer:
    """The notebook's settings name this mock like a real project (.env values in the environment)."""
    monkeypatch.setenv("KIT_ENV_FILE", "/dev/null")
    monkeypatch.setenv("AUTHGEAR_ENDPOINT", idp.url)
    monkeypatch.setenv("AUTHGEAR_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("AUTHGEAR_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("AUTHGEAR_REDIRECT_URL", REDIRECT_URI)
    return idp


def exchange(flow: Flow, code: str, **changes: str | None) -> requests.Response:
    return flow.exchange(code, **changes)


def test_a_secret_the_cell_made_up_is_the_cells_mistake(project: RunningServer, flow: Flow) -> None:
    code = flow.login()["code"]
    hint = exchange_advice(exchange(flow, code, client_secret="not-the-secret"))
    assert "this cell sent another secret than settings.client_secret" in hint


def test_a_wrong_secret_in_the_settings_says_what_to_fix_in_env(project: RunningServer, flow: Flow,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHGEAR_CLIENT_SECRET", "wrong-in-env")
    code = flow.login()["code"]
    hint = exchange_advice(exchange(flow, code, client_secret="wrong-in-env"))
    assert "Check AUTHGEAR_CLIENT_SECRET in .env" in hint and advice.NOTEBOOK.restart in hint


def test_a_used_code_says_to_log_in_again(project: RunningServer, flow: Flow) -> None:
    code = flow.login()["code"]
    assert exchange(flow, code).status_code == 200
    hint = exchange_advice(exchange(flow, code))
    assert "already used" in hint and advice.NOTEBOOK.again in hint


def test_an_unknown_client_and_a_missing_secret_name_what_the_cell_sent(project: RunningServer, flow: Flow) -> None:
    code = flow.login()["code"]
    assert "this cell sent client_id 'nobody'" in exchange_advice(exchange(flow, code, client_id="nobody"))
    assert "this cell sent no client secret" in exchange_advice(exchange(flow, code, client_secret=None))


def test_no_advice_for_success_or_for_other_requests(project: RunningServer, flow: Flow) -> None:
    code = flow.login()["code"]
    tokens = exchange(flow, code)
    assert exchange_advice(tokens) == ""
    refresh = requests.post(project.url + "/oauth2/token", data={"grant_type": "refresh_token", "refresh_token": "x",
                                                                 "client_id": CLIENT_ID})
    assert refresh.status_code == 400 and exchange_advice(refresh) == ""  # not a code exchange


def test_quick_login_fails_with_the_advice(project: RunningServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from kit.settings import load_settings

    monkeypatch.setenv("KIT_AUTOLOGIN", "1")
    monkeypatch.setenv("AUTHGEAR_CLIENT_SECRET", "wrong-in-env")
    with pytest.raises(RuntimeError, match="Check AUTHGEAR_CLIENT_SECRET in .env"):
        quick_login(load_settings())
