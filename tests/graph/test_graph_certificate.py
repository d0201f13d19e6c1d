"""Microsoft 365 app-only sign-in with a certificate: the CLI, msal and the Graph double.

The certificates are made here with ``cryptography`` (RSA 2048, self-signed, as Entra ID
accepts for app credentials). The double checks each client assertion as Entra ID does
(tests/fakes/graph_client_auth.py); the table at the end holds it to that.
"""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from crmsync.crm.models import Mailbox
from tests.conftest import Cli, load_sample_crm, make_services
from tests.fakes import graph_client_auth as entra
from tests.fakes.graph_builders import message
from tests.fakes.graph_fixtures import unique
from tests.fakes.graph_server import GraphDouble
from tests.graph.test_graph_sync import _mailboxes, inbox, mail_ids, sync


@dataclass(frozen=True)
class Certificate:
    """An app credential: the private key and its self-signed certificate."""

    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self, password: bytes | None = None) -> bytes:
        encryption = (serialization.BestAvailableEncryption(password) if password
                      else serialization.NoEncryption())
        return self.key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8, encryption)

    def write(self, path: Path) -> Path:
        """Write the PEM `--certificate` reads: the private key, then the certificate."""
        path.write_bytes(self.key_pem() + self.cert_pem)
        return path


def make_certificate(name: str) -> Certificate:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=365))
            .sign(key, hashes.SHA256()))
    return Certificate(key, cert)


@pytest.fixture(scope="module")
def registered() -> Certificate:
    """The certificate uploaded to the app registration."""
    return make_certificate("crmsync-app")


@pytest.fixture(scope="module")
def stranger() -> Certificate:
    """A certificate the app registration has never seen."""
    return make_certificate("someone-else")


def add_certificate_mailbox(cli: Cli, graph: GraphDouble, registered: Certificate,
                            pem: Path, ok: bool = True) -> tuple[str, str, str, Any]:
    """Register an app holding ``registered``, then add a mailbox signing in with ``pem``."""
    address = f"{unique('cert')}@northwind.example"
    graph.add_mailbox(address)
    client_id = str(uuid.uuid4())
    graph.register_app(client_id, certificate_pem=registered.cert_pem)
    name = unique("cert-")
    result = cli("mailbox", "add", "graph", name, "--tenant", graph.tenant, "--client-id",
                 client_id, "--certificate", str(pem), "--address", address,
                 "--authority-url", graph.base_url, "--graph-url", graph.base_url,
                 "--owner", "maria.lopez@northwind.example", ok=ok,
                 env={"REQUESTS_CA_BUNDLE": graph.ca_path})
    return name, address, client_id, result


def test_certificate_sign_in_syncs_a_mailbox(cli: Cli, graph: GraphDouble,
                                             registered: Certificate, tmp_path: Path) -> None:
    # App-only with a certificate: added from the CLI, signed in through msal, mail synced.
    load_sample_crm(cli)
    pem = registered.write(tmp_path / "app.pem")
    name, address, client_id, _ = add_certificate_mailbox(cli, graph, registered, pem)
    inbox(graph, address, message(900))
    assert "ok" in sync(cli, graph, name)
    assert "<graph900@test.example>" in mail_ids(cli)
    assert client_id in graph.tokens.values()
    # msal named the certificate by its SHA-256 thumbprint and signed with PS256.
    header = graph.clients[client_id]["accepted_headers"][0]
    assert header["alg"] == "PS256" and "x5t#S256" in header
    services = make_services(cli.env["CRMSYNC_DATABASE_URL"])
    try:
        with services.sessions() as session:
            row = session.scalars(select(Mailbox).where(Mailbox.name == name)).one()
            assert row.settings["credential"] == "certificate"
            assert b"PRIVATE KEY" not in row.secret  # sealed at rest, like a password
            assert "PRIVATE KEY" in services.secret_box().open(row.secret, name)
    finally:
        services.dispose()


