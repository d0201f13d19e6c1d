"""Write meetings booked in the CRM to the owner's calendar, and take the calendar's changes back.

Runs at the end of each sync of a mailbox whose connector has
:class:`~crmsync.connectors.calendar_writes.CalendarWriting` (Graph, Exchange; CalDAV
the same way), after its resources were read, so a change the calendar made in the
meantime is already known. Each booking is settled in its own transaction, which also
checks the run's lease. The rules:

- **Invitations**: nobody is invited unless the booking says ``invite`` (``--invite``);
  how each provider keeps that is the writer's (``connectors/calendar_writes.py``).
- **Creating**: a new booking becomes one event (a series: one recurrence); its id,
  change key and, for a series, each occurrence's id are stored, and every occurrence's
  activity gets the event as its source. The attempt is committed first
  (``create_started_at``): a run that finds it without an id asks the writer's
  ``find_event`` before creating, so a crash after the calendar's answer never makes a
  second event.
- **Conflicts, per field** (:mod:`crmsync.mapping.meeting_fields`): a CRM change is
  written with the change key it was based on (Graph ``If-Match``, EWS ``ChangeKey``).
  When the calendar holds another version (412 / conflict), or the sync saw the event
  change, the event is read: a field only the calendar changed is taken by the CRM, a
  field only the CRM changed is written, a field both changed goes to the later change.
  A newer change is never overwritten, on either side.
- **Cancelling**: only a person's ``cancel`` deletes the event (an invited meeting's
  attendees then get the provider's cancellation); an event deleted in the calendar
  cancels the booking. An event that merely left the synced view (a ``@removed`` in a
  delta, a record leaving a filter, the calendar window moving on) is read first and
  stays as long as the calendar holds it: a filter never cancels a meeting. A
  cancellation the calendar overtook (the event changed there after the CRM's cancel) is
  not applied, and says so in the booking's last error.
- **Series**: occurrences are read from the series after each change; a moved one keeps
  its slot and its activity (with its links), a renamed one gives its activity its
  subject, a cancelled one is marked cancelled, its activity and links kept.
- **One occurrence** changed or cancelled in the CRM (``--occurrence``) is written to
  that occurrence alone, as an exception of the series (the writer's
  ``update_occurrence`` / ``cancel_occurrence``, with the occurrence's version), after
  any change of the series as a whole; the other occurrences and their links are not
  touched. When the calendar holds another version of it, the occurrence is read: gone
  there, it stays cancelled; else its subject, start and end are decided by the same
  per-field rule as the series', against the values it had before the CRM's change (a
  cancellation counts as a change of all three): a field the calendar changed later
  (or at a time it does not say) stands, and the booking's last error says so; the
  CRM's other changes are written against the version just read (so Exchange's or
  CalDAV's new version after a write to another occurrence of the series costs a read,
  not the change).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crmsync.connectors.base import Connector, supports
from crmsync.connectors.calendar_writes import (
    CalendarChangedError,
    CalendarWriteError,
    CalendarWriting,
    EventDraft,
    EventState,
    OccurrenceRef,
)
from crmsync.crm.bookings import BookedMeeting, BookedOccurrence
from crmsync.crm.db import session_scope
from crmsync.crm.models import Activity, ActivitySource, Mailbox
from crmsync.mapping.meeting_fields import Merge, merge_fields
from crmsync.sync_service.context import Services
from crmsync.sync_service.engine.bookings import (
    OCCURRENCE,
    calendar_mailbox,
    occurrence_key,
    occurrence_values,
    set_from_calendar,
)
from crmsync.sync_service.mailboxes.leases import Lease, keep_lease

log = logging.getLogger(__name__)
#: the folder name a booked meeting's source carries in ``export activities``
CALENDAR_FOLDER = "calendar"
Clock = Callable[[], datetime]


def write_back(services: Services, mailbox_id: int, connector: Connector, lease: Lease,
               clock: Clock) -> Counter[str]:
    """Settle every booking of this mailbox that has something to write or read."""
    counters: Counter[str] = Counter()
    if not supports(connector, CalendarWriting):
        return counters
    writer: CalendarWriting = connector  # type: ignore[assignment]
    with session_scope(services.sessions) as session:
        due = _due(session, mailbox_id)
    for meeting_id in due:
        resumed = _mark_create(services, meeting_id, lease, clock())
        with session_scope(services.sessions) as session:
            meeting = session.get(BookedMeeting, meeting_id)
            assert meeting is not None
            try:
                meeting.last_error = None  # settle may say why a change was not applied
                counters[settle(session, meeting, writer, clock(), resumed)] += 1
            except CalendarWriteError as exc:
                meeting.last_error = str(exc)[:1000]
                counters["booked meetings not written"] += 1
                log.warning("booked meeting %s: %s", meeting.activity_id, exc)
            keep_lease(session, lease, clock())
    return counters


def _mark_create(services: Services, meeting_id: int, lease: Lease, now: datetime) -> bool:
    """Commit that a create is about to be asked, before asking, and that this run still
    holds the mailbox (a run that lost it writes nothing more to the calendar); return
    whether an earlier run had already asked (its event may exist: look first)."""
    with session_scope(services.sessions) as session:
        meeting = session.get(BookedMeeting, meeting_id)
        assert meeting is not None
        resumed = False
        if meeting.remote_id is None and meeting.status != "cancelled":
            resumed = meeting.create_started_at is not None
            meeting.create_started_at = meeting.create_started_at or now
        keep_lease(session, lease, now)
        return resumed


def _due(session: Session, mailbox_id: int) -> list[int]:
    """The bookings to settle; the owner's bookings made before they had this mailbox
    are given to it when it is their calendar mailbox."""
    mailbox = session.get(Mailbox, mailbox_id)
    if mailbox is not None and mailbox.owner_id is not None:
        waiting = session.scalars(select(BookedMeeting).where(
            BookedMeeting.mailbox_id.is_(None),
            BookedMeeting.owner_id == mailbox.owner_id)).all()
        if waiting and calendar_mailbox(session, mailbox.owner_id) is mailbox:
            for meeting in waiting:
                meeting.mailbox_id = mailbox_id
            session.flush()
    return list(session.scalars(select(BookedMeeting.id).where(
        BookedMeeting.mailbox_id == mailbox_id,
        or_(BookedMeeting.written_at.is_(None), BookedMeeting.calendar_changed))
        .order_by(BookedMeeting.id)))


def settle(session: Session, meeting: BookedMeeting, writer: CalendarWriting,
           now: datetime, resumed: bool = False) -> str:
    """Bring the booking and its event together; return what happened (a counter name).

    :param resumed: an earlier run asked the calendar to create the event and did not
        store the answer: look for the event before creating it.
    :raises CalendarWriteError: the calendar refused (kept as the booking's last error;
        the next sync tries again).
    """
    outcome = "booked meetings unchanged"
    created = meeting.remote_id is None
    if created:
        outcome = _create(session, meeting, writer, resumed)
    if meeting.status != "cancelled" and meeting.remote_id is not None:
        # One occurrence's change first, against the version it was made on; a change of
        # the series then meets the series' new version and merges field by field.
        for occurrence in _pending_occurrences(meeting):
            outcome = _write_occurrence(session, meeting, occurrence, writer)
            meeting.pending = [p for p in meeting.pending if p != occurrence_key(occurrence)]
    if not created and meeting.status == "cancelled" and "status" in meeting.pending:
        outcome = _cancel(session, meeting, writer)
    elif not created and (_series_pending(meeting) or meeting.calendar_changed):
        outcome = _update(session, meeting, writer)
    meeting.pending, meeting.calendar_changed, meeting.written_at = [], False, now
    return outcome


def _series_pending(meeting: BookedMeeting) -> list[str]:
    """The CRM's pending changes of the meeting as a whole (not of one occurrence)."""
    return [name for name in meeting.pending if not name.startswith(OCCURRENCE)]


