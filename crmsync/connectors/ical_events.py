"""One calendar item's iCalendar as :class:`CalendarEvent` records (Exchange, CalDAV).

Exchange returns a calendar item's MimeContent as one VCALENDAR, and a CalDAV server
stores each calendar object resource as one: the VTIMEZONE of its times (Windows zone
names such as ``W. Europe Standard Time``, or IANA names), the master VEVENT with its
RRULE and EXDATEs, and each modified occurrence as a VEVENT with a RECURRENCE-ID.
icalendar reads it and recurring-ical-events expands it within a window, as Graph's
``calendarView`` does on the server: one record per single event, and one per
occurrence or exception, a cancelled (EXDATE) occurrence none.

Each occurrence is its own meeting, as in Graph (whose ``iCalUId`` differs per
occurrence): its key is the series UID with the occurrence's original start in UTC
(:func:`occurrence_uid`), the same in every mailbox holding the series. Its id here is
the item's id (Exchange ItemId, CalDAV href) with that start (:func:`record_id`).

A time whose TZID names no zone, neither a VTIMEZONE of the item nor a known name, is
refused with :class:`CalendarItemError`, never guessed.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from datetime import UTC, date, datetime, time
from typing import Any, NamedTuple

import icalendar
import recurring_ical_events

from crmsync.connectors.base import CalendarEvent, EventPerson

RESOURCE = "calendar"
#: iCalendar PARTSTAT → the response words CalendarEvent uses (Graph's)
RESPONSES = {"ACCEPTED": "accepted", "DECLINED": "declined", "TENTATIVE": "tentativelyAccepted",
             "NEEDS-ACTION": "notResponded", "DELEGATED": "none"}
#: iCalendar CLASS → CalendarEvent sensitivity
SENSITIVITY = {"PUBLIC": "normal", "PRIVATE": "private", "CONFIDENTIAL": "confidential"}


class CalendarItemError(ValueError):
    """A calendar item that cannot be read as it is (quarantined with this reason)."""


def stamp(moment: datetime) -> str:
    """An instant as an iCalendar UTC time (``20261019T080000Z``)."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def record_id(item_id: str, slot: str | None) -> str:
    """The REMOTE_ID of one record: the item's own for a single event, else the master's
    ItemId and the occurrence's original start (``<ItemId>#20261019T080000Z``)."""
    return item_id if slot is None else f"{item_id}#{slot}"


def occurrence_uid(uid: str, slot: str) -> str:
    """The meeting key of one occurrence of series ``uid``: the same in every mailbox."""
    return f"{uid};RECURRENCE-ID={slot}"


def item_events(item_id: str, ical: bytes, window: tuple[datetime, datetime],
                uid: str | None = None) -> list[CalendarEvent]:
    """The records of one calendar item within ``window`` (UTC, start inclusive).

    :param item_id: the item's ItemId (the series id of its occurrences).
    :param ical: the item's MimeContent.
    :param uid: the item's UID property, used when the iCalendar has none.
    :raises CalendarItemError: not iCalendar, no VEVENT, or a time zone nobody defines.
    """
    calendar = _parse(ical)
    events = calendar.walk("VEVENT")
    if not events:
        raise CalendarItemError("the calendar item holds no VEVENT")
    master = next((e for e in events if e.get("RECURRENCE-ID") is None), events[0])
    for event in events:
        _check_zones(event)
    uid = str(master.get("UID") or uid or item_id)
    if master.get("RRULE") is None and master.get("RDATE") is None:
        start = to_utc(master, "DTSTART")
        if not _overlaps(start, _end(master, start), window):
            return []
        return [_record(master, master, _Slot(item_id, uid, None, "singleInstance"))]
    moved = {stamp(to_utc(e, "RECURRENCE-ID")) for e in events if e.get("RECURRENCE-ID")}
    records = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", icalendar.GloballyUniqueTZIDGuessed)
        occurrences = recurring_ical_events.of(calendar).between(*window)
    for occurrence in occurrences:
        name = "RECURRENCE-ID" if occurrence.get("RECURRENCE-ID") else "DTSTART"
        slot = stamp(to_utc(occurrence, name))
        kind = "exception" if slot in moved else "occurrence"
        records.append(_record(occurrence, master, _Slot(item_id, uid, slot, kind)))
    return sorted(records, key=lambda r: r.start)


class _Slot(NamedTuple):
    """Where a record sits: its item, the series UID, its original start, its type."""

    item_id: str
    uid: str
    slot: str | None
    kind: str


def _parse(ical: bytes) -> icalendar.Calendar:
    try:
        with warnings.catch_warnings():
            # "/mozilla.org/.../Europe/Berlin" names Europe/Berlin: icalendar says so.
            warnings.simplefilter("ignore", icalendar.GloballyUniqueTZIDGuessed)
            return icalendar.Calendar.from_ical(ical)
    except Exception as exc:  # icalendar raises ValueError and friends on broken input
        raise CalendarItemError(f"the calendar item is not iCalendar: {exc}") from exc