def test_wrong_certificate_needs_reauth(cli: Cli, graph: GraphDouble, registered: Certificate,
                                        stranger: Certificate, tmp_path: Path) -> None:
    # A certificate the app does not hold: refused, "needs re-auth", and the error says why.
    load_sample_crm(cli)
    pem = stranger.write(tmp_path / "other.pem")
    name, address, _, _ = add_certificate_mailbox(cli, graph, registered, pem)
    inbox(graph, address, message(901))
    sync(cli, graph, name, ok=False)
    row = {r["name"]: r for r in _mailboxes(cli)}[name]
    assert row["status"] == "needs re-auth"
    assert "invalid_client" in row["last_error"] and "AADSTS700027" in row["last_error"]
    assert "not registered" in row["last_error"]
    assert graph.graph_requests(address) == [] and "<graph901@test.example>" not in mail_ids(cli)


#: (what the file holds, what the error says) for files msal could not sign with
BAD_FILES = {
    "certificate-only": (lambda own, other: own.cert_pem, "must hold the private key"),
    "key-only": (lambda own, other: own.key_pem(), "must hold the private key"),
    "encrypted-key": (lambda own, other: own.key_pem(b"pw") + own.cert_pem, "unencrypted"),
    "someone-elses-key": (lambda own, other: other.key_pem() + own.cert_pem,
                          "not the certificate's"),
    "der": (lambda own, other: own.cert.public_bytes(serialization.Encoding.DER),
            "must hold the private key"),
}


@pytest.mark.parametrize("kind", BAD_FILES)
def test_unusable_certificate_file_is_refused_before_saving(
        cli: Cli, graph: GraphDouble, registered: Certificate, stranger: Certificate,
        tmp_path: Path, kind: str) -> None:
    # A file without a usable key is a clear error at `mailbox add`, and nothing is saved.
    content, says = BAD_FILES[kind]
    pem = tmp_path / "bad.pem"
    pem.write_bytes(content(registered, stranger))
    name, _, _, result = add_certificate_mailbox(cli, graph, registered, pem, ok=False)
    assert result.exit_code == 1 and says in result.output and "Traceback" not in result.output
    assert name not in {r["name"] for r in _mailboxes(cli)}


# -- the double's token endpoint, held to what Entra ID documents -----------------------


@dataclass(frozen=True)
class Assertion:
    """A client assertion to send; every field defaults to what Entra ID accepts."""

    alg: str = "PS256"
    #: (header, padded, whose certificate): the thumbprints the header carries, and how
    thumbprints: tuple[tuple[str, bool, str], ...] = (("x5t#S256", False, "registered"),)
    #: header values sent as they are, after the thumbprints
    raw_headers: dict[str, str] = field(default_factory=dict)
    #: claims to change; None removes the claim; a callable gets (token endpoint, now)
    claims: dict[str, Any] = field(default_factory=dict)
    signed_by: str = "registered"  # or "stranger", or "nobody" (alg none)
    assertion_type: str = entra.JWT_BEARER


def _thumbprint(cert: x509.Certificate, name: str, padded: bool) -> str:
    value = base64.urlsafe_b64encode(cert.fingerprint(entra.THUMBPRINTS[name])).decode()
    return value if padded else value.rstrip("=")


def _encode(case: Assertion, certs: dict[str, Certificate], client_id: str,
            token_url: str) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"aud": token_url, "iss": client_id, "sub": client_id,
                              "exp": now + 600, "iat": now, "jti": str(uuid.uuid4())}
    claims.update({k: v(token_url, now) if callable(v) else v for k, v in case.claims.items()})
    claims = {k: v for k, v in claims.items() if v is not None}
    headers = {name: _thumbprint(certs[whose].cert, name, padded)
               for name, padded, whose in case.thumbprints}
    headers.update(case.raw_headers)
    if case.signed_by == "nobody":
        return jwt.encode(claims, None, algorithm="none", headers=headers)
    return jwt.encode(claims, certs[case.signed_by].key, algorithm=case.alg, headers=headers)


