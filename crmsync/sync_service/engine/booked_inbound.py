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


def _booking(writer: Writer, remote_ids: list[str]) -> tuple[BookedMeeting | None, str | None]:
    """The booking one of ``remote_ids`` belongs to, and the change key stored for the
    event whose id is the first of them."""
    mailbox_id = writer.origin.mailbox_id
    if mailbox_id is None or not remote_ids:
        return None, None
    meeting = writer.session.scalars(select(BookedMeeting).where(
        BookedMeeting.mailbox_id == mailbox_id,
        BookedMeeting.remote_id.in_(remote_ids))).first()
    if meeting is not None:
        return meeting, meeting.change_key if meeting.remote_id == remote_ids[0] else None
    occurrence = writer.session.scalars(
        select(BookedOccurrence).join(BookedMeeting).where(
            BookedMeeting.mailbox_id == mailbox_id,
            BookedOccurrence.remote_id.in_(remote_ids))).first()
    if occurrence is None:
        return None, None
    return occurrence.meeting, occurrence.change_key


def claim_booked_event(writer: Writer, change: CalendarEvent) -> bool:
    """Flag the booking ``change`` belongs to (by its id or its series'); return whether
    it belongs to one (the caller then stores nothing else for it).

    The event as crmsync last wrote or read it (the same change key) is its own echo:
    nothing to read again."""
    ids = [change.item_id] + ([change.series_id] if change.series_id else [])
    meeting, known_key = _booking(writer, ids)
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
    meeting, _ = _booking(writer, [change.item_id])
    if meeting is not None:
        meeting.calendar_changed = True
        writer.counters["booked meetings left the calendar view"] += 1
