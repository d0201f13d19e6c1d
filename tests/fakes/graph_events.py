"""The Graph double's event writes: create, read, update, delete, instances (calendar write-back).

Follows https://learn.microsoft.com/graph/api/user-post-events, .../event-get,
.../event-update, .../event-delete and .../event-list-instances:

- every event carries ``changeKey`` and ``@odata.etag`` (``W/"<changeKey>"``) and
  ``lastModifiedDateTime``, new on every change; a PATCH or DELETE whose ``If-Match``
  names another version answers 412 ``ErrorIrresolvableConflict``;
- a ``recurrence`` (weekly, numbered) makes a ``seriesMaster`` (kept out of the
  calendar view, as Graph's calendarView returns occurrences, never masters) and one
  ``occurrence`` per week in the calendar, each with ``seriesMasterId`` and
  ``originalStart``; a changed occurrence becomes an ``exception``, a deleted one leaves;
- **invitations**: Exchange sends a meeting request whenever an event with attendees is
  created, an update when such an event changes, and a cancellation when the organizer
  deletes it. The double records each in :attr:`invitations` (``kind``, ``organizer``,
  ``subject``, ``to``), so a test fails when one goes out unasked.

:func:`edit_in_outlook`, :func:`delete_in_outlook` and :func:`leave_view` play the rep
changing the calendar in Outlook, and an event leaving the synced view.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, jsonify, request

from tests.fakes.graph_data import FakeMailbox, Tombstone

MASTERS = "calendar-masters"
CALENDAR = "calendar"
CONFLICT = ("The send or update operation could not be performed because the change key "
            "passed in the request does not match the current change key for the item.")


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000")


def _to_utc(value: dict[str, str]) -> datetime:
    zone = value.get("timeZone") or "UTC"
    moment = datetime.fromisoformat(value["dateTime"][:19])
    tz = UTC if zone.upper() == "UTC" else ZoneInfo(zone)
    return moment.replace(tzinfo=tz).astimezone(UTC)


def _utc_shape(value: dict[str, str]) -> dict[str, str]:
    return {"dateTime": _utc_text(_to_utc(value)), "timeZone": "UTC"}


def _all_day_error(body: dict[str, Any], all_day: bool) -> str | None:
    """Graph's rule for ``isAllDay`` (resource type event): start and end at midnight,
    in the same time zone."""
    if not all_day:
        return None
    times = [body[name] for name in ("start", "end") if name in body]
    if any(t["dateTime"][11:19] != "00:00:00" for t in times) or len(
            {t.get("timeZone") for t in times}) > 1:
        return "An all-day event must start and end at midnight, in one time zone."
    return None


def new_version(data: dict[str, Any]) -> None:
    """Give the event a new change key, etag and last-modified time."""
    key = secrets.token_hex(8)
    data["changeKey"] = key
    data["@odata.etag"] = f'W/"{key}"'
    data["lastModifiedDateTime"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _addresses(data: dict[str, Any]) -> list[str]:
    return [a["emailAddress"]["address"].lower() for a in data.get("attendees") or []]


def _occurrences(master: dict[str, Any]) -> list[dict[str, Any]]:
    """The weekly occurrences of a master (UTC), as the calendar view holds them."""
    recurrence = master["recurrence"]
    zone = recurrence["range"].get("recurrenceTimeZone") or master["start"]["timeZone"]
    tz = UTC if zone.upper() == "UTC" else ZoneInfo(zone)
    start = _to_utc(master["start"]).astimezone(tz)
    length = _to_utc(master["end"]) - _to_utc(master["start"])
    items = []
    for n in range(int(recurrence["range"]["numberOfOccurrences"])):
        local = (start.replace(tzinfo=None) + timedelta(weeks=n)).replace(tzinfo=tz)
        begin = local.astimezone(UTC)
        item = {k: v for k, v in master.items() if k not in (
            "id", "recurrence", "changeKey", "@odata.etag", "singleValueExtendedProperties")}
        item.update({
            "type": "occurrence", "seriesMasterId": master["id"],
            "originalStart": begin.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "iCalUId": f"{master['iCalUId']}-{n}",
            "start": {"dateTime": _utc_text(begin), "timeZone": "UTC"},
            "end": {"dateTime": _utc_text(begin + length), "timeZone": "UTC"}})
        new_version(item)
        items.append(item)
    return items


def _expand(double, box: FakeMailbox, master: dict[str, Any]) -> None:
    for item in _occurrences(master):
        double.data.put(box.address, CALENDAR, item)


def _series_items(box: FakeMailbox, master_id: str) -> list[Any]:
    return [i for i in box.items.values() if i.data.get("seriesMasterId") == master_id]


def _invite(double, box: FakeMailbox, kind: str, data: dict[str, Any]) -> None:
    if _addresses(data):
        double.invitations.append({"kind": kind, "organizer": box.address,
                                   "subject": data.get("subject"), "to": _addresses(data)})


def apply_changes(double, box: FakeMailbox, item_id: str, fields: dict[str, Any]) -> None:
    """Change an event as Exchange does: a master's change reaches its occurrences."""
    item = box.items[item_id]
    for name in ("start", "end"):
        if name in fields:
            fields[name] = _utc_shape(fields[name]) if item.container == CALENDAR \
                else fields[name]
    moved = any(name in fields for name in ("start", "end", "recurrence"))
    data = {**item.data, **fields}
    if data.get("type") == "occurrence":
        data["type"] = "exception"
    new_version(data)
    double.data.put(box.address, item.container, data)
    if item.container != MASTERS:
        return
    for child in _series_items(box, item_id):
        if child.data["type"] == "exception":
            continue
        if moved:
            double.data.delete(box.address, child.id)
        else:
            shared = {k: fields[k] for k in ("subject", "body", "attendees") if k in fields}
            updated = {**child.data, **shared}
            new_version(updated)
            double.data.put(box.address, CALENDAR, updated)
    if moved:
        _expand(double, box, data)


