"""The EWS request-budget benchmark runs at a tiny size (numbers unchecked beyond sanity)."""

from __future__ import annotations

import pytest

from bench import ews_requests


def test_ews_requests_smoke(capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "")  # the benchmark trusts its own double
    numbers = ews_requests.main(["--messages", "30", "--batch", "8"])
    out = capsys.readouterr().out
    assert "EWS requests per 10,000 messages: " in out
    assert numbers["items"] == 30
    assert numbers["poll"] == 4  # Inbox, Sent Items, calendar, contacts: one request each
