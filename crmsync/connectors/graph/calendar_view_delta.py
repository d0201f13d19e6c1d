"""Calendar: ``calendarView/delta`` over a rolling window, as :class:`CalendarEvent` records.

https://learn.microsoft.com/graph/api/event-delta

The calendar view expands series into occurrences and exceptions (each with its
``seriesMasterId``); a cancelled occurrence leaves the view as ``@removed``. The
window (default 30 days back, 365 ahead) is fixed by the round that started it, so
the cursor stores it; once it has drifted by a week a new round starts with the
window moved forward (marked ``resync``; events are re-matched by iCalUId).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from crmsync.connectors.base import CalendarEvent, Change, Deletion, EventPerson, Page, Unreadable
from crmsync.connectors.graph.client import GraphClient
from crmsync.connectors.graph.delta import delta_rounds, is_removed
from crmsync.connectors.graph.messages_delta import body_text
from crmsync.connectors.graph.times import parse_utc, parse_zoned

RESOURCE = "calendar"
#: how far the window may lag behind today before a new round moves it
MAX_DRIFT = timedelta(days=7)


def fetch_events(client: GraphClient, cursor: str | None, today: date) -> Iterator[Page]:
    """Yield pages of calendar changes since ``cursor`` (see `Connector.fetch_changes`)."""
    settings = client.settings
    saved = json.loads(cursor) if cursor else None
    back, ahead = settings.window_days
    window = (today - timedelta(days=back), today + timedelta(days=ahead))
    link, drifted = None, False
    if saved:
        drifted = today - date.fromisoformat(saved["from"]) - timedelta(days=back) > MAX_DRIFT
        if not drifted:
            window = (date.fromisoformat(saved["from"]), date.fromisoformat(saved["to"]))
            link = saved["link"]

    def start() -> str:
        return (f"/users/{settings.address}/calendarView/delta"
                f"?startDateTime={window[0].isoformat()}T00:00:00Z"
                f"&endDateTime={window[1].isoformat()}T00:00:00Z")

    prefer = (f"odata.maxpagesize={min(settings.page_size, 200)}", 'outlook.timezone="UTC"',
              'outlook.body-content-type="text"')
    for page in delta_rounds(client, link, start, prefer):
        changes = [_change(item) for item in page.items]
        state = {"from": window[0].isoformat(), "to": window[1].isoformat(), "link": page.link}
        yield Page(resource=RESOURCE, changes=changes, cursor=json.dumps(state),
                   resync=page.resync or drifted, stats={"items": len(page.items)})
        drifted = False


def _change(item: dict[str, Any]) -> Change:
    if is_removed(item):
        return Deletion(item_id=str(item["id"]), folder=RESOURCE)
    try:
        return event_record(item)
    except (KeyError, TypeError, ValueError) as exc:
        return Unreadable(item_id=str(item.get("id", "")), folder=RESOURCE,
                          raw=json.dumps(item).encode(), reason=f"unreadable event: {exc}")


def event_record(item: Mapping[str, Any]) -> CalendarEvent:
    """Turn one Graph ``event`` into a :class:`CalendarEvent` (pure, for captured payloads).

    :raises ValueError: a time or time zone cannot be read (never guessed).
    """
    organizer = _person(item.get("organizer"), "organizer", "organizer")
    attendees = tuple(
        person for person in (
            _person(a, str(a.get("type") or "required"),
                    str((a.get("status") or {}).get("response") or "none"))
            for a in item.get("attendees") or []
        ) if person is not None
    )
    original = item.get("originalStart")
    return CalendarEvent(
        item_id=str(item["id"]), calendar=RESOURCE, ical_uid=item.get("iCalUId"),
        subject=str(item.get("subject") or ""), start=parse_zoned(item["start"]),
        end=parse_zoned(item["end"]), organizer=organizer, attendees=attendees,
        event_type=str(item.get("type") or "singleInstance"),
        series_id=item.get("seriesMasterId"),
        original_start=parse_utc(original) if original else None,
        is_cancelled=bool(item.get("isCancelled")), is_all_day=bool(item.get("isAllDay")),
        sensitivity=str(item.get("sensitivity") or "normal"),
        location=str((item.get("location") or {}).get("displayName") or ""),
        body_text=body_text(item.get("body")),
        online_meeting_url=(item.get("onlineMeeting") or {}).get("joinUrl"),
        change_key=item.get("@odata.etag") or item.get("changeKey"),
    )


def _person(value: Any, role: str, response: str) -> EventPerson | None:
    email = (value or {}).get("emailAddress") or {}
    if not email.get("address"):
        return None
    return EventPerson(address=str(email["address"]).lower(), name=str(email.get("name") or ""),
                       role=role, response=response)


def utc_today() -> date:
    return datetime.now(UTC).date()
