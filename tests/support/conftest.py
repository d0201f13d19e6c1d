"""Fixtures for support mailboxes: an SMTP sink, a webhook receiver, and the Graph double."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes import graph_fixtures
from tests.support.sinks import SmtpSink, WebhookSink


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpSink]:
    sink = SmtpSink(tmp_path)
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def webhook() -> Iterator[WebhookSink]:
    sink = WebhookSink()
    sink.start()
    yield sink
    sink.stop()


graph_double = graph_fixtures.graph_double
graph = graph_fixtures.graph
