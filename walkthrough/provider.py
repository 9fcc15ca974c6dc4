"""The authorization server as the app knows it: its discovery document (OIDC Discovery
1.0) and its signing keys (the JWKS, RFC 7517), each fetched once and kept.

A session that uses a cached answer gets a copy of the original exchange in its step log,
marked as reused, so every session's log shows where the endpoints and keys came from.
"""

from __future__ import annotations

import copy
import dataclasses
import time

import jwt

from .errors import ProviderError
from .steps import Step, StepLog
from .wire import Wire

JWKS_REFETCH_INTERVAL = 10.0  # seconds: a flood of made-up kids must not become a flood of fetches
ENDPOINTS = ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "end_session_endpoint", "jwks_uri")


@dataclasses.dataclass(frozen=True)
class Metadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    end_session_endpoint: str
    jwks_uri: str
    revocation_endpoint: str | None = None


def reused(step: Step) -> Step:
    again = copy.deepcopy(step)
    again.note = "Fetched once when the app first needed it; reused since (the answer is cached)."
    return again


class Provider:
    def __init__(self, issuer: str, wire: Wire) -> None:
        self.issuer = issuer.rstrip("/")
        self.wire = wire
        self._metadata: Metadata | None = None
        self._metadata_step: Step | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._jwks_step: Step | None = None
        self._jwks_fetched_at = -JWKS_REFETCH_INTERVAL

    async def metadata(self, log: StepLog) -> Metadata:
        if self._metadata is not None and self._metadata_step is not None:
            if not log.has("discovery"):
                log.add(reused(self._metadata_step))
            return self._metadata
        step = Step("discovery", "Discovery: read the provider's configuration",
                    why="Where are the authorization, token, userinfo and logout endpoints, and the keys?")
        answer = await self.wire.call(log, step, "GET", self.issuer + "/.well-known/openid-configuration")
        doc = answer.json if answer.ok and isinstance(answer.json, dict) else None
        if doc is None:
            step.ok = False
            raise ProviderError(f"The discovery document did not come back as JSON (HTTP {answer.status}).",
                                title="Discovery failed")
        # OIDC Discovery §4.3: the issuer in the document must be exactly the one configured.
        if doc.get("issuer") != self.issuer:
            step.ok = False
            step.note = "The issuer in the document differs from AUTHGEAR_ENDPOINT."
            raise ProviderError(
                f"The discovery document names the issuer {doc.get('issuer')!r}, but the app is configured "
                f"for {self.issuer!r}. They must match exactly (scheme, host, port, no trailing slash).",
                title="Discovery failed: issuer mismatch",
            )
        missing = [name for name in ENDPOINTS if not isinstance(doc.get(name), str)]
        if missing:
            step.ok = False
            raise ProviderError(f"The discovery document lacks {', '.join(missing)}.", title="Discovery failed")
        revocation = doc.get("revocation_endpoint")
        self._metadata = Metadata(issuer=doc["issuer"], **{name: doc[name] for name in ENDPOINTS},
                                  revocation_endpoint=revocation if isinstance(revocation, str) else None)
        self._metadata_step = step
        return self._metadata

    async def signing_key(self, kid: str, log: StepLog | None = None) -> jwt.PyJWK | None:
        """The public key with this `kid`. An unknown kid fetches the JWKS again once: the
        provider may have rotated its keys since the app last looked."""
        log = log if log is not None else StepLog()
        if kid in self._keys:
            if self._jwks_step is not None and not log.has("jwks"):
                log.add(reused(self._jwks_step))
            return self._keys[kid]
        if time.monotonic() - self._jwks_fetched_at < JWKS_REFETCH_INTERVAL:
            return None
        metadata = await self.metadata(log)
        step = Step("jwks", "Fetch the signing keys (JWKS)",
                    why=f"The token names key {kid!r}; its public half is in the JWKS.")
        answer = await self.wire.call(log, step, "GET", metadata.jwks_uri)
        keys = answer.json.get("keys") if answer.ok and isinstance(answer.json, dict) else None
        if not isinstance(keys, list):
            step.ok = False
            raise ProviderError(f"The JWKS did not come back as a JSON key set (HTTP {answer.status}).",
                                title="Could not fetch the signing keys")
        found: dict[str, jwt.PyJWK] = {}
        for jwk in keys:
            if isinstance(jwk, dict) and isinstance(jwk.get("kid"), str) and jwk.get("kty") == "RSA":
                try:
                    found[jwk["kid"]] = jwt.PyJWK(jwk, algorithm="RS256")
                except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
                    continue  # a key we cannot use is skipped, not fatal
        self._keys = found
        self._jwks_fetched_at = time.monotonic()
        self._jwks_step = step
        return found.get(kid)
