"""Outlook SSO/NAA tokens: only a valid token for an allowed tenant signs a rep in (A1)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from flask.testing import FlaskClient

from crmsync.sync_service.web.app import create_app
from tests.addin.conftest import serve
from tests.api.identity import AUDIENCE, TENANT, IdentityProvider, object_id
from tests.conftest import Cli, load_sample_crm

MARIA = "maria.lopez@northwind.example"
LOOKUP = "/api/v1/lookup?address=ana.ruiz@acme.example"


@pytest.fixture(scope="module")
def idp() -> Iterator[tuple[IdentityProvider, str]]:
    provider = IdentityProvider()
    url, stop = serve(provider.app())
    yield provider, f"{url}/discovery/v2.0/keys"
    stop()


@pytest.fixture
def client(sqlite_url: str, idp) -> Iterator[FlaskClient]:
    cli = Cli(sqlite_url)
    cli("db", "upgrade")
    load_sample_crm(cli)
    app = create_app({
        "TESTING": True, "DATABASE_URL": sqlite_url, "OUTLOOK_JWKS_URL": idp[1],
        "OUTLOOK_AUDIENCES": AUDIENCE, "OUTLOOK_TENANTS": TENANT,
    })
    yield app.test_client()
    app.extensions["crmsync"].dispose()


def _get(client: FlaskClient, token: str):
    return client.get(LOOKUP, headers={"Authorization": f"Bearer {token}"})


def _unsigned(claims: dict, header: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}."


def test_valid_token_signs_the_rep_in(client, idp) -> None:
    # Maria's Outlook token opens her CRM view.
    response = _get(client, idp[0].token(MARIA))
    assert response.status_code == 200 and response.json["contact"]["name"] == "Ana Ruiz"


def _bad_tokens(provider: IdentityProvider) -> dict[str, str]:
    now = int(time.time())
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "signed by another key": provider.token(MARIA, key=other_key),
        "alg none": _unsigned(provider.claims(MARIA), {"alg": "none", "kid": "key-1"}),
        "HS256 with the public key": _hs256(provider),
        "unknown kid": _unknown_kid(provider),
        "Graph audience": provider.token(MARIA, aud="https://graph.microsoft.com"),
        "wrong issuer": provider.token(MARIA, iss="https://evil.example/v2.0"),
        "v1 issuer not configured": provider.token(MARIA, iss=f"https://sts.windows.net/{TENANT}/"),
        "tenant not allowed": provider.token(
            MARIA, tid="99999999-2222-3333-4444-555555555555",
            iss="https://login.microsoftonline.com/99999999-2222-3333-4444-555555555555/v2.0"),
        "expired": provider.token(MARIA, iat=now - 7200, nbf=now - 7200, exp=now - 3600),
        "not yet valid (+10 min)": provider.token(MARIA, nbf=now + 600),
        "missing scp": provider.token(MARIA, scp=None),
        "unknown user": provider.token("nobody@northwind.example"),
        "no expiry": provider.token(MARIA, exp=None),
    }


def _hs256(provider: IdentityProvider) -> str:
    # PyJWT refuses an asymmetric key as an HMAC secret, so build the forgery by hand.
    import hashlib
    import hmac

    header = {"alg": "HS256", "typ": "JWT", "kid": "key-1"}
    unsigned = _unsigned(provider.claims(MARIA), header)[:-1]
    mac = hmac.new(provider.public_pem(), unsigned.encode(), hashlib.sha256).digest()
    return unsigned + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def _unknown_kid(provider: IdentityProvider) -> str:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return provider.token(MARIA, kid="key-unknown", key=stranger)


def test_every_bad_token_gets_401_without_detail(client, idp) -> None:
    # Forged, expired, misdirected or foreign tokens reveal nothing and say only "not valid".
    for case, token in _bad_tokens(idp[0]).items():
        response = _get(client, token)
        assert response.status_code == 401, case
        assert response.json == {"error": "the token is not valid"}, case
        assert "Ruiz" not in response.get_data(as_text=True)


def test_clock_skew_of_30_seconds_is_tolerated(client, idp) -> None:
    # A token minted by a clock 30 s ahead still works; one 10 min ahead does not (F12).
    now = int(time.time())
    assert _get(client, idp[0].token(MARIA, iat=now + 30, nbf=now + 30)).status_code == 200
    assert _get(client, idp[0].token(MARIA, iat=now + 600, nbf=now + 600)).status_code == 401


def test_unknown_kids_refetch_the_key_set_at_most_once(client, idp) -> None:
    # A flood of tokens with unknown key ids makes at most one extra JWKS request.
    provider = idp[0]
    assert _get(client, provider.token(MARIA)).status_code == 200
    before = provider.requests
    for _ in range(5):
        assert _get(client, _unknown_kid(provider)).status_code == 401
    assert provider.requests - before <= 1


def test_identity_is_the_immutable_tenant_and_object_id(client, idp) -> None:
    # The first sign-in binds Maria's account to her Entra object id; then only it opens it.
    provider = idp[0]
    assert _get(client, provider.token(MARIA)).status_code == 200
    # Another account that was given Maria's address (renamed, reused) is not Maria.
    impostor = provider.token(MARIA, oid="11111111-2222-3333-4444-555555555555")
    assert _get(client, impostor).status_code == 401
    # Maria renamed in the tenant keeps her account: the object id still names her.
    renamed = provider.token("maria.garcia@northwind.example", oid=object_id(MARIA))
    assert _get(client, renamed).status_code == 200


def test_a_token_naming_its_user_only_by_email_or_without_oid_is_refused(client, idp) -> None:
    provider = idp[0]
    claims = {**provider.claims(MARIA, preferred_username=None), "email": MARIA}
    only_email = jwt.encode(claims, provider.keys["key-1"], algorithm="RS256",
                            headers={"kid": "key-1"})
    assert _get(client, only_email).status_code == 401
    assert _get(client, provider.token(MARIA, oid=None)).status_code == 401
