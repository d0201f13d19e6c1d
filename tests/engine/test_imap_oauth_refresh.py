"""XOAUTH2 with refresh through the whole path: `mailbox add imap --oauth-token-url` →
`sync --once` twice, against a Dovecot that checks every token with the test IdP."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from crmsync.crm.models import Mailbox
from crmsync.sync_service.startup import build_services
from tests.conftest import Cli, load_sample_crm
from tests.engine.mailboxes import sync
from tests.engine.mails import make_mail
from tests.servers.dovecot import DovecotServer
from tests.servers.introspection import IntrospectionServer


@pytest.fixture(scope="module")
def idp() -> Iterator[IntrospectionServer]:
    with IntrospectionServer() as server:
        yield server


@pytest.fixture(scope="module")
def oauth_dovecot(idp: IntrospectionServer) -> Iterator[DovecotServer]:
    with DovecotServer(oauth2_introspection_url=idp.url) as server:
        yield server


def stored_credential(cli: Cli, name: str) -> tuple[bytes, dict]:
    services = build_services({"DATABASE_URL": cli.env["CRMSYNC_DATABASE_URL"],
                               "SECRET_KEY": "test-key"})
    try:
        with services.sessions() as session:
            row = session.scalars(select(Mailbox).where(Mailbox.name == name)).one()
            return row.secret, json.loads(services.secret_box().open(row.secret, name))
    finally:
        services.dispose()


def test_refreshed_credential_is_sealed_and_the_rotated_token_used_next(
    cli: Cli, oauth_dovecot: DovecotServer, idp: IntrospectionServer
) -> None:
    # A mailbox added with a refresh token syncs; the renewed credential (new access token,
    # rotated refresh token) is sealed to the row; when the server refuses the stored
    # access token the next run renews it with the rotated refresh token and syncs again.
    load_sample_crm(cli)
    user = "oauth-engine"
    oauth_dovecot.add_user(user, "unused-password")
    oauth_dovecot.append(user, "INBOX", make_mail(0))
    given = idp.grant(user, "crm-app", "app-secret")
    cli("mailbox", "add", "imap", "oauth", "--host", oauth_dovecot.host,
        "--port", str(oauth_dovecot.port), "--security", "none", "--username", user,
        "--auth", "xoauth2", "--password-env", "RT", "--oauth-token-url", idp.token_url,
        "--oauth-client-id", "crm-app", "--oauth-client-secret-env", "CS",
        "--owner", "maria.lopez@northwind.example", env={"RT": given, "CS": "app-secret"})
    assert "ok" in sync(cli, "oauth")
    sealed, first = stored_credential(cli, "oauth")
    assert given.encode() not in sealed and b"app-secret" not in sealed  # encrypted at rest
    assert first["refresh_token"] != given and first["refresh_token"] in idp.refresh_tokens
    assert idp.tokens[first["access_token"]] == user

    idp.revoke(first["access_token"])  # refused before its time: renewed, then accepted
    oauth_dovecot.append(user, "INBOX", make_mail(1))
    assert "ok" in sync(cli, "oauth")
    _, second = stored_credential(cli, "oauth")
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert first["refresh_token"] not in idp.refresh_tokens  # it was used, and rotated away
    assert len(cli.export_activities()) == 2
