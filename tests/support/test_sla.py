"""SLA: breaches listed at the right instant, alerted exactly once (mail and webhook)."""

from __future__ import annotations

import json

from tests.conftest import Cli
from tests.servers.dovecot import DovecotServer
from tests.support.helpers import Desk, mail
from tests.support.sinks import SmtpSink, WebhookSink


def test_breach_is_listed_at_the_right_instant_and_alerted_once(
    cli: Cli, dovecot: DovecotServer, smtp: SmtpSink, webhook: WebhookSink
) -> None:
    # A case received 09:01 with the default 12 hours is overdue only after 21:01; the
    # check alerts its owner and the webhook once, however often it runs.
    desk = Desk(cli, dovecot, smtp)
    cli("cases", "settings", "alert_webhook", webhook.url)
    desk.receive(mail(1))
    desk.sync()

    def overdue(at: str) -> list[str]:
        out = cli("cases", "overdue", "--as-of", at).output
        return [json.loads(line)["number"] for line in out.splitlines()]

    assert overdue("2026-11-02T21:01:00Z") == []
    assert overdue("2026-11-02T21:01:01Z") == ["CASE-000001"]
    assert "alerted" not in cli("cases", "check-sla", "--as-of", "2026-11-02T21:00:59Z").output
    for _ in range(3):
        cli("cases", "check-sla", "--as-of", "2026-11-02T22:00:00Z")
    alerts = smtp.handler.to("maria.lopez@northwind.example")
    assert len(alerts) == 1 and "[CASE-000001] SLA breached" in alerts[0]["Subject"]
    assert alerts[0]["Auto-Submitted"] == "auto-generated"
    assert len(webhook.posts) == 1
    assert webhook.posts[0]["body"]["case"]["number"] == "CASE-000001"
    assert webhook.posts[0]["key"] == "sla:1:webhook"


def test_first_response_in_time_is_never_overdue(
    cli: Cli, dovecot: DovecotServer, smtp: SmtpSink
) -> None:
    # An agent's reply before the due time takes the case off the overdue list for good.
    desk = Desk(cli, dovecot, smtp)
    desk.receive(mail(1))
    desk.sync()
    reply = mail(30, sender=("Support", "support@northwind.example"),
                 subject="Re: Printer broken", In_Reply_To="<s1@customer.example>")
    desk.receive(reply.replace(b"To: Northwind Support <support@northwind.example>",
                               b"To: ana.ruiz@acme.example"), folder="Sent")
    desk.sync()
    assert cli("cases", "overdue", "--as-of", "2026-11-03T12:00:00Z").output == ""
    assert "alerted" not in cli("cases", "check-sla", "--as-of", "2026-11-03T12:00:00Z").output
