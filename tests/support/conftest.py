"""Fixtures for support mailboxes: an SMTP sink, a webhook receiver, and the Graph double."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes import graph_fixtures
from tests.support import sinks
from tests.support import sms_gateway as gateways
from tests.support.sinks import WebhookSink

smtp = sinks.smtp
relay = sinks.relay
sms_gateway = gateways.sms_gateway


@pytest.fixture
def webhook() -> Iterator[WebhookSink]:
    sink = WebhookSink()
    sink.start()
    yield sink
    sink.stop()


graph_double = graph_fixtures.graph_double
graph = graph_fixtures.graph
