"""Sending through an internal relay that offers no SMTP login (``--smtp-auth none``)."""

from __future__ import annotations

import pytest

from tests.conftest import Cli
from tests.servers.dovecot import DovecotServer
from tests.support.helpers import ANA, Desk, mail
from tests.support.sinks import SmtpSink

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_a_relay_without_login_delivers_the_acknowledgement(
    cli: Cli, dovecot: DovecotServer, relay: SmtpSink
) -> None:
    # With --smtp-auth none the acknowledgement goes through a relay that offers no AUTH.
    desk = Desk(cli, dovecot, relay, "--smtp-auth", "none")
    desk.receive(mail(1))
    desk.sync()
    [ack] = relay.handler.to(ANA[1])
    assert ack["Subject"] == "Re: Printer broken [CASE-000001]"
    assert [row["status"] for row in desk.outbox()] == ["sent"]


def test_login_expected_but_not_offered_is_refused_with_the_fix(
    cli: Cli, dovecot: DovecotServer, relay: SmtpSink
) -> None:
    # The default (login) never sends unauthenticated: the row waits, its error names the option.
    desk = Desk(cli, dovecot, relay)
    desk.receive(mail(1))
    desk.sync()
    desk.sync()
    assert relay.handler.messages == []
    [row] = desk.outbox()
    assert row["status"] == "pending" and row["attempts"] == 2
    assert "offers no login" in row["last_error"]
    assert "--smtp-auth none" in row["last_error"]
    assert "AUTH extension not supported" not in row["last_error"]


def test_a_server_that_requires_login_still_gets_it(
    cli: Cli, dovecot: DovecotServer, smtp: SmtpSink
) -> None:
    # The default against a submission server with AUTH: logged in, delivered once.
    desk = Desk(cli, dovecot, smtp, "--smtp-auth", "login")
    desk.receive(mail(1))
    desk.sync()
    assert len(smtp.handler.to(ANA[1])) == 1
