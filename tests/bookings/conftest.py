"""The Microsoft doubles' fixtures for the write-back tests."""

from tests.fakes import graph_fixtures

graph_double = graph_fixtures.graph_double
graph = graph_fixtures.graph

from tests.fakes import ews_fixtures  # noqa: E402

ews_double = ews_fixtures.ews_double
ews = ews_fixtures.ews
