"""bench/followups.py at a tiny size: the check and the report run and are timed."""

from __future__ import annotations

import pytest

from bench import followups


def test_followups_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    # Two reps, 200 customer mails, 80% answered: some follow-ups, every account reported.
    numbers = followups.main(["--reps", "2", "--mails", "200"])
    out = capsys.readouterr().out
    assert "| 2 | 80 |" in out and "follow-ups per second" in out
    assert 0 < numbers["followups"] < 200 and numbers["followups_s"] > 0
