"""Alarms that reach a phone: SLA breaches texted through an HTTP SMS gateway, once per
breach per phone, capped per phone, retried when the gateway is down; the one entry point
other alerts (reps' follow-ups) use."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from crmsync.crm.models import Mailbox
from crmsync.sync_service.startup import build_services
from crmsync.sync_service.support.alerts import Alert, send_alert
from tests.conftest import Cli
from tests.servers.dovecot import DovecotServer
from tests.support.helpers import STRANGER, Desk, mail
from tests.support.sinks import SmtpSink, WebhookSink
from tests.support.sms_gateway import TOKEN, SmsGatewayDouble

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
MARIA = "maria.lopez@northwind.example"
MARIA_PHONE = "+491511234567"
ON_CALL = "+4930123456"


def _desk(cli: Cli, dovecot: DovecotServer, smtp: SmtpSink,
          gateway: SmsGatewayDouble) -> Desk:
    cli.env.update(gateway.env())
    desk = Desk(cli, dovecot, smtp)
    cli("user", "add", MARIA, "--phone", "+49 151 123-4567")
    cli("cases", "settings", "sms_recipients", ON_CALL)
    return desk


def test_a_breach_texts_each_phone_once_at_the_right_instant(
    cli: Cli, dovecot: DovecotServer, smtp: SmtpSink, sms_gateway: SmsGatewayDouble
) -> None:
    # Due 21:01: nothing before; after, the owner's phone and the on-call number get one
    # text each, with the case number, however often the check runs.
    desk = _desk(cli, dovecot, smtp, sms_gateway)
    desk.receive(mail(1))
    desk.sync()
    cli("cases", "check-sla", "--as-of", "2026-11-02T21:00:59Z")
    assert sms_gateway.texts == []
    for _ in range(3):
        cli("cases", "check-sla", "--as-of", "2026-11-02T22:00:00Z")
    assert [t["to"] for t in sms_gateway.texts] == [MARIA_PHONE, ON_CALL]
    [text] = sms_gateway.to(MARIA_PHONE)
    assert text["text"] == "[CASE-000001] SLA breached: Printer broken"
    assert text["key"] == text["reference"] == f"sla:1:sms:{MARIA_PHONE}"
    assert len(smtp.handler.to(MARIA)) == 1  # and the mail, as before
    assert TOKEN not in cli("cases", "outbox").output


def test_texts_are_capped_per_phone_and_a_gateway_outage_is_retried(
    cli: Cli, dovecot: DovecotServer, smtp: SmtpSink, sms_gateway: SmsGatewayDouble
) -> None:
    # Three breaches at once with two texts an hour allowed: two reach the phone (the
    # first after the gateway came back), the third is held with the reason.
    desk = _desk(cli, dovecot, smtp, sms_gateway)
    cli("cases", "settings", "sms_recipients", "")
    cli("cases", "settings", "sms_per_hour", "2")
    for n, sender in ((1, None), (2, STRANGER), (3, ("Li Na", "li.na@acme.example"))):
        desk.receive(mail(n, subject=f"Problem {n}", **({"sender": sender} if sender else {})))
    desk.sync()
    sms_gateway.fail_next = 1
    out = cli("cases", "check-sla", "--as-of", "2026-11-03T12:00:00Z").output
    assert out.count("alerted:") == 3
    assert sms_gateway.refused == 1 and len(sms_gateway.texts) == 1
    texts = [row for row in desk.outbox() if row["kind"] == "sms"]
    assert sorted(row["status"] for row in texts) == ["pending", "sent", "suppressed"]
    assert "answered 503" in next(r["last_error"] for r in texts if r["status"] == "pending")
    assert "rate limit" in next(r["reason"] for r in texts if r["status"] == "suppressed")
    cli("cases", "deliver")
    cli("cases", "deliver")
    assert len(sms_gateway.to(MARIA_PHONE)) == 2


def test_send_alert_is_the_one_entry_point_for_other_alerts(
    cli: Cli, dovecot: DovecotServer, smtp: SmtpSink, sms_gateway: SmsGatewayDouble,
    webhook: WebhookSink
) -> None:
    # An alert without a case (a rep's follow-up) reaches the named user's phone and the
    # webhook once per key; the mail goes from the mailbox it names.
    desk = _desk(cli, dovecot, smtp, sms_gateway)
    cli("cases", "settings", "alert_webhook", webhook.url)
    with cli.session() as session:
        mailbox_id = session.scalar(select(Mailbox.id).where(Mailbox.name == desk.name))
    services = build_services({"DATABASE_URL": cli.env["CRMSYNC_DATABASE_URL"]})
    alert = Alert("followup", "followup:42", "Follow up: Ana Ruiz has waited 12 hours",
                  "Ana Ruiz wrote 'Printer broken' on Monday.", recipients=(MARIA,),
                  mailbox_id=mailbox_id, payload={"rep": MARIA})
    try:
        now = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
        assert send_alert(services, alert, now) is True
        assert send_alert(services, alert, now) is False
    finally:
        services.dispose()
    cli("cases", "deliver")
    assert [t["text"] for t in sms_gateway.texts] == [
        "Follow up: Ana Ruiz has waited 12 hours"] * 2  # Maria's phone and the on-call one
    [post] = webhook.posts
    assert post["body"]["event"] == "followup" and post["body"]["rep"] == MARIA
    assert post["body"]["case"] is None
    [mail_alert] = smtp.handler.to(MARIA)
    assert mail_alert["Subject"] == "Follow up: Ana Ruiz has waited 12 hours"
