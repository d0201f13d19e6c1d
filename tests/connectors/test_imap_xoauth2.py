"""XOAUTH2 login (Microsoft 365, Gmail) against a real Dovecot that checks tokens with an IdP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crmsync.connectors.imap import ImapConnector, ImapSettings
from crmsync.errors import AuthError
from tests.connectors.mail import plain
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


def _connector(server: DovecotServer, user: str, token: str) -> ImapConnector:
    settings = ImapSettings(server.host, server.port, security="none", username=user,
                            auth="xoauth2")
    return ImapConnector(settings, token)


def test_xoauth2_login_syncs_with_a_valid_token(
    oauth_dovecot: DovecotServer, idp: IntrospectionServer
) -> None:
    # A mailbox connected with an OAuth access token (no password) syncs its mail.
    oauth_dovecot.add_user("oauthuser", "unused-password")
    oauth_dovecot.append("oauthuser", "INBOX", plain(1))
    token = idp.issue("oauthuser")
    before = idp.requests
    with _connector(oauth_dovecot, "oauthuser", token) as connector:
        pages = list(connector.fetch_changes("INBOX", None))
    assert sum(len(page.changes) for page in pages) == 1
    assert idp.requests > before  # the server really asked the IdP


def test_revoked_token_is_an_auth_error(
    oauth_dovecot: DovecotServer, idp: IntrospectionServer
) -> None:
    # A revoked grant surfaces as AuthError, which marks the mailbox "needs re-auth".
    oauth_dovecot.add_user("revoked", "unused-password")
    token = idp.issue("revoked")
    idp.revoke(token)
    with pytest.raises(AuthError), _connector(oauth_dovecot, "revoked", token) as connector:
        connector.list_resources()
