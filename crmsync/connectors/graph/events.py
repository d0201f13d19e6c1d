"""Write meetings booked in the CRM to the mailbox's calendar, and read them back.

See :class:`crmsync.connectors.calendar_writes.CalendarWriting` for the contract.

- https://learn.microsoft.com/graph/api/user-post-events: "When an event is sent, the
  server sends invitations to all the attendees", and v1.0 has no switch to create a
  meeting without sending them. So without ``invite`` the event has **no attendees**:
  the people are written into its body ("With: ..."), and Exchange sends nothing. With
  ``invite`` they are attendees, and Exchange sends the requests, then the updates
  (event-update) and, when the organizer deletes it, the cancellation (event-delete).
- https://learn.microsoft.com/graph/api/event-update: a PATCH names the version it was
  made against in ``If-Match`` (the event's ``@odata.etag``); a newer version answers
  412 Precondition Failed → :class:`CalendarChangedError`.
- A series is one event with a ``patternedRecurrence`` (weekly, numbered range, in the
  booking's zone); its occurrences come from ``/events/{id}/instances``.
- The CRM's own id is kept in a single-value extended property, so the event can be
  told apart from anything the rep made by hand.
- An all-day meeting is ``isAllDay: true`` with start and end at midnight in the
  booking's zone (resource type event: "If true, regardless of whether it's a single-day
  or multi-day event, start and end time must be set to midnight and be in the same
  time zone"). Read back in UTC (``Prefer: outlook.timezone``), its midnights are
  shifted by that zone's offset: the days are the nearest midnights.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from crmsync.connectors.calendar_writes import (
    CalendarChangedError,
    CalendarWriteError,
    EventDraft,
    EventState,
)
from crmsync.connectors.graph.client import GraphClient, GraphError, checked_json
from crmsync.connectors.graph.times import parse_utc, parse_zoned

#: a named property in the PS_PUBLIC_STRINGS set, holding crmsync's id of the meeting
CRM_REF_PROPERTY = "String {00020329-0000-0000-C000-000000000046} Name crmsyncMeetingRef"
UTC_VIEW = ('outlook.timezone="UTC"', 'outlook.body-content-type="text"')
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def people_text(attendees: tuple[str, ...] | list[str]) -> str:
    """The body line that names the people when they are not invited."""
    return "With: " + ", ".join(attendees) if attendees else ""


def _stamp(moment: datetime, tzid: str) -> dict[str, str]:
    local = moment.astimezone(ZoneInfo(tzid)) if tzid != "UTC" else moment.astimezone(UTC)
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": tzid}


def _day_stamp(moment: datetime, tzid: str) -> dict[str, str]:
    """An all-day event's day (``moment``: its midnight UTC) at midnight in ``tzid``."""
    return {"dateTime": f"{moment.astimezone(UTC):%Y-%m-%d}T00:00:00", "timeZone": tzid}


def _nearest_midnight(moment: datetime) -> datetime:
    """The day an all-day event's start or end names, read in any zone (UTC here):
    its midnight there is within 14 hours of that day's midnight UTC."""
    shifted = moment.astimezone(UTC) + timedelta(hours=12)
    return shifted.replace(hour=0, minute=0, second=0, microsecond=0)


def _attendees(addresses: tuple[str, ...] | list[str]) -> list[dict[str, Any]]:
    return [{"emailAddress": {"address": a}, "type": "required"} for a in addresses]


def _body(text: str) -> dict[str, str]:
    return {"contentType": "text", "content": text}


def event_payload(draft: EventDraft) -> dict[str, Any]:
    """Build the ``event`` to create (pure): no attendees unless ``draft.invite``."""
    body = draft.body if draft.invite else "\n\n".join(
        part for part in (people_text(draft.attendees), draft.body) if part)
    stamp = _day_stamp if draft.all_day else _stamp
    payload: dict[str, Any] = {
        "subject": draft.subject, "start": stamp(draft.start, draft.tzid),
        "end": stamp(draft.end, draft.tzid), "body": _body(body), "isAllDay": draft.all_day,
        "attendees": _attendees(draft.attendees) if draft.invite else [],
        "isReminderOn": True,
    }
    if draft.crm_ref:
        payload["singleValueExtendedProperties"] = [
            {"id": CRM_REF_PROPERTY, "value": draft.crm_ref}]
    if draft.weekly_count:
        local = draft.start.astimezone(ZoneInfo(draft.tzid))
        payload["recurrence"] = {
            "pattern": {"type": "weekly", "interval": 1, "firstDayOfWeek": "monday",
                        "daysOfWeek": [DAYS[local.weekday()]]},
            "range": {"type": "numbered", "startDate": local.date().isoformat(),
                      "numberOfOccurrences": draft.weekly_count,
                      "recurrenceTimeZone": draft.tzid},
        }
    return payload


