"""Follow-up alerts: at the right instant, once per mail, by mail (SMTP) and webhook."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crmsync.sync_service.triggers.scheduler import Scheduler
from tests.conftest import Cli, make_services
from tests.followups.helpers import ANA, HANK, MARIA, RepMailbox, mail
from tests.servers.dovecot import DovecotServer
from tests.support.sinks import SmtpSink, WebhookSink
from tests.support.sms_gateway import SmsGatewayDouble, sms_gateway

__all__ = ["sms_gateway"]
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

# Friday 23 October 2026 15:00 in Berlin; due Tuesday 27th 10:00 UTC (tests/followups/test_rule.py)
FRIDAY_1500 = datetime(2026, 10, 23, 13, 0, tzinfo=UTC)


@pytest.fixture
def maria(cli: Cli, dovecot: DovecotServer, smtp: SmtpSink) -> RepMailbox:
    box = RepMailbox(cli, dovecot, MARIA, smtp=smtp)
    cli("followups", "hours", "--user", MARIA[1], "Mon-Fri 09:00-17:00 Europe/Berlin")
    return box


def test_alerted_once_when_due_by_mail_and_webhook(
    cli: Cli, maria: RepMailbox, smtp: SmtpSink, webhook: WebhookSink
) -> None:
    # Nothing before the due time; then one mail to Maria and one webhook call, however
    # often the check runs.
    cli("cases", "settings", "alert_webhook", webhook.url)
    maria.receive(mail("q1", ANA, MARIA, FRIDAY_1500, "Questions on the proposal"))
    maria.sync()
    assert "alerted" not in cli("followups", "check", "--as-of", "2026-10-27T09:59:00Z").output
    assert smtp.handler.messages == [] and webhook.posts == []
    first = cli("followups", "check", "--as-of", "2026-10-27T10:00:01Z").output
    assert f"alerted: {MARIA[1]} mail" in first
    for _ in range(2):
        assert "alerted" not in cli("followups", "check", "--as-of", "2026-10-28T12:00:00Z").output
    [alert] = smtp.handler.to(MARIA[1])
    assert alert["Subject"] == "Follow-up due: Questions on the proposal"
    assert alert["Auto-Submitted"] == "auto-generated"
    body = alert.get_content()
    assert "Ana Ruiz <ana.ruiz@acme.example> (Acme Corporation)" in body
    assert "a reply was due 2026-10-27T10:00:00Z" in body
    [post] = webhook.posts
    assert post["body"]["event"] == "followup"
    assert post["body"]["followup"]["mail"]["internet_message_id"] == "<q1@test.example>"
    assert post["key"].startswith("followup:") and post["key"].endswith(":webhook")


def test_answered_in_time_is_never_alerted_and_a_new_mail_is_alerted_anew(
    cli: Cli, maria: RepMailbox, smtp: SmtpSink
) -> None:
    # Maria answers Ana on Monday: no alert. Hank's unanswered mail is alerted, once.
    maria.receive(mail("q1", ANA, MARIA, FRIDAY_1500))
    maria.receive(mail("r1", MARIA, ANA, datetime(2026, 10, 26, 8, 0, tzinfo=UTC),
                       "Re: Fleet renewal", In_Reply_To="<q1@test.example>",
                       References="<q1@test.example>"), folder="Sent")
    maria.receive(mail("h1", HANK, MARIA, FRIDAY_1500, "Pilot scope"))
    maria.sync()
    cli("followups", "check", "--as-of", "2026-10-28T12:00:00Z")
    cli("followups", "check", "--as-of", "2026-10-29T12:00:00Z")
    assert [m["Subject"] for m in smtp.handler.to(MARIA[1])] == ["Follow-up due: Pilot scope"]


def test_without_a_mailbox_that_can_send_the_alert_is_kept_with_the_reason(
    cli: Cli, dovecot: DovecotServer, webhook: WebhookSink
) -> None:
    # Maria's mailbox has no SMTP: the mail is queued suppressed, saying why; the webhook goes.
    maria = RepMailbox(cli, dovecot, MARIA)
    cli("cases", "settings", "alert_webhook", webhook.url)
    maria.receive(mail("q1", ANA, MARIA, FRIDAY_1500))
    maria.sync()
    cli("followups", "check", "--as-of", "2026-11-02T12:00:00Z")
    rows = [r for r in _outbox(cli) if r["kind"] == "alert"]
    assert [(r["status"], r["reason"]) for r in rows] == [
        ("suppressed", "no mailbox of the rep or of support can send mail")]
    assert len(webhook.posts) == 1


def test_the_scheduler_alerts_follow_ups_like_sla_breaches(
    cli: Cli, maria: RepMailbox, smtp: SmtpSink, database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # crmsync serve's round (sync, then the duties) alerts a mail waiting since ten days.
    monkeypatch.setenv("SSL_CERT_FILE", str(smtp.ca_file))  # the sink's test CA, in-process
    ten_days_ago = (datetime.now(UTC) - timedelta(days=10)).replace(microsecond=0)
    maria.receive(mail("q1", ANA, MARIA, ten_days_ago, "Still waiting"))
    services = make_services(database_url, SECRET_KEY="test-key", IMAP_PUSH=False)
    try:
        Scheduler(services).poll_once()
    finally:
        services.dispose()
    assert [m["Subject"] for m in smtp.handler.to(MARIA[1])] == ["Follow-up due: Still waiting"]


def test_a_worker_task_alerts_follow_ups_like_the_scheduler(
    cli: Cli, maria: RepMailbox, smtp: SmtpSink, database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # With a broker, syncs run as worker tasks (crmsync worker), not in serve's rounds:
    # the task runs the same duties after its sync, so the rep is alerted there too.
    from crmsync.sync_service.workers.tasks import sync_once

    monkeypatch.setenv("SSL_CERT_FILE", str(smtp.ca_file))
    ten_days_ago = (datetime.now(UTC) - timedelta(days=10)).replace(microsecond=0)
    maria.receive(mail("q1", ANA, MARIA, ten_days_ago, "Still waiting"))
    services = make_services(database_url, SECRET_KEY="test-key", IMAP_PUSH=False)
    try:
        assert sync_once(services, maria.name) == "ok"
        sync_once(services, maria.name)  # a second run alerts nothing more
    finally:
        services.dispose()
    assert [m["Subject"] for m in smtp.handler.to(MARIA[1])] == ["Follow-up due: Still waiting"]


def _outbox(cli: Cli) -> list[dict]:
    import json

    return [json.loads(line) for line in cli("cases", "outbox").output.splitlines() if line]


def test_a_rep_with_a_phone_gets_one_text_per_follow_up(
    cli: Cli, maria: RepMailbox, sms_gateway: SmsGatewayDouble
) -> None:
    # The follow-up also reaches Maria's phone through the SMS gateway, once.
    cli.env.update(sms_gateway.env())
    cli("user", "add", MARIA[1], "--phone", "+491511234567")
    cli("cases", "settings", "sms_recipients", "+4930123456")  # support's on-call: not for reps
    maria.receive(mail("q1", ANA, MARIA, FRIDAY_1500, "Questions on the proposal"))
    maria.sync()
    for _ in range(3):
        cli("followups", "check", "--as-of", "2026-10-28T12:00:00Z")
    [text] = sms_gateway.texts
    assert text["to"] == "+491511234567"
    assert text["text"] == "Follow-up due: Questions on the proposal"
