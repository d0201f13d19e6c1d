"""bench/scale.py end to end at a tiny size: workers capture every mailbox, push latency
is measured (numbers unchecked beyond being there)."""

from __future__ import annotations

import pytest

from bench import scale


def test_scale_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    # Six mailboxes with one worker, then two; then two new mails through serve's push.
    numbers = scale.main(["--mailboxes", "6", "--mails", "3", "--workers", "1,2",
                          "--latency", "2"])
    out = capsys.readouterr().out
    assert "| 2 |" in out and "new mail → CRM with 6 mailboxes watched" in out
    assert numbers["capture_s_1"] > 0 and numbers["capture_s_2"] > 0
    assert 0 < numbers["latency_p50_s"] <= numbers["latency_p95_s"]
