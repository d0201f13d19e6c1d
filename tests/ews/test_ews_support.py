"""An Exchange Server support mailbox: customer mail opens cases, acknowledged once
through EWS CreateItem (SendAndSaveCopy), the copy in Sent Items filed on the case."""

from __future__ import annotations

import email
import json

import pytest

from tests.conftest import Cli, load_sample_crm
from tests.ews.helpers import ANA, add_ews_mailbox, mime, sync
from tests.fakes.ews_server import EwsDouble

#: What these tests hold does not depend on the database (the engine's behaviour on
#: PostgreSQL is covered by test_ews_mail.py and the IMAP and Graph suites): SQLite only,
#: to keep the suite's time.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def cases(cli: Cli) -> list[dict]:
    return [json.loads(line) for line in cli("export", "cases").output.splitlines()]


def outbox(cli: Cli) -> list[dict]:
    return [json.loads(line) for line in cli("cases", "outbox").output.splitlines()]


def sent(ews: EwsDouble, address: str) -> list[email.message.Message]:
    return [email.message_from_bytes(raw) for box, raw in ews.sent if box == address]


def test_support_mailbox_opens_a_case_and_acknowledges_it_once(cli: Cli, ews: EwsDouble) -> None:
    load_sample_crm(cli)
    name, address = add_ews_mailbox(cli, ews, "--purpose", "support", "--no-calendar",
                                    "--no-contacts")
    ews.mailbox(address).add_item("inbox", mime=mime(700, to=("Support", address),
                                                      subject="Printer broken"))
    assert "ok" in sync(cli, ews, name)
    assert [case["number"] for case in cases(cli)] == ["CASE-000001"]
    [ack] = sent(ews, address)
    assert ack["Subject"] == "Re: Printer broken [CASE-000001]"
    assert ack["To"] == ANA[1] and address in ack["From"]
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["In-Reply-To"] == "<ews-700@acme.example>"
    [row] = outbox(cli)
    assert row["status"] == "sent" and row["message_id"] == ack["Message-ID"]

    sync(cli, ews, name)  # the copy in Sent Items is picked up; nothing is sent again
    assert len(sent(ews, address)) == 1
    [case] = cases(cli)
    assert case["first_response_at"] is None  # our own acknowledgement is no response
    assert len(case["activity_ids"]) == 2  # the acknowledgement is filed on the case


def test_a_busy_server_refusing_the_send_is_retried_and_sent_once(
        cli: Cli, ews: EwsDouble) -> None:
    # ErrorServerBusy is Exchange's answer that it did not take the mail: sending again
    # later is safe, and happens exactly once.
    load_sample_crm(cli)
    name, address = add_ews_mailbox(cli, ews, "--purpose", "support", "--no-calendar",
                                    "--no-contacts")
    ews.mailbox(address).add_item("inbox", mime=mime(701, to=("Support", address)))
    busy = ews.busy(100, times=1, operation="CreateItem")
    sync(cli, ews, name, ok=False)
    assert sent(ews, address) == [] and busy.times == 0
    assert [row["status"] for row in outbox(cli)] == ["pending"]
    sync(cli, ews, name)
    assert len(sent(ews, address)) == 1
    assert [row["status"] for row in outbox(cli)] == ["sent"]
