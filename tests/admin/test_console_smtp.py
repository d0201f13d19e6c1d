"""The add form's SMTP fields: a support mailbox that sends through a relay without login."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.admin.chromium import ADMIN
from tests.admin.conftest import REP
from tests.admin.console import post_form, sign_in
from tests.conftest import Cli
from tests.servers.dovecot import DovecotServer, new_user
from tests.support.helpers import ANA, mail
from tests.support.sinks import SmtpSink, relay

__all__ = ["relay"]
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _form(dovecot: DovecotServer, user: str, sink: SmtpSink, smtp_auth: str) -> dict[str, str]:
    return {"name": "desk", "provider": "imap", "host": dovecot.host, "port": str(dovecot.port),
            "security": "none", "username": user, "password": "pw-" + user, "owner": REP,
            "purpose": "support", "smtp_host": sink.host, "smtp_port": str(sink.port),
            "smtp_security": "starttls", "smtp_auth": smtp_auth}


def test_console_saves_a_relay_without_login_and_acknowledgements_go_through_it(
    app: Flask, org: Cli, dovecot: DovecotServer, relay: SmtpSink
) -> None:
    # "SMTP login: No login" on the form stores what --smtp-auth none stores.
    user = new_user(dovecot)
    client = app.test_client()
    sign_in(client, ADMIN)
    form = _form(dovecot, user, relay, "none")
    assert "SMTP login" in client.get("/admin/mailboxes/new").get_data(as_text=True)
    status, _ = post_form(client, "/admin/mailboxes/new", form, "/admin/mailboxes/new")
    assert status == 302
    dovecot.append(user, "INBOX", mail(1))
    org("sync", "--once", env={"SSL_CERT_FILE": str(relay.ca_file)})
    [ack] = relay.handler.to(ANA[1])
    assert "[CASE-000001]" in ack["Subject"]


def test_console_refuses_an_unknown_smtp_login_choice(
    app: Flask, org: Cli, dovecot: DovecotServer, relay: SmtpSink
) -> None:
    # A forged choice is a 400 with nothing saved.
    client = app.test_client()
    sign_in(client, ADMIN)
    form = _form(dovecot, new_user(dovecot), relay, "plain")
    status, page = post_form(client, "/admin/mailboxes/new", form, "/admin/mailboxes/new")
    assert status == 400 and "Nothing was saved" in page
    assert org("mailbox", "list", "--json").output == ""
