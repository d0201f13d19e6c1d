"""Calendar: one CalDAV calendar's events, occurrences in a rolling window.

Each calendar object resource (one ``.ics``, its href the item id) is one event or one
series with its exceptions; it is expanded over the window by the rule the Exchange
connector uses (:mod:`crmsync.connectors.ical_events`), so occurrence keys are the same
as Graph's and Exchange's. Which records an href had is kept in the cursor
(:class:`~crmsync.connectors.calendar_window.Round`), because the server tells only that
a resource changed or went.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from typing import Any

import caldav

from crmsync.connectors.base import Change, Page, Unreadable
from crmsync.connectors.calendar_window import Round
from crmsync.connectors.dav.collection import list_changes, multiget, state_after
from crmsync.connectors.dav.settings import DavSettings
from crmsync.connectors.ical_events import RESOURCE, CalendarItemError, item_events


def fetch_calendar(client: caldav.DAVClient, url: str, cursor: str | None,
                   settings: DavSettings, today: date, moved: bool = False) -> Iterator[Page]:
    """Yield pages of calendar changes since ``cursor`` (see `Connector.fetch_changes`).

    :param moved: the calendar the cursor named is gone and ``url`` is another: it is
        listed whole, and what the old one held and the new one lacks is deleted.
    """
    run = Round(cursor, settings, today)
    saved: dict[str, Any] = {} if moved or not run.state_cursor else \
        json.loads(run.state_cursor)["dav"]
    listing = list_changes(client, url, saved, settings.sync_tokens)
    if listing.resync or moved:
        run.restart(run.emitted)
    resync = run.drifted or listing.resync or moved

    def cursor_of(state: dict[str, Any]) -> str:
        return run.cursor(json.dumps({"dav": state, "collection": url}))

    records: list[Change] = [d for href in listing.deleted for d in run.forget(href)]
    changed = listing.changed
    for start in range(0, max(len(changed), 1), settings.page_size):
        batch = changed[start:start + settings.page_size]
        records += _fetched(client, url, batch, run)
        last = start + settings.page_size >= len(changed)
        state = listing.state if last else state_after(saved, listing, changed[:start + len(batch)])
        yield Page(resource=RESOURCE, changes=records, cursor=cursor_of(state), resync=resync,
                   stats={"items": len(batch)})
        records, resync = [], False
    if run.previous:
        # A new round is complete: items it never listed were deleted meanwhile.
        gone = [d for href in list(run.previous) for d in run.forget(href)]
        yield Page(resource=RESOURCE, changes=gone, cursor=cursor_of(listing.state))


def _fetched(client: caldav.DAVClient, url: str, hrefs: list[str], run: Round) -> list[Change]:
    records: list[Change] = []
    for href, etag, raw in multiget(client, url, hrefs, "calendar"):
        try:
            events = item_events(href, raw, run.span)
        except CalendarItemError as exc:
            records.append(Unreadable(item_id=href, folder=RESOURCE, raw=raw, reason=str(exc)))
            continue
        records += run.replace(href, events)
        # the resource's ETag: a meeting crmsync wrote is known as its own echo by it
        records += [replace(e, change_key=etag or None) for e in events]
    return records
