"""Many browsers and clients at once: every flow succeeds, nothing leaks between them, and
single-use things (codes, rotated refresh tokens) are used once even when raced.
"""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from mock_idp import RunningServer
from tests.flow import REDIRECT_URI, Flow, add_client, refresh, userinfo, verify_jwt

FLOWS = 32
USERS = [("alice@example.com", "alice123"), ("bob@example.com", "bob123")]


def one_flow(issuer: str, index: int) -> dict[str, Any]:
    """A whole login in a browser of its own: authorize → form → code → token → userinfo → refresh."""
    email, password = USERS[index % 2]
    nonce, state = f"nonce-{index}-{secrets.token_hex(4)}", f"state-{index}-{secrets.token_hex(4)}"
    with requests.Session() as browser:
        flow = Flow(issuer, browser)
        callback = flow.login(email, password, nonce=nonce, state=state)
        exchanged = flow.exchange(callback["code"])
        tokens = exchanged.json()
        info = userinfo(issuer, tokens["access_token"])
        refreshed = refresh(issuer, tokens["refresh_token"])
    return {"index": index, "email": email, "nonce": nonce, "state": state, "callback": callback,
            "status": (exchanged.status_code, info.status_code, refreshed.status_code),
            "tokens": tokens, "info": info.json(), "refreshed": refreshed.json()}


def test_32_full_flows_in_parallel_all_succeed_without_cross_talk(idp: RunningServer) -> None:
    with ThreadPoolExecutor(max_workers=FLOWS) as pool:
        results = list(pool.map(lambda i: one_flow(idp.url, i), range(FLOWS)))
    assert [r["status"] for r in results] == [(200, 200, 200)] * FLOWS
    codes = [r["callback"]["code"] for r in results]
    assert len(set(codes)) == FLOWS
    for name in ("access_token", "refresh_token", "id_token"):
        assert len({r["tokens"][name] for r in results}) == FLOWS, name
    sids = set()
    for r in results:
        assert r["callback"]["state"] == r["state"]
        claims = verify_jwt(idp.url, r["tokens"]["id_token"], "mock-client", "JWT")
        assert claims["nonce"] == r["nonce"]
        assert claims["email"] == r["email"]
        assert r["info"]["email"] == r["email"]
        assert r["info"]["sub"] == claims["sub"]
        again = verify_jwt(idp.url, r["refreshed"]["id_token"], "mock-client", "JWT")
        assert again["sid"] == claims["sid"] and again["sub"] == claims["sub"]
        sids.add(claims["sid"])
    assert len(sids) == FLOWS  # one IdP session per browser
    jti = {verify_jwt(idp.url, r["tokens"]["access_token"], idp.url, "at+jwt")["jti"] for r in results}
    assert len(jti) == FLOWS


def test_a_code_raced_by_16_exchanges_is_redeemed_once(idp: RunningServer, flow: Flow) -> None:
    code = flow.login()["code"]
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda _: flow.exchange(code), range(16)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [400] * 15
    assert {a.json()["error"] for a in answers if a.status_code == 400} == {"invalid_grant"}


def test_a_rotated_refresh_token_raced_by_16_refreshes_is_used_once(idp: RunningServer, flow: Flow) -> None:
    add_client(idp.url, client_id="rot", client_secret="s", redirect_uris=[REDIRECT_URI], refresh_token_rotation=True)
    code = flow.login(client_id="rot")["code"]
    token = flow.exchange(code, client_id="rot", client_secret="s").json()["refresh_token"]
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda _: refresh(idp.url, token, client_id="rot"), range(16)))
    winners = [a.json() for a in answers if a.status_code == 200]
    assert len(winners) == 1
    assert all(a.json()["error"] == "invalid_grant" for a in answers if a.status_code != 200)
    assert refresh(idp.url, winners[0]["refresh_token"], client_id="rot").status_code == 200


def test_the_teaching_api_is_safe_while_flows_run(idp: RunningServer) -> None:
    def poke(i: int) -> int:
        if i % 4 == 0:
            return requests.get(idp.url + "/_mock/exchanges").status_code
        if i % 4 == 1:
            return requests.post(idp.url + "/_mock/users",
                                 json={"email": f"user{i}@example.com", "password": "pw"}).status_code
        return one_flow(idp.url, i)["status"][0]

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(poke, range(32)))
    assert set(statuses) <= {200, 201}
    emails = {u["email"] for u in requests.get(idp.url + "/_mock/users").json()["users"]}
    assert {f"user{i}@example.com" for i in range(1, 32, 4)} <= emails
