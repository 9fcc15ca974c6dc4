"""The mock's memory stays bounded: what it keeps expires on its own clock and is capped,
oversized requests are not kept, the exchange log's entries are cut, and the IdP session
cookie is a secret of its own, not the `sid`.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator

import pytest
import requests
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse

from mock_idp import RunningServer
from mock_idp.config import (
    ACCESS_TOKEN_LIFETIME, CODE_LIFETIME, LOGIN_REQUEST_LIFETIME, REFRESH_TOKEN_IDLE, SESSION_LIFETIME, MockConfig,
)
from mock_idp.exchanges import CLIP, ENTRY_BUDGET, LOG_CAP, ExchangeLog, bounded, clip
from mock_idp.expiring import ExpiringMap
from mock_idp.params import BadParameters
from mock_idp.store import FIELD_OVERHEAD, MAX_REQUEST_SIZE, Limits, Store
from tests.flow import Flow, advance_clock, callback, refresh, userinfo

PASSWORD_AMR = ["pwd"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- ExpiringMap

def test_expiring_map_forgets_an_entry_when_its_clock_passes_expiry() -> None:
    clock = FakeClock()
    kept: ExpiringMap[str] = ExpiringMap(clock, cap=10)
    kept.put("a", "A", expires_at=1010)
    clock.now = 1009
    assert kept.get("a") == "A" and "a" in kept and kept["a"] == "A" and kept.expiry("a") == 1010
    clock.now = 1010  # expired at its expires_at, not a second later
    assert kept.get("a") is None and "a" not in kept and kept.expiry("a") is None
    with pytest.raises(KeyError):
        kept["a"]
    assert len(kept) == 0


def test_expiring_map_sweep_removes_only_what_expired() -> None:
    clock = FakeClock()
    kept: ExpiringMap[int] = ExpiringMap(clock, cap=100)
    for i in range(10):
        kept.put(f"k{i}", i, expires_at=1000 + 10 * (i + 1))  # k0 at 1010 ... k9 at 1100
    clock.now = 1050
    assert kept.sweep() == 5
    assert kept.values() == [5, 6, 7, 8, 9]
    assert list(kept) == ["k5", "k6", "k7", "k8", "k9"]
    assert kept.pop("k5") == 5 and kept.pop("k5") is None
    clock.now = 2000
    assert kept.sweep() == 4 and len(kept) == 0


def test_expiring_map_put_sweeps_what_expired_so_nothing_piles_up() -> None:
    clock = FakeClock()
    kept: ExpiringMap[int] = ExpiringMap(clock, cap=1000)
    for i in range(500):
        kept.put(f"k{i}", i, expires_at=clock.now + 5)
        clock.now += 1
    # Each put swept the entries older than 5 ticks: no call to sweep() was needed.
    assert len(kept._entries) <= 6
    assert len(kept._heap) <= 2 * len(kept._entries) + 64


def test_expiring_map_cap_drops_the_oldest_put_first() -> None:
    clock = FakeClock()
    kept: ExpiringMap[str] = ExpiringMap(clock, cap=3)
    for key in "abc":
        kept.put(key, key.upper(), expires_at=5000)
    kept.put("a", "A2", expires_at=5000)  # put again: now the newest
    kept.put("d", "D", expires_at=5000)
    assert list(kept) == ["c", "a", "d"] and kept.get("b") is None
    kept.put("e", "E", expires_at=5000)
    assert list(kept) == ["a", "d", "e"] and kept["a"] == "A2"


def test_expiring_map_heap_stays_small_when_one_key_is_put_again_and_again() -> None:
    clock = FakeClock()
    kept: ExpiringMap[int] = ExpiringMap(clock, cap=10)
    for i in range(10_000):
        kept.put("grant", i, expires_at=10**9 + i)
    assert kept["grant"] == 9999
    assert len(kept._heap) <= 2 * len(kept._entries) + 64


def test_expiring_map_refuses_a_cap_below_one() -> None:
    with pytest.raises(ValueError):
        ExpiringMap(FakeClock(), cap=0)


# -- the store's own limits, without HTTP

def demo_store(**limits: int) -> tuple[Store, MockConfig]:
    config = MockConfig.demo()
    return Store(config, Limits(**limits)), config


def alice(config: MockConfig):  # noqa: ANN201 - a User
    user = config.find_user("alice@example.com")
    assert user is not None
    return user


def test_a_session_id_is_not_a_session_cookie() -> None:
    store, config = demo_store()
    session, cookie = store.open_session(alice(config), PASSWORD_AMR)
    assert cookie != session.id and len(cookie) >= 43
    assert store.session_for_cookie(cookie) is session
    assert store.session_for_cookie(session.id) is None  # the `sid` of every ID token
    assert store.session_for_cookie("") is None and store.session_for_cookie(None) is None
    assert cookie not in repr(store.session_cookies._entries) and cookie not in repr(session)


def test_a_session_cookie_ends_with_its_session() -> None:
    store, config = demo_store()
    session, cookie = store.open_session(alice(config), PASSWORD_AMR)
    assert store.end_session(session.id) is True
    assert store.session_for_cookie(cookie) is None and len(store.session_cookies) == 0
    assert store.end_session(session.id) is False


def test_a_session_cookie_expires_with_its_session_on_the_mock_clock() -> None:
    store, config = demo_store()
    session, cookie = store.open_session(alice(config), PASSWORD_AMR)
    # 30 s short of its end (the mock's clock is the wall clock plus the offset: a second may tick
    # between two lines), then to its end.
    store.advance_clock(SESSION_LIFETIME - 30)
    assert store.session_for_cookie(cookie) is session
    store.advance_clock(30)
    assert store.session_for_cookie(cookie) is None
    assert len(store.sessions) == 0 and len(store.session_cookies) == 0


def test_session_cookies_are_capped_with_the_sessions() -> None:
    store, config = demo_store(sessions=2)
    cookies = [store.open_session(alice(config), PASSWORD_AMR)[1] for _ in range(3)]
    assert store.session_for_cookie(cookies[0]) is None
    assert all(store.session_for_cookie(c) is not None for c in cookies[1:])
    assert len(store.sessions) == 2 and len(store.session_cookies) == 2


def test_an_authorization_request_over_the_size_limit_is_not_stored() -> None:
    store, _ = demo_store()
    fits = {"client_id": "mock-client", "nonce": "n" * (MAX_REQUEST_SIZE - len("client_id") - len("mock-client")
                                                       - len("nonce") - 2 * FIELD_OVERHEAD)}
    store.create_login_request("mock-client", fits, "http://localhost:3000/auth-redirect", "browser")
    too_large = {**fits, "nonce": fits["nonce"] + "n"}
    with pytest.raises(BadParameters, match="the authorization request is too large"):
        store.create_login_request("mock-client", too_large, "http://localhost:3000/auth-redirect", "browser")
    assert len(store.login_requests) == 1


def test_a_code_keeps_a_repeated_scope_once_and_refuses_a_huge_nonce() -> None:
    store, config = demo_store()
    session, _cookie = store.open_session(alice(config), PASSWORD_AMR)
    fields = dict(client_id="mock-client", redirect_uri="http://localhost:3000/auth-redirect", nonce="n",
                  code_challenge=None, user_sub=session.user_sub, session_id=session.id,
                  auth_time=session.auth_time, amr=session.amr)
    code = store.issue_code(scopes=["openid"] * 2000 + ["email", "openid"], **fields)
    found = store.find_code(code)
    assert found is not None and found.scopes == ["openid", "email"]
    with pytest.raises(BadParameters):
        store.issue_code(scopes=["openid"], **{**fields, "nonce": "n" * 60_000})
    assert len(store.codes) == 1


# -- over HTTP: moving the mock's clock expires what it keeps

def store_of(idp: RunningServer) -> Store:
    return idp.ctx.store


def test_advancing_the_clock_expires_a_pending_login(idp: RunningServer, flow: Flow) -> None:
    started = flow.authorize()
    assert len(store_of(idp).login_requests) == 1
    advance_clock(idp.url, LOGIN_REQUEST_LIFETIME)
    page = flow.browser.get(started.headers["location"], allow_redirects=False)
    assert page.status_code == 400 and "expired" in page.text
    assert len(store_of(idp).login_requests) == 0


def test_advancing_the_clock_expires_a_code(idp: RunningServer, flow: Flow) -> None:
    code = flow.login()["code"]
    assert len(store_of(idp).codes) == 1
    advance_clock(idp.url, CODE_LIFETIME)
    answer = flow.exchange(code)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    assert len(store_of(idp).codes) == 0


def test_advancing_the_clock_expires_the_idp_session(idp: RunningServer, flow: Flow) -> None:
    flow.login()
    assert "code" in flow.login(prompt="none")  # single sign-on from the session
    assert len(store_of(idp).sessions) == 1
    advance_clock(idp.url, SESSION_LIFETIME)
    assert callback(flow.authorize(prompt="none"))["error"] == "login_required"
    assert len(store_of(idp).sessions) == 0 and len(store_of(idp).session_cookies) == 0


def test_a_grant_with_a_refresh_token_lasts_while_the_refresh_token_works(idp: RunningServer, flow: Flow) -> None:
    tokens = flow.tokens()
    store = store_of(idp)
    assert len(store.grants) == 1 and len(store.access_tokens) == 1
    advance_clock(idp.url, ACCESS_TOKEN_LIFETIME)
    assert len(store.grants) == 1 and len(store.access_tokens) == 0  # the access token's record went
    renewed = refresh(idp.url, tokens["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    # Idle counts from the last use; 30 s short of it, then to it (the mock's clock follows the wall clock).
    advance_clock(idp.url, REFRESH_TOKEN_IDLE - 30)
    assert len(store.grants) == 1
    advance_clock(idp.url, 30)
    assert len(store.grants) == 0
    answer = refresh(idp.url, tokens["refresh_token"])
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_a_grant_without_a_refresh_token_lasts_as_long_as_its_access_token(idp: RunningServer, flow: Flow) -> None:
    tokens = flow.tokens(scope="openid email")
    assert "refresh_token" not in tokens
    store = store_of(idp)
    # 30 s short of the token's exp (the mock's clock is the wall clock plus the offset: a second
    # may tick between the exchange and the check), then to its exp.
    advance_clock(idp.url, ACCESS_TOKEN_LIFETIME - 30)
    assert userinfo(idp.url, tokens["access_token"]).status_code == 200
    assert len(store.grants) == 1
    advance_clock(idp.url, 30)
    assert userinfo(idp.url, tokens["access_token"]).status_code == 401
    assert len(store.grants) == 0 and len(store.access_tokens) == 0


def test_a_revocation_is_kept_until_the_access_token_expires(idp: RunningServer, flow: Flow) -> None:
    tokens = flow.tokens()
    store = store_of(idp)
    assert requests.post(idp.url + "/oauth2/revoke", data={"token": tokens["access_token"]}).status_code == 200
    assert userinfo(idp.url, tokens["access_token"]).status_code == 401
    assert len(store.revoked_access_tokens) == 1 and len(store.access_tokens) == 0
    advance_clock(idp.url, ACCESS_TOKEN_LIFETIME)
    assert len(store.revoked_access_tokens) == 0


# -- over HTTP: the caps hold

@pytest.fixture
def small_limits(idp: RunningServer) -> Iterator[Limits]:
    """The module's mock with tiny caps, back to the normal ones afterwards."""
    store = store_of(idp)
    normal = store.limits
    store.limits = Limits(login_requests=5, codes=3, sessions=4, grants=4, access_tokens=6, revoked_access_tokens=6)
    store.reset()
    yield store.limits
    store.limits = normal
    store.reset()


