"""One occurrence of a series booked in the CRM, changed or cancelled from the CRM, in a
CalDAV calendar (Radicale): an override VEVENT (RECURRENCE-ID) or an EXDATE in the same
resource, PUT If-Match; the rest of the series and every occurrence's link kept; no
ATTENDEE (so nobody scheduled) unless the meeting was invited."""

from __future__ import annotations

from datetime import UTC, datetime

import icalendar
from sqlalchemy import select

from crmsync.crm.bookings import BookedOccurrence
from tests.conftest import Cli
from tests.dav.accounts import DavAccount
from tests.dav.test_dav_writeback import SQLITE_ONLY, book, meetings, setup, sync


@SQLITE_ONLY
def test_an_occurrence_cancelled_and_another_moved_in_a_caldav_series(
        cli: Cli, account: DavAccount) -> None:
    name = setup(cli, account)
    meeting_id = book(cli, "--repeat", "weekly:3", "--timezone", "Europe/Berlin")
    sync(cli, name)
    cli("calendar", "cancel", meeting_id, "--occurrence", "2026-12-21T09:00:00Z")
    cli("calendar", "update", meeting_id, "--occurrence", "2026-12-28T09:00:00Z", "--start",
        "2026-12-29T15:00:00Z", "--subject", "Fleet review (Tuesday)")
    assert "ok" in sync(cli, name)
    [(href, text)] = account.members("work").items()
    vevents = icalendar.Calendar.from_ical(text).walk("VEVENT")
    [master] = [e for e in vevents if e.get("RECURRENCE-ID") is None]
    [override] = [e for e in vevents if e.get("RECURRENCE-ID") is not None]
    assert str(master["SUMMARY"]) == "Fleet review" and master["RRULE"]["COUNT"] == [3]
    assert [d.dt.astimezone(UTC) for d in master["EXDATE"].dts] == [
        datetime(2026, 12, 21, 9, tzinfo=UTC)]
    assert override["RECURRENCE-ID"].dt.astimezone(UTC) == datetime(2026, 12, 28, 9, tzinfo=UTC)
    assert override["DTSTART"].dt.astimezone(UTC) == datetime(2026, 12, 29, 15, tzinfo=UTC)
    assert str(override["SUMMARY"]) == "Fleet review (Tuesday)"
    assert "ATTENDEE" not in master and "ATTENDEE" not in override
    assert "ana.ruiz@acme.example" in str(override["DESCRIPTION"])
    # The next syncs read the resource back: the CRM keeps its picture, every link kept.
    sync(cli, name)
    sync(cli, name)
    found = meetings(cli)
    assert [(m["subject"], m["occurred_at"]) for m in found] == [
        ("Fleet review", "2026-12-14T09:00:00Z"), ("Fleet review", "2026-12-21T09:00:00Z"),
        ("Fleet review (Tuesday)", "2026-12-29T15:00:00Z")]
    assert all([link["external_id"] for link in m["links"]] == ["opp-1"] for m in found)
    with cli.session() as session:
        assert list(session.scalars(select(BookedOccurrence.status).order_by(
            BookedOccurrence.original_start))) == ["confirmed", "cancelled", "moved"]
    assert len(account.members("work")) == 1
