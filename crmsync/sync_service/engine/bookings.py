"""Book, change and cancel meetings in the CRM (``crmsync calendar add|update|cancel``,
``/api/v1/meetings``); the next sync of the owner's mailbox writes them to the calendar.

A booking is stored at once, as a ``meeting`` activity per occurrence (a single meeting:
one) with the attendees as participants and each given record linked with source
``user``, so the timeline shows it before any calendar has it. The rules about the
calendar (invitations, conflicts, series) are in :mod:`.calendar_writeback`; the model and
its invariants in :mod:`crmsync.crm.bookings`.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from crmsync.connectors.base import supports
from crmsync.connectors.calendar_writes import CalendarWriting
from crmsync.connectors.registry import load_connector_class
from crmsync.crm.bookings import BookedMeeting, BookedOccurrence
from crmsync.crm.models import (
    Account,
    Activity,
    ActivityLink,
    ActivityParticipant,
    Case,
    Contact,
    ContactEmail,
    Mailbox,
    Opportunity,
    User,
    link_columns,
    link_target,
)
from crmsync.errors import ConfigError, UserError
from crmsync.mapping.addresses import normalize_address
from crmsync.mapping.links import Target

#: limits on what one booking may hold (untrusted input from the API)
MAX_SUBJECT = 500
MAX_ATTENDEES = 100
MAX_LINKS = 20
MAX_OCCURRENCES = 104
MAX_LENGTH = timedelta(days=14)
LINK_REASON = "booked in the CRM with this record"
LINK_KINDS = ("contact", "account", "opportunity", "case")
#: a change of one occurrence waiting for the calendar is ``pending`` as this prefix and
#: the occurrence's slot (its time in ``crm_times`` under the same name)
OCCURRENCE = "occurrence:"


@dataclass(frozen=True)
class Booking:
    """What a person books: see ``crmsync calendar add --help``."""

    owner_email: str
    subject: str
    start: datetime
    end: datetime
    attendees: tuple[str, ...] = ()
    links: tuple[Target, ...] = ()
    weekly_count: int | None = None
    invite: bool = False
    tzid: str = "UTC"
    #: an all-day meeting: ``start``/``end`` are midnights UTC (:func:`day_span`)
    all_day: bool = False


@dataclass(frozen=True)
class BookingChange:
    """What ``update`` changes: ``None`` leaves a field as it is; ``links`` are added."""

    subject: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    attendees: tuple[str, ...] | None = None
    links: tuple[Target, ...] = ()
    invite: bool = False
    changed_fields: frozenset[str] = field(default_factory=frozenset)
    #: ``True``: make it all-day (``start``/``end`` then midnights UTC, :func:`day_span`);
    #: ``False``: make it timed; ``None``: it stays as it is
    all_day: bool | None = None


def parse_moment(text: str) -> datetime:
    """Read ISO 8601 with ``Z`` or an offset (a time without one is refused, not guessed)."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace(
            "z", "+00:00"))
    except ValueError as exc:
        raise UserError(f"{text!r} is not an ISO 8601 time") from exc
    if moment.tzinfo is None:
        raise UserError(f"{text!r} has no zone: add Z or an offset such as +01:00")
    return moment.astimezone(UTC)


def midnight(day: date) -> datetime:
    """The day as an all-day booking keeps it: its midnight UTC (as inbound all-day
    events are stored, ``connectors/ical_events.py``)."""
    return datetime.combine(day, time(), UTC)


