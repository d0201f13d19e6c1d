"""Meetings booked in the CRM in a CalDAV calendar: CalDAV's side of
:class:`~crmsync.connectors.calendar_writes.CalendarWriting`.

Each booking is one calendar object resource in the account's calendar (its href the
REMOTE_ID; an occurrence's is the href and its original start, as the inbound side names
them, :func:`crmsync.connectors.ical_events.record_id`), written with icalendar:

- **Invitations**: without ``invite`` the VEVENT has no ATTENDEE (the people are named
  in its DESCRIPTION), so a scheduling server (RFC 6638) has nobody to send a request
  to; with ``invite`` they are ATTENDEEs with ``RSVP=TRUE`` and the server schedules.
- **Conflicts**: a new resource is PUT ``If-None-Match: *``, a change ``If-Match`` the
  ETag it was based on, a delete too; 412 is
  :class:`~crmsync.connectors.calendar_writes.CalendarChangedError` (RFC 4791 §5.3.4,
  RFC 7232), so a change made in the calendar app is never written over.
- **Series**: ``RRULE:FREQ=WEEKLY;COUNT=N`` at the booking's zone (its VTIMEZONE added);
  occurrences come from expanding the resource, as the inbound side does. One
  occurrence changed is an override VEVENT (same UID, ``RECURRENCE-ID`` its slot, RFC
  5545 §3.8.4.4) in the same resource; one cancelled is an ``EXDATE`` of the master
  (its override, if any, removed); both PUT ``If-Match`` the resource's ETag.
- **All-day**: ``DTSTART;VALUE=DATE`` and ``DTEND`` the day after the last (RFC 5545
  §3.6.1); read back as the inbound side reads DATE values (midnight UTC of the day).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import caldav
import icalendar

from crmsync.connectors.calendar_writes import (
    CalendarChangedError,
    CalendarWriteError,
    EventDraft,
    EventState,
    OccurrenceRef,
)
from crmsync.connectors.dav.client import absolute, path_of, send
from crmsync.connectors.ical_events import CalendarItemError, is_all_day, item_events, to_utc

ICS = {"Content-Type": "text/calendar; charset=utf-8"}
#: where crmsync keeps its own id of the meeting in the VEVENT
CRM_REF = "X-CRMSYNC-REF"


def people_text(attendees: tuple[str, ...] | list[str]) -> str:
    """The DESCRIPTION line that names the people when they are not invited."""
    return "With: " + ", ".join(attendees) if attendees else ""


class DavEventWriter:
    """The :class:`CalendarWriting` operations on one CalDAV calendar."""

    def __init__(self, client: caldav.DAVClient, calendar_url: str, owner: str) -> None:
        self.client, self.calendar_url, self.owner = client, calendar_url, owner

    def create_event(self, draft: EventDraft) -> EventState:
        """See `CalendarWriting.create_event`: PUT ``If-None-Match: *`` at an href made
        from ``crm_ref``, so a create repeated after a crash finds the first one."""
        uid = _uid(draft.crm_ref or uuid.uuid4().hex)
        href = absolute(self.calendar_url, f"{uid}.ics")
        calendar = _new_calendar(draft, uid, self.owner)
        try:
            self._put(href, calendar, {"If-None-Match": "*"})
        except CalendarChangedError:
            pass  # made by an earlier run that stopped before storing it: that one is it
        state = self.read_event(path_of(href))
        if state is None:
            raise CalendarWriteError(f"{href} is gone right after it was written")
        return state

    def find_event(self, crm_ref: str) -> EventState | None:
        """See `CalendarWriting.find_event`: the href made from ``crm_ref``."""
        return self.read_event(path_of(absolute(self.calendar_url, f"{_uid(crm_ref)}.ics")))

    def read_event(self, remote_id: str) -> EventState | None:
        """See `CalendarWriting.read_event`."""
        href, _, slot = remote_id.partition("#")
        found = self._get(href)
        if found is None:
            return None
        calendar, etag = found
        if slot:
            return next((s for s in self._expand(href, calendar, etag, None)
                         if s.remote_id == remote_id), None)
        return _state(path_of(absolute(self.calendar_url, href)), etag, _master(calendar))

    def update_event(self, remote_id: str, change_key: str, changes: Mapping[str, object],
                     invite: bool) -> EventState:
        """See `CalendarWriting.update_event`: the master VEVENT, PUT ``If-Match``."""
        href = remote_id.partition("#")[0]
        found = self._get(href)
        if found is None or found[1] != change_key:
            raise CalendarChangedError(f"{href} changed in the calendar")
        calendar, _etag = found
        _apply(_master(calendar), changes, invite)
        self._put(href, calendar, {"If-Match": change_key})
        state = self.read_event(href)
        if state is None:
            raise CalendarChangedError(f"{href} was deleted in the calendar")
        return state

    def delete_event(self, remote_id: str, change_key: str, invite: bool) -> None:
        """See `CalendarWriting.delete_event`: DELETE ``If-Match`` (with ``invite`` a
        scheduling server sends the attendees the cancellation)."""
        href = absolute(self.calendar_url, remote_id.partition("#")[0])
        response = send(self.client, "DELETE", href, "", {"If-Match": change_key})
        if response.status == 412:
            raise CalendarChangedError(f"{href} changed in the calendar (412 on If-Match)")
        if response.status not in (200, 204, 404):
            raise CalendarWriteError(f"the DAV server answered {response.status} for {href}")

    def update_occurrence(self, ref: OccurrenceRef, changes: Mapping[str, object],
                          invite: bool) -> EventState:
        """See `CalendarWriting.update_occurrence`: the occurrence's override VEVENT
        (made from the master at its slot when there is none), PUT ``If-Match``."""
        calendar = self._versioned(ref)
        override = _override(calendar, ref.original_start)
        if override is None:
            override = _new_override(_master(calendar), ref.original_start)
            calendar.add_component(override)
        _apply(override, changes, invite)
        self._put(ref.series_id, calendar, {"If-Match": ref.change_key})
        found = self._get(ref.series_id)
        state = None if found is None else next(
            (s for s in self._expand(ref.series_id, *found, None)
             if s.original_start == ref.original_start), None)
        if state is None:
            raise CalendarChangedError(f"{ref.series_id} lost the occurrence just written")
        return state

    def cancel_occurrence(self, ref: OccurrenceRef, invite: bool) -> None:
        """See `CalendarWriting.cancel_occurrence`: an ``EXDATE`` on the master at the
        slot (in the master's zone), the override dropped, PUT ``If-Match``."""
        calendar = self._versioned(ref)
        master = _master(calendar)
        override = _override(calendar, ref.original_start)
        if override is not None:
            calendar.subcomponents.remove(override)
        zone = _zone_of(master)
        slot = ref.original_start.astimezone(ZoneInfo(zone) if zone != "UTC" else UTC)
        master.add("exdate", slot)
        _set(master, "sequence", int(master.get("SEQUENCE", 0)) + 1)
        _set(master, "last-modified", datetime.now(UTC))
        self._put(ref.series_id, calendar, {"If-Match": ref.change_key})

    def _versioned(self, ref: OccurrenceRef) -> icalendar.Calendar:
        """The series' resource, when it is still at the version ``ref`` names."""
        found = self._get(ref.series_id)
        if found is None or found[1] != ref.change_key:
            raise CalendarChangedError(f"{ref.series_id} changed in the calendar")
        return found[0]

    def occurrences(self, remote_id: str, start: datetime, end: datetime) -> list[EventState]:
        """See `CalendarWriting.occurrences`: the resource expanded over the window."""
        found = self._get(remote_id)
        if found is None:
            return []
        calendar, etag = found
        return self._expand(remote_id, calendar, etag, (start, end))

    # -- requests ---------------------------------------------------------------------------

    def _get(self, href: str) -> tuple[icalendar.Calendar, str] | None:
        url = absolute(self.calendar_url, href)
        response = send(self.client, "GET", url)
        if response.status == 404:
            return None
        if response.status != 200:
            raise CalendarWriteError(f"the DAV server answered {response.status} for {url}")
        raw = response.raw.encode() if isinstance(response.raw, str) else response.raw
        return icalendar.Calendar.from_ical(raw), response.headers.get("ETag", "")

    def _put(self, href: str, calendar: icalendar.Calendar, condition: dict[str, str]) -> None:
        response = send(self.client, "PUT", absolute(self.calendar_url, href),
                        calendar.to_ical().decode(), {**ICS, **condition})
        if response.status == 412:
            raise CalendarChangedError(f"{href} changed in the calendar (412 on If-Match)")
        if response.status not in (200, 201, 204):
            raise CalendarWriteError(f"the DAV server answered {response.status} for {href}")

    def _expand(self, href: str, calendar: icalendar.Calendar, etag: str,
                window: tuple[datetime, datetime] | None) -> list[EventState]:
        master = _master(calendar)
        start = to_utc(master, "DTSTART")
        span = window or (start.replace(year=start.year - 1), start.replace(year=start.year + 3))
        path = path_of(absolute(self.calendar_url, href))
        try:
            events = item_events(path, calendar.to_ical(), span)
        except CalendarItemError as exc:
            raise CalendarWriteError(str(exc)) from exc
        return [EventState(remote_id=e.item_id, change_key=etag, subject=e.subject,
                           start=e.start, end=e.end,
                           attendees=tuple(sorted(p.address for p in e.attendees)),
                           ical_uid=e.ical_uid, original_start=e.original_start,
                           is_cancelled=e.is_cancelled)
                for e in events]


# -- iCalendar ------------------------------------------------------------------------------


def _uid(crm_ref: str) -> str:
    """The UID (and file name) of a booking's resource: path-safe, from crmsync's id."""
    return "crmsync-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in crm_ref)


def _master(calendar: icalendar.Calendar) -> icalendar.Event:
    events = calendar.walk("VEVENT")
    if not events:
        raise CalendarWriteError("the calendar object holds no VEVENT")
    return next((e for e in events if e.get("RECURRENCE-ID") is None), events[0])


def _override(calendar: icalendar.Calendar, slot: datetime) -> icalendar.Event | None:
    """The VEVENT that overrides the occurrence at ``slot`` (UTC), if there is one."""
    for event in calendar.walk("VEVENT"):
        if event.get("RECURRENCE-ID") is not None and to_utc(event, "RECURRENCE-ID") == slot:
            return event
    return None


def _new_override(master: icalendar.Event, slot: datetime) -> icalendar.Event:
    """An override of the master's occurrence at ``slot``: the master's properties at
    that slot, without the rule."""
    override = icalendar.Event()
    length = to_utc(master, "DTEND") - to_utc(master, "DTSTART") if master.get("DTEND") \
        else None
    for name, value in master.property_items(recursive=False):
        if name in ("BEGIN", "END", "RRULE", "RDATE", "EXDATE", "DTSTART", "DTEND",
                    "SEQUENCE", "LAST-MODIFIED"):
            continue
        override.add(name, value, encode=False)
    zone = _zone_of(master)
    local = slot.astimezone(ZoneInfo(zone) if zone != "UTC" else UTC)
    override.add("recurrence-id", local)
    override.add("dtstart", local)
    if length is not None:
        override.add("dtend", local + length)
    override.add("sequence", int(master.get("SEQUENCE", 0)) + 1)
    override.add("last-modified", datetime.now(UTC))
    return override


def _new_calendar(draft: EventDraft, uid: str, owner: str) -> icalendar.Calendar:
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//crmsync//CRM meetings//EN")
    calendar.add("version", "2.0")
    event = icalendar.Event()
    now = datetime.now(UTC)
    event.add("uid", uid)
    event.add("dtstamp", now)
    event.add("last-modified", now)
    event.add("sequence", 0)
    if owner:
        event.add("organizer", f"mailto:{owner}")
    if draft.crm_ref:
        event.add(CRM_REF, draft.crm_ref)
    _apply(event, {"subject": draft.subject, "start": draft.start, "end": draft.end,
                   "attendees": draft.attendees, "body": draft.body,
                   "all_day": draft.all_day}, draft.invite,
           zone=draft.tzid)
    if draft.weekly_count:
        event.add("rrule", {"freq": "weekly", "count": draft.weekly_count})
    calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar


def _apply(event: icalendar.Event, changes: Mapping[str, object], invite: bool,
           zone: str | None = None) -> None:
    """Set the changed fields on a VEVENT: times in ``zone`` (or the event's own zone),
    an all-day meeting's as DATE values (``DTSTART;VALUE=DATE``, DTEND the day after),
    attendees only when invited (else named in the DESCRIPTION)."""
    tzid = zone or _zone_of(event)
    for name, value in changes.items():
        if name == "subject":
            _set(event, "summary", str(value))
        elif name in ("start", "end"):
            moment: Any = value
            local = moment.astimezone(ZoneInfo(tzid)) if tzid != "UTC" else moment.astimezone(UTC)
            if changes.get("all_day"):
                local = moment.astimezone(UTC).date()  # its midnight UTC names the day
            _set(event, "dtstart" if name == "start" else "dtend", local)
        elif name == "attendees":
            people = [str(a) for a in value]  # type: ignore[attr-defined]
            event.pop("ATTENDEE", None)
            if invite:
                for address in people:
                    event.add("attendee", f"mailto:{address}",
                              parameters={"ROLE": "REQ-PARTICIPANT", "PARTSTAT": "NEEDS-ACTION",
                                          "RSVP": "TRUE"})
            body = str(changes.get("body", "")) or _body_without_people(event)
            _set(event, "description", body if invite else "\n\n".join(
                p for p in (people_text(people), body) if p))
        elif name == "body" and "attendees" not in changes:
            _set(event, "description", str(value))
    if "DTSTAMP" in event:
        sequence = int(event.get("SEQUENCE", 0)) + (0 if zone else 1)
        _set(event, "sequence", sequence)
        _set(event, "last-modified", datetime.now(UTC))


def _set(event: icalendar.Event, name: str, value: Any) -> None:
    event.pop(name.upper(), None)
    event.add(name, value)


def _zone_of(event: icalendar.Event) -> str:
    start = event.get("DTSTART")
    tz = getattr(getattr(start, "dt", None), "tzinfo", None)
    key = getattr(tz, "key", None) or getattr(tz, "zone", None)
    return str(key) if key else "UTC"


def _body_without_people(event: icalendar.Event) -> str:
    text = str(event.get("DESCRIPTION") or "")
    return "\n\n".join(p for p in text.split("\n\n") if not p.startswith("With: "))


def _state(href: str, etag: str, event: icalendar.Event) -> EventState:
    start = to_utc(event, "DTSTART")
    modified = event.get("LAST-MODIFIED")
    attendees = event.get("ATTENDEE") or []
    attendees = attendees if isinstance(attendees, list) else [attendees]
    return EventState(
        remote_id=href, change_key=etag, subject=str(event.get("SUMMARY") or ""),
        start=start, end=to_utc(event, "DTEND") if event.get("DTEND") else start,
        attendees=tuple(sorted(str(a).lower().removeprefix("mailto:") for a in attendees)),
        ical_uid=str(event.get("UID") or "") or None,
        modified_at=to_utc(event, "LAST-MODIFIED") if modified is not None else None,
        is_cancelled=str(event.get("STATUS") or "").upper() == "CANCELLED",
        all_day=is_all_day(event))
