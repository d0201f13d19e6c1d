"""Outlook SSO / nested app authentication (NAA) access tokens, validated with PyJWT.

The pane gets a Microsoft identity platform access token for crmsync's API
(``Office.auth.getAccessToken`` or MSAL's NAA) and sends it as a bearer token. It
is accepted only when every check passes (the token matrix of tests/api/test_tokens.py):

- signed with RS256 by a key of the configured JWKS (``alg: none``, HS256 with the
  public key as secret, and unknown ``kid`` all fail);
- ``aud`` is one of ``OUTLOOK_AUDIENCES`` (a Graph-audience token fails);
- ``tid`` is on the ``OUTLOOK_TENANTS`` allow-list and ``iss`` is one of the
  ``OUTLOOK_ISSUERS`` templates filled with that tenant (v1 and v2 issuers are
  separate entries, so each is allowed only when configured);
- ``exp``, ``iat`` present; ``exp``/``nbf`` checked with ``OUTLOOK_CLOCK_SKEW`` leeway;
- ``scp`` holds ``OUTLOOK_SCOPE``.

The user is found by the token's immutable ``tid`` + ``oid`` once they are bound; the
first sign-in binds them to the CRM user whose address is the token's
``preferred_username`` (v2) or ``upn`` (v1) and who has no identity yet. ``email`` and
``unique_name`` never identify anyone (a tenant's users may set them). Legacy Exchange
identity tokens are not accepted.
An unknown ``kid`` refetches the JWKS at most once per :attr:`JwksCache.min_refetch`
seconds, so forged tokens cannot make crmsync hammer the issuer.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

log = logging.getLogger(__name__)
ALGORITHMS = ["RS256"]
EMAIL_CLAIMS = ("preferred_username", "upn")
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class InvalidToken(Exception):
    """The token failed a check; the reason is logged, never returned to the caller."""


class JwksCache:
    """The issuer's signing keys by ``kid``, refetched when an unknown ``kid`` shows up."""

    def __init__(self, url: str, min_refetch: float = 300.0, timeout: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.url, self.min_refetch, self.timeout, self.clock = url, min_refetch, timeout, clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()
        #: how many times the JWKS was fetched (for tests and metrics)
        self.fetches = 0

    def _fetch(self) -> None:
        self._fetched_at = self.clock()
        self.fetches += 1
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout) as response:
                data = json.load(response)
            keys = jwt.PyJWKSet.from_dict(data).keys
        except (OSError, ValueError, jwt.PyJWTError) as exc:
            log.warning("could not fetch the JWKS at %s: %s", self.url, exc)
            return
        self._keys = {key.key_id: key for key in keys if key.key_id}

    def key(self, kid: str) -> jwt.PyJWK | None:
        """Return the key ``kid``, fetching the set when it is unknown and not fetched lately."""
        with self._lock:
            if kid not in self._keys and (
                self._fetched_at is None or self.clock() - self._fetched_at >= self.min_refetch
            ):
                self._fetch()
            return self._keys.get(kid)


@dataclass(frozen=True)
class TokenSettings:
    jwks_url: str
    issuers: tuple[str, ...]
    audiences: tuple[str, ...]
    tenants: frozenset[str]
    scope: str
    leeway: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TokenSettings:
        def split(key: str) -> tuple[str, ...]:
            return tuple(p.strip() for p in str(config.get(key, "")).split(";") if p.strip())

        return cls(
            jwks_url=str(config.get("OUTLOOK_JWKS_URL", "")).strip(),
            issuers=split("OUTLOOK_ISSUERS"), audiences=split("OUTLOOK_AUDIENCES"),
            tenants=frozenset(t.lower() for t in split("OUTLOOK_TENANTS")),
            scope=str(config.get("OUTLOOK_SCOPE", "access_as_user")).strip(),
            leeway=int(config.get("OUTLOOK_CLOCK_SKEW", 60)),
        )


class TokenValidator:
    """Validate Outlook access tokens and return the signed-in address."""

    def __init__(self, settings: TokenSettings, jwks: JwksCache | None = None) -> None:
        self.settings = settings
        self.jwks = jwks or JwksCache(settings.jwks_url)

    def _claims(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"unreadable header: {exc}") from exc
        if header.get("alg") not in ALGORITHMS or not isinstance(header.get("kid"), str):
            raise InvalidToken(f"algorithm {header.get('alg')!r} or kid not accepted")
        key = self.jwks.key(header["kid"])
        if key is None:
            raise InvalidToken("unknown signing key")
        try:
            return jwt.decode(
                token, key.key, algorithms=ALGORITHMS, audience=list(self.settings.audiences),
                leeway=self.settings.leeway,
                options={"require": ["exp", "iat", "aud", "iss", "tid", "oid"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc

    def address(self, token: str) -> str:
        """Return the signed-in user's address; :raises InvalidToken: on any failed check."""
        return self.identity(token).address

    def identity(self, token: str) -> Identity:
        """Return who signed in; :raises InvalidToken: on any failed check."""
        claims = self._claims(token)
        tenant = str(claims["tid"]).lower()
        if tenant not in self.settings.tenants:
            raise InvalidToken("tenant not allowed")
        if claims["iss"] not in {i.replace("{tenantid}", tenant) for i in self.settings.issuers}:
            raise InvalidToken("issuer not accepted")
        if self.settings.scope not in str(claims.get("scp", "")).split():
            raise InvalidToken("required scope missing")
        return identity_from_claims(claims)


@dataclass(frozen=True)
class Identity:
    """Who an Outlook token says signed in: immutable ids, and the address to bind them."""

    tenant_id: str
    object_id: str
    address: str


def identity_from_claims(claims: Mapping[str, Any]) -> Identity:
    """Who a validated Entra token (an Outlook access token, the console's id token) names:
    the immutable ``tid`` + ``oid``, and the address a first sign-in binds by.

    :raises InvalidToken: no user address, or an object id that is not a GUID.
    """
    address = next((claims[c] for c in EMAIL_CLAIMS if isinstance(claims.get(c), str)), "")
    if "@" not in address:
        raise InvalidToken("no user address in the token")
    object_id = str(claims.get("oid", "")).lower()
    if not _GUID.fullmatch(object_id):
        raise InvalidToken("the object id is not a GUID")
    return Identity(str(claims.get("tid", "")).lower(), object_id, address.strip().lower())


def validator_from_config(config: Mapping[str, Any]) -> TokenValidator | None:
    """A validator when ``OUTLOOK_JWKS_URL`` and audiences are configured, else ``None``."""
    settings = TokenSettings.from_config(config)
    if not settings.jwks_url or not settings.audiences:
        return None
    return TokenValidator(settings)