def _pending_occurrences(meeting: BookedMeeting) -> list[BookedOccurrence]:
    keys = {name for name in meeting.pending if name.startswith(OCCURRENCE)}
    return [o for o in meeting.occurrences if occurrence_key(o) in keys]


def _create(session: Session, meeting: BookedMeeting, writer: CalendarWriting,
            resumed: bool) -> str:
    if meeting.status == "cancelled":
        return "booked meetings cancelled before they were written"
    draft = draft_of(meeting)
    state = writer.find_event(draft.crm_ref) if resumed else None
    if state is None:
        state = writer.create_event(draft)
    bind_created(session, meeting, writer, state)
    return "booked meetings written"


def bind_created(session: Session, meeting: BookedMeeting, writer: CalendarWriting,
                 state: EventState) -> None:
    """Store the created event's id and version; a series' occurrences with it."""
    meeting.remote_id, meeting.remote_uid = state.remote_id, state.ical_uid
    _agree(meeting, state)
    _add_source(session, meeting, meeting.activity, state.remote_id)
    if meeting.weekly_count:
        _reconcile_occurrences(session, meeting, writer)


def _cancel(session: Session, meeting: BookedMeeting, writer: CalendarWriting) -> str:
    assert meeting.remote_id is not None
    try:
        writer.delete_event(meeting.remote_id, meeting.change_key or "", meeting.invite)
        return "booked meetings removed from the calendar"
    except CalendarChangedError:
        current = writer.read_event(meeting.remote_id)
        if current is None:
            return "booked meetings removed from the calendar"
        cancelled_at = _crm_time(meeting, "status")
        if current.modified_at is not None and cancelled_at is not None \
                and current.modified_at > cancelled_at:
            # The calendar changed the meeting after the CRM cancelled it: its change
            # is newer, so the meeting stands, as the calendar holds it.
            meeting.status = "confirmed"
            set_from_calendar(session, meeting, _calendar_values(meeting, current))
            _agree(meeting, current)
            meeting.last_error = ("not cancelled: the meeting was changed in the calendar "
                                  "after the cancellation")
            return "booked meeting cancellations overtaken by the calendar"
        writer.delete_event(meeting.remote_id, current.change_key, meeting.invite)
        return "booked meetings removed from the calendar"


