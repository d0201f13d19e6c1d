"""The Graph double's fixtures for the end-to-end tests."""

from tests.fakes import graph_fixtures

graph_double = graph_fixtures.graph_double
graph = graph_fixtures.graph