def parse_day(text: str) -> date:
    """Read ``YYYY-MM-DD`` (an all-day meeting's day)."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise UserError(f"{text!r} is not a day (YYYY-MM-DD)") from exc


def day_span(first: date, end: date | None) -> tuple[datetime, datetime]:
    """An all-day meeting's start and end: ``end`` is the day after the last one (end
    exclusive, as iCalendar's ``DTEND`` and Graph's ``end``); none: one day."""
    return midnight(first), midnight(end if end is not None else first + timedelta(days=1))


def parse_repeat(text: str | None) -> int | None:
    """Read ``weekly:N`` (2 to :data:`MAX_OCCURRENCES`)."""
    if text is None:
        return None
    kind, _, count = text.partition(":")
    if kind != "weekly" or not count.isdigit() or not 2 <= int(count) <= MAX_OCCURRENCES:
        raise UserError(f"--repeat takes weekly:N with N from 2 to {MAX_OCCURRENCES}")
    return int(count)


def find_target(session: Session, kind: str, external_id: str) -> Target:
    """Return the record ``TYPE:EXTERNAL_ID`` names (a case by its number)."""
    if kind not in LINK_KINDS:
        raise UserError(f"link type must be one of {', '.join(LINK_KINDS)}, not {kind!r}")
    if kind == "case":
        found = session.scalar(select(Case.id).where(Case.number == external_id.upper()))
    else:
        model = {"contact": Contact, "account": Account, "opportunity": Opportunity}[kind]
        found = session.scalar(select(model.id).where(model.external_id == external_id))
    if found is None:
        raise UserError(f"no {kind} {external_id!r} in the CRM")
    return Target(kind, found)


def book(session: Session, booking: Booking, now: datetime) -> BookedMeeting:
    """Store a new booking and its activities; return it (its ``activity_id`` is the id).

    :raises UserError: an unknown owner, a bad time, too much of anything.
    """
    owner = session.scalar(select(User).where(User.email == booking.owner_email.lower()))
    if owner is None:
        raise UserError(f"no CRM user {booking.owner_email!r}")
    _check_times(booking.start, booking.end)
    _check_zone(booking.tzid)
    if booking.all_day and booking.weekly_count:
        raise UserError("an all-day meeting cannot repeat (book each day on its own)")
    if len(booking.links) > MAX_LINKS:
        raise UserError(f"at most {MAX_LINKS} links")
    mailbox = calendar_mailbox(session, owner.id)
    # Who sees the meeting follows the mailbox it belongs to (crm/visibility.py): the
    # calendar's, else another of the owner's, else (no mailbox yet) the organization.
    home = mailbox or session.scalar(select(Mailbox).where(
        Mailbox.owner_id == owner.id, Mailbox.removed_at.is_(None)).order_by(Mailbox.id))
    meeting = BookedMeeting(
        owner_id=owner.id, mailbox_id=mailbox.id if mailbox else None,
        subject=_subject(booking.subject), starts_at=booking.start.astimezone(UTC),
        ends_at=booking.end.astimezone(UTC),
        tzid=booking.tzid, attendees=list(_attendees(booking.attendees, owner.email)),
        weekly_count=booking.weekly_count, invite=booking.invite, status="confirmed",
        crm_times={}, pending=[], agreed=None, calendar_changed=False, created_at=now)
    meeting.all_day = booking.all_day
    token = secrets.token_hex(8)
    slots = _slots(meeting)
    for index, slot in enumerate(slots):
        activity = _new_activity(meeting, slot, token, home, now)
        session.add(activity)
        session.flush()
        if index == 0:
            meeting.activity_id = activity.id
            meeting.activity = activity
        if meeting.weekly_count:
            meeting.occurrences.append(BookedOccurrence(
                original_start=slot, starts_at=slot, ends_at=slot + _length(meeting),
                status="confirmed", activity_id=activity.id))
    session.add(meeting)
    session.flush()
    _add_links(meeting, booking.links, owner.id, now)
    _sync_participants(session, meeting, owner)
    return meeting


def change(session: Session, meeting: BookedMeeting, update: BookingChange,
           now: datetime) -> BookedMeeting:
    """Apply ``update`` to the booking (a series as a whole); the calendar follows.

    :raises UserError: the meeting is cancelled, or the new times are wrong.
    """
    if meeting.status == "cancelled":
        raise UserError(f"meeting {meeting.activity_id} is cancelled")
    start, end, all_day = _new_times(meeting, update)
    _check_times(start, end)
    new = {"subject": _subject(update.subject) if update.subject is not None else None,
           "start": start.date() if all_day else start,
           "end": end.date() if all_day else end,
           "attendees": list(_attendees(update.attendees, meeting.owner.email))
           if update.attendees is not None else None}
    changed = set()
    for name, value in new.items():
        if value is None or value == field_value(meeting, name):
            continue
        _set_field(meeting, name, value)
        changed.add(name)
        meeting.crm_times = {**meeting.crm_times, name: now.isoformat()}
        meeting.pending = sorted({*meeting.pending, name})
    if update.invite and not meeting.invite:
        meeting.invite = True
        meeting.pending = sorted({*meeting.pending, "attendees"})
    if changed & {"start", "end"}:
        _move_occurrences(meeting)
    if len(update.links) + len(meeting.activity.links) > MAX_LINKS:
        raise UserError(f"at most {MAX_LINKS} links")
    _add_links(meeting, update.links, meeting.owner_id, now)
    _sync_participants(session, meeting, meeting.owner)
    if meeting.pending:
        meeting.written_at = None  # the next sync of the owner's mailbox writes it
    return meeting


def _new_times(meeting: BookedMeeting, update: BookingChange) -> tuple[datetime, datetime,
                                                                        bool]:
    """The start, end and kind ``update`` asks for: the length stays when only the start
    moves; made all-day without a start, the meeting takes its first day (in its zone),
    one day long unless an end is given; made timed, it needs its start and end."""
    all_day = meeting.all_day if update.all_day is None else update.all_day
    if all_day and meeting.weekly_count:
        raise UserError("an all-day meeting cannot repeat (book each day on its own)")
    if all_day == meeting.all_day:
        start = update.start.astimezone(UTC) if update.start else meeting.starts_at
        end = update.end.astimezone(UTC) if update.end else (
            start + _length(meeting) if update.start else meeting.ends_at)
    elif all_day:
        start = update.start or midnight(meeting.starts_at.astimezone(
            ZoneInfo(meeting.tzid)).date())
        end = update.end or start + timedelta(days=1)
    elif update.start is None or update.end is None:
        raise UserError("a meeting made timed needs a start and an end (--start and --end)")
    else:
        start, end = update.start.astimezone(UTC), update.end.astimezone(UTC)
    return start, end, all_day


def cancel(meeting: BookedMeeting, now: datetime) -> BookedMeeting:
    """Cancel the meeting (a series: all of it); its activities and links stay."""
    if meeting.status != "cancelled":
        meeting.status = "cancelled"
        meeting.crm_times = {**meeting.crm_times, "status": now.isoformat()}
        meeting.pending = sorted({*meeting.pending, "status"})
        meeting.written_at = None
    return meeting


def occurrence_key(occurrence: BookedOccurrence) -> str:
    """The name of a change of this occurrence in ``pending`` and ``crm_times``."""
    return OCCURRENCE + occurrence.original_start.astimezone(UTC).isoformat()


def find_occurrence(meeting: BookedMeeting, moment: datetime) -> BookedOccurrence:
    """The occurrence of the series at ``moment``: its slot in the series, or where it
    starts now (a moved one).

    :raises UserError: a single meeting, or no occurrence there.
    """
    if not meeting.occurrences:
        raise UserError(f"meeting {meeting.activity_id} is not a series")
    moment = moment.astimezone(UTC)
    for occurrence in meeting.occurrences:
        if moment in (occurrence.original_start, occurrence.starts_at):
            return occurrence
    starts = ", ".join(f"{o.original_start:%Y-%m-%dT%H:%M:%SZ}" for o in meeting.occurrences)
    raise UserError(f"meeting {meeting.activity_id} has no occurrence at "
                    f"{moment:%Y-%m-%dT%H:%M:%SZ} (its occurrences: {starts})")


def change_occurrence(meeting: BookedMeeting, moment: datetime, update: BookingChange,
                      now: datetime) -> BookedOccurrence:
    """Move or rename one occurrence of a series (``update``'s subject, start, end; the
    rest of the series stays); the next sync makes it an exception in the calendar.

    :raises UserError: the meeting or the occurrence is cancelled, no such occurrence,
        wrong times.
    """
    occurrence = _open_occurrence(meeting, moment)
    was = occurrence_values(occurrence)
    length = occurrence.ends_at - occurrence.starts_at
    start = update.start.astimezone(UTC) if update.start else occurrence.starts_at
    end = update.end.astimezone(UTC) if update.end else (
        start + length if update.start else occurrence.ends_at)
    _check_times(start, end)
    changed = False
    if (start, end) != (occurrence.starts_at, occurrence.ends_at):
        occurrence.starts_at, occurrence.ends_at = start, end
        occurrence.status = "confirmed" if (start, end) == (
            occurrence.original_start, occurrence.original_start + _length(meeting)) \
            else "moved"
        occurrence.activity.occurred_at = start
        changed = True
    if update.subject is not None and _subject(update.subject) != occurrence.activity.subject:
        occurrence.activity.subject = _subject(update.subject)
        changed = True
    if changed:
        _mark_occurrence(meeting, occurrence, was, now)
    return occurrence


def cancel_occurrence(meeting: BookedMeeting, moment: datetime,
                      now: datetime) -> BookedOccurrence:
    """Cancel one occurrence of a series (the rest stays); its activity and links stay,
    and the next sync removes it from the calendar's series.

    :raises UserError: the meeting is cancelled, or no such occurrence.
    """
    occurrence = find_occurrence(meeting, moment)
    if meeting.status == "cancelled":
        raise UserError(f"meeting {meeting.activity_id} is cancelled")
    if occurrence.status != "cancelled":
        was = occurrence_values(occurrence)
        occurrence.status = "cancelled"
        _mark_occurrence(meeting, occurrence, was, now)
    return occurrence


def _open_occurrence(meeting: BookedMeeting, moment: datetime) -> BookedOccurrence:
    occurrence = find_occurrence(meeting, moment)
    if meeting.status == "cancelled":
        raise UserError(f"meeting {meeting.activity_id} is cancelled")
    if occurrence.status == "cancelled":
        raise UserError(f"that occurrence of meeting {meeting.activity_id} is cancelled")
    return occurrence


def occurrence_values(occurrence: BookedOccurrence) -> dict[str, str]:
    """An occurrence's fields as the calendar compares them (JSON-ready)."""
    return {"subject": occurrence.activity.subject, "start": occurrence.starts_at.isoformat(),
            "end": occurrence.ends_at.isoformat()}