def _update(session: Session, meeting: BookedMeeting, writer: CalendarWriting) -> str:
    assert meeting.remote_id is not None
    pending = [name for name in _series_pending(meeting) if name != "status"]
    if pending and not meeting.calendar_changed:
        try:  # the usual case: one request, made against the version we know
            state = writer.update_event(meeting.remote_id, meeting.change_key or "",
                                        changes_of(meeting, pending), meeting.invite)
            _agree(meeting, state)
            _reconcile_occurrences(session, meeting, writer)
            return "booked meetings updated in the calendar"
        except CalendarChangedError:
            pass  # the calendar changed it too: read it and merge field by field
    current = writer.read_event(meeting.remote_id)
    if current is None:
        # Deleted in the calendar (read, not guessed from a delta's @removed).
        meeting.status = "cancelled"
        return "booked meetings cancelled in the calendar"
    merge = merge_fields(
        _crm_values(meeting), _state_values(meeting, current), meeting.agreed or {},
        ({name: t for name in pending if (t := _crm_time(meeting, name))},
         current.modified_at),
        _fields(meeting))
    set_from_calendar(session, meeting, {
        name: _calendar_values(meeting, current)[name] for name in merge.to_crm})
    state = current
    to_calendar = [name for name in merge.to_calendar] + [
        name for name in pending if name == "attendees" and name not in merge.to_calendar]
    if to_calendar:
        state = writer.update_event(meeting.remote_id, current.change_key,
                                    changes_of(meeting, to_calendar), meeting.invite)
    _agree(meeting, state)
    _reconcile_occurrences(session, meeting, writer)
    if merge.to_crm:
        return "booked meetings changed from the calendar"
    return "booked meetings updated in the calendar" if to_calendar else \
        "booked meetings unchanged"


