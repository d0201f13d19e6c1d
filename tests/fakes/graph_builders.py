"""Graph JSON items for the double, shaped like the documentation examples."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes.graph_data import iso

BASE = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ANA = ("Ana Ruiz", "ana.ruiz@acme.example")
TOM = ("Tom Becker", "tom.becker@acme.example")
MARIA = ("Maria Lopez", "maria.lopez@northwind.example")
WEI = ("Zhang Wei", "wei.zhang@northwind.example")
_uids = itertools.count(1)


def person(pair: tuple[str, str]) -> dict[str, Any]:
    return {"emailAddress": {"name": pair[0], "address": pair[1]}}


def message(n: int, sender: tuple[str, str] = ANA, to: tuple[tuple[str, str], ...] = (MARIA,),
            subject: str | None = None, **fields: Any) -> dict[str, Any]:
    """Mail number ``n`` with a unique internetMessageId, as ``messages/delta`` returns it."""
    sent = BASE + timedelta(minutes=n)
    item = {
        "@odata.type": "#microsoft.graph.message",
        "@odata.etag": f'W/"CQAAABYAAAARn2vdzPFjSbaPPxzjlzOT{n:06d}"',
        "internetMessageId": f"<graph{n}@test.example>",
        "conversationId": f"AAQkADOUpag6yWs{n}=",
        "subject": subject or f"Order {n}",
        "from": person(sender), "sender": person(sender),
        "toRecipients": [person(t) for t in to], "ccRecipients": [], "bccRecipients": [],
        "replyTo": [], "sentDateTime": iso(sent), "receivedDateTime": iso(sent + timedelta(
            seconds=2)),
        "body": {"contentType": "text", "content": f"Hello,\n\nabout order {n}.\n"},
        "hasAttachments": False, "isRead": False, "isDraft": False,
        "flag": {"flagStatus": "notFlagged"}, "importance": "normal",
        "internetMessageHeaders": [{"name": "Message-ID",
                                    "value": f"<graph{n}@test.example>"}],
    }
    item.update(fields)
    return item


def event(subject: str, start: datetime, minutes: int = 60, organizer=MARIA,
          attendees: tuple[tuple[str, str], ...] = (ANA,), **fields: Any) -> dict[str, Any]:
    """A calendarView item (UTC), single instance unless ``type`` says otherwise."""
    item = {
        "@odata.type": "#microsoft.graph.event",
        "iCalUId": f"040000008200E00074C5B7101A82E008{next(_uids):016d}",
        "subject": subject, "type": "singleInstance", "sensitivity": "normal",
        "isCancelled": False, "isAllDay": False,
        "body": {"contentType": "text", "content": ""},
        "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"},
        "end": {"dateTime": (start + timedelta(minutes=minutes)).strftime(
            "%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"},
        "location": {"displayName": "Teams"},
        "organizer": person(organizer),
        "attendees": [{**person(a), "type": "required", "status": {"response": "accepted"}}
                      for a in attendees],
    }
    item.update(fields)
    return item


def contact(given: str, surname: str, address: str, **fields: Any) -> dict[str, Any]:
    return {"@odata.type": "#microsoft.graph.contact", "displayName": f"{given} {surname}",
            "givenName": given, "surname": surname,
            "emailAddresses": [{"name": address, "address": address}], "businessPhones": [],
            **fields}
