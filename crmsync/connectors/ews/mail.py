"""Mail: ``SyncFolderItems`` per folder, MIME fetched with ``GetItem`` in batches.

Exchange's ``SyncFolderItems`` returns ids and a few properties (here the read state and
when the item arrived), never MIME or recipients; internal senders come back as
Exchange (``EX``, ``/o=...``) addresses in its properties. So each new item's MIME is
fetched with ``GetItem`` (up to :data:`GET_ITEM_BATCH` per request) and goes through
the same MIME parser as IMAP and files, participants taken from its headers. Meeting
requests, responses and cancellations in the Inbox are their own item types, not
messages; their MIME carries the iCalendar part the engine reads as an invitation.

One page is one ``SyncFolderItems`` answer: its sync state is the page's cursor, stored
in the page's transaction. A state Exchange refuses (``ErrorInvalidSyncStateData``, or
none for the folder) restarts the folder from the beginning, marked ``resync``; the
engine re-matches what it already holds, so nothing is stored twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, time
from typing import Any

from exchangelib.folders import BaseFolder
from exchangelib.services import SyncFolderItems
from exchangelib.util import chunkify

from crmsync.connectors.base import Change, Deletion, FlagsChanged, Page, Unreadable
from crmsync.connectors.ews.account import with_backoff
from crmsync.connectors.ews.settings import EwsSettings
from crmsync.connectors.mime import parse_message
from crmsync.errors import CursorExpiredError

log = logging.getLogger(__name__)

#: items per GetItem request (exchangelib's default chunk; Exchange allows more, but a
#: batch of large MIME messages must fit one response within the request timeout)
GET_ITEM_BATCH = 100
SEEN = ("\\Seen",)
ROLES = {"inbox": "inbox", "sentitems": "sent"}


def utc(moment: datetime | None) -> datetime | None:
    """exchangelib's EWSDateTime as a plain UTC datetime (what every record carries)."""
    return None if moment is None else datetime.fromtimestamp(moment.timestamp(), UTC)


def flags(is_read: bool | None) -> tuple[str, ...]:
    return SEEN if is_read else ()


def sync_pages(account: Any, folder: BaseFolder, cursor: str | None, settings: EwsSettings,
               fields: tuple[str, ...], sleep: Callable[[float], None]
               ) -> Iterator[tuple[list[tuple[str, Any]], str, bool]]:
    """Yield ``(changes, cursor, resync)`` for each ``SyncFolderItems`` answer.

    A refused state restarts the folder once, from no state, with ``resync`` set on the
    first page after it.
    """
    state = json.loads(cursor)["state"] if cursor else None
    additional = {f for f in folder.normalize_fields(fields=list(fields))
                  if not f.field.is_attribute}
    resync = False
    while True:
        service = SyncFolderItems(account=account)
        try:
            changes = with_backoff(settings, lambda service=service, state=state: list(
                service.call(folder=folder, shape="IdOnly", additional_fields=additional,
                             sync_state=state, ignore=None,
                             max_changes_returned=settings.page_size, sync_scope=None)),
                sleep)
        except CursorExpiredError:
            if state is None or resync:
                raise
            log.warning("%s: Exchange refused the sync state of %s; syncing it again",
                        settings.address, folder.name)
            state, resync = None, True
            continue
        new_state = service.sync_state
        # The folder's id rides along: the next run needs no GetFolder to find it.
        yield changes, json.dumps({"state": new_state, "folder": folder.id}), resync
        resync = False
        if service.includes_last_item_in_range or new_state == state:
            return
        state = new_state


def fetch_mail(account: Any, folder: BaseFolder, name: str, cursor: str | None,
               settings: EwsSettings, sleep: Callable[[float], None]) -> Iterator[Page]:
    """Yield pages of mail changes of one folder since ``cursor``."""
    resource = f"mail:{name}"
    since = (datetime.combine(settings.since, time(), UTC) if settings.since else None)
    for changes, new_cursor, resync in sync_pages(
            account, folder, cursor, settings, ("is_read", "datetime_received"), sleep):
        records: list[Change] = []
        wanted = []
        for change_type, item in changes:
            if change_type == "delete":
                records.append(Deletion(item_id=item.id, folder=name))
            elif change_type == "read_flag_change":
                item_id, is_read = item
                records.append(FlagsChanged(item_id=item_id.id, folder=name,
                                            flags=flags(is_read)))
            elif change_type == "update":
                records.append(FlagsChanged(item_id=item.id, folder=name,
                                            flags=flags(getattr(item, "is_read", None))))
            elif since is None or item.datetime_received is None or \
                    item.datetime_received >= since:
                wanted.append(item)
        records += _fetched(account, folder, name, wanted, settings, sleep)
        yield Page(resource=resource, changes=records, cursor=new_cursor, resync=resync,
                   stats={"items": len(changes)})


def _fetched(account: Any, folder: BaseFolder, name: str, wanted: list[Any],
             settings: EwsSettings, sleep: Callable[[float], None]) -> list[Change]:
    """GetItem the new items' MIME in batches and parse each into a record."""
    records: list[Change] = []
    role = ROLES.get(name)
    for batch in chunkify(wanted, GET_ITEM_BATCH):
        ids = [(item.id, item.changekey) for item in batch]
        fetched = with_backoff(settings, lambda ids=ids: list(account.fetch(
            ids=ids, folder=folder, chunk_size=GET_ITEM_BATCH,
            only_fields=["mime_content", "is_read", "datetime_received"])), sleep)
        for (item_id, _key), item in zip(ids, fetched, strict=True):
            if isinstance(item, Exception):
                if type(item).__name__ == "ErrorItemNotFound":
                    continue  # gone since the sync listed it: its Delete comes next time
                records.append(Unreadable(item_id=item_id, folder=name, raw=b"",
                                          reason=f"Exchange could not return the item: "
                                                 f"{type(item).__name__}: {item}"))
                continue
            raw = item.mime_content or b""
            if isinstance(raw, str):
                raw = raw.encode("utf-8", "surrogateescape")
            records.append(parse_message(
                raw, item_id=item_id, folder=name, received_at=utc(item.datetime_received),
                flags=flags(getattr(item, "is_read", None)), folder_role=role))
    return records
