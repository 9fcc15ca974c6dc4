"""Notebook 07's exercises: the refresh grant's form, checking a refreshed ID token, and keeping
the right tokens after a refresh."""

from __future__ import annotations

import copy
from typing import Any

from . import Case, Exercise, WrongAnswer, register, shown

# --- refresh_request: the refresh grant's form, RFC 6749 §6 ---------------------------------

# Reserved for the code exchange (RFC 6749 §4.1.3, RFC 7636 §4.5): never part of a refresh.
CODE_EXCHANGE_FIELDS = ("code", "redirect_uri", "code_verifier")


def refresh_request(refresh_token: str, client_id: str, client_secret: str) -> dict[str, str]:
    return {
        "grant_type": "refresh_token",  # RFC 6749 §6
        "refresh_token": refresh_token,
        "client_id": client_id,  # Authgear needs it: invalid_client without
        "client_secret": client_secret,  # RFC 6749 §6: a confidential client authenticates
    }


def judge_form(refresh_token: str, client_id: str, client_secret: str) -> Any:
    def judge(form: object) -> str | None:
        if not isinstance(form, dict):
            return (f"it returned a {type(form).__name__}: return the form as a dict of field names to values "
                    "(requests' data= form-encodes it).")
        if form.get("grant_type") != "refresh_token":
            if form.get("grant_type") == "authorization_code":
                return ("grant_type=authorization_code is the code exchange (notebook 04); a refresh says "
                        "grant_type=refresh_token (RFC 6749 §6).")
            return f"grant_type is {shown(repr(form.get('grant_type')))}: RFC 6749 §6 says grant_type=refresh_token."
        stray = [name for name in CODE_EXCHANGE_FIELDS if name in form]
        if "code" in stray:
            return ("it sends `code`: the code was single use and is spent (notebook 04). The refresh token "
                    "replaces it, in the `refresh_token` field.")
        if stray:
            return (f"it sends {', '.join(stray)}: that belongs to the code exchange (notebook 04), not to the "
                    "refresh grant (RFC 6749 §6).")
        if form.get("refresh_token") != refresh_token:
            return "the refresh token goes in the `refresh_token` field, as the login gave it (RFC 6749 §6)."
        if form.get("client_id") != client_id:
            return ("no client_id (or another one): Authgear answers invalid_client without it. Send the app's "
                    "client_id, as at the code exchange.")
        if form.get("client_secret") != client_secret:
            return ("no client_secret (or another one): RFC 6749 §6 says a confidential client authenticates "
                    "here. Authgear does not check it, but other providers do: send it.")
        extra = sorted(set(form) - {"grant_type", "refresh_token", "client_id", "client_secret", "scope"})
        if extra:
            return f"it also sends {', '.join(extra)}: the refresh grant has no such field (RFC 6749 §6)."
        return None
    return judge


def form_case(label: str, refresh_token: str, client_id: str, client_secret: str) -> Case:
    return Case(label, (refresh_token, client_id, client_secret),
                "(RFC 6749 §6, and the task above.)",
                judge=judge_form(refresh_token, client_id, client_secret))


register(Exercise(
    name="refresh_request",
    reference=refresh_request,
    cases=[
        form_case("the mock's demo client", "0b6f1c2e-7d4a-4f7e-9a51-3f0c2d9e8b17.Qm9yZWZyZXNoMTIzNDU2Nzg5MGFi",
                  "mock-client", "mock-secret"),
        form_case("an Authgear project's client",
                  "5e2d8a90-1c3b-4d6e-8f70-a1b2c3d4e5f6.zX9yW8vU7tS6rQ5pO4nM3lK2jI1hG0fE",
                  "7d8e9f0a1b2c3d4e", "q1W2e3R4t5Y6u7I8o9P0a1S2d3F4g5H6"),
    ],
    wrong_answers=[
        WrongAnswer(lambda rt, cid, secret: {"grant_type": "authorization_code", "refresh_token": rt,
                                             "client_id": cid, "client_secret": secret}, "code exchange"),
        WrongAnswer(lambda rt, cid, secret: {"grant_type": "refresh_token", "refresh_token": rt,
                                             "client_secret": secret}, "invalid_client"),
        WrongAnswer(lambda rt, cid, secret: {"grant_type": "refresh_token", "code": rt,
                                             "client_id": cid, "client_secret": secret}, "single use"),
        WrongAnswer(lambda rt, cid, secret: {"grant_type": "refresh_token", "refresh_token": rt,
                                             "client_id": cid}, "confidential client"),
    ],
))


