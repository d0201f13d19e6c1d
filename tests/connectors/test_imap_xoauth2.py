"""XOAUTH2 login (Microsoft 365, Gmail) against a real Dovecot that checks tokens with an IdP.

The IdP (tests/servers/introspection.py) also has a token endpoint, so refreshed tokens
are ones Dovecot accepts: the refresh is tested end to end.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from crmsync.connectors.imap import ImapConnector, ImapSettings
from crmsync.connectors.oauth2 import REFRESH_MARGIN, refreshable_credential
from crmsync.errors import AuthError, ConfigError
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


def _refreshable(idp: IntrospectionServer, user: str, **fields: object) -> str:
    """A refreshable credential of ``user`` at the test IdP (client ``crm``, a secret)."""
    refresh = idp.grant(user, "crm", "client-secret")
    credential = json.loads(refreshable_credential(idp.token_url, "crm", refresh,
                                                   client_secret="client-secret"))
    return json.dumps({**credential, **fields})


def test_refreshable_credential_refreshes_before_the_first_login(
    oauth_dovecot: DovecotServer, idp: IntrospectionServer
) -> None:
    # A stored refresh token (no access token yet) is turned into an access token at the
    # token endpoint; Dovecot accepts it, and the renewed credential comes back to be sealed.
    oauth_dovecot.add_user("refresher", "unused-password")
    oauth_dovecot.append("refresher", "INBOX", plain(2))
    secret = _refreshable(idp, "refresher")
    before = idp.token_requests
    with _connector(oauth_dovecot, "refresher", secret) as connector:
        pages = list(connector.fetch_changes("INBOX", None))
        renewed = json.loads(connector.updated_secret() or "{}")
    assert sum(len(page.changes) for page in pages) == 1
    assert idp.token_requests == before + 1
    assert idp.tokens[renewed["access_token"]] == "refresher"
    assert renewed["expires_at"] > time.time() + 3000
    # the rotated refresh token replaced the one given, which no longer works
    assert renewed["refresh_token"] in idp.refresh_tokens
    assert json.loads(secret)["refresh_token"] not in idp.refresh_tokens


def test_valid_token_is_used_without_a_refresh(
    oauth_dovecot: DovecotServer, idp: IntrospectionServer
) -> None:
    # An access token good for an hour more is used as it is: no request, nothing to seal.
    oauth_dovecot.add_user("fresh", "unused-password")
    secret = _refreshable(idp, "fresh", access_token=idp.issue("fresh"),
                          expires_at=time.time() + 3600)
    before = idp.token_requests
    with _connector(oauth_dovecot, "fresh", secret) as connector:
        connector.list_resources()
        assert connector.updated_secret() is None
    assert idp.token_requests == before


def test_token_about_to_lapse_is_renewed_and_the_session_logs_in_again(
    oauth_dovecot: DovecotServer, idp: IntrospectionServer
) -> None:
    # A token within the refresh margin is renewed before login; a session whose token
    # comes within the margin later logs in again with a new one before the next poll.
    oauth_dovecot.add_user("lapsing", "unused-password")
    oauth_dovecot.append("lapsing", "INBOX", plain(3))
    old = idp.issue("lapsing")
    secret = _refreshable(idp, "lapsing", access_token=old, expires_at=time.time() + 60)
    idp.lifetime = REFRESH_MARGIN + 2  # the renewed token nears its end 2 s from now
    try:
        with _connector(oauth_dovecot, "lapsing", secret) as connector:
            cursor = list(connector.fetch_changes("INBOX", None))[-1].cursor
            first = json.loads(connector.updated_secret() or "{}")["access_token"]
            assert first != old
            idp.revoke(old)
            time.sleep(2.5)
            oauth_dovecot.append("lapsing", "INBOX", plain(4))
            pages = list(connector.fetch_changes("INBOX", cursor))
            second = json.loads(connector.updated_secret() or "{}")["access_token"]
    finally:
        idp.lifetime = 3600.0
    assert sum(len(page.changes) for page in pages) == 1
    assert second not in (old, first) and idp.tokens[second] == "lapsing"


def test_refused_refresh_is_an_auth_error(
    oauth_dovecot: DovecotServer, idp: IntrospectionServer
) -> None:
    # A revoked refresh token (invalid_grant) marks the mailbox "needs re-auth".
    oauth_dovecot.add_user("unrefreshable", "unused-password")
    secret = _refreshable(idp, "unrefreshable")
    idp.revoke(json.loads(secret)["refresh_token"])
    with pytest.raises(AuthError, match="invalid_grant"), \
            _connector(oauth_dovecot, "unrefreshable", secret) as connector:
        connector.list_resources()


def test_token_endpoint_on_a_private_address_is_refused(monkeypatch) -> None:
    # The token endpoint is held to the mail servers' rule: no private addresses unless
    # allowed (here: the test suite's loopback allowance taken away).
    monkeypatch.setenv("CRMSYNC_ALLOWED_PRIVATE_NETWORKS", "")
    with pytest.raises(ConfigError):
        refreshable_credential("http://127.0.0.1:9/token", "crm", "rt")
    with pytest.raises(ConfigError):
        refreshable_credential("http://login.example.com/token", "crm", "rt")  # not https