SHA1_PADDED = ("x5t", True, "registered")
ACCEPTED = {
    "x5t#S256-PS256-unpadded-as-documented": Assertion(),
    "x5t#S256-PS256-padded-as-msal-sends": Assertion(
        thumbprints=(("x5t#S256", True, "registered"),)),
    "x5t-RS256-padded-as-msal-sent-before-1.35": Assertion(alg="RS256",
                                                           thumbprints=(SHA1_PADDED,)),
    "x5t-RS256-unpadded-as-documented": Assertion(
        alg="RS256", thumbprints=(("x5t", False, "registered"),)),
    "both-thumbprints": Assertion(thumbprints=(("x5t#S256", False, "registered"),
                                               SHA1_PADDED)),
    "nbf-now": Assertion(claims={"nbf": lambda url, now: now}),
}
REFUSED = {
    "no-thumbprint": (Assertion(thumbprints=()), entra.NOT_REGISTERED),
    "another-certificate": (Assertion(thumbprints=(("x5t#S256", False, "stranger"),),
                                      signed_by="stranger"), entra.NOT_REGISTERED),
    "one-of-two-thumbprints-wrong": (Assertion(
        thumbprints=(("x5t#S256", False, "registered"), ("x5t", True, "stranger"))),
        entra.NOT_REGISTERED),
    "thumbprint-not-base64url": (Assertion(raw_headers={"x5t#S256": "not base64url!"}),
                                 entra.NOT_REGISTERED),
    "forged-signature": (Assertion(signed_by="stranger"), entra.BAD_SIGNATURE),
    "unsigned": (Assertion(signed_by="nobody"), entra.MALFORMED),
    "other-tenants-endpoint": (Assertion(
        claims={"aud": lambda url, now: url.replace(GraphDouble.tenant, "fabrikam")}),
        entra.WRONG_AUDIENCE),
    "issuer-not-the-client": (Assertion(claims={"iss": "someone-else"}), entra.WRONG_CLIENT),
    "subject-not-the-client": (Assertion(claims={"sub": "someone-else"}), entra.WRONG_CLIENT),
    "expired": (Assertion(claims={"exp": lambda url, now: now - 3600,
                                  "iat": lambda url, now: now - 4200}), entra.OUT_OF_TIME),
    "not-yet-valid": (Assertion(claims={"nbf": lambda url, now: now + 3600}),
                      entra.OUT_OF_TIME),
    "no-exp": (Assertion(claims={"exp": None}), entra.MALFORMED),
    "no-jti": (Assertion(claims={"jti": None}), entra.MALFORMED),
    "not-a-jwt-bearer": (Assertion(
        assertion_type="urn:ietf:params:oauth:client-assertion-type:saml2-bearer"),
        entra.NO_CREDENTIAL),
}


def _post(graph: GraphDouble, case: Assertion, certs: dict[str, Certificate]) -> dict[str, Any]:
    """Ask the double for an app-only token with ``case``'s assertion, as msal would."""
    client_id = str(uuid.uuid4())
    graph.register_app(client_id, certificate_pem=certs["registered"].cert_pem)
    token_url = f"{graph.base_url}/{graph.tenant}/oauth2/v2.0/token"
    response = requests.post(token_url, timeout=10, verify=graph.ca_path, data={
        "grant_type": "client_credentials", "client_id": client_id,
        "scope": f"{graph.base_url}/.default", "client_assertion_type": case.assertion_type,
        "client_assertion": _encode(case, certs, client_id, token_url)})
    with response:
        return {"status": response.status_code, **response.json()}


@pytest.mark.parametrize("case", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_double_accepts_what_entra_accepts(graph: GraphDouble, registered: Certificate,
                                           stranger: Certificate, case: Assertion) -> None:
    # Both thumbprint headers, padded or not, RS256 or PS256: a token, as from Entra ID.
    answer = _post(graph, case, {"registered": registered, "stranger": stranger})
    assert answer["status"] == 200 and answer["access_token"], answer


@pytest.mark.parametrize(("case", "refusal"), REFUSED.values(), ids=REFUSED.keys())
def test_double_refuses_what_entra_refuses(graph: GraphDouble, registered: Certificate,
                                           stranger: Certificate, case: Assertion,
                                           refusal: str) -> None:
    # Each broken rule is invalid_client with Entra ID's AADSTS code, and no token.
    answer = _post(graph, case, {"registered": registered, "stranger": stranger})
    assert answer["status"] == 401 and answer["error"] == "invalid_client"
    assert answer["error_description"] == refusal and "access_token" not in answer
    assert answer["error_codes"] == [int(refusal.split(":")[0].removeprefix("AADSTS"))]