# --- check_refreshed_id_token: OpenID Connect Core §12.2 ------------------------------------

class RefreshedIdTokenMismatch(ValueError):
    """A refreshed ID token that does not belong to the login it is meant to continue."""


# OIDC Core §12.2: the same as in the ID token of the original login. azp: absent if it was.
SAME_AS_AT_LOGIN = ("iss", "sub", "aud", "azp", "auth_time")


def check_refreshed_id_token(first_claims: dict, new_claims: dict) -> None:
    # iss, sub, aud, azp, auth_time: the same as at login (azp: absent if it was absent)
    for name in SAME_AS_AT_LOGIN:
        if first_claims.get(name) != new_claims.get(name):
            raise RefreshedIdTokenMismatch(f"{name} changed: {first_claims.get(name)!r} at login, "
                                           f"{new_claims.get(name)!r} now")
    # nonce: SHOULD NOT be there; if it is, it MUST be the login's
    if "nonce" in new_claims and new_claims["nonce"] != first_claims.get("nonce"):
        raise RefreshedIdTokenMismatch("nonce is not the login's")


AT_LOGIN = {
    "iss": "https://myapp.authgear.cloud",
    "sub": "3c5f874a-24fe-5b74-998c-fae424d0e219",
    "aud": ["7d8e9f0a1b2c3d4e"],
    "iat": 1767225600,
    "exp": 1767225900,
    "auth_time": 1767225590,
    "sid": "b2ZmbGluZV9ncmFudDpkZW1v",
    "amr": ["pwd", "x_primary_password"],
    "nonce": "q4_dOPxuyqR26DSBYYV_BQ",
}
# What Authgear answers: the same login, a new iat and exp, no nonce.
REFRESHED = {**{k: v for k, v in AT_LOGIN.items() if k != "nonce"}, "iat": 1767227400, "exp": 1767227700}

WHY_SAME = ("OpenID Connect Core §12.2: iss, sub, aud, azp and auth_time stay those of the original login; "
            "raise RefreshedIdTokenMismatch when one differs.")
WHY_NONCE = ("OpenID Connect Core §12.2: a refreshed ID token SHOULD NOT carry a nonce; if it does, it MUST be "
             "the login's. So: absent is fine, present must equal the first ID token's nonce.")


def accepted(answer: object) -> str | None:
    return None  # whatever it returns, it did not raise


