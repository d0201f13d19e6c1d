"""Connectors declare what they can beyond reading, and do it: send, idle, subscribe."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from crmsync.connectors.base import (
    Connector,
    Idling,
    Sending,
    SendRefusedError,
    Subscribing,
    supports,
)
from crmsync.connectors.files import FileConnector
from crmsync.connectors.graph import GraphConnector
from crmsync.connectors.imap import ImapConnector
from tests.fakes import graph_fixtures
from tests.fakes.graph_fixtures import unique
from tests.fakes.graph_server import GraphDouble
from tests.servers import free_port
from tests.support.sinks import SmtpSink

graph_double = graph_fixtures.graph_double
graph = graph_fixtures.graph

SENDER = "support@northwind.example"


@pytest.mark.parametrize(("connector", "sends", "idles", "subscribes"), [
    (ImapConnector, True, True, False),  # SMTP submission; IMAP IDLE
    (GraphConnector, True, False, True),  # sendMail; change notifications
    (FileConnector, False, False, False),  # mail files only read
])
def test_connectors_declare_their_capabilities(
    connector: type[Connector], sends: bool, idles: bool, subscribes: bool
) -> None:
    # The service asks the capability, never the class: each connector says what it can.
    declared = [supports(connector, c) for c in (Sending, Idling, Subscribing)]
    assert declared == [sends, idles, subscribes]


@pytest.fixture
def smtp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpSink]:
    """The support tests' SMTP sink (STARTTLS, AUTH), its test CA trusted."""
    sink = SmtpSink(tmp_path)
    sink.handler.passwords[SENDER] = "pw"
    monkeypatch.setenv("SSL_CERT_FILE", str(sink.ca_file))
    sink.start()
    yield sink
    sink.stop()


def imap_connector(smtp: SmtpSink, password: str = "pw") -> ImapConnector:
    """An IMAP mailbox whose stored settings name the sink as its submission server."""
    settings = {"host": "127.0.0.1", "port": 1, "security": "none", "username": SENDER,
                "smtp_host": smtp.host, "smtp_port": smtp.port, "smtp_security": "starttls"}
    connector = ImapConnector.from_settings(settings, password)
    assert connector.send_settings_problem(settings) == ""
    return connector


def mail(message_id: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Northwind Support <{SENDER}>"
    message["To"] = "ana.ruiz@acme.example"
    message["Subject"] = "Re: Printer broken"
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-replied"
    message.set_content("We got it.\n")
    return message


def test_imap_connector_sends_through_a_real_smtp_server(smtp: SmtpSink) -> None:
    # The mail reaches the submission server once, and the point of no return came
    # before the server held anything.
    held_then: list[int] = []
    with imap_connector(smtp) as connector:
        receipt = connector.send(mail("<m1@northwind.example>"),
                                 lambda: held_then.append(len(smtp.handler.messages)))
    assert held_then == [0]
    [received] = smtp.handler.to("ana.ruiz@acme.example")
    assert received["Message-ID"] == "<m1@northwind.example>"
    assert received["Auto-Submitted"] == "auto-replied"
    assert receipt.message_id == "<m1@northwind.example>" and receipt.reply.startswith("250")


def test_a_refused_recipient_sends_nothing_and_never_reaches_the_point_of_no_return(
    smtp: SmtpSink,
) -> None:
    # A refusal in the envelope is safe to retry: nothing was handed over.
    async def no_such_user(*_args: object) -> str:
        return "550 5.1.1 no such user"

    smtp.handler.handle_RCPT = no_such_user  # type: ignore[method-assign]
    reached: list[bool] = []
    with imap_connector(smtp) as connector, \
            pytest.raises(SendRefusedError, match="recipient refused: 550"):
        connector.send(mail("<m2@northwind.example>"), lambda: reached.append(True))
    assert reached == [] and smtp.handler.messages == []


def test_an_unreachable_server_is_a_refusal() -> None:
    # Nothing listens: the mail cannot be with any server, so retrying is safe.
    settings = {"host": "127.0.0.1", "username": SENDER, "smtp_host": "127.0.0.1",
                "smtp_port": free_port(), "smtp_security": "none"}
    with ImapConnector.from_settings(settings, "pw") as connector, \
            pytest.raises(SendRefusedError, match="SMTP 127.0.0.1"):
        connector.send(mail("<m5@northwind.example>"), lambda: pytest.fail("not reached"))


def test_imap_mailbox_without_smtp_settings_cannot_send() -> None:
    # Queueing asks this first, so no mail waits for a mailbox that can never send it.
    settings = {"host": "127.0.0.1", "username": SENDER}
    assert ImapConnector.send_settings_problem(settings) == "has no SMTP settings to send from"
    with ImapConnector.from_settings(settings, "pw") as connector, \
            pytest.raises(SendRefusedError):
        connector.send(mail("<m3@northwind.example>"))


def test_graph_connector_sends_the_mime_form_as_the_mailbox(graph: GraphDouble) -> None:
    # sendMail gets the whole MIME mail (every header kept), from the mailbox itself.
    address = f"{unique('support')}@northwind.example"
    client_id = unique("app-")
    graph.register_app(client_id, secret="s3cret")
    graph.add_mailbox(address)
    settings = {"tenant": graph.tenant, "client_id": client_id, "address": address,
                "authority_url": graph.base_url, "graph_url": graph.base_url}
    reached: list[bool] = []
    with GraphConnector.from_settings(settings, "s3cret") as connector:
        receipt = connector.send(mail("<m4@northwind.example>"), lambda: reached.append(True))
    [sent] = [s for s in graph.sent if s["from"] == address]
    headers = {h["name"]: h["value"] for h in sent["message"]["internetMessageHeaders"]}
    assert sent["mime"] is True and reached == [True] and receipt.reply == "202"
    assert headers["From"] == address and headers["Message-ID"] == "<m4@northwind.example>"
    assert headers["Auto-Submitted"] == "auto-replied"
