"""Capability: write meetings booked in the CRM to the mailbox's calendar, and read them back.

This is the interface a calendar writer implements (Graph: ``connectors/graph/events.py``,
Exchange: ``connectors/ews/calendar_writes.py``; a CalDAV connector the same way). The
engine (:mod:`crmsync.sync_service.engine.calendar_writeback`) calls it during the
owner's mailbox sync and keeps what it returns; the writer knows nothing of the CRM.

Terminology:

REMOTE_ID
    The calendar's id of the event (Graph ``id``, EWS ``ItemId/@Id``, a CalDAV href).
    For a series: the master's; each occurrence has its own (``occurrences``).
CHANGE_KEY
    The calendar's version of the event (Graph ``@odata.etag``, EWS ``ChangeKey``, a
    CalDAV ``ETag``). A write names the version it was made against; a calendar that
    holds another version refuses it (:class:`CalendarChangedError`: Graph 412 on
    ``If-Match``, EWS ``ErrorIrresolvableConflict``, CalDAV 412 on ``If-Match``), so a
    newer change made in the calendar is never written over blindly.

Invitations (the rule every writer keeps): with ``invite`` false nobody but the
mailbox's owner hears of the meeting. A writer whose provider sends meeting requests
whenever an event has attendees (Graph: "when an event is sent, the server sends
invitations to all the attendees", user-post-events) writes the people into the body
instead of the attendee list; Exchange is told ``SendToNone``; CalDAV omits ATTENDEE
(or sets ``SCHEDULE-AGENT=CLIENT``) so the server schedules nothing. With ``invite``
true the attendees get the provider's requests, then its updates and cancellation.

A writer raises :class:`crmsync.errors.AuthError` / :class:`TransientError` like the
rest of its connector; any other refusal is :class:`CalendarWriteError`.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from crmsync.errors import CrmSyncError

#: the fields a writer writes and reads back; :class:`EventDraft` and :class:`EventState`
#: carry them under these names
FIELDS = ("subject", "start", "end", "attendees")


@dataclass(frozen=True, slots=True)
class EventDraft:
    """A meeting as the CRM wants it in the calendar.

    :param start: aware; the writer sends it in ``tzid`` (a series repeats at that
        zone's wall-clock time) or UTC.
    :param attendees: lower-case addresses (never the owner's).
    :param invite: whether the attendees get meeting requests (see the module docstring).
    :param weekly_count: ``N``: a weekly series of N occurrences from ``start``;
        ``None``: one meeting.
    :param body: the text written in the event (the CRM's links, and the people when
        they are not invited).
    :param crm_ref: crmsync's own id for the meeting, kept in the event where the
        provider allows (Graph single-value extended property, an X- property), so a
        lost answer can be recognised.
    :param all_day: an all-day event: ``start``/``end`` are midnight UTC of the first
        day and of the day after the last (end exclusive); the writer writes those days
        (Graph ``isAllDay`` at midnight in ``tzid``, EWS ``IsAllDayEvent``, iCalendar
        ``VALUE=DATE``).
    """

    subject: str
    start: datetime
    end: datetime
    attendees: tuple[str, ...]
    invite: bool
    body: str = ""
    tzid: str = "UTC"
    weekly_count: int | None = None
    crm_ref: str = ""
    all_day: bool = False


@dataclass(frozen=True, slots=True)
class EventState:
    """An event (or one occurrence of a series) as the calendar holds it now.

    :param attendees: the invited attendees (empty when the people are only in the body).
    :param original_start: an occurrence's slot in its series (UTC), else ``None``.
    :param modified_at: when the calendar last changed it (Graph
        ``lastModifiedDateTime``, EWS ``LastModifiedTime``, CalDAV ``LAST-MODIFIED``).
    :param all_day: an all-day event; ``start``/``end`` are then its days' midnight UTC
        (as :class:`EventDraft`'s), whatever zone the calendar keeps it in.
    """

    remote_id: str
    change_key: str
    subject: str
    start: datetime
    end: datetime
    attendees: tuple[str, ...] = ()
    ical_uid: str | None = None
    original_start: datetime | None = None
    modified_at: datetime | None = None
    is_cancelled: bool = False
    all_day: bool = False


@dataclass(frozen=True, slots=True)
class OccurrenceRef:
    """One occurrence of a series, as a writer needs it to change or cancel it alone.

    :param series_id: the series master's REMOTE_ID.
    :param remote_id: the occurrence's own id as :meth:`CalendarWriting.occurrences`
        gave it (Graph's instance id), or ``None`` when it was never read.
    :param index: its 1-based position in the series (EWS ``InstanceIndex``).
    :param original_start: its slot in the series (UTC; CalDAV ``RECURRENCE-ID``).
    :param change_key: the occurrence's version as last read (the series' for a writer
        whose occurrences share the master's version, CalDAV's resource ETag).
    """

    series_id: str
    remote_id: str | None
    index: int
    original_start: datetime
    change_key: str


class CalendarWriteError(CrmSyncError):
    """The calendar refused the write for a reason retrying will not fix."""


class CalendarChangedError(CalendarWriteError):
    """The event changed in the calendar since the change key the write named."""


class CalendarWriting(abc.ABC):
    """Capability: create, change, read and remove events in the mailbox's calendar.

    Ask with ``supports(connector, CalendarWriting)``. Every method acts on the
    mailbox's default calendar.
    """

    @abc.abstractmethod
    def create_event(self, draft: EventDraft) -> EventState:
        """Create the event (a series: its master, as a recurrence) and return it.

        :raises CalendarWriteError: the calendar refused it.
        """

    def find_event(self, crm_ref: str) -> EventState | None:
        """Return the event created from a draft with this ``crm_ref``, if the calendar
        holds one (``None``: none, or the writer cannot tell).

        Asked before creating again when an earlier run may have created the event and
        stopped before storing its id. A writer whose create is idempotent by itself
        (CalDAV: PUT to an href made from ``crm_ref`` with ``If-None-Match: *``) may keep
        this default.
        """
        return None

    @abc.abstractmethod
    def read_event(self, remote_id: str) -> EventState | None:
        """Return the event (or occurrence) as it is now; ``None`` when it is gone
        (deleted, or a cancelled occurrence)."""

    @abc.abstractmethod
    def update_event(self, remote_id: str, change_key: str,
                     changes: Mapping[str, object], invite: bool) -> EventState:
        """Change the given fields (names of :data:`FIELDS`; ``start``/``end`` aware
        datetimes, ``attendees`` a tuple of addresses, ``subject`` a str; ``body`` may
        come too) of the event at version ``change_key``. With ``start`` or ``end`` come
        ``all_day`` (bool: the times are days, as :class:`EventDraft`'s) and ``tzid``.

        :param invite: the attendees are invited: added ones get requests, and changes
            go to them (EWS ``SendToChangedAndSaveCopy``); otherwise nobody hears.
        :raises CalendarChangedError: the calendar holds another version.
        """

    @abc.abstractmethod
    def delete_event(self, remote_id: str, change_key: str, invite: bool) -> None:
        """Remove the event (a series: all of it); invited attendees get the
        cancellation, others nothing. An event already gone is not an error.

        :raises CalendarChangedError: the calendar holds another version.
        """

    @abc.abstractmethod
    def occurrences(self, remote_id: str, start: datetime, end: datetime) -> list[EventState]:
        """Return the series' occurrences and exceptions between ``start`` and ``end``
        (cancelled occurrences are absent), each with its ``original_start``."""

    def update_occurrence(self, ref: OccurrenceRef, changes: Mapping[str, object],
                          invite: bool) -> EventState:
        """Change one occurrence of a series (it becomes an exception; the rest of the
        series stays as it is) at version ``ref.change_key``; fields as in
        :meth:`update_event`.

        The default suits a provider whose occurrences have ids of their own that take
        the event operations (Graph: PATCH on the instance from ``/instances``).

        :raises CalendarChangedError: the calendar holds another version.
        """
        if ref.remote_id is None:
            raise CalendarWriteError("the occurrence was never read from the calendar")
        return self.update_event(ref.remote_id, ref.change_key, changes, invite)

    def cancel_occurrence(self, ref: OccurrenceRef, invite: bool) -> None:
        """Remove one occurrence of a series (the rest stays); invited attendees get the
        cancellation of that occurrence, others nothing. Already gone is not an error.

        The default: the event operation on the occurrence's own id (Graph DELETE on the
        instance).

        :raises CalendarChangedError: the calendar holds another version.
        """
        if ref.remote_id is None:
            raise CalendarWriteError("the occurrence was never read from the calendar")
        self.delete_event(ref.remote_id, ref.change_key, invite)