# -- the values both sides compare -----------------------------------------------------------


def _fields(meeting: BookedMeeting) -> tuple[str, ...]:
    """The two-way fields: attendees only when the calendar holds them (invited)."""
    return ("subject", "start", "end", "attendees") if meeting.invite else (
        "subject", "start", "end")


def _when(moment: datetime, all_day: bool) -> str:
    """A time as both sides compare it: all-day is part of the time fields (a day
    ``YYYY-MM-DD`` is never equal to a time), so an event turned all-day, or back, in
    the calendar is a change of its start and end, merged like any other."""
    return moment.date().isoformat() if all_day else moment.isoformat()


def _crm_values(meeting: BookedMeeting) -> dict[str, object]:
    """The CRM's side as the calendar should hold it: attendees only when invited."""
    return {"subject": meeting.subject, "start": _when(meeting.starts_at, meeting.all_day),
            "end": _when(meeting.ends_at, meeting.all_day),
            "attendees": sorted(meeting.attendees) if meeting.invite else []}


def _state_values(meeting: BookedMeeting, state: EventState) -> dict[str, object]:
    return {"subject": state.subject, "start": _when(state.start, state.all_day),
            "end": _when(state.end, state.all_day), "attendees": sorted(state.attendees)}


def _calendar_values(meeting: BookedMeeting, state: EventState) -> dict[str, object]:
    """The calendar's values as the booking takes them (an all-day event's as days)."""
    values: dict[str, object] = {
        "subject": state.subject,
        "start": state.start.date() if state.all_day else state.start,
        "end": state.end.date() if state.all_day else state.end}
    if meeting.invite:
        values["attendees"] = list(state.attendees)
    return values


def _agree(meeting: BookedMeeting, state: EventState) -> None:
    """Both sides now hold the CRM's values, at the calendar's version ``state``."""
    meeting.change_key = state.change_key
    meeting.agreed = _crm_values(meeting)


def _crm_time(meeting: BookedMeeting, name: str) -> datetime | None:
    text = (meeting.crm_times or {}).get(name)
    return datetime.fromisoformat(text) if text else None


def draft_of(meeting: BookedMeeting) -> EventDraft:
    """The event the CRM wants for ``meeting``."""
    return EventDraft(
        subject=meeting.subject, start=meeting.starts_at, end=meeting.ends_at,
        attendees=tuple(meeting.attendees), invite=meeting.invite, body=_body(meeting),
        tzid=meeting.tzid, weekly_count=meeting.weekly_count,
        crm_ref=meeting.activity.dedupe_key, all_day=meeting.all_day)


def _body(meeting: BookedMeeting) -> str:
    return f"Booked in the CRM (meeting {meeting.activity_id})."


def changes_of(meeting: BookedMeeting, names: list[str]) -> dict[str, object]:
    """The CRM's values of ``names`` as a writer's changes; people not invited go in the
    body, never in the attendee list."""
    changes: dict[str, object] = {}
    for name in names:
        if name == "subject":
            changes["subject"] = meeting.subject
        elif name in ("start", "end"):
            changes[name] = meeting.starts_at if name == "start" else meeting.ends_at
            # the writer needs both to write days (all-day) or times, in the zone
            changes["all_day"], changes["tzid"] = meeting.all_day, meeting.tzid
        elif name == "attendees":
            if meeting.invite:
                changes["attendees"] = tuple(meeting.attendees)
                changes["body"] = _body(meeting)
            else:
                people = "With: " + ", ".join(meeting.attendees) if meeting.attendees else ""
                changes["body"] = "\n\n".join(p for p in (people, _body(meeting)) if p)
    return changes


