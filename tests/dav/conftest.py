"""Radicale for the CalDAV/CardDAV tests: one server for the session, a user per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dav.accounts import DavAccount
from tests.servers.radicale import RadicaleServer


@pytest.fixture(scope="session")
def radicale() -> Iterator[RadicaleServer]:
    """A real Radicale on 127.0.0.1 with TLS; a failed start fails the suite."""
    server = RadicaleServer().start()
    yield server
    server.stop()


@pytest.fixture
def account(radicale: RadicaleServer, monkeypatch: pytest.MonkeyPatch) -> DavAccount:
    """A new Radicale user with a calendar and an address book, its CA trusted."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", radicale.ca_path)
    return DavAccount.create(radicale)