def remove_event(double, box: FakeMailbox, item_id: str) -> None:
    """Delete an event; a master takes its occurrences with it."""
    for child in _series_items(box, item_id):
        double.data.delete(box.address, child.id)
    double.data.delete(box.address, item_id)


def install_event_routes(app: Flask, double, user_box, graph_error) -> None:
    """Register ``/users/{id}/events`` on the double's app."""
    double.invitations = []

    def event_of(user: str, item_id: str):
        box, error = user_box(user)
        if error is not None:
            return None, None, error
        item = box.items.get(item_id)
        if item is None or item.container not in (CALENDAR, MASTERS):
            return None, None, graph_error(404, "ErrorItemNotFound",
                                           "The specified object was not found in the store.")
        expected = request.headers.get("If-Match")
        if expected and expected not in ("*", item.data.get("@odata.etag")):
            return None, None, graph_error(412, "ErrorIrresolvableConflict", CONFLICT)
        return box, item, None

    @app.post("/v1.0/users/<user>/events")
    def create_event(user: str):
        box, error = user_box(user)
        if error is not None:
            return error
        body = request.get_json()
        if (problem := _all_day_error(body, bool(body.get("isAllDay")))) is not None:
            return graph_error(400, "ErrorInvalidRequest", problem)
        event = {**body, "iCalUId": "040000008200E0" + secrets.token_hex(16),
                 "organizer": {"emailAddress": {"address": box.address}},
                 "isOrganizer": True, "isCancelled": False,
                 "type": "seriesMaster" if body.get("recurrence") else "singleInstance",
                 "createdDateTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
        if not body.get("recurrence"):
            event["start"], event["end"] = _utc_shape(body["start"]), _utc_shape(body["end"])
        new_version(event)
        item_id = double.data.put(box.address, MASTERS if body.get("recurrence") else CALENDAR,
                                  event)
        if body.get("recurrence"):
            _expand(double, box, box.items[item_id].data)
        _invite(double, box, "request", event)
        return jsonify(box.items[item_id].data), 201

    @app.get("/v1.0/users/<user>/events")
    def list_events(user: str):
        """The events collection (single events and series masters), with the one
        ``$filter`` crmsync sends: an extended property's value."""
        box, error = user_box(user)
        if error is not None:
            return error
        wanted = re.search(r"ep/value eq '((?:[^']|'')*)'", request.args.get("$filter", ""))
        value = wanted.group(1).replace("''", "'") if wanted else None
        found = [i.data for i in box.items.values()
                 if i.container in (CALENDAR, MASTERS) and i.data.get("type") in (
                     "singleInstance", "seriesMaster")
                 and (value is None or any(p.get("value") == value for p in i.data.get(
                     "singleValueExtendedProperties") or []))]
        return jsonify(value=found)

    @app.get("/v1.0/users/<user>/events/<item_id>")
    def get_event(user: str, item_id: str):
        box, item, error = event_of(user, item_id)
        return error if error is not None else jsonify(item.data)

    @app.patch("/v1.0/users/<user>/events/<item_id>")
    def update_event(user: str, item_id: str):
        box, item, error = event_of(user, item_id)
        if error is not None:
            return error
        body = dict(request.get_json())
        all_day = bool(body.get("isAllDay", item.data.get("isAllDay")))
        if (problem := _all_day_error(body, all_day)) is not None:
            return graph_error(400, "ErrorInvalidRequest", problem)
        apply_changes(double, box, item_id, body)
        _invite(double, box, "update", box.items[item_id].data)
        return jsonify(box.items[item_id].data)

    @app.delete("/v1.0/users/<user>/events/<item_id>")
    def delete_event(user: str, item_id: str):
        box, item, error = event_of(user, item_id)
        if error is not None:
            return error
        _invite(double, box, "cancel", item.data)
        remove_event(double, box, item_id)
        return "", 204

    @app.get("/v1.0/users/<user>/events/<item_id>/instances")
    def instances(user: str, item_id: str):
        box, item, error = event_of(user, item_id)
        if error is not None:
            return error
        low = datetime.fromisoformat(request.args["startDateTime"].replace("Z", "+00:00"))
        high = datetime.fromisoformat(request.args["endDateTime"].replace("Z", "+00:00"))
        found = [i.data for i in _series_items(box, item_id)
                 if low <= _to_utc(i.data["start"]) < high]
        return jsonify(value=sorted(found, key=lambda d: d["start"]["dateTime"]))


# -- the rep in Outlook ----------------------------------------------------------------------


def edit_in_outlook(double, address: str, item_id: str, **fields: Any) -> None:
    """Change an event (or one occurrence) as the rep does in Outlook; datetimes for
    ``start``/``end`` are aware. Attendees of an invited meeting hear of it."""
    box = double.data.mailbox(address)
    for name in ("start", "end"):
        if isinstance(fields.get(name), datetime):
            fields[name] = {"dateTime": _utc_text(fields[name]), "timeZone": "UTC"}
    apply_changes(double, box, item_id, fields)


def delete_in_outlook(double, address: str, item_id: str) -> None:
    """Delete an event, a series or one occurrence in Outlook."""
    remove_event(double, double.data.mailbox(address), item_id)


def leave_view(double, address: str, item_id: str) -> None:
    """The event leaves the synced calendar view (``@removed`` in the next delta) while it
    stays in the calendar: what a record leaving a filter or the window looks like."""
    box = double.data.mailbox(address)
    with double.data.lock:
        box.tombstones.append(Tombstone(item_id, CALENDAR, double.data._seq_bump()))


def series_of(double, address: str, master_id: str) -> list[dict[str, Any]]:
    """The occurrences the calendar holds for a series, oldest first."""
    box = double.data.mailbox(address)
    return sorted((i.data for i in _series_items(box, master_id)),
                  key=lambda d: d["start"]["dateTime"])