def _mark_occurrence(meeting: BookedMeeting, occurrence: BookedOccurrence,
                     was: dict[str, str], now: datetime) -> None:
    """Note the change for the next sync: when, and (for the first change since the
    calendar last took one) the values the calendar held before it, under
    ``crm_times[KEY + "|was"]``, so a calendar version that changed nothing of this
    occurrence is told from a change made there."""
    key = occurrence_key(occurrence)
    times = {**meeting.crm_times, key: now.isoformat()}
    if key not in meeting.pending:
        times[key + "|was"] = was
    meeting.crm_times = times
    meeting.pending = sorted({*meeting.pending, key})
    meeting.written_at = None


def meeting_by_id(session: Session, activity_id: int) -> BookedMeeting | None:
    """The booking whose meeting id (its first activity) is ``activity_id``."""
    return session.scalar(select(BookedMeeting).where(
        BookedMeeting.activity_id == activity_id))


def calendar_mailbox(session: Session, owner_id: int) -> Mailbox | None:
    """The owner's mailbox whose calendar takes their bookings: the first personal,
    not removed mailbox whose connector writes calendars."""
    mailboxes = session.scalars(select(Mailbox).where(
        Mailbox.owner_id == owner_id, Mailbox.purpose == "personal",
        Mailbox.removed_at.is_(None)).order_by(Mailbox.id)).all()
    for mailbox in mailboxes:
        try:
            if supports(load_connector_class(mailbox.provider), CalendarWriting):
                return mailbox
        except ConfigError:
            continue
    return None