def event_state(item: Mapping[str, Any]) -> EventState:
    """Read an ``event`` answer into an :class:`EventState` (pure)."""
    original = item.get("originalStart")
    modified = item.get("lastModifiedDateTime")
    all_day = bool(item.get("isAllDay"))
    start, end = parse_zoned(item["start"]), parse_zoned(item["end"])
    if all_day:
        start, end = _nearest_midnight(start), _nearest_midnight(end)
    return EventState(
        remote_id=str(item["id"]),
        change_key=str(item.get("@odata.etag") or item.get("changeKey") or ""),
        subject=str(item.get("subject") or ""), start=start, end=end, all_day=all_day,
        attendees=tuple(sorted(
            str(a["emailAddress"]["address"]).lower() for a in item.get("attendees") or []
            if (a.get("emailAddress") or {}).get("address"))),
        ical_uid=item.get("iCalUId"),
        original_start=parse_utc(original) if original else None,
        modified_at=parse_utc(modified) if modified else None,
        is_cancelled=bool(item.get("isCancelled")),
    )


def change_payload(changes: Mapping[str, object], invite: bool,
                   tzid: str = "UTC") -> dict[str, Any]:
    """Turn field changes into a PATCH body; attendees only when they are invited; times
    of an all-day meeting (``all_day``) as its days at midnight in the zone."""
    payload: dict[str, Any] = {}
    all_day, tzid = bool(changes.get("all_day")), str(changes.get("tzid") or tzid)
    if "all_day" in changes:
        payload["isAllDay"] = all_day
    for name, value in changes.items():
        if name == "subject":
            payload["subject"] = str(value)
        elif name in ("start", "end"):
            payload[name] = (_day_stamp if all_day else _stamp)(value, tzid)  # type: ignore
        elif name == "attendees":
            payload["attendees"] = _attendees(list(value)) if invite else []  # type: ignore
        elif name == "body":
            payload["body"] = _body(str(value))
    return payload


class GraphEventWriter:
    """The :class:`CalendarWriting` operations of one Graph mailbox."""

    def __init__(self, client: GraphClient) -> None:
        self.client = client

    @property
    def _events(self) -> str:
        return f"/users/{self.client.settings.address}/events"

    def create_event(self, draft: EventDraft) -> EventState:
        """See `CalendarWriting.create_event`."""
        response = self.client.request("POST", self._events, json=event_payload(draft),
                                       prefer=UTC_VIEW)
        return event_state(_checked(response))

    def find_event(self, crm_ref: str) -> EventState | None:
        """See `CalendarWriting.find_event`: a ``$filter`` on the extended property
        (https://learn.microsoft.com/graph/api/singlevaluelegacyextendedproperty-get)."""
        condition = (f"singleValueExtendedProperties/Any(ep: ep/id eq '{CRM_REF_PROPERTY}' "
                     f"and ep/value eq '{crm_ref.replace(chr(39), chr(39) * 2)}')")
        body = checked_json(self.client.request(
            "GET", f"{self._events}?$filter={quote(condition)}", prefer=UTC_VIEW))
        found = body.get("value") or []
        return event_state(found[0]) if found else None

    def read_event(self, remote_id: str) -> EventState | None:
        """See `CalendarWriting.read_event`."""
        response = self.client.request("GET", f"{self._events}/{quote(remote_id)}",
                                       prefer=UTC_VIEW)
        if response.status_code == 404:
            return None
        return event_state(_checked(response))

    def update_event(self, remote_id: str, change_key: str, changes: Mapping[str, object],
                     invite: bool) -> EventState:
        """See `CalendarWriting.update_event`: PATCH with ``If-Match``."""
        response = self.client.request(
            "PATCH", f"{self._events}/{quote(remote_id)}", json=change_payload(changes, invite),
            prefer=UTC_VIEW, headers={"If-Match": change_key})
        return event_state(_checked(response))

    def delete_event(self, remote_id: str, change_key: str, invite: bool) -> None:
        """See `CalendarWriting.delete_event`: DELETE with ``If-Match`` (the organizer's
        delete sends the cancellation to the attendees an invited meeting has)."""
        response = self.client.request("DELETE", f"{self._events}/{quote(remote_id)}",
                                       headers={"If-Match": change_key})
        if response.status_code != 404:
            _checked(response)

    def occurrences(self, remote_id: str, start: datetime, end: datetime) -> list[EventState]:
        """See `CalendarWriting.occurrences` (``/events/{id}/instances``)."""
        path = (f"{self._events}/{quote(remote_id)}/instances"
                f"?startDateTime={_iso(start)}&endDateTime={_iso(end)}")
        found: list[EventState] = []
        while path:
            body = checked_json(self.client.request("GET", path, prefer=UTC_VIEW))
            found += [event_state(item) for item in body.get("value", [])]
            path = body.get("@odata.nextLink") or ""
        return found


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _checked(response: Any) -> dict[str, Any]:
    if response.status_code == 412:
        raise CalendarChangedError("the event changed in the calendar (412 on If-Match)")
    try:
        return checked_json(response)
    except GraphError as exc:
        raise CalendarWriteError(str(exc)) from exc
