"""The Graph request-budget and push-latency benchmark runs at a tiny size (numbers unchecked)."""

from __future__ import annotations

import pytest

from bench import graph_requests


def test_graph_requests_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    # A small initial sync, a no-change poll and one pushed mail, all against the double.
    numbers = graph_requests.main(["--messages", "30", "--runs", "1"])
    out = capsys.readouterr().out
    assert "Graph requests for 30 messages" in out
    assert "notification-to-CRM latency: median " in out
    assert numbers["items"] == 30 and numbers["latency_median"] > 0
