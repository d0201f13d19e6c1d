"""A local stand-in for the Microsoft identity platform: an RSA key set served as JWKS.

Only Microsoft's side is doubled (the issuer and its keys); crmsync's validation
code runs for real against it over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask

TENANT = "11111111-2222-3333-4444-555555555555"
AUDIENCE = "api://crm.example.com/6f1a2b3c-0000-4000-8000-000000000001"
ISSUER = f"https://login.microsoftonline.com/{TENANT}/v2.0"


class IdentityProvider:
    """Keys by ``kid``; :meth:`token` issues a token as Entra ID would for the pane."""

    def __init__(self) -> None:
        self.keys = {"key-1": rsa.generate_private_key(public_exponent=65537, key_size=2048)}
        self.requests = 0

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in self.keys.items():
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def app(self) -> Flask:
        app = Flask("identity")

        @app.get("/discovery/v2.0/keys")
        def keys():
            self.requests += 1
            return self.jwks()

        return app

    def claims(self, email: str, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {"aud": AUDIENCE, "iss": ISSUER, "tid": TENANT, "iat": now, "nbf": now,
                  "exp": now + 3600, "scp": "access_as_user", "preferred_username": email,
                  "oid": object_id(email), "ver": "2.0"}
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, email: str, kid: str = "key-1", key: Any = None, **overrides: Any) -> str:
        signer = key or self.keys[kid]
        return jwt.encode(self.claims(email, **overrides), signer, algorithm="RS256",
                          headers={"kid": kid})

    def public_pem(self, kid: str = "key-1") -> bytes:
        return self.keys[kid].public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def object_id(email: str) -> str:
    """The Entra object id of ``email``'s account in the test tenant (stable, distinct)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"entra:{email}"))
