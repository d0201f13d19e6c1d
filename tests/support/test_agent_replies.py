"""Agents answer cases through crmsync: the reply leaves the support mailbox once, threaded,
is filed on the case as its first response, and the customer's answer comes back to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.servers.dovecot import DovecotServer
from tests.support.helpers import ANA, Desk, mail
from tests.support.sinks import SmtpSink

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
AGENT = "sam.taylor@northwind.example"
REPLY = "Hello Ana,\n\nplease restart the printer and tell us what the display says.\n"


def reply_from_cli(cli: Cli, tmp_path: Path, number: str, who: str = AGENT,
                   ok: bool = True) -> str:
    body = tmp_path / "reply.txt"
    body.write_text(REPLY, encoding="utf-8")
    return cli("cases", "reply", number, "--as", who, "--body-file", str(body), ok=ok).output


def test_reply_is_sent_once_threaded_counts_as_first_response_and_the_answer_threads_back(
    cli: Cli, dovecot: DovecotServer, smtp: SmtpSink, tmp_path: Path
) -> None:
    # The agent's reply reaches the customer with the token and thread headers, stops the
    # SLA, and the customer's answer to it (no token, only In-Reply-To) joins the case.
    desk = Desk(cli, dovecot, smtp)
    desk.receive(mail(1))
    desk.sync()
    reply_from_cli(cli, tmp_path, "case-000001")
    cli("cases", "deliver")
    [ack, reply] = smtp.handler.to(ANA[1])
    assert reply["Subject"] == "Re: Printer broken [CASE-000001]"
    assert reply["In-Reply-To"] == reply["References"] == "<s1@customer.example>"
    assert reply["From"] == "support@northwind.example"
    assert reply["Auto-Submitted"] is None and ack["Auto-Submitted"] == "auto-replied"
    assert "restart the printer" in reply.get_content()
    [case] = desk.cases()
    assert case["first_response_at"] is not None and case["status"] == "Open"
    assert len(case["activity_ids"]) == 2
    assert cli("cases", "overdue", "--as-of", "2026-12-31T00:00:00Z").output == ""

    answer = mail(2, subject="Re: Printer broken", body="It says E42.\n",
                  In_Reply_To=reply["Message-ID"], References=reply["Message-ID"])
    desk.receive(answer)
    desk.sync()
    [case] = desk.cases()
    assert len(case["activity_ids"]) == 3
    assert len(smtp.handler.to(ANA[1])) == 2  # no second acknowledgement, no resend


def test_a_reply_from_someone_who_may_not_answer_is_refused(
    cli: Cli, dovecot: DovecotServer, smtp: SmtpSink, tmp_path: Path
) -> None:
    # A rep of another team (who does not see support mail) cannot answer; nothing is queued.
    desk = Desk(cli, dovecot, smtp)
    desk.receive(mail(1))
    desk.sync()
    out = reply_from_cli(cli, tmp_path, "CASE-000001", "wei.zhang@northwind.example", ok=False)
    assert "no case CASE-000001 with customer mail you may answer" in out
    assert [row["kind"] for row in desk.outbox()] == ["ack"]
