"""The Microsoft doubles' fixtures for the write-back tests."""

from tests.fakes import graph_fixtures

graph_double = graph_fixtures.graph_double
graph = graph_fixtures.graph
