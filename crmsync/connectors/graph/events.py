"""Create and update events in the mailbox's calendar (for calendar write-back).

https://learn.microsoft.com/graph/api/user-post-events
https://learn.microsoft.com/graph/api/event-update
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from crmsync.connectors.base import CalendarEvent
from crmsync.connectors.graph.calendar_view_delta import event_record
from crmsync.connectors.graph.client import GraphClient, checked_json


def event_payload(subject: str, start: datetime, end: datetime,
                  attendees: Sequence[str] = (), body: str = "",
                  location: str = "") -> dict[str, Any]:
    """Build an ``event`` body in UTC (pure)."""
    def stamp(moment: datetime) -> dict[str, str]:
        return {"dateTime": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "timeZone": "UTC"}

    payload: dict[str, Any] = {
        "subject": subject, "start": stamp(start), "end": stamp(end),
        "body": {"contentType": "Text", "content": body},
        "attendees": [{"emailAddress": {"address": a}, "type": "required"} for a in attendees],
    }
    if location:
        payload["location"] = {"displayName": location}
    return payload


def create_event(client: GraphClient, payload: Mapping[str, Any]) -> CalendarEvent:
    """Create an event and return it as the calendar now holds it."""
    response = client.request("POST", f"/users/{client.settings.address}/events",
                              json=dict(payload))
    return event_record(checked_json(response))


def update_event(client: GraphClient, item_id: str, changes: Mapping[str, Any]) -> CalendarEvent:
    """Patch an event's fields (``subject``, ``start``, ...) and return the result."""
    response = client.request("PATCH", f"/users/{client.settings.address}/events/{item_id}",
                              json=dict(changes))
    return event_record(checked_json(response))