register(Exercise(
    name="check_refreshed_id_token",
    reference=check_refreshed_id_token,
    cases=[
        Case("Authgear's refreshed ID token: same login, new iat, no nonce", (AT_LOGIN, REFRESHED),
             WHY_NONCE + " A nonce that is absent is what Authgear sends: accept it (do not raise).",
             judge=accepted),
        Case("a refreshed ID token that carries the login's nonce",
             (AT_LOGIN, {**REFRESHED, "nonce": AT_LOGIN["nonce"]}),
             WHY_NONCE + " This one is allowed: do not raise.", judge=accepted),
        Case("a refreshed ID token with another nonce", (AT_LOGIN, {**REFRESHED, "nonce": "zzReplayedFromElsewhere"}),
             WHY_NONCE + " If it is there, it MUST equal the login's.", raises=RefreshedIdTokenMismatch),
        Case("another user (sub)", (AT_LOGIN, {**REFRESHED, "sub": "9a1e0000-0000-4000-8000-000000000001"}),
             WHY_SAME, raises=RefreshedIdTokenMismatch),
        Case("another app's ID token (aud)", (AT_LOGIN, {**REFRESHED, "aud": ["another-app"]}),
             WHY_SAME + " An aud that changed means the token was made for another app.",
             raises=RefreshedIdTokenMismatch),
        Case("another issuer (iss)", (AT_LOGIN, {**REFRESHED, "iss": "https://evil.example"}), WHY_SAME,
             raises=RefreshedIdTokenMismatch),
        Case("a new auth_time", (AT_LOGIN, {**REFRESHED, "auth_time": REFRESHED["iat"]}),
             WHY_SAME + " auth_time is when the user logged in, not when the app refreshed.",
             raises=RefreshedIdTokenMismatch),
        Case("an azp that the first ID token did not have", (AT_LOGIN, {**REFRESHED, "azp": "another-app"}),
             WHY_SAME + " No azp at login: none now.", raises=RefreshedIdTokenMismatch),
    ],
    wrong_answers=[
        # The login's check, used as is: the nonce must be there and equal.
        WrongAnswer(lambda first, new: _login_check(first, new), "SHOULD NOT carry a nonce"),
        # Forgets the nonce: accepts a refreshed ID token with someone else's nonce.
        WrongAnswer(lambda first, new: _same_only(first, new, SAME_AS_AT_LOGIN), "it MUST be the login's"),
        # Only the user: accepts another app's ID token.
        WrongAnswer(lambda first, new: _same_only(first, new, ("iss", "sub")), "another app"),
        # auth_time left out.
        WrongAnswer(lambda first, new: _same_only(first, new, ("iss", "sub", "aud", "azp")), "auth_time is when"),
    ],
))


def _same_only(first: dict, new: dict, names: tuple[str, ...]) -> None:
    for name in names:
        if first.get(name) != new.get(name):
            raise RefreshedIdTokenMismatch(name)


def _login_check(first: dict, new: dict) -> None:
    _same_only(first, new, SAME_AS_AT_LOGIN)
    if new.get("nonce") != first.get("nonce"):
        raise RefreshedIdTokenMismatch("nonce")


# --- keep_tokens: what the app stores after a refresh ---------------------------------------

def keep_tokens(session: dict, answer: dict, now: float) -> dict:
    return {
        **session,  # everything else in the session stays
        "access_token": answer["access_token"],
        "expires_at": now + answer["expires_in"],  # the app's clock, in seconds
        # rotation on: a new refresh token came back, and the old one is dead; off: keep the old one
        "refresh_token": answer.get("refresh_token", session["refresh_token"]),
        # the latest ID token: notebook 08 sends it as id_token_hint at logout
        "id_token": answer.get("id_token", session.get("id_token")),
    }


NOW = 1767227400.0
SESSION = {
    "user": "3c5f874a-24fe-5b74-998c-fae424d0e219",
    "access_token": "eyJhbGciOi.old-access-token.sig",
    "refresh_token": "0b6f1c2e-7d4a-4f7e-9a51-3f0c2d9e8b17.OldSecretOldSecretOldSecret12345",
    "id_token": "eyJhbGciOi.old-id-token.sig",
    "expires_at": NOW - 5,
}
NO_ROTATION = {"access_token": "eyJhbGciOi.new-access-token.sig", "token_type": "Bearer", "expires_in": 1800,
               "id_token": "eyJhbGciOi.new-id-token.sig"}
ROTATION = {**NO_ROTATION, "refresh_token": "0b6f1c2e-7d4a-4f7e-9a51-3f0c2d9e8b17.NewSecretNewSecretNewSecret12345"}
NO_ID_TOKEN = {k: v for k, v in NO_ROTATION.items() if k != "id_token"}


