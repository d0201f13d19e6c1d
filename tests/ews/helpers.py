"""Exchange mailboxes for the end-to-end tests: connected through the CLI, mail as MIME."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from tests.conftest import Cli
from tests.fakes.ews_fixtures import unique_address
from tests.fakes.ews_server import EwsDouble

ANA = ("Ana Ruiz", "ana.ruiz@acme.example")
MARIA = ("Maria Lopez", "maria.lopez@northwind.example")
PASSWORD = "Exch-pass-1"
BASE = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
_names = itertools.count(1)


def mime(n: int, sender: tuple[str, str] = ANA, to: tuple[str, str] = MARIA,
         subject: str | None = None, message_id: str | None = None) -> bytes:
    """Mail number ``n``: RFC 5322 bytes as Exchange's MimeContent holds them."""
    sent = (BASE + timedelta(minutes=n)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    return (f"From: {sender[0]} <{sender[1]}>\r\nTo: {to[0]} <{to[1]}>\r\n"
            f"Subject: {subject or f'Pricing question {n}'}\r\nDate: {sent}\r\n"
            f"Message-ID: {message_id or f'<ews-{n}@acme.example>'}\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Hello, question number {n}.\r\n").encode()


def add_ews_mailbox(cli: Cli, ews: EwsDouble, *extra: str, address: str | None = None,
                    username: str | None = None, password: str = PASSWORD,
                    owner: str = "maria.lopez@northwind.example",
                    auth: str = "basic") -> tuple[str, str]:
    """A new mailbox on the double, connected through `crmsync mailbox add ews`.

    :param username: an account already on the double (else one is added: the address).
    :param auth: ``--auth``: ``basic``, or ``ntlm`` (the command's own default).
    """
    address = address or unique_address()
    if username is None:
        ews.add_user(address, password)
        username = address
    name = f"exch-{next(_names)}"
    cli("mailbox", "add", "ews", name, "--url", ews.url, "--username", username,
        "--password-env", "EWS_PASSWORD", "--auth", auth, "--address", address,
        "--owner", owner, *extra, env={"EWS_PASSWORD": password})
    return name, address


def sync(cli: Cli, ews: EwsDouble, name: str, ok: bool = True) -> str:
    return cli("sync", "--mailbox", name, "--once", ok=ok,
               env={"REQUESTS_CA_BUNDLE": ews.ca_path}).output


def mail_ids(cli: Cli) -> list[str]:
    return sorted(a["internet_message_id"] for a in cli.export_activities()
                  if a["kind"] == "email")
