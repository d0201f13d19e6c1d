"""How the Graph double's token endpoint authenticates a confidential client, as Entra ID does.

A client proves itself with its secret or with a JWT *client assertion* signed by the
private key of a certificate registered on the app. What Entra ID accepts, from
https://learn.microsoft.com/entra/identity-platform/certificate-credentials:

- ``client_assertion_type`` is ``urn:ietf:params:oauth:client-assertion-type:jwt-bearer``;
- the header names the certificate by ``x5t#S256`` (SHA-256 of its DER, base64url; the
  current guidance, with ``PS256``) or ``x5t`` (SHA-1; the older one, with ``RS256``). msal
  for Python pads these values with ``=`` and the documentation's examples do not; Entra
  ID accepts both, so the double compares the decoded bytes;
- the signature verifies with the certificate's public key;
- ``aud`` is the token endpoint, ``iss`` and ``sub`` are the client id, ``exp`` has not
  passed and ``nbf`` (if present) has come, and ``jti`` is present. msal reuses one
  assertion until shortly before its ``exp``, so a repeated ``jti`` is not a refusal.

Each refusal carries the AADSTS code Entra ID answers with (reference:
https://learn.microsoft.com/entra/identity-platform/reference-error-codes), so a test
sees the same ``invalid_client`` text an operator would.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Mapping
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: what Entra ID signs and verifies assertions with (RSA keys: PKCS#1 v1.5 or PSS)
ALGORITHMS = ["RS256", "PS256"]
#: tolerance for clocks that differ between the client and the token service
CLOCK_SKEW = 300
#: header name → the certificate digest it carries
THUMBPRINTS = {"x5t#S256": hashes.SHA256(), "x5t": hashes.SHA1()}
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")

NO_CREDENTIAL = ("AADSTS7000218: The request body must contain the following parameter: "
                 "'client_assertion' or 'client_secret'.")
BAD_SECRET = "AADSTS7000215: Invalid client secret provided."
NOT_REGISTERED = ("AADSTS700027: The certificate with identifier used to sign the client "
                  "assertion is not registered on application.")
BAD_SIGNATURE = "AADSTS700027: Client assertion failed signature validation."
WRONG_CLIENT = ("AADSTS700021: Client assertion application identifier doesn't match "
                "'client_id' parameter.")
WRONG_AUDIENCE = "AADSTS700023: Client assertion audience claim does not match Realm issuer."
OUT_OF_TIME = "AADSTS700024: Client assertion is not within its valid time range."
MALFORMED = "AADSTS50027: JWT token is invalid or malformed."


def client_refusal(client: dict[str, Any], form: Mapping[str, str], client_id: str,
                   token_url: str) -> str | None:
    """Return why the token endpoint refuses this client (an AADSTS text), or None.

    The headers of accepted assertions are appended to ``client["accepted_headers"]``, so
    a test can see which form (``x5t`` or ``x5t#S256``, RS256 or PS256) a client sent.

    :param client: the registration: ``secret`` and/or ``certificate`` (PEM bytes).
    :param form: the token request's form fields.
    :param client_id: the app the request is for.
    :param token_url: this tenant's token endpoint, the only audience accepted.
    """
    if client["secret"] is not None:
        given = form.get("client_secret", "")
        return None if secrets.compare_digest(given, client["secret"]) else BAD_SECRET
    assertion = form.get("client_assertion")
    if (client["certificate"] is None or not assertion
            or form.get("client_assertion_type") != JWT_BEARER):
        return NO_CREDENTIAL
    refusal = assertion_refusal(client["certificate"], assertion, client_id, token_url)
    if refusal is None:
        client.setdefault("accepted_headers", []).append(jwt.get_unverified_header(assertion))
    return refusal


def assertion_refusal(certificate_pem: bytes, assertion: str, client_id: str,
                      token_url: str) -> str | None:
    """Return why Entra ID refuses ``assertion`` for the app holding this certificate, or None."""
    certificate = x509.load_pem_x509_certificate(certificate_pem)
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.DecodeError:
        return MALFORMED
    refusal = _thumbprint_refusal(header, certificate)
    if refusal is not None:
        return refusal
    try:
        claims = jwt.decode(
            assertion, certificate.public_key(), algorithms=ALGORITHMS, audience=token_url,
            issuer=client_id, leeway=CLOCK_SKEW,
            options={"require": ["aud", "exp", "iss", "sub", "jti"]})
    except jwt.InvalidSignatureError:
        return BAD_SIGNATURE
    except jwt.InvalidAudienceError:
        return WRONG_AUDIENCE
    except jwt.InvalidIssuerError:
        return WRONG_CLIENT
    except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError):
        return OUT_OF_TIME
    except jwt.PyJWTError:  # unsigned, another algorithm, a required claim missing
        return MALFORMED
    # PyJWT checks sub only from 2.10 on: compared here for every supported version.
    if claims["sub"] != client_id:
        return WRONG_CLIENT
    return None if isinstance(claims["jti"], str) and claims["jti"] else MALFORMED


def _thumbprint_refusal(header: Mapping[str, Any], certificate: x509.Certificate) -> str | None:
    """Refuse an assertion naming no certificate, or naming one not registered on the app."""
    named = {name: header[name] for name in THUMBPRINTS if name in header}
    if not named:  # Entra ID finds the key by thumbprint: without one there is nothing to check
        return NOT_REGISTERED
    for name, value in named.items():
        if _decode_base64url(value) != certificate.fingerprint(THUMBPRINTS[name]):
            return NOT_REGISTERED
    return None


def _decode_base64url(value: Any) -> bytes | None:
    """Base64url with or without its ``=`` padding (msal pads, RFC 7515 does not); else None."""
    if not isinstance(value, str) or not _BASE64URL.fullmatch(value):
        return None
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None
