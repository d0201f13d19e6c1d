"""Events of meetings booked in the CRM, seen by the calendar's sync: flagged, not captured.

The calendar sync (``calendarView/delta``, EWS ``SyncFolderItems``, a CalDAV sync
token) returns the events crmsync wrote, and the rep's later changes to them. They
already have their activities (one per occurrence, with the CRM's links), so they are
not captured again as new meetings; their booking is flagged instead, and the
write-back at the end of the same sync reads the event and applies the two-way rule
(:mod:`.calendar_writeback`). A removal in a delta is flagged the same way and never
taken as a cancellation by itself: the write-back reads the event, and only an event
the calendar no longer holds cancels the booking.
"""

from __future__ import annotations

from sqlalchemy import select

from crmsync.connectors.base import CalendarEvent, Deletion
from crmsync.crm.bookings import BookedMeeting, BookedOccurrence
from crmsync.sync_service.engine.page import Writer


def _booking(writer: Writer, item_id: str, series_id: str | None = None
             ) -> tuple[BookedMeeting | None, str | None]:
    """The booking an event belongs to, and the change key crmsync holds for it: an
    occurrence's own (Graph), else the event's, else its series' (Exchange's records of
    a series carry the series item's version)."""
    mailbox_id = writer.origin.mailbox_id
    if mailbox_id is None:
        return None, None
    occurrence = writer.session.scalars(
        select(BookedOccurrence).join(BookedMeeting).where(
            BookedMeeting.mailbox_id == mailbox_id,
            BookedOccurrence.remote_id == item_id)).first()
    if occurrence is not None:
        return occurrence.meeting, occurrence.change_key
    for remote_id in (item_id, series_id):
        if remote_id is None:
            continue
        meeting = writer.session.scalars(select(BookedMeeting).where(
            BookedMeeting.mailbox_id == mailbox_id,
            BookedMeeting.remote_id == remote_id)).first()
        if meeting is not None:
            return meeting, meeting.change_key
    return None, None


def claim_booked_event(writer: Writer, change: CalendarEvent) -> bool:
    """Flag the booking ``change`` belongs to (by its id or its series'); return whether
    it belongs to one (the caller then stores nothing else for it).

    The event as crmsync last wrote or read it (the same change key) is its own echo:
    nothing to read again."""
    meeting, known_key = _booking(writer, change.item_id, change.series_id)
    if meeting is None:
        return False
    if change.change_key is not None and change.change_key == known_key:
        writer.counters["booked meetings seen unchanged in the calendar"] += 1
        return True
    meeting.calendar_changed = True
    writer.counters["booked meetings seen in the calendar"] += 1
    return True


def note_booked_removal(writer: Writer, change: Deletion) -> None:
    """Flag the booking whose event (or occurrence) left the synced view, to be read."""
    meeting, _ = _booking(writer, change.item_id)
    if meeting is not None:
        meeting.calendar_changed = True
        writer.counters["booked meetings left the calendar view"] += 1
