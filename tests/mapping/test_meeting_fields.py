"""The two-way rule for a booked meeting, field by field (crmsync.mapping.meeting_fields)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crmsync.mapping.meeting_fields import merge_fields

EARLY = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LATE = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
AGREED = {"subject": "Review", "start": "09:00"}


@pytest.mark.parametrize(("crm", "calendar", "crm_time", "calendar_time", "to_crm",
                          "to_calendar"), [
    # nobody changed anything
    ({}, {}, EARLY, LATE, {}, {}),
    # only the calendar moved it: the CRM takes the new time
    ({}, {"start": "10:00"}, EARLY, LATE, {"start": "10:00"}, {}),
    # only the CRM renamed it: the calendar takes the subject
    ({"subject": "New"}, {}, LATE, EARLY, {}, {"subject": "New"}),
    # one field each: each side takes the other's, nothing is lost
    ({"subject": "New"}, {"start": "10:00"}, LATE, EARLY, {"start": "10:00"},
     {"subject": "New"}),
    # the same field on both sides, the calendar's later: the calendar's value stands
    ({"start": "11:00"}, {"start": "10:00"}, EARLY, LATE, {"start": "10:00"}, {}),
    # the same field on both sides, the CRM's later: the CRM's value goes to the calendar
    ({"start": "11:00"}, {"start": "10:00"}, LATE, EARLY, {}, {"start": "11:00"}),
    # the calendar's time unknown: its change is never overwritten
    ({"start": "11:00"}, {"start": "10:00"}, LATE, None, {"start": "10:00"}, {}),
    # the same second at Exchange's precision: the calendar's value stands
    ({"start": "11:00"}, {"start": "10:00"}, LATE.replace(microsecond=500), LATE,
     {"start": "10:00"}, {}),
    # both made the same change: nothing to do
    ({"start": "10:00"}, {"start": "10:00"}, LATE, EARLY, {}, {}),
])
def test_merge_fields(crm, calendar, crm_time, calendar_time, to_crm, to_calendar) -> None:
    merge = merge_fields({**AGREED, **crm}, {**AGREED, **calendar}, AGREED,
                         ({k: crm_time for k in crm}, calendar_time), ("subject", "start"))
    assert (merge.to_crm, merge.to_calendar) == (to_crm, to_calendar)
