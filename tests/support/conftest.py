"""Fixtures for support mailboxes: an SMTP sink, a webhook receiver, and the Graph double."""

from __future__ import annotations

from tests.fakes import graph_fixtures
from tests.support import sinks
from tests.support import sms_gateway as gateways

smtp = sinks.smtp
relay = sinks.relay
sms_gateway = gateways.sms_gateway
webhook = sinks.webhook

graph_double = graph_fixtures.graph_double
graph = graph_fixtures.graph
