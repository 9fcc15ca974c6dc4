"""The RSA signing key: RS256 signatures for ID tokens and access tokens, and the JWKS."""

from __future__ import annotations

import json
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


class SigningKey:
    """One RSA-2048 key with a `kid`, as Authgear has (its kid is a UUID)."""

    def __init__(self, private_key: rsa.RSAPrivateKey, kid: str) -> None:
        self.private_key = private_key
        self.public_key = private_key.public_key()
        self.kid = kid
        public_jwk = json.loads(RSAAlgorithm.to_jwk(self.public_key))
        # Public members only (n, e): a JWKS must never carry d, p, q, dp, dq, qi.
        self.jwk: dict[str, Any] = {
            "kty": "RSA",
            "kid": kid,
            "use": "sig",
            "alg": "RS256",
            "n": public_jwk["n"],
            "e": public_jwk["e"],
        }

    @classmethod
    def generate(cls) -> "SigningKey":
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048), str(uuid.uuid4()))

    @classmethod
    def from_pem(cls, pem: bytes) -> "SigningKey":
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
            raise ValueError("signing_key must be an RSA private key of at least 2048 bits")
        # A kid derived from the key itself, so a fixed key keeps a fixed kid.
        n = key.public_key().public_numbers().n
        return cls(key, str(uuid.uuid5(uuid.NAMESPACE_OID, format(n, "x"))))

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk]}

    def sign(self, claims: dict[str, Any], typ: str) -> str:
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": self.kid, "typ": typ})

    def verify(self, token: str, **options: Any) -> dict[str, Any]:
        """Check the signature (and whatever `options` ask); raises jwt.InvalidTokenError."""
        header = jwt.get_unverified_header(token)
        if header.get("kid") != self.kid or header.get("alg") != "RS256":
            raise jwt.InvalidTokenError("unknown key")
        return jwt.decode(token, self.public_key, algorithms=["RS256"], **options)
