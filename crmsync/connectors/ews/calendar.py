"""Calendar: ``SyncFolderItems`` on the default calendar, occurrences in a rolling window.

https://learn.microsoft.com/exchange/client-developer/exchange-web-services/recurrence-patterns-and-ews

``SyncFolderItems`` lists the calendar's items (single appointments and series masters;
occurrences and exceptions are not items of the folder), so an unchanged calendar costs
one request per poll. A created or changed item's MimeContent (iCalendar) is fetched with
``GetItem`` in batches and expanded over the window (:mod:`crmsync.connectors.ical_events`).

The cursor (JSON) holds, beside the folder's ``state``, the window of the round and the
records emitted per item (:class:`~crmsync.connectors.calendar_window.Round`), because
Exchange tells only that an item changed or went; a sync state Exchange refuses starts a
new round (``resync``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date
from typing import Any

from exchangelib.folders import BaseFolder

from crmsync.connectors.base import Change, Page, Unreadable
from crmsync.connectors.calendar_window import Round
from crmsync.connectors.ews.folder_sync import get_items, mime_bytes, sync_pages
from crmsync.connectors.ews.settings import EwsSettings
from crmsync.connectors.ical_events import RESOURCE, CalendarItemError, item_events


def fetch_calendar(account: Any, folder: BaseFolder, cursor: str | None, settings: EwsSettings,
                   today: date, sleep: Callable[[float], None]) -> Iterator[Page]:
    """Yield pages of calendar changes since ``cursor`` (see `Connector.fetch_changes`)."""
    run = Round(cursor, settings, today)
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


def _fetched(account: Any, folder: BaseFolder, wanted: list[Any], run: Round,
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
