"""Acknowledgements of a Microsoft 365 support mailbox go out through Graph sendMail."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tests.conftest import Cli, load_sample_crm
from tests.fakes.graph_builders import ANA, MARIA, TOM
from tests.fakes.graph_builders import message as old_message
from tests.fakes.graph_data import iso
from tests.fakes.graph_fixtures import unique
from tests.fakes.graph_server import GraphDouble


def graph_desk(cli: Cli, graph: GraphDouble) -> tuple[str, str]:
    """Register a new double mailbox as a support mailbox through the CLI."""
    address = f"{unique('support')}@northwind.example"
    graph.add_mailbox(address)
    client_id = unique("app-")
    graph.register_app(client_id, secret="s3cret")
    name = unique("desk-")
    cli("mailbox", "add", "graph", name, "--tenant", graph.tenant, "--client-id", client_id,
        "--secret-env", "GRAPH_SECRET", "--address", address, "--authority-url",
        graph.base_url, "--graph-url", graph.base_url, "--purpose", "support",
        "--owner", MARIA[1],
        env={"GRAPH_SECRET": "s3cret"})
    return name, address


def message(n: int, **fields: object) -> dict:
    """A mail that arrives now (mail from before the mailbox was connected gets no ack)."""
    return old_message(n, **fields) | {"receivedDateTime": iso(datetime.now(UTC))}


def sent_mails(graph: GraphDouble, address: str) -> list[dict]:
    return [sent for sent in graph.sent if sent["from"] == address]


def test_graph_support_mailbox_acknowledges_once_through_send_mail(
    cli: Cli, graph: GraphDouble
) -> None:
    # A customer mail in a Microsoft 365 support inbox opens one case and gets exactly one
    # acknowledgement through Graph sendMail, with the token and loop-protection headers.
    load_sample_crm(cli)
    name, address = graph_desk(cli, graph)
    item = message(901, sender=ANA, to=(("Support", address),), subject="Printer broken")
    graph.data.put(address, graph.data.mailbox(address).folder_id("inbox"), item)
    cli("sync", "--once")
    cases = [json.loads(line) for line in cli("export", "cases").output.splitlines()]
    assert [case["number"] for case in cases] == ["CASE-000001"]
    [ack] = sent_mails(graph, address)
    assert ack["mime"] is True
    assert ack["message"]["subject"] == "Re: Printer broken [CASE-000001]"
    assert ack["message"]["toRecipients"] == [{"emailAddress": {"address": ANA[1]}}]
    headers = {h["name"]: h["value"] for h in ack["message"]["internetMessageHeaders"]}
    assert headers["Auto-Submitted"] == "auto-replied"
    assert headers["X-Auto-Response-Suppress"] == "All"
    assert headers["In-Reply-To"] == "<graph901@test.example>"
    assert "[CASE-000001]" in ack["message"]["body"]["content"]
    [row] = [json.loads(line) for line in cli("cases", "outbox").output.splitlines()]
    assert row["status"] == "sent" and row["message_id"] == headers["Message-ID"]

    cli("sync", "--once")  # picks up the acknowledgement in Sent Items; sends nothing
    assert len(sent_mails(graph, address)) == 1
    [case] = [json.loads(line) for line in cli("export", "cases").output.splitlines()]
    assert case["first_response_at"] is None  # our own acknowledgement is no response
    assert len(case["activity_ids"]) == 2  # the acknowledgement is filed on the case


def _outbox(cli: Cli) -> list[dict]:
    return [json.loads(line) for line in cli("cases", "outbox").output.splitlines()]


def test_throttled_send_mail_is_retried_and_a_gateway_timeout_is_never_resent(
    cli: Cli, graph: GraphDouble
) -> None:
    # Graph's 429 (not processed) puts the acknowledgement back and the next round sends it
    # once; a 504 after the POST may have sent it, so it is left for an admin, not resent.
    load_sample_crm(cli)
    _name, address = graph_desk(cli, graph)
    inbox = graph.data.mailbox(address).folder_id("inbox")
    graph.data.put(address, inbox, message(902, sender=ANA, to=(("Support", address),)))
    graph.throttle(1, "1", path_contains=f"/users/{address}/sendMail")
    cli("sync", "--once")
    assert sent_mails(graph, address) == []
    assert [row["status"] for row in _outbox(cli)] == ["pending"]
    cli("sync", "--once")
    assert len(sent_mails(graph, address)) == 1
    assert [row["status"] for row in _outbox(cli)] == ["sent"]

    # another sender: acknowledgements are capped at one per sender and hour
    graph.data.put(address, inbox, message(903, sender=TOM, to=(("Support", address),),
                                           subject="Scanner broken"))
    graph.throttle(1, None, path_contains=f"/users/{address}/sendMail",
                   code="GatewayTimeout", status=504)
    cli("sync", "--once")
    cli("sync", "--once")
    assert len(sent_mails(graph, address)) == 1
    unknown = [row for row in _outbox(cli) if row["status"] == "sending"]
    assert len(unknown) == 1 and "delivery unknown" in unknown[0]["last_error"]


def test_sla_alert_of_a_graph_case_is_mailed_once_through_send_mail(
    cli: Cli, graph: GraphDouble
) -> None:
    # A breached case of a Microsoft 365 support mailbox alerts its owner once, via sendMail,
    # however often the check runs.
    load_sample_crm(cli)
    _name, address = graph_desk(cli, graph)
    graph.data.put(address, graph.data.mailbox(address).folder_id("inbox"),
                   message(3, sender=ANA, to=(("Support", address),), subject="Printer broken"))
    cli("sync", "--once")
    for _ in range(3):
        cli("cases", "check-sla", "--as-of", "2026-11-03T00:00:00Z")
    alerts = [m["message"] for m in sent_mails(graph, address)
              if m["message"]["toRecipients"] == [{"emailAddress": {"address": MARIA[1]}}]]
    assert [alert["subject"] for alert in alerts] == [
        "[CASE-000001] SLA breached: Printer broken"]
    headers = {h["name"]: h["value"] for h in alerts[0]["internetMessageHeaders"]}
    assert headers["Auto-Submitted"] == "auto-generated"
    assert headers["X-Auto-Response-Suppress"] == "All"


def test_an_agent_reply_goes_out_through_send_mail_and_its_sent_copy_is_the_same_activity(
    cli: Cli, graph: GraphDouble, tmp_path
) -> None:
    # The reply of a Microsoft 365 support mailbox is sent by sendMail with the thread
    # headers; the copy Graph files in Sent Items merges into the reply on the case.
    load_sample_crm(cli)
    _name, address = graph_desk(cli, graph)
    graph.data.put(address, graph.data.mailbox(address).folder_id("inbox"),
                   message(904, sender=ANA, to=(("Support", address),), subject="Printer broken"))
    cli("sync", "--once")
    body = tmp_path / "reply.txt"
    body.write_text("Please restart it.\n", encoding="utf-8")
    cli("cases", "reply", "CASE-000001", "--as", "sam.taylor@northwind.example",
        "--body-file", str(body))
    [reply] = [m["message"] for m in sent_mails(graph, address)
               if m["message"]["subject"] == "Re: Printer broken [CASE-000001]"
               and "Please restart it." in m["message"]["body"]["content"]]
    headers = {h["name"]: h["value"] for h in reply["internetMessageHeaders"]}
    assert headers["In-Reply-To"] == "<graph904@test.example>"
    assert "Auto-Submitted" not in headers
    cli("sync", "--once")  # the Sent Items copies of the acknowledgement and the reply
    [case] = [json.loads(line) for line in cli("export", "cases").output.splitlines()]
    assert len(case["activity_ids"]) == 3  # the mail, the acknowledgement, the reply
    assert case["first_response_at"] is not None
