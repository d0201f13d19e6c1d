"""Fixtures for connector tests: a TLS Dovecot, a user per test, connectors, IMAP logs.

``dovecot`` and ``dovecot_without_condstore`` are the session's servers of tests/conftest.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest
import trustme

from crmsync.connectors.imap import ImapConnector, ImapSettings
from tests.servers import dovecot as dovecot_servers
from tests.servers.dovecot import DovecotServer


@pytest.fixture(scope="session")
def dovecot_tls() -> Iterator[DovecotServer]:
    """A Dovecot with implicit TLS and STARTTLS, certificate from a private CA."""
    with DovecotServer(tls=True, ca=trustme.CA()) as server:
        yield server


@pytest.fixture
def new_user() -> Callable[[DovecotServer], str]:
    """Return a function adding a fresh user (password ``pw``) to a server."""

    def add(server: DovecotServer) -> str:
        return dovecot_servers.new_user(server, "pw")

    return add


@pytest.fixture
def user(dovecot: DovecotServer, new_user: Callable[[DovecotServer], str]) -> str:
    """A fresh, empty mailbox on :func:`dovecot`."""
    return new_user(dovecot)


@pytest.fixture
def connect() -> Iterator[Callable[..., ImapConnector]]:
    """Return ``connect(server, user, **settings)`` → ImapConnector, closed after the test."""
    opened: list[ImapConnector] = []

    def make(server: DovecotServer, user: str, secret: str = "pw", **options: object):
        options.setdefault("security", "none")
        port = options.pop("port", server.port)
        settings = ImapSettings(server.host, port, username=user, **options)  # type: ignore[arg-type]
        connector = ImapConnector(settings, secret)
        opened.append(connector)
        return connector

    yield make
    for connector in opened:
        connector.close()


class CommandLog(logging.Handler):
    """Collect the IMAP commands imapclient sends (its debug log lines ``> TAG CMD``).

    ``commands`` holds each command's name (``EXAMINE``, ``UID SEARCH``), ``lines`` the
    whole line without its tag.
    """

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.commands: list[str] = []
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("> "):
            words = message[2:].strip("b'\"").split()
            if len(words) > 1:
                rest = words[1:]
                self.commands.append(" ".join(rest[:2] if rest[0] == "UID" else rest[:1]))
                self.lines.append(" ".join(rest))

    def clear(self) -> None:
        """Forget what was sent so far."""
        self.commands.clear()
        self.lines.clear()


@pytest.fixture
def imap_commands() -> Iterator[CommandLog]:
    """Record every IMAP command sent while the test runs."""
    handler = CommandLog()
    logger = logging.getLogger("imapclient")
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old_level)