# -- occurrences and sources ------------------------------------------------------------------


def _reconcile_occurrences(session: Session, meeting: BookedMeeting,
                           writer: CalendarWriting) -> None:
    """Read the series' occurrences: bind each to its slot, note moved and cancelled ones."""
    if not meeting.occurrences or meeting.remote_id is None:
        return
    length = meeting.ends_at - meeting.starts_at
    by_slot = _occurrence_states(meeting, writer, meeting.occurrences)
    waiting = set(_pending_occurrences(meeting))
    for occurrence in meeting.occurrences:
        state = by_slot.get(occurrence.original_start)
        if state is None:
            occurrence.status = "cancelled"  # gone from the series itself, not a view
            continue
        if occurrence in waiting:
            # The CRM's own change of it is written next, against the version it was
            # made on (so a newer calendar change meets If-Match), not undone here.
            if occurrence.remote_id is None:
                occurrence.remote_id, occurrence.change_key = state.remote_id, \
                    state.change_key
            continue
        occurrence.remote_id, occurrence.change_key = state.remote_id, state.change_key
        if (state.start, state.end) != (occurrence.original_start,
                                        occurrence.original_start + length):
            occurrence.status = "moved"
            occurrence.starts_at, occurrence.ends_at = state.start, state.end
            occurrence.activity.occurred_at = state.start
        elif occurrence.status == "moved":  # moved back to its slot in the calendar
            occurrence.status = "confirmed"
            occurrence.starts_at, occurrence.ends_at = state.start, state.end
            occurrence.activity.occurred_at = state.start
        if state.subject and state.subject != occurrence.activity.subject:
            occurrence.activity.subject = state.subject  # an exception renamed there
        if occurrence.activity_id != meeting.activity_id:
            _add_source(session, meeting, occurrence.activity, state.remote_id)


def _occurrence_states(meeting: BookedMeeting, writer: CalendarWriting,
                       occurrences: list[BookedOccurrence]) -> dict[datetime, EventState]:
    """The calendar's occurrences around these ones' slots, by slot."""
    assert meeting.remote_id is not None
    length = meeting.ends_at - meeting.starts_at
    slots = [o.original_start for o in occurrences]
    states = writer.occurrences(meeting.remote_id, min(slots) - timedelta(days=8),
                                max(slots) + length + timedelta(days=8))
    return {s.original_start: s for s in states if s.original_start is not None}


#: the fields of one occurrence the CRM changes on its own
OCCURRENCE_FIELDS = ("subject", "start", "end")


def _write_occurrence(session: Session, meeting: BookedMeeting, occurrence: BookedOccurrence,
                      writer: CalendarWriting) -> str:
    """Write the CRM's change of one occurrence (see the module docstring)."""
    assert meeting.remote_id is not None
    ref = OccurrenceRef(
        series_id=meeting.remote_id, remote_id=occurrence.remote_id,
        index=meeting.occurrences.index(occurrence) + 1,
        original_start=occurrence.original_start, change_key=occurrence.change_key or "")
    try:
        return _occurrence_write(session, meeting, occurrence, writer, ref, OCCURRENCE_FIELDS)
    except CalendarChangedError:
        current = _occurrence_states(meeting, writer, [occurrence]).get(
            occurrence.original_start)
        if current is None:  # deleted in the calendar: it stays cancelled
            occurrence.status = "cancelled"
            return "booked occurrences cancelled in the calendar"
        merge = _occurrence_merge(meeting, occurrence, current)
        fresh = OccurrenceRef(ref.series_id, current.remote_id, ref.index,
                              ref.original_start, current.change_key)
        if not merge.to_crm:  # nothing of it changed there since (or an older change)
            return _occurrence_write(session, meeting, occurrence, writer, fresh,
                                     tuple(merge.to_calendar))
        slot = f"{occurrence.original_start:%Y-%m-%dT%H:%M:%SZ}"
        if occurrence.status == "cancelled":  # the calendar's newer change stands
            _take_occurrence(session, meeting, occurrence, current, OCCURRENCE_FIELDS)
            meeting.last_error = (f"occurrence {slot} not cancelled: it was changed in the "
                                  "calendar after the CRM's cancellation")
            return "booked occurrence changes overtaken by the calendar"
        _take_occurrence(session, meeting, occurrence, current, tuple(merge.to_crm))
        meeting.last_error = (f"occurrence {slot}: the calendar's later change of "
                              f"{', '.join(merge.to_crm)} kept")
        if merge.to_calendar:
            return _occurrence_write(session, meeting, occurrence, writer, fresh,
                                     tuple(merge.to_calendar))
        return "booked occurrence changes overtaken by the calendar"


