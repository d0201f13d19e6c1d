"""The contract suite's fixture: one "connector under test" per mail system.

``handle`` is parametrized over :data:`~tests.contract.handles.HANDLE_TYPES`; every
connector the registry knows must have one there
(``test_every_registered_connector_is_under_contract``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contract.handles import HANDLE_TYPES, Handle
from tests.fakes import ews_fixtures, graph_fixtures

graph_double = graph_fixtures.graph_double
graph = graph_fixtures.graph
ews_double = ews_fixtures.ews_double
ews = ews_fixtures.ews


@pytest.fixture
def handle(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Handle]:
    """An empty mailbox on one system, and fresh connectors for it."""
    made = request.param.for_test(request, tmp_path)
    yield made
    made.close()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every contract test runs on every system; one marked ``needs(capability)`` on the
    systems that declare it, only (nothing is skipped)."""
    if "handle" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("needs")
    able = [cls for cls in HANDLE_TYPES
            if marker is None or getattr(cls.supports, marker.args[0])]
    metafunc.parametrize("handle", able, ids=[cls.name for cls in able], indirect=True)
