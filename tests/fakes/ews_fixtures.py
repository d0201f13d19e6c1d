"""pytest fixtures for the Exchange double; test modules import the ones they use."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.fakes.ews_server import EwsDouble

_names = itertools.count(1)


@pytest.fixture(scope="session")
def ews_double(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EwsDouble]:
    """One Exchange double (TLS on 127.0.0.1 with a trustme CA) for the whole session."""
    double = EwsDouble().start()
    double.ca_path = double.ca_file(tmp_path_factory.mktemp("ews-ca"))
    yield double
    double.stop()


@pytest.fixture
def ews(ews_double: EwsDouble, monkeypatch: pytest.MonkeyPatch) -> Iterator[EwsDouble]:
    """The double, trusted through ``REQUESTS_CA_BUNDLE``; fault switches are cleared
    after each test."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ews_double.ca_path)
    yield ews_double
    with ews_double.lock:
        ews_double.busy_faults.clear()
        ews_double.locked.clear()
        ews_double.refuse_streaming = False
        ews_double.max_connection_seconds = None


def unique_address(prefix: str = "rep") -> str:
    """An address no other test uses (the double lives for the whole session)."""
    return f"{prefix}{next(_names)}@contoso.com"
