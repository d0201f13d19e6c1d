"""Fixtures for follow-up alerts: the SMTP sink and a webhook receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import sinks
from tests.support.sinks import WebhookSink

smtp = sinks.smtp


@pytest.fixture
def webhook() -> Iterator[WebhookSink]:
    sink = WebhookSink()
    sink.start()
    yield sink
    sink.stop()
