"""A calendar's occurrences in a rolling window, and what a cursor keeps of them.

A mail system that tells only that a calendar item changed or went (Exchange's
``SyncFolderItems``, a CalDAV collection's sync token or ETags) leaves it to us to know
which occurrence records the item had: an occurrence a changed series no longer has, or
every occurrence of a deleted series, is then a :class:`Deletion`. :class:`Round` keeps,
in the cursor (JSON), the window of the round and what was emitted per item
(``emitted``: item id → the entries of :func:`entries`), beside the mail system's own
state (merged into the same JSON object).

As in Graph's calendar, the window (``window_days`` back and ahead) is fixed by the
round that started it; once it has drifted by more than a week a new round starts with
the window moved (``resync``), and so does a state the mail system refuses. What the old
round emitted is carried (``previous``) until the new round has seen each item again: an
occurrence gone meanwhile is deleted then, one only left behind the window is history and
kept, and an item the new round never lists (deleted meanwhile) loses them all.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

from crmsync.connectors.base import CalendarEvent, Change, Deletion
from crmsync.connectors.ical_events import RESOURCE, record_id, stamp


class WindowSettings(Protocol):
    """What a round needs of a connector's settings."""

    window_days: tuple[int, int]


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


class Round:
    """The window and what was emitted, as the cursor carries them between pages.

    :param cursor: the last page's cursor (``None``: a first sync).
    """

    def __init__(self, cursor: str | None, settings: WindowSettings, today: date) -> None:
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