def _occurrence_merge(meeting: BookedMeeting, occurrence: BookedOccurrence,
                      current: EventState) -> Merge:
    """The two-way rule (:func:`merge_fields`) for one occurrence, against the values it
    had before the CRM's change; a cancellation changes every field."""
    key = occurrence_key(occurrence)
    calendar = _occurrence_state_values(current)
    was = (meeting.crm_times or {}).get(key + "|was") or calendar
    changed_at = _crm_time(meeting, key)
    crm: dict[str, object] = {name: None for name in OCCURRENCE_FIELDS} \
        if occurrence.status == "cancelled" else occurrence_values(occurrence)
    times = ({name: changed_at for name in OCCURRENCE_FIELDS} if changed_at else {},
             current.modified_at)
    return merge_fields(crm, calendar, was, times, OCCURRENCE_FIELDS)


def _occurrence_state_values(state: EventState) -> dict[str, str]:
    return {"subject": state.subject, "start": state.start.isoformat(),
            "end": state.end.isoformat()}


def _occurrence_write(session: Session, meeting: BookedMeeting, occurrence: BookedOccurrence,
                      writer: CalendarWriting, ref: OccurrenceRef,
                      names: tuple[str, ...]) -> str:
    if occurrence.status == "cancelled":
        writer.cancel_occurrence(ref, meeting.invite)
        return "booked occurrences removed from the calendar"
    values = {"subject": occurrence.activity.subject, "start": occurrence.starts_at,
              "end": occurrence.ends_at}
    state = writer.update_occurrence(ref, {name: values[name] for name in names},
                                     meeting.invite)
    occurrence.remote_id, occurrence.change_key = state.remote_id, state.change_key
    _add_source(session, meeting, occurrence.activity, state.remote_id)
    return "booked occurrences updated in the calendar"


def _take_occurrence(session: Session, meeting: BookedMeeting, occurrence: BookedOccurrence,
                     state: EventState, names: tuple[str, ...]) -> None:
    """The calendar's values of ``names`` stand for the occurrence in the CRM."""
    occurrence.remote_id, occurrence.change_key = state.remote_id, state.change_key
    if "subject" in names:
        occurrence.activity.subject = state.subject
    if "start" in names:
        occurrence.starts_at = state.start
    if "end" in names:
        occurrence.ends_at = state.end
    occurrence.status = "confirmed" if (occurrence.starts_at, occurrence.ends_at) == (
        occurrence.original_start,
        occurrence.original_start + (meeting.ends_at - meeting.starts_at)) else "moved"
    occurrence.activity.occurred_at = occurrence.starts_at


def _add_source(session: Session, meeting: BookedMeeting, activity: Activity,
                remote_id: str) -> None:
    """The event is this activity's copy in the owner's calendar (one source per activity)."""
    origin = f"mailbox:{meeting.mailbox_id}"
    for source in activity.sources:
        if source.origin == origin and source.folder == CALENDAR_FOLDER:
            source.item_id = remote_id
            return
    activity.sources.append(ActivitySource(
        mailbox_id=meeting.mailbox_id, origin=origin, folder=CALENDAR_FOLDER,
        item_id=remote_id, flags=[]))

