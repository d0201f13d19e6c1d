"""No acknowledgements for old mail: a support mailbox connected with history answers only new
mail, and per-sender limits count by when the mail arrived, not when the sync ran."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, update
from sqlalchemy.orm import Session

from crmsync.crm.models import Mailbox
from tests.conftest import Cli
from tests.servers.dovecot import DovecotServer
from tests.support.helpers import ANA, STRANGER, Desk, mail
from tests.support.sinks import SmtpSink

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def arrived(desk: Desk, raw: bytes, ago: timedelta) -> None:
    """Deliver ``raw`` to the desk's inbox as having arrived ``ago`` (its INTERNALDATE)."""
    desk.dovecot.append(desk.user, "INBOX", raw, internal_date=datetime.now(UTC) - ago)


def connected_ago(desk: Desk, ago: timedelta) -> None:
    """The desk's mailbox was connected ``ago`` (and crmsync has not synced it since)."""
    engine = create_engine(desk.cli.env["CRMSYNC_DATABASE_URL"])
    with Session(engine) as session, session.begin():
        session.execute(update(Mailbox).where(Mailbox.name == desk.name)
                        .values(created_at=datetime.now(UTC) - ago))
    engine.dispose()


def test_history_opens_cases_silently_and_only_new_mail_is_acknowledged_or_alerted(
    cli: Cli, dovecot: DovecotServer, smtp: SmtpSink
) -> None:
    # A month of history in the inbox when the mailbox is connected: cases, no
    # acknowledgements and no SLA alerts for them.
    desk = Desk(cli, dovecot, smtp)
    for n, days in ((1, 30), (2, 10), (3, 2)):
        arrived(desk, mail(n, subject=f"Old request {n}"), timedelta(days=days))
    desk.receive(mail(4, subject="New request"))
    desk.receive(mail(5, sender=STRANGER, subject="Another new request"))
    desk.sync()
    assert len(desk.cases()) == 5
    assert [m["Subject"] for m in smtp.handler.to(ANA[1])] == ["Re: New request [CASE-000004]"]
    assert len(smtp.handler.to(STRANGER[1])) == 1
    rows = {row["subject"]: row for row in desk.outbox()}
    for n in (1, 2, 3):
        row = rows[f"Re: Old request {n} [CASE-00000{n}]"]
        assert row["status"] == "suppressed"
        assert "before the mailbox was connected" in row["reason"]
    # Nor does the history raise an SLA alert per old request, though it is listed overdue.
    at = "2026-12-31T00:00:00Z"
    assert len(cli("cases", "overdue", "--as-of", at).output.splitlines()) == 5
    alerted = cli("cases", "check-sla", "--as-of", at).output
    assert "alerted: CASE-000004" in alerted and "alerted: CASE-000005" in alerted
    assert alerted.count("alerted:") == 2


def test_mail_that_waited_longer_than_the_setting_is_not_acknowledged(
    cli: Cli, dovecot: DovecotServer, smtp: SmtpSink
) -> None:
    # Connected ten days ago, synced only now: mail of three days ago opens its case silently
    # (default 24 hours), an hour-old request is acknowledged; the setting is listed.
    desk = Desk(cli, dovecot, smtp)
    assert "ack_max_age_hours" in cli("cases", "settings").output
    connected_ago(desk, timedelta(days=10))
    arrived(desk, mail(1, subject="Waited three days"), timedelta(days=3))
    arrived(desk, mail(2, sender=STRANGER, subject="Fresh"), timedelta(hours=1))
    desk.sync()
    assert smtp.handler.to(ANA[1]) == []
    assert len(smtp.handler.to(STRANGER[1])) == 1
    [old] = [row for row in desk.outbox() if row["to"] == ANA[1]]
    assert old["status"] == "suppressed" and "more than 24 hours ago" in old["reason"]


def test_backfill_counts_each_request_in_its_own_hour(
    cli: Cli, dovecot: DovecotServer, smtp: SmtpSink
) -> None:
    # Requests a week apart are each acknowledged in one backfill; a second one twenty
    # minutes after the other is held by the one-an-hour limit.
    desk = Desk(cli, dovecot, smtp)
    cli("cases", "settings", "ack_max_age_hours", "0")  # no age limit
    connected_ago(desk, timedelta(days=10))
    arrived(desk, mail(1, subject="Week-old request"), timedelta(days=8))
    arrived(desk, mail(2, subject="Yesterday's request"), timedelta(days=1))
    arrived(desk, mail(3, subject="Yesterday's second request"),
            timedelta(days=1) - timedelta(minutes=20))
    desk.sync()
    assert len(desk.cases()) == 3
    assert len(smtp.handler.to(ANA[1])) == 2
    statuses = sorted((row["status"], row["reason"][:11]) for row in desk.outbox())
    assert statuses == [("sent", ""), ("sent", ""), ("suppressed", "rate limit:")]