def judge_kept(session: dict, answer: dict, now: float) -> Any:
    session, answer = copy.deepcopy(session), copy.deepcopy(answer)  # the judge's own, whatever the call does
    expected = keep_tokens(session, answer, now)

    def judge(kept: object) -> str | None:
        if not isinstance(kept, dict):
            return f"it returned {shown(repr(kept))}: return the session to keep, a dict."
        rotated = "refresh_token" in answer
        if kept.get("refresh_token") != expected["refresh_token"]:
            if not rotated and not kept.get("refresh_token"):
                return ("it dropped the refresh token. Without rotation no refresh_token comes back, and the one "
                        "the session has stays valid: it is the only one there is. Keep it.")
            if rotated and kept.get("refresh_token") == session["refresh_token"]:
                return ("it kept the old refresh token. With rotation a new one came back and the old one died "
                        "the moment it was used: store the new one.")
            return (f"refresh_token is {shown(repr(kept.get('refresh_token')))}, "
                    f"expected {shown(repr(expected['refresh_token']))}.")
        if kept.get("access_token") != answer["access_token"]:
            return "the access token is not the new one: store answer['access_token']."
        if kept.get("expires_at") != expected["expires_at"]:
            value = kept.get("expires_at")
            if value == answer["expires_in"]:
                return ("expires_at is expires_in itself: expires_in is a lifetime in seconds, not a time. "
                        "Store now + expires_in.")
            if isinstance(value, (int, float)) and abs(value - expected["expires_at"] * 1000) < 1:
                return ("expires_at is in milliseconds (the tutorial's JavaScript counts them): `now` is "
                        "time.time(), seconds. Store now + expires_in.")
            return f"expires_at is {shown(repr(value))}, expected now + expires_in = {expected['expires_at']!r}."
        if kept.get("id_token") != expected["id_token"]:
            if "id_token" in answer:
                return "the ID token is not the new one: keep the latest (notebook 08 sends it at logout)."
            return "no id_token came back, and it dropped the one the session had: keep it."
        lost = sorted(set(session) - set(kept))
        if lost:
            return f"it lost {', '.join(lost)} from the session: keep everything else as it was."
        return None
    return judge


WHY_KEEP = "(The task above lists what to keep.)"

register(Exercise(
    name="keep_tokens",
    reference=keep_tokens,
    cases=[
        Case("rotation off (Authgear's default): no refresh_token in the answer", (SESSION, NO_ROTATION, NOW),
             WHY_KEEP, judge=judge_kept(SESSION, NO_ROTATION, NOW)),
        Case("rotation on: a new refresh_token in the answer", (SESSION, ROTATION, NOW), WHY_KEEP,
             judge=judge_kept(SESSION, ROTATION, NOW)),
        Case("an answer without id_token (other providers may leave it out)", (SESSION, NO_ID_TOKEN, NOW + 60),
             WHY_KEEP,
             judge=judge_kept(SESSION, NO_ID_TOKEN, NOW + 60)),
    ],
    wrong_answers=[
        # The tutorial's bookkeeping, "fixed" by copying whatever comes back: None without rotation.
        WrongAnswer(lambda s, a, now: {**s, "access_token": a["access_token"], "expires_at": now + a["expires_in"],
                                       "refresh_token": a.get("refresh_token"),
                                       "id_token": a.get("id_token", s["id_token"])},
                    "dropped the refresh token"),
        # The tutorial's own: never looks at the answer's refresh_token.
        WrongAnswer(lambda s, a, now: {**s, "access_token": a["access_token"], "expires_at": now + a["expires_in"],
                                       "id_token": a.get("id_token", s["id_token"])},
                    "kept the old refresh token"),
        WrongAnswer(lambda s, a, now: {**s, "access_token": a["access_token"], "expires_at": a["expires_in"],
                                       "refresh_token": a.get("refresh_token", s["refresh_token"]),
                                       "id_token": a.get("id_token", s["id_token"])},
                    "a lifetime in seconds"),
        WrongAnswer(lambda s, a, now: {**s, "access_token": a["access_token"],
                                       "expires_at": now * 1000 + a["expires_in"] * 1000,
                                       "refresh_token": a.get("refresh_token", s["refresh_token"]),
                                       "id_token": a.get("id_token", s["id_token"])},
                    "milliseconds"),
        WrongAnswer(lambda s, a, now: {"access_token": a["access_token"], "expires_at": now + a["expires_in"],
                                       "refresh_token": a.get("refresh_token", s["refresh_token"]),
                                       "id_token": a.get("id_token", s["id_token"])},
                    "lost user"),
    ],
))
