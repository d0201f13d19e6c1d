"""Business-time arithmetic the follow-up clock relies on: weekends, DST, holiday lists."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crmsync.mapping.cases import first_response_due, parse_business_hours

BERLIN = "Mon-Fri 09:00-17:00 Europe/Berlin"
NEW_YORK = "Mon-Fri 09:00-17:00 America/New_York"


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(("spec", "holidays", "received", "due"), [
    # no holidays at all (businesstimedelta's rule crashed on an empty list)
    (BERLIN, "", at(2026, 10, 21, 8), at(2026, 10, 22, 12)),
    # received at night: the clock starts at 09:00
    (BERLIN, "", at(2026, 10, 20, 22), at(2026, 10, 22, 11)),
    # over the weekend and Berlin's end of summer time (25 Oct 2026)
    (BERLIN, "", at(2026, 10, 23, 13), at(2026, 10, 27, 10)),
    # past the last date of a holiday list (it crashed there too)
    (BERLIN, "2026-10-26", at(2026, 10, 23, 13), at(2026, 10, 28, 10)),
    (BERLIN, "2026-01-01", at(2026, 10, 23, 13), at(2026, 10, 27, 10)),
    # New York leaves summer time on 1 Nov 2026: Fri 30 Oct 15:00 EDT (19:00Z) + 2 h Fri,
    # 8 h Mon, 2 h Tue → Tue 3 Nov 11:00 EST = 16:00Z
    (NEW_YORK, "", at(2026, 10, 30, 19), at(2026, 11, 3, 16)),
    # a country's holidays: Thu 24 Dec is a working day in Germany, 25-26 Dec are not:
    # 8 h Thursday, 4 h Monday 28th → 13:00 CET = 12:00Z (without DE: Fri 25th, 13:00)
    (BERLIN, "DE", at(2026, 12, 24, 8), at(2026, 12, 28, 12)),
    (BERLIN, "", at(2026, 12, 24, 8), at(2026, 12, 25, 12)),
])
def test_twelve_business_hours(spec: str, holidays: str, received: datetime,
                               due: datetime) -> None:
    calendar = parse_business_hours(spec, holidays)
    assert first_response_due(received, 12, calendar) == due
