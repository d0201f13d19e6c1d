"""Drive a support mailbox on a real Dovecot through the CLI, with mail sent to the SMTP sink."""

from __future__ import annotations

import json
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from tests.conftest import Cli, load_sample_crm
from tests.engine.mailboxes import add_mailbox, new_user
from tests.engine.mails import BASE
from tests.servers.dovecot import DovecotServer
from tests.support.sinks import SmtpSink

SUPPORT = ("Northwind Support", "support@northwind.example")
ANA = ("Ana Ruiz", "ana.ruiz@acme.example")
STRANGER = ("Sam Stranger", "sam@unknown-customer.example")


class Desk:
    """One support mailbox: a Dovecot user, its crmsync mailbox, its SMTP account."""

    def __init__(self, cli: Cli, dovecot: DovecotServer, smtp: SmtpSink, *extra: str) -> None:
        load_sample_crm(cli)
        self.cli, self.dovecot, self.smtp = cli, dovecot, smtp
        self.user = new_user(dovecot)
        dovecot.create_folder(self.user, "Sent")
        smtp.handler.passwords[self.user] = "pw-" + self.user
        cli.env["SSL_CERT_FILE"] = str(smtp.ca_file)  # trust the sink's test CA
        self.name = add_mailbox(
            cli, dovecot, self.user, None, "--purpose", "support",
            "--smtp-host", smtp.host, "--smtp-port", str(smtp.port), "--smtp-security", "starttls",
            *extra,
        )

    def receive(self, raw: bytes, folder: str = "INBOX") -> None:
        self.dovecot.append(self.user, folder, raw)

    def sync(self) -> str:
        return self.cli("sync", "--mailbox", self.name, "--once").output

    def cases(self) -> list[dict]:
        out = self.cli("export", "cases").output
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def outbox(self) -> list[dict]:
        out = self.cli("cases", "outbox").output
        return [json.loads(line) for line in out.splitlines() if line.strip()]


def mail(
    n: int, sender: tuple[str, str] = ANA, subject: str = "Printer broken",
    body: str = "Hello,\n\nmy printer is broken.\n", **headers: str,
) -> bytes:
    """Mail number ``n`` to the support address; extra headers by name (In_Reply_To=...)."""
    message = EmailMessage()
    message["From"] = formataddr(sender)
    message["To"] = formataddr(SUPPORT)
    message["Subject"] = subject
    message["Date"] = format_datetime(BASE + timedelta(minutes=n))
    message["Message-ID"] = f"<s{n}@customer.example>"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return bytes(message)
