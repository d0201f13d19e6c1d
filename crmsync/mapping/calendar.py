"""iCalendar in, meetings out: series with their rule and exceptions, times in UTC.

Parsing is icalendar's and RRULE expansion recurring-ical-events' (both maintained, both
tested against real calendars); this module only decides what crmsync keeps: one
:class:`Meeting` per UID (the series master, or the single event), its moved and cancelled
occurrences, and the iTIP method (REQUEST, CANCEL, REPLY) when the calendar came in a mail.
A time in a zone nobody can resolve is a problem for a person, never a guess.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo

import icalendar
import recurring_ical_events

from crmsync.connectors.base import CalendarEvent, EventPerson

__all__ = [
    "CalendarError",
    "Meeting",
    "Occurrence",
    "expand_occurrences",
    "meeting_event",
    "parse_calendar",
]


class CalendarError(ValueError):
    """A calendar (or one meeting in it) that cannot be read as it is: quarantined."""


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One occurrence of a meeting: its slot in the series and when it happens (UTC).

    :param status: ``confirmed``, ``tentative`` or ``cancelled``.
    """

    recurrence_id: datetime
    starts_at: datetime
    ends_at: datetime
    status: str = "confirmed"


@dataclass(frozen=True, slots=True)
class Meeting:
    """A meeting as one record: a single event, or a series with its rule and exceptions.

    :param method: the iTIP method of the calendar (``REQUEST``, ``CANCEL``, ``REPLY``,
        ``PUBLISH``), ``""`` for a plain file.
    :param rrule: the series' RRULE as written, ``None`` for a single event.
    :param overrides: moved or cancelled occurrences (RECURRENCE-ID components).
    :param ical: a VCALENDAR holding the time zones and every component of this UID, kept
        so occurrences in any window can be expanded later.
    :param sensitivity: ``CLASS`` lower-cased (``public``, ``private``, ``confidential``).
    """

    uid: str
    method: str
    sequence: int
    summary: str
    status: str
    sensitivity: str
    organizer: EventPerson | None
    attendees: tuple[EventPerson, ...]
    starts_at: datetime
    ends_at: datetime
    tzid: str | None
    rrule: str | None
    overrides: tuple[Occurrence, ...]
    ical: str


def _address(value: object) -> str:
    text = str(value).strip()
    return text[7:] if text.lower().startswith("mailto:") else text


def _person(prop: object, role: str) -> EventPerson:
    params = getattr(prop, "params", {})
    return EventPerson(
        address=_address(prop).lower(), name=str(params.get("CN", "")), role=role,
        response=str(params.get("PARTSTAT", "needs-action")).lower(),
    )


def to_utc(component: icalendar.Component, name: str, zone: tzinfo = UTC) -> datetime:
    """Return the DATE or DATE-TIME property ``name`` as a UTC instant.

    A date is midnight in ``zone``; a floating time (no TZID) is read in ``zone``.

    :raises CalendarError: missing, or its TZID resolves to no known zone.
    """
    prop = component.get(name)
    if isinstance(prop, list):  # a repeated property: the first one counts
        prop = prop[0] if prop else None
    if prop is None:
        raise CalendarError(f"{component.name} has no {name}")
    value = prop.dt
    if isinstance(value, datetime):
        if value.tzinfo is None:
            tzid = prop.params.get("TZID")
            if tzid:
                raise CalendarError(f"{name}: unknown time zone {tzid!r}")
            value = value.replace(tzinfo=zone)
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), zone).astimezone(UTC)
    raise CalendarError(f"{name} is not a date or time")


def _end(component: icalendar.Component, start: datetime, zone: tzinfo) -> datetime:
    if component.get("DTEND") is not None:
        return to_utc(component, "DTEND", zone)
    duration = component.get("DURATION")
    return start + duration.dt if duration is not None else start


def _override(component: icalendar.Component, zone: tzinfo) -> Occurrence:
    start = to_utc(component, "DTSTART", zone)
    return Occurrence(
        recurrence_id=to_utc(component, "RECURRENCE-ID", zone), starts_at=start,
        ends_at=_end(component, start, zone),
        status=str(component.get("STATUS", "CONFIRMED")).lower(),
    )


