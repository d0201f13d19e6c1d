"""XOAUTH2 at Microsoft: device-code sign-in and msal refresh against the Graph double's
identity endpoints, logging in to a Dovecot that accepts the double's tokens.

Entra ID itself cannot be reached from here: what the double checks is its documented
device-code and refresh_token grants (tests/fakes/graph_directory.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from crmsync.connectors.imap import ImapConnector, ImapSettings
from crmsync.connectors.oauth2 import MICROSOFT_SCOPES, microsoft_sign_in
from crmsync.crm.models import Mailbox
from tests.conftest import Cli, load_sample_crm
from tests.connectors.mail import plain
from tests.engine.mailboxes import sync
from tests.engine.mails import make_mail
from tests.fakes import graph_fixtures
from tests.fakes.graph_fixtures import unique
from tests.fakes.graph_server import GraphDouble
from tests.servers.dovecot import DovecotServer
from tests.servers.introspection import IntrospectionServer

graph_double = graph_fixtures.graph_double
graph = graph_fixtures.graph


@pytest.fixture
def signed_in(graph: GraphDouble) -> Iterator[tuple[str, str]]:
    """A user signed in with a device code (approved at once): (address, credential)."""
    address = f"{unique('imap')}@northwind.example"
    graph.add_mailbox(address)
    client_id = unique("imap-public-")
    graph.register_app(client_id)  # a public client: no secret
    graph.directory.auto_approve = address
    graph.directory.access_seconds = 60  # within the refresh margin: each login refreshes
    shown: list[object] = []
    try:
        credential = microsoft_sign_in(f"{graph.base_url}/{graph.tenant}", client_id,
                                       MICROSOFT_SCOPES, shown.append)
        assert shown and "user_code" in shown[0]  # type: ignore[operator]
        yield address, credential
    finally:
        graph.directory.auto_approve = None
        graph.directory.access_seconds = 3599


@pytest.fixture
def microsoft_dovecot(graph: GraphDouble) -> Iterator[DovecotServer]:
    """A Dovecot whose oauth2 passdb accepts the access tokens the double issued."""
    with IntrospectionServer(lookup=graph.directory.token_users.get) as idp, \
            DovecotServer(oauth2_introspection_url=idp.url) as server:
        yield server


def refresh_tokens(credential: str) -> set[str]:
    cache = json.loads(json.loads(credential)["cache"])
    return {entry["secret"] for entry in cache["RefreshToken"].values()}


def test_msal_credential_is_refreshed_and_logs_in(
    signed_in: tuple[str, str], microsoft_dovecot: DovecotServer, graph: GraphDouble
) -> None:
    # The signed-in user's token nears its end: msal renews it from its cache (a rotated
    # refresh token), Dovecot accepts the new one, and the new cache comes back to be sealed.
    address, credential = signed_in
    microsoft_dovecot.add_user(address, "unused-password")
    microsoft_dovecot.append(address, "INBOX", plain(7))
    settings = ImapSettings(microsoft_dovecot.host, microsoft_dovecot.port, security="none",
                            username=address, auth="xoauth2")
    with ImapConnector(settings, credential) as connector:
        pages = list(connector.fetch_changes("INBOX", None))
        renewed = connector.updated_secret()
    assert sum(len(page.changes) for page in pages) == 1
    assert renewed is not None
    assert json.loads(renewed)["access_token"] != json.loads(credential)["access_token"]
    assert graph.directory.token_users[json.loads(renewed)["access_token"]] == address
    assert refresh_tokens(renewed) - refresh_tokens(credential)  # the rotated one was kept


def test_cli_signs_in_with_a_device_code_and_syncs(
    cli: Cli, graph: GraphDouble, microsoft_dovecot: DovecotServer
) -> None:
    # `mailbox add imap --auth xoauth2 --oauth-authority ...` shows the code, stores msal's
    # cache sealed (no refresh token in the clear), and the mailbox syncs with it.
    load_sample_crm(cli)
    address = f"{unique('imapcli')}@northwind.example"
    graph.add_mailbox(address)
    client_id = unique("imap-cli-")
    graph.register_app(client_id)
    graph.directory.auto_approve = address
    microsoft_dovecot.add_user(address, "unused-password")
    microsoft_dovecot.append(address, "INBOX", make_mail(3))
    try:
        result = cli("mailbox", "add", "imap", "ms-imap", "--host", microsoft_dovecot.host,
                     "--port", str(microsoft_dovecot.port), "--security", "none",
                     "--username", address, "--auth", "xoauth2", "--oauth-authority",
                     f"{graph.base_url}/{graph.tenant}", "--oauth-client-id", client_id,
                     "--owner", "maria.lopez@northwind.example",
                     env={"REQUESTS_CA_BUNDLE": graph.ca_path})
    finally:
        graph.directory.auto_approve = None
    assert "enter the code" in result.output
    with cli.session() as session:
        sealed = session.scalars(select(Mailbox.secret).where(Mailbox.name == "ms-imap")).one()
    assert b"RefreshToken" not in sealed and b"rt-" not in sealed
    assert "ok" in sync(cli, "ms-imap")
    assert len(cli.export_activities()) == 1