def field_value(meeting: BookedMeeting, name: str) -> object:
    """The CRM's value of a two-way field (times as aware datetimes; an all-day
    meeting's as dates)."""
    if meeting.all_day and name in ("start", "end"):
        return (meeting.starts_at if name == "start" else meeting.ends_at).date()
    return {"subject": meeting.subject, "start": meeting.starts_at, "end": meeting.ends_at,
            "attendees": list(meeting.attendees)}[name]


def _set_field(meeting: BookedMeeting, name: str, value: object) -> None:
    if name == "subject":
        # Occurrences renamed on their own (``--occurrence``) keep their subject.
        for activity in activities_of(meeting):
            if activity.subject == meeting.subject:
                activity.subject = str(value)
        meeting.subject = str(value)
    elif name in ("start", "end"):
        # A day (``date``) makes the meeting all-day, a time timed: the calendar may
        # turn it either way, and it comes back with its times.
        moment = value if isinstance(value, datetime) else midnight(value)  # type: ignore
        meeting.all_day = not isinstance(value, datetime)
        if name == "start":
            meeting.starts_at = moment
        else:
            meeting.ends_at = moment
    else:
        meeting.attendees = list(value)  # type: ignore[call-overload]


def set_from_calendar(session: Session, meeting: BookedMeeting, values: dict) -> None:
    """Take the calendar's values of some fields (the two-way rule decided so)."""
    for name, value in values.items():
        _set_field(meeting, name, value)
    if "start" in values or "end" in values:
        _move_occurrences(meeting)
    _sync_participants(session, meeting, meeting.owner)


def _check_times(start: datetime, end: datetime) -> None:
    if end <= start:
        raise UserError("the meeting must end after it starts")
    if end - start > MAX_LENGTH:
        raise UserError("a meeting lasts at most 14 days")


def _check_zone(tzid: str) -> None:
    try:
        ZoneInfo(tzid)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UserError(f"unknown time zone {tzid!r}") from exc


