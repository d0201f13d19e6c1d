"""A rep's mailbox on a real Dovecot, and customer mail to it, driven through the CLI."""

from __future__ import annotations

import json
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from tests.conftest import Cli, load_sample_crm
from tests.engine.mailboxes import add_mailbox, new_user
from tests.servers.dovecot import DovecotServer
from tests.support.sinks import SmtpSink

MARIA = ("Maria Lopez", "maria.lopez@northwind.example")  # rep, Sales EMEA: Acme, Globex
WEI = ("Zhang Wei", "wei.zhang@northwind.example")  # rep, Sales APAC: Yunfan
ANA = ("Ana Ruiz", "ana.ruiz@acme.example")  # contact at Acme, on opp-1
HANK = ("Hank Scorpio", "hank@globex.example")  # contact at Globex, on opp-2
LI = ("李晓明", "xiaoming.li@yunfan.example.cn")  # contact at Yunfan (Wei's)


def mail(key: str, sender: tuple[str, str], to: tuple[str, str], when: datetime,
         subject: str = "Fleet renewal", **headers: str) -> bytes:
    """A mail with Message-ID ``<key@test.example>``; extra headers by name (In_Reply_To)."""
    message = EmailMessage()
    message["From"] = formataddr(sender)
    message["To"] = formataddr(to)
    message["Subject"] = subject
    message["Date"] = format_datetime(when)
    message["Message-ID"] = f"<{key}@test.example>"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("Hello,\n\nsee below.\n")
    return bytes(message)


class RepMailbox:
    """One rep's mailbox: a Dovecot user with an Inbox and Sent, synced by crmsync."""

    def __init__(self, cli: Cli, dovecot: DovecotServer, owner: tuple[str, str],
                 load_crm: bool = True, smtp: SmtpSink | None = None) -> None:
        if load_crm:
            load_sample_crm(cli)
        self.cli, self.dovecot = cli, dovecot
        self.user = new_user(dovecot)
        dovecot.create_folder(self.user, "Sent")
        sending: tuple[str, ...] = ()
        if smtp is not None:  # the rep's own submission account, for the alerts
            smtp.handler.passwords[self.user] = "pw-" + self.user
            cli.env["SSL_CERT_FILE"] = str(smtp.ca_file)
            sending = ("--smtp-host", smtp.host, "--smtp-port", str(smtp.port),
                       "--smtp-security", "starttls")
        self.name = add_mailbox(cli, dovecot, self.user, None, "--owner", owner[1], *sending)

    def receive(self, raw: bytes, folder: str = "INBOX") -> None:
        self.dovecot.append(self.user, folder, raw)

    def sync(self) -> None:
        self.cli("sync", "--mailbox", self.name, "--once")


def followups(cli: Cli, as_of: str, *extra: str) -> list[dict]:
    out = cli("followups", "--as-of", as_of, *extra).output
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def subjects(cli: Cli, as_of: str, *extra: str) -> list[str]:
    return [f["mail"]["subject"] for f in followups(cli, as_of, *extra)]
