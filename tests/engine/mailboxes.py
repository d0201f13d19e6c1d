"""Helpers that drive a Dovecot user and its crmsync mailbox through the CLI."""

from __future__ import annotations

from tests.conftest import Cli
from tests.servers.dovecot import DovecotServer, new_user

__all__ = ["add_mailbox", "new_user", "sync"]


def add_mailbox(cli: Cli, server: DovecotServer, user: str, name: str | None = None,
                *extra: str) -> str:
    name = name or user
    cli(
        "mailbox", "add", "imap", name, "--host", server.host, "--port", str(server.port),
        "--security", "none", "--username", user, "--password-env", "TEST_IMAP_PASSWORD",
        "--owner", "maria.lopez@northwind.example", *extra,
        env={"TEST_IMAP_PASSWORD": "pw-" + user},
    )
    return name


def sync(cli: Cli, name: str) -> str:
    return cli("sync", "--mailbox", name, "--once").output