def _subject(text: str) -> str:
    subject = " ".join(text.split())
    if not subject or len(subject) > MAX_SUBJECT:
        raise UserError(f"the subject must have 1 to {MAX_SUBJECT} characters")
    return subject


def _attendees(addresses: Sequence[str] | None, owner_email: str) -> tuple[str, ...]:
    result: list[str] = []
    for raw in addresses or ():
        address = normalize_address(raw)
        if address is None:
            raise UserError(f"{raw[:100]!r} is not a mail address")
        if address != owner_email.lower() and address not in result:
            result.append(address)
    if len(result) > MAX_ATTENDEES:
        raise UserError(f"at most {MAX_ATTENDEES} attendees")
    return tuple(result)


def _length(meeting: BookedMeeting) -> timedelta:
    return meeting.ends_at - meeting.starts_at


def _slots(meeting: BookedMeeting) -> list[datetime]:
    """The occurrences' starts (UTC): weekly at the same wall-clock time in ``tzid``."""
    zone = ZoneInfo(meeting.tzid)
    local = meeting.starts_at.astimezone(zone)
    count = meeting.weekly_count or 1
    return [(local + timedelta(weeks=n)).replace(tzinfo=None).replace(tzinfo=zone)
            .astimezone(UTC) for n in range(count)]


def _move_occurrences(meeting: BookedMeeting) -> None:
    """A series moved as a whole: every occurrence takes its new slot (the calendar
    makes a new series of them; the next read says which it moved or cancelled)."""
    slots = _slots(meeting)
    # The calendar makes a new series: a change of one old occurrence has no slot left.
    meeting.pending = [p for p in meeting.pending if not p.startswith(OCCURRENCE)]
    session = object_session(meeting)
    if meeting.occurrences and session is not None:
        # Slots shifted by whole weeks would meet their neighbours' old ones: the
        # (meeting, original_start) key is cleared first.
        for occurrence in meeting.occurrences:
            occurrence.original_start = occurrence.original_start - timedelta(days=100_000)
        session.flush()
    for occurrence, slot in zip(meeting.occurrences, slots, strict=False):
        occurrence.original_start = slot
        occurrence.starts_at, occurrence.ends_at = slot, slot + _length(meeting)
        occurrence.status = "confirmed"
        occurrence.activity.occurred_at = slot
    meeting.activity.occurred_at = meeting.starts_at


def _new_activity(meeting: BookedMeeting, slot: datetime, token: str,
                  home: Mailbox | None, now: datetime) -> Activity:
    key = f"booked:{token}" if slot == meeting.starts_at \
        else f"booked:{token}@{slot:%Y%m%dT%H%M%SZ}"
    return Activity(
        kind="meeting", dedupe_key=key, subject=meeting.subject, occurred_at=slot,
        direction="outbound", conversation=f"booked:{token}", created_at=now,
        owner_mailbox_id=home.id if home else None,
        participants=[], links=[], sources=[], attachments=[])


def activities_of(meeting: BookedMeeting) -> list[Activity]:
    """The meeting's activities: one per occurrence (a single meeting: one)."""
    if meeting.occurrences:
        return [o.activity for o in meeting.occurrences]
    return [meeting.activity]


def _add_links(meeting: BookedMeeting, targets: Sequence[Target], user_id: int,
               now: datetime) -> None:
    """Link every occurrence's activity to each target (a person's link, source ``user``)."""
    for activity in activities_of(meeting):
        held = {link_target(link) for link in activity.links}
        for target in targets:
            if target not in held:
                held.add(target)
                activity.links.append(ActivityLink(
                    reason=LINK_REASON, confidence=1.0, source="user", created_by_id=user_id,
                    created_at=now, occurred_at=activity.occurred_at, **link_columns(target)))


def _sync_participants(session: Session, meeting: BookedMeeting, owner: User) -> None:
    """Each activity's participants: the owner as organizer, the people as attendees."""
    wanted = [(owner.email, owner.name, "organizer")] + [
        (a, "", "attendee") for a in meeting.attendees]
    contacts = dict(session.execute(select(ContactEmail.address, ContactEmail.contact_id).where(
        ContactEmail.address.in_([a for a, _, _ in wanted]))).all())
    for activity in activities_of(meeting):
        have = {(p.address, p.role): p for p in activity.participants}
        keep = {(a, r) for a, _, r in wanted}
        for key, participant in have.items():
            if key not in keep:
                activity.participants.remove(participant)
        for address, name, role in wanted:
            if (address, role) not in have:
                activity.participants.append(ActivityParticipant(
                    address=address, name=name, role=role, contact_id=contacts.get(address)))
