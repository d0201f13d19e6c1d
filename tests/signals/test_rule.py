"""The relationship-signal rule on its own: two-way mail, meetings, recency, going quiet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crmsync.crm.signals import _Event, signals_of

T = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def ago(days: float) -> datetime:
    return T - timedelta(days=days)


def thread(key: str, days: float) -> list[_Event]:
    """A customer mail and our answer, ``days`` ago."""
    return [_Event("email", "inbound", key, ago(days)),
            _Event("email", "outbound", key, ago(days) + timedelta(hours=2))]


def weekly(weeks: int, silent_days: float) -> list[_Event]:
    """A thread a week for ``weeks`` weeks, the last one ``silent_days`` ago."""
    return [e for w in range(weeks) for e in thread(f"w{w}", silent_days + 7 * w)]


def test_only_two_way_mail_and_meetings_count() -> None:
    # An unanswered newsletter and an unanswered inbound mail are no exchange.
    events = [*thread("t1", 10), _Event("email", "outbound", "news", ago(5)),
              _Event("email", "inbound", "cold", ago(4)), _Event("meeting", "", "", ago(40)),
              _Event("email", "internal", "t1", ago(9))]
    s = signals_of(events, T)
    assert (s.mails_30d, s.mails_90d, s.meetings_30d, s.meetings_90d) == (2, 2, 0, 1)
    assert s.last_exchange == ago(10) + timedelta(hours=2)
    assert s.days_since == 9


@pytest.mark.parametrize(("events", "quiet"), [
    # weekly for 20 weeks, silent 22 days: > 3 × 7 → quiet
    (weekly(20, 22), True),
    # ... silent 20 days: not yet
    (weekly(20, 20), False),
    # daily for 30 days, silent 8 days: > max(3 × 1, 7)
    ([e for d in range(30) for e in thread(f"d{d}", 8 + d)], True),
    # daily, silent 5 days: under the 7-day floor
    ([e for d in range(30) for e in thread(f"d{d}", 5 + d)], False),
    # too little history (4 days of exchange), long silence: never "going quiet"
    (weekly(4, 60), False),
    # nothing at all
    ([], False),
])
def test_going_quiet_against_its_own_history(events: list[_Event], quiet: bool) -> None:
    assert signals_of(events, T).going_quiet is quiet


def test_a_burst_on_one_day_is_one_day_of_history() -> None:
    # Ten threads on one day and four other weekly days: five days, median gap 7.
    events = [e for n in range(10) for e in thread(f"b{n}", 50)] + weekly(4, 22)
    s = signals_of(events, T)
    assert (s.active_days_180d, s.median_gap_days) == (5, 7.0)
    assert s.going_quiet is True