def test_abandoned_logins_never_exceed_the_cap(idp: RunningServer, flow: Flow, small_limits: Limits) -> None:
    started = [flow.authorize() for _ in range(12)]
    assert len(store_of(idp).login_requests) == small_limits.login_requests
    oldest = flow.browser.get(started[0].headers["location"], allow_redirects=False)
    assert oldest.status_code == 400 and "expired" in oldest.text
    answer = flow.submit_login(started[-1])
    assert "code" in callback(answer)  # the newest still works


def test_unused_codes_never_exceed_the_cap(idp: RunningServer, flow: Flow, small_limits: Limits) -> None:
    flow.login()
    codes = [(flow.login(prompt="none")["code"], flow.verifier) for _ in range(5)]
    assert len(store_of(idp).codes) == small_limits.codes
    oldest_code, oldest_verifier = codes[0]
    assert flow.exchange(oldest_code, code_verifier=oldest_verifier).json()["error"] == "invalid_grant"
    newest_code, newest_verifier = codes[-1]
    assert flow.exchange(newest_code, code_verifier=newest_verifier).status_code == 200


def test_grants_and_access_tokens_never_exceed_their_caps(idp: RunningServer, flow: Flow,
                                                          small_limits: Limits) -> None:
    answers = [flow.tokens() for _ in range(6)]
    store = store_of(idp)
    assert len(store.grants) == small_limits.grants
    assert len(store.access_tokens) <= small_limits.access_tokens
    assert refresh(idp.url, answers[0]["refresh_token"]).json()["error"] == "invalid_grant"
    assert userinfo(idp.url, answers[0]["access_token"]).status_code == 401
    assert refresh(idp.url, answers[-1]["refresh_token"]).status_code == 200
    for _ in range(10):
        assert refresh(idp.url, answers[-1]["refresh_token"]).status_code == 200
    assert len(store.access_tokens) == small_limits.access_tokens


