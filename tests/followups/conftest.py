"""Fixtures for follow-up alerts: the SMTP sink and a webhook receiver."""

from __future__ import annotations

from tests.support import sinks

smtp = sinks.smtp
webhook = sinks.webhook
