"""The Exchange double's fixtures for the end-to-end tests."""

from tests.fakes import ews_fixtures

ews_double = ews_fixtures.ews_double
ews = ews_fixtures.ews