# -- over HTTP: oversized requests and the exchange log

def test_an_oversized_authorization_request_is_refused_with_400(idp: RunningServer, flow: Flow) -> None:
    """A POSTed form (OIDC Core §3.1.2.1): a GET head this long may be refused by the HTTP parser."""
    params = flow.authorize_params(nonce="n" * 60_000)
    answer = flow.browser.post(idp.url + "/oauth2/authorize", data=params, allow_redirects=False)
    assert answer.status_code == 400, (answer.status_code, answer.headers.get("location"))
    assert answer.text.startswith("error: invalid_request\n")
    assert "the authorization request is too large" in answer.text
    assert len(store_of(idp).login_requests) == 0


def test_an_oversized_get_authorization_request_is_refused_with_400_too(idp: RunningServer, flow: Flow) -> None:
    answer = flow.authorize(nonce="n" * (MAX_REQUEST_SIZE + 1))
    assert answer.status_code == 400 and "the authorization request is too large" in answer.text
    assert len(store_of(idp).login_requests) == 0


def test_an_oversized_nonce_is_refused_with_single_sign_on_too(idp: RunningServer, flow: Flow) -> None:
    """With an IdP session and prompt=none no login request is kept, but the code would keep
    the nonce: refused all the same."""
    flow.tokens()  # logs in, and uses its code
    params = flow.authorize_params(nonce="n" * 60_000, prompt="none")
    answer = flow.browser.post(idp.url + "/oauth2/authorize", data=params, allow_redirects=False)
    assert answer.status_code == 400 and "too large" in answer.text
    assert len(store_of(idp).codes) == 0


