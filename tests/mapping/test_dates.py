from datetime import UTC, datetime, timedelta, timezone

import pytest

from crmsync.mapping.dates import choose_occurred_at, parse_date_header
from tests.mapping.test_addresses import HEADERS

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
RECEIVED = datetime(2024, 5, 31, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("date", "received", "expected"),
    [
        ("Fri, 31 May 2024 10:00:00 +0200", RECEIVED, datetime(2024, 5, 31, 8, 0, tzinfo=UTC)),
        # no zone: UTC
        ("Fri, 31 May 2024 10:00:00", RECEIVED, datetime(2024, 5, 31, 10, 0, tzinfo=UTC)),
        ("Fri, 31 May 2024 10:00:00 -0000", None, datetime(2024, 5, 31, 10, 0, tzinfo=UTC)),
        # up to a day of clock skew is believed
        ("Sun, 2 Jun 2024 11:00:00 +0000", None, datetime(2024, 6, 2, 11, 0, tzinfo=UTC)),
        # further in the future, or before 1990: a broken clock
        ("Mon, 3 Jun 2024 12:00:01 +0000", RECEIVED, RECEIVED),
        ("Thu, 1 Jan 1970 00:00:00 +0000", RECEIVED, RECEIVED),
        ("Thu, 1 Jan 1970 00:00:00 +0000", None, NOW),
        # unreadable or missing
        ("yesterday-ish", RECEIVED, RECEIVED),
        ("", None, NOW),
        (None, None, NOW),
        # a naive received_at is UTC
        (None, datetime(2024, 5, 31, 8, 0), RECEIVED),
    ],
)
def test_choose_occurred_at(
    date: str | None, received: datetime | None, expected: datetime
) -> None:
    # The Date header is trusted only when plausible, then received_at, then now.
    chosen = choose_occurred_at(date, received, NOW)
    assert chosen == expected
    assert chosen.tzinfo is UTC


def test_choose_occurred_at_converts_aware_now() -> None:
    # Whatever zone the caller's clock is in, the result is UTC.
    now = NOW.astimezone(timezone(timedelta(hours=9)))
    assert choose_occurred_at(None, None, now).tzinfo is UTC


def test_real_world_date_corpus_parses() -> None:
    # Every real Date header value parses or is refused, never raises; most parse.
    lines = (HEADERS / "date-corpus-jlingle.txt").read_text().splitlines()
    parsed = [parse_date_header(line) for line in lines]
    assert all(value is None or value.tzinfo is UTC for value in parsed)
    assert sum(value is not None for value in parsed) > 0.95 * len(lines)
