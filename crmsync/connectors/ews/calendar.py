"""Calendar: ``SyncFolderItems`` on the default calendar, occurrences in a rolling window.

https://learn.microsoft.com/exchange/client-developer/exchange-web-services/recurrence-patterns-and-ews

``SyncFolderItems`` lists the calendar's items (single appointments and series masters;
occurrences and exceptions are not items of the folder), so an unchanged calendar costs
one request per poll. A created or changed item's MimeContent (iCalendar) is fetched with
``GetItem`` in batches and expanded over the window (:mod:`.calendar_ical`).

The cursor (JSON) holds, beside the folder's ``state``, the window of the round and what
was emitted per item (``emitted``: item id → the entries of :func:`entries`), because
Exchange tells only that an item changed or went: an occurrence a changed series no
longer has, or every occurrence of a deleted series, is then a :class:`Deletion`.

As in Graph's calendar, the window (default 30 days back, 365 ahead) is fixed by the
round that started it; once it has drifted by more than a week a new round starts with
the window moved (``resync``), and so does a sync state Exchange refuses. What the old
round emitted is carried (``previous``) until the new round has seen each item again: an
occurrence gone meanwhile is deleted then, one only left behind the window is history and
kept, and an item the new round never lists (deleted meanwhile) loses them all.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from exchangelib.folders import BaseFolder

from crmsync.connectors.base import CalendarEvent, Change, Deletion, Page, Unreadable
from crmsync.connectors.ews.calendar_ical import (
    RESOURCE,
    CalendarItemError,
    item_events,
    record_id,
    stamp,
)
from crmsync.connectors.ews.folder_sync import get_items, mime_bytes, sync_pages
from crmsync.connectors.ews.settings import EwsSettings

#: how far the window may lag behind today before a new round moves it
MAX_DRIFT = timedelta(days=7)
#: the entry of an item that is a single event (its own record), before its start
SINGLE = "="

Emitted = dict[str, list[str]]


def entries(events: list[CalendarEvent]) -> list[str]:
    """What the cursor keeps of an item's records: each occurrence's original start, or
    ``=`` and the start of a single event."""
    return [stamp(e.original_start) if e.original_start is not None else SINGLE + stamp(e.start)
            for e in events]


def _record_ids(item_id: str, kept: list[str], since: datetime | None = None) -> dict[str, str]:
    """record id → entry, for entries starting at ``since`` or later (all without it)."""
    found = {}
    for entry in kept:
        single = entry.startswith(SINGLE)
        start = entry.removeprefix(SINGLE)
        if since is None or datetime.strptime(start, "%Y%m%dT%H%M%SZ").replace(
                tzinfo=UTC) >= since:
            found[record_id(item_id, None if single else start)] = entry
    return found


class _Round:
    """The window and what was emitted, as the cursor carries them between pages."""

    def __init__(self, cursor: str | None, settings: EwsSettings, today: date) -> None:
        saved: dict[str, Any] = json.loads(cursor) if cursor else {}
        back, ahead = settings.window_days
        self.window = (today - timedelta(days=back), today + timedelta(days=ahead))
        self.emitted: Emitted = {}
        self.previous: Emitted = dict(saved.get("previous") or {})
        self.state_cursor = cursor
        self.drifted = False
        if saved:
            start = date.fromisoformat(saved["from"])
            self.drifted = today - start - timedelta(days=back) > MAX_DRIFT
            if self.drifted:
                self.restart(saved.get("emitted") or {})
                self.state_cursor = None
            else:
                self.window = (start, date.fromisoformat(saved["to"]))
                self.emitted = dict(saved.get("emitted") or {})

    @property
    def span(self) -> tuple[datetime, datetime]:
        return (datetime.combine(self.window[0], time(), UTC),
                datetime.combine(self.window[1], time(), UTC))

    def restart(self, emitted: Emitted) -> None:
        """A new round: what was emitted waits in ``previous`` to be seen again."""
        self.previous = {**self.previous, **emitted}
        self.emitted = {}

    def replace(self, item_id: str, events: list[CalendarEvent]) -> list[Change]:
        """Record ``events`` as the item's; return Deletions for the records it lost."""
        new = entries(events)
        old = _record_ids(item_id, self.emitted.pop(item_id, []))
        # From an earlier round only what is still inside this window can be gone.
        old |= _record_ids(item_id, self.previous.pop(item_id, []), self.span[0])
        if new:
            self.emitted[item_id] = new
        kept = _record_ids(item_id, new)
        return [Deletion(item_id=rid, folder=RESOURCE) for rid in old if rid not in kept]

    def forget(self, item_id: str) -> list[Change]:
        """The item was deleted: Deletions for all its records, or for its own id when
        none is known (the engine ignores an id it never stored)."""
        gone = _record_ids(item_id, self.emitted.pop(item_id, []))
        gone |= _record_ids(item_id, self.previous.pop(item_id, []))
        if not gone:
            gone[item_id] = ""
        return [Deletion(item_id=rid, folder=RESOURCE) for rid in gone]

    def cursor(self, state_cursor: str) -> str:
        return json.dumps({**json.loads(state_cursor),
                           "from": self.window[0].isoformat(), "to": self.window[1].isoformat(),
                           "emitted": self.emitted, "previous": self.previous})


def fetch_calendar(account: Any, folder: BaseFolder, cursor: str | None, settings: EwsSettings,
                   today: date, sleep: Callable[[float], None]) -> Iterator[Page]:
    """Yield pages of calendar changes since ``cursor`` (see `Connector.fetch_changes`)."""
    run = _Round(cursor, settings, today)
    resync = run.drifted
    last = None
    for changes, state_cursor, restarted in sync_pages(account, folder, run.state_cursor,
                                                       settings, (), sleep):
        if restarted:  # Exchange refused the state: the folder is listed again
            run.restart(run.emitted)
        records: list[Change] = []
        wanted = []
        for change_type, item in changes:
            if change_type == "delete":
                records += run.forget(item.id)
            elif change_type in ("create", "update"):
                wanted.append(item)
        records += _fetched(account, folder, wanted, run, settings, sleep)
        last = state_cursor
        yield Page(resource=RESOURCE, changes=records, cursor=run.cursor(state_cursor),
                   resync=resync or restarted, stats={"items": len(changes)})
        resync = False
    if run.previous and last is not None:
        # The round is complete: items it never listed were deleted meanwhile.
        gone = [d for item_id in list(run.previous) for d in run.forget(item_id)]
        yield Page(resource=RESOURCE, changes=gone, cursor=run.cursor(last))


def _fetched(account: Any, folder: BaseFolder, wanted: list[Any], run: _Round,
             settings: EwsSettings, sleep: Callable[[float], None]) -> list[Change]:
    """GetItem the items' iCalendar in batches; expand each over the round's window."""
    records: list[Change] = []
    for item_id, item in get_items(account, folder, wanted, ["mime_content", "uid"],
                                   settings, sleep, RESOURCE):
        if isinstance(item, Unreadable):
            records.append(item)
            continue
        raw = mime_bytes(item)
        try:
            events = item_events(item_id, raw, run.span, getattr(item, "uid", None))
        except CalendarItemError as exc:
            records.append(Unreadable(item_id=item_id, folder=RESOURCE, raw=raw,
                                      reason=str(exc)))
            continue
        # Each record carries its item's ChangeKey (an occurrence, its series'), so the
        # engine knows an item it wrote itself when the sync brings it back.
        events = [replace(e, change_key=getattr(item, "changekey", None)) for e in events]
        records += run.replace(item_id, events)
        records += events
    return records