def test_log_entries_cut_long_values_with_a_marker(idp: RunningServer) -> None:
    for _ in range(20):
        answer = requests.post(idp.url + "/oauth2/token",
                               data={"grant_type": "authorization_code", "code": "nope", "x_pad": "p" * 60_000})
        assert answer.status_code == 400
    listing = requests.get(idp.url + "/_mock/exchanges")
    entries = listing.json()["exchanges"]
    assert len(entries) == 20
    assert entries[0]["params"]["x_pad"] == "p" * CLIP + "… (60000 characters)"
    assert entries[0]["response_body"]["error"] == "invalid_client"  # the answer is kept whole
    assert len(listing.content) < 20 * (ENTRY_BUDGET + 1000)


def test_a_log_entry_is_bounded_however_many_long_parameters_it_has() -> None:
    params = {f"p{i:03}": "v" * 600 for i in range(100)}
    shown = bounded(params, [ENTRY_BUDGET])
    assert len(json.dumps(shown)) < ENTRY_BUDGET + 1000
    assert shown["p000"] == "v" * CLIP + "… (600 characters)"
    assert shown["…"].endswith("more not shown")
    assert bounded({"short": "kept", "n": 1, "list": ["a", None]}, [ENTRY_BUDGET]) == {
        "short": "kept", "n": 1, "list": ["a", None]}


# Characters that take more bytes in the JSON answer than they count: a control character is
# written \u0001 (6 bytes), an emoji is 4 bytes of UTF-8, a CJK character 3, a quote 2.
WIDE_CHARACTERS = {"control": "\x01", "emoji": "\U0001F600", "cjk": "漢", "mixed": "\x01😀漢\"\\é"}


def answer_bytes(value: object) -> int:
    """The bytes `value` takes in a JSON answer, written as the teaching API writes it."""
    return len(JSONResponse(value).body)


@pytest.mark.parametrize("kind", sorted(WIDE_CHARACTERS))
def test_a_log_entry_is_bounded_in_bytes_whatever_the_characters(kind: str) -> None:
    wide = WIDE_CHARACTERS[kind]
    kept = clip(wide * 300)
    assert answer_bytes(kept.split("…")[0]) - 2 <= CLIP and kept.endswith(f"… ({len(wide) * 300} characters)")
    params = {f"p{i:03}{wide * 40}": wide * 600 for i in range(100)}
    shown = bounded(params, [ENTRY_BUDGET])
    assert answer_bytes(shown) < ENTRY_BUDGET + 200
    assert shown["…"].endswith("more not shown")
    assert bounded({"short": wide, "list": [wide, None]}, [ENTRY_BUDGET]) == {"short": wide, "list": [wide, None]}