def _meeting(
    uid: str, components: list[icalendar.Component], calendar: icalendar.Calendar,
    zone: tzinfo,
) -> Meeting:
    masters = [c for c in components if c.get("RECURRENCE-ID") is None]
    master = masters[0] if masters else components[0]
    start = to_utc(master, "DTSTART", zone)
    organizer = master.get("ORGANIZER")
    attendees = master.get("ATTENDEE") or []
    if not isinstance(attendees, list):
        attendees = [attendees]
    rrule = master.get("RRULE")
    return Meeting(
        uid=uid, method=str(calendar.get("METHOD", "")).upper(),
        sequence=int(master.get("SEQUENCE", 0) or 0), summary=str(master.get("SUMMARY", "")),
        status=str(master.get("STATUS", "CONFIRMED")).lower(),
        sensitivity=str(master.get("CLASS", "PUBLIC")).lower(),
        organizer=_person(organizer, "organizer") if organizer is not None else None,
        attendees=tuple(_person(a, str(a.params.get("ROLE", "req-participant")).lower())
                        for a in attendees),
        starts_at=start, ends_at=_end(master, start, zone),
        tzid=master["DTSTART"].params.get("TZID"),
        rrule=rrule.to_ical().decode() if rrule is not None else None,
        # Every RECURRENCE-ID component, also when no master came along (an iTIP CANCEL
        # or update of one occurrence carries only that occurrence).
        overrides=tuple(_override(c, zone) for c in components
                        if c.get("RECURRENCE-ID") is not None),
        ical=_group_ical(calendar, components),
    )


def _group_ical(calendar: icalendar.Calendar, components: list[icalendar.Component]) -> str:
    group = icalendar.Calendar()
    group.add("PRODID", "-//crmsync//meeting//EN")
    group.add("VERSION", "2.0")
    for timezone in calendar.walk("VTIMEZONE"):
        group.add_component(timezone)
    for component in components:
        group.add_component(component)
    return group.to_ical().decode()


def parse_calendar(
    data: bytes, zone: tzinfo = UTC
) -> tuple[list[Meeting], list[tuple[str, str]]]:
    """Return the meetings of an iCalendar stream, and the UIDs that could not be read.

    :param data: one or more VCALENDAR objects.
    :param zone: the zone of floating times and dates (the calendar owner's).
    :returns: (meetings in file order, [(uid, reason)] of unreadable ones).
    :raises CalendarError: the stream is not iCalendar at all.
    """
    try:
        with warnings.catch_warnings():
            # "/mozilla.org/.../Europe/Berlin" read as Europe/Berlin: icalendar strips the
            # vendor prefix of a globally unique TZID, which names the zone it means.
            warnings.simplefilter("ignore", icalendar.GloballyUniqueTZIDGuessed)
            calendars = icalendar.Calendar.from_ical(data, multiple=True)
    except Exception as exc:  # icalendar raises ValueError and friends on broken input
        raise CalendarError(f"not an iCalendar file: {exc}") from exc
    meetings: list[Meeting] = []
    problems: list[tuple[str, str]] = []
    for calendar in calendars:
        groups: dict[str, list[icalendar.Component]] = {}
        for event in calendar.walk("VEVENT"):
            groups.setdefault(str(event.get("UID", "")), []).append(event)
        for uid, components in groups.items():
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", icalendar.GloballyUniqueTZIDGuessed)
                    meetings.append(_meeting(uid, components, calendar, zone))
            except (CalendarError, ValueError, TypeError, AttributeError) as exc:
                problems.append((uid, f"unreadable meeting: {exc}"))
    return meetings, problems


def expand_occurrences(ical: str, start: datetime, end: datetime) -> list[Occurrence]:
    """Return the occurrences of a stored meeting between ``start`` and ``end`` (UTC).

    EXDATEs and cancelled overrides are left out; moved occurrences appear once, at their
    new time, keyed by their original slot.
    """
    calendar = icalendar.Calendar.from_ical(ical)
    occurrences = []
    for event in recurring_ical_events.of(calendar).between(start, end):
        status = str(event.get("STATUS", "CONFIRMED")).lower()
        if status == "cancelled":
            continue
        begin = to_utc(event, "DTSTART")
        slot = to_utc(event, "RECURRENCE-ID") if event.get("RECURRENCE-ID") else begin
        occurrences.append(Occurrence(slot, begin, _end(event, begin, UTC), status))
    return sorted(occurrences, key=lambda o: o.starts_at)


def meeting_event(meeting: Meeting, calendar: str) -> CalendarEvent:
    """Return ``meeting`` as the connector record the store handles for every calendar."""
    return CalendarEvent(
        item_id=meeting.uid, calendar=calendar, ical_uid=meeting.uid or None,
        subject=meeting.summary, start=meeting.starts_at, end=meeting.ends_at,
        organizer=meeting.organizer, attendees=meeting.attendees,
        event_type="seriesMaster" if meeting.rrule else "singleInstance",
        is_cancelled=meeting.status == "cancelled" or meeting.method == "CANCEL",
        sensitivity=meeting.sensitivity,
    )
