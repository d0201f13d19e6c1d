"""pytest fixtures for the Graph double; test modules import the ones they use."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.fakes.graph_server import GraphDouble

_names = itertools.count(1)


@pytest.fixture(scope="session")
def graph_double(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GraphDouble]:
    """One Graph double (TLS on 127.0.0.1 with a trustme CA) for the whole session."""
    double = GraphDouble().start()
    double.ca_path = double.ca_file(tmp_path_factory.mktemp("graph-ca"))
    yield double
    double.stop()


@pytest.fixture
def graph(graph_double: GraphDouble, monkeypatch: pytest.MonkeyPatch) -> Iterator[GraphDouble]:
    """The double, trusted through ``REQUESTS_CA_BUNDLE``; faults and the browser
    sign-in switches are cleared after each test."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", graph_double.ca_path)
    yield graph_double
    graph_double.faults.clear()
    graph_double.denied.clear()
    graph_double.signin.reset()


def unique(prefix: str) -> str:
    """A name no other test uses (the double lives for the whole session)."""
    return f"{prefix}{next(_names)}"