def _check_zones(event: icalendar.Component) -> None:
    """Refuse a time with a TZID icalendar could not resolve (it is left naive)."""
    for name in ("DTSTART", "DTEND", "RECURRENCE-ID", "EXDATE"):
        for prop in _props(event.get(name)):
            tzid = prop.params.get("TZID")
            values = [d.dt for d in prop.dts] if hasattr(prop, "dts") else [prop.dt]
            if tzid and any(isinstance(v, datetime) and v.tzinfo is None for v in values):
                raise CalendarItemError(
                    f"{name}: time zone {tzid!r} is neither defined in the item (VTIMEZONE) "
                    "nor a known zone")


def _props(value: Any) -> Iterable[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def to_utc(component: icalendar.Component, name: str) -> datetime:
    """The DATE or DATE-TIME property ``name`` as a UTC instant (a date: its midnight UTC;
    a floating time, which Exchange never writes, read as UTC)."""
    prop = component.get(name)
    if isinstance(prop, list):
        prop = prop[0] if prop else None
    if prop is None:
        raise CalendarItemError(f"{component.name} has no {name}")
    value = prop.dt
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), UTC)
    raise CalendarItemError(f"{name} is not a date or time")


def _end(component: icalendar.Component, start: datetime) -> datetime:
    if component.get("DTEND") is not None:
        return to_utc(component, "DTEND")
    duration = component.get("DURATION")
    return start + duration.dt if duration is not None else start


def _overlaps(start: datetime, end: datetime, window: tuple[datetime, datetime]) -> bool:
    return start < window[1] and (end > window[0] or start >= window[0])


def is_all_day(component: icalendar.Component) -> bool:
    """Whether the VEVENT is all-day: DATE values, or Outlook's all-day flag."""
    start = component["DTSTART"].dt
    flagged = str(component.get("X-MICROSOFT-CDO-ALLDAYEVENT", "")).upper() == "TRUE"
    return flagged or not isinstance(start, datetime)


def _record(event: icalendar.Component, master: icalendar.Component,
            where: _Slot) -> CalendarEvent:
    """One record; an exception without its own people or class takes the master's."""
    start = to_utc(event, "DTSTART")
    organizer = event.get("ORGANIZER") or master.get("ORGANIZER")
    attendees = _props(event.get("ATTENDEE") or master.get("ATTENDEE"))
    status = str(event.get("STATUS") or master.get("STATUS") or "CONFIRMED").upper()
    klass = str(event.get("CLASS") or master.get("CLASS") or "PUBLIC").upper()
    description = str(event.get("DESCRIPTION") or "").strip()
    return CalendarEvent(
        item_id=record_id(where.item_id, where.slot), calendar=RESOURCE,
        ical_uid=where.uid if where.slot is None else occurrence_uid(where.uid, where.slot),
        subject=str(event.get("SUMMARY") or ""), start=start, end=_end(event, start),
        organizer=_person(organizer, "organizer", "organizer"),
        attendees=tuple(p for p in (_attendee(a) for a in attendees) if p is not None),
        event_type=where.kind, series_id=None if where.slot is None else where.item_id,
        original_start=None if where.slot is None else _instant(where.slot),
        is_cancelled=status == "CANCELLED", is_all_day=is_all_day(event),
        sensitivity=SENSITIVITY.get(klass, "normal"),
        location=str(event.get("LOCATION") or master.get("LOCATION") or ""),
        body_text=description or None,
    )


def _instant(slot: str) -> datetime:
    return datetime.strptime(slot, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def _address(value: Any) -> str:
    text = str(value).strip()
    return (text[7:] if text.lower().startswith("mailto:") else text).lower()


def _person(value: Any, role: str, response: str) -> EventPerson | None:
    """A person with an SMTP address; an Exchange (``EX``) address names nobody mail
    can reach, and is left out."""
    if value is None or "@" not in _address(value):
        return None
    name = str(value.params.get("CN", "")) if hasattr(value, "params") else ""
    return EventPerson(address=_address(value), name=name, role=role, response=response)


def _attendee(value: Any) -> EventPerson | None:
    params = getattr(value, "params", {})
    cutype = str(params.get("CUTYPE", "")).upper()
    role = ("resource" if cutype in ("RESOURCE", "ROOM") else
            "optional" if str(params.get("ROLE", "")).upper() in ("OPT-PARTICIPANT",
                                                                  "NON-PARTICIPANT")
            else "required")
    response = RESPONSES.get(str(params.get("PARTSTAT", "NEEDS-ACTION")).upper(), "none")
    return _person(value, role, response)
