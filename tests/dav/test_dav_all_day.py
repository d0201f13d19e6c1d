"""All-day meetings booked in the CRM reach a CalDAV calendar (Radicale) as DATE events,
and an app turning one timed (or back) comes back to the booking."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import icalendar
import pytest

from tests.bookings.test_all_day_graph import api_meeting, book_fair
from tests.conftest import Cli
from tests.dav.accounts import DavAccount
from tests.dav.test_dav_writeback import events, meetings, setup, sync

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def edit_in_app(account: DavAccount, href: str, start: object, end: object) -> None:
    """The rep changes the event's times in a calendar app (a newer LAST-MODIFIED)."""
    calendar = icalendar.Calendar.from_ical(account.get(href).text)
    event = calendar.walk("VEVENT")[0]
    for prop, value in (("DTSTART", start), ("DTEND", end),
                        ("LAST-MODIFIED", datetime.now(UTC) + timedelta(seconds=5))):
        event.pop(prop)
        event.add(prop, value)
    account.request("PUT", href.split("/", 2)[2], calendar.to_ical().decode(),
                    {"Content-Type": "text/calendar"})


def test_an_all_day_booking_is_a_date_event_and_comes_back_when_changed(
        cli: Cli, account: DavAccount) -> None:
    name = setup(cli, account)
    meeting_id = book_fair(cli, "--end", "2026-12-16")
    sync(cli, name)
    [(href, event)] = events(account).items()
    assert event["DTSTART"].dt == date(2026, 12, 14) and event["DTEND"].dt == date(2026, 12, 16)
    assert event.get("ATTENDEE") is None  # nobody to schedule
    assert "DTSTART;VALUE=DATE:20261214" in account.get(href).text
    [activity] = meetings(cli)
    assert activity["occurred_at"] == "2026-12-14T00:00:00Z"
    # turned into a timed meeting in the app: the booking follows
    edit_in_app(account, href, datetime(2026, 12, 14, 9, tzinfo=UTC),
                datetime(2026, 12, 14, 10, tzinfo=UTC))
    sync(cli, name)
    assert meetings(cli)[0]["occurred_at"] == "2026-12-14T09:00:00Z"
    assert api_meeting(cli, meeting_id)["all_day"] is False
    # and back to a day in the app; the CRM's next change leaves it a day
    edit_in_app(account, href, date(2026, 12, 15), date(2026, 12, 16))
    sync(cli, name)
    assert [m["occurred_at"] for m in meetings(cli)] == ["2026-12-15T00:00:00Z"]
    assert api_meeting(cli, meeting_id)["all_day"] is True
    cli("calendar", "update", meeting_id, "--subject", "Fair day")
    sync(cli, name)
    [event] = events(account).values()
    assert str(event["SUMMARY"]) == "Fair day" and event["DTSTART"].dt == date(2026, 12, 15)
