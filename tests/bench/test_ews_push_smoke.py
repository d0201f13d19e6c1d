"""The Exchange push-latency benchmark runs at a tiny size (numbers unchecked)."""

from __future__ import annotations

import pytest

from bench import ews_push


def test_ews_push_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    # A few mails delivered one at a time reach the CRM through streaming notifications.
    numbers = ews_push.main(["--mails", "3", "--gap", "0"])
    out = capsys.readouterr().out
    assert "EWS requests per mail" in out
    assert out.strip().splitlines()[-1].startswith("ews push latency p50: ")
    assert numbers["max"] > 0