def test_a_full_log_of_wide_characters_stays_well_under_5_mb() -> None:
    """The reviewer's case: 1,000 requests each with 20 parameters of 300 `%01` (and the same
    with emoji and CJK) made a 23 MB answer when the budget counted characters."""
    log = ExchangeLog()
    latin = ("é" * 2000).encode("latin-1")  # header values arrive as latin-1: 2 bytes each in UTF-8
    request = Request({"type": "http", "method": "GET", "path": "/oauth2/authorize", "query_string": b"",
                       "headers": [(b"cookie", b"a=" + latin), (b"origin", latin), (b"content-type", latin)],
                       "scheme": "http", "server": ("127.0.0.1", 4000)})
    for index in range(LOG_CAP):
        wide = list(WIDE_CHARACTERS.values())[index % len(WIDE_CHARACTERS)]
        answer = JSONResponse({"error": "invalid_request", "error_description": wide * 3000, "list": [wide * 99] * 50},
                              status_code=400, headers={"location": "http://x/?" + "é" * 3000})
        log.record(request, {f"p{i}{wide * 30}": wide * 300 for i in range(20)}, answer)
    entries = log.since()
    assert len(entries) == LOG_CAP
    assert max(answer_bytes(entry) for entry in entries) < ENTRY_BUDGET + 500
    assert answer_bytes({"exchanges": entries}) < 3_500_000  # was 23 MB


def test_the_exchanges_answer_is_bounded_in_bytes(idp: RunningServer) -> None:
    session = requests.Session()
    for wide in WIDE_CHARACTERS.values():
        for _ in range(5):
            # 16 values: the longest query (300 emoji, 12 bytes each once encoded) stays under the
            # 65,535-byte request target that httptools (uvicorn[standard]) takes.
            query = "&".join(f"p{i}=" + urllib.parse.quote((wide * 300)[:300]) for i in range(16))
            answer = session.get(idp.url + "/oauth2/authorize?" + query, allow_redirects=False, timeout=10)
            assert answer.status_code == 400  # no client_id: an error page, logged with the parameters
    listing = session.get(idp.url + "/_mock/exchanges", timeout=10)
    entries = [entry for entry in listing.json()["exchanges"] if entry["path"] == "/oauth2/authorize"]
    assert len(entries) == 5 * len(WIDE_CHARACTERS)
    assert entries[0]["params"]["p0"] == "\x01" * (CLIP // 6) + "… (300 characters)"
    assert any(entry["params"].get("p0", "").startswith("😀" * (CLIP // 4) + "…") for entry in entries)
    # Per entry well under 5 KB, so 1,000 entries are well under 5 MB.
    assert len(listing.content) < len(listing.json()["exchanges"]) * (ENTRY_BUDGET + 500)


def test_the_exchange_log_expires_on_its_clock_and_is_capped() -> None:
    clock = FakeClock()
    log = ExchangeLog(limit=3, clock=clock, lifetime=100)
    request = Request({"type": "http", "method": "GET", "path": "/oauth2/authorize", "headers": [],
                       "query_string": b"", "scheme": "http", "server": ("127.0.0.1", 4000)})
    for _ in range(4):
        log.record(request, {"client_id": "mock-client"}, PlainTextResponse("error: x\n", status_code=400))
        clock.now += 10
    assert [entry["seq"] for entry in log.since()] == [2, 3, 4]
    assert [entry["seq"] for entry in log.since(3)] == [4]
    clock.now += 75  # 1115: entry 2 (recorded at 1010) is gone, entry 3 (1020) is not
    assert [entry["seq"] for entry in log.since()] == [3, 4]
    clock.now += 100
    assert log.since() == []


def test_the_python_api_keeps_the_clock_within_ten_years_too() -> None:
    store, _ = demo_store()
    store.advance_clock(10 * 365 * 86400)
    with pytest.raises(ValueError, match="within ten years"):
        store.advance_clock(1)
    with pytest.raises(ValueError, match="within ten years"):
        store.set_clock_offset(-10 * 365 * 86400 - 1)
    assert store.clock_offset == 10 * 365 * 86400  # unchanged
