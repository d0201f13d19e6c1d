"""Mail: ``SyncFolderItems`` per folder, MIME fetched with ``GetItem`` in batches.

Exchange's ``SyncFolderItems`` returns ids and a few properties (here the read state and
when the item arrived), never MIME or recipients; internal senders come back as
Exchange (``EX``, ``/o=...``) addresses in its properties. So each new item's MIME is
fetched with ``GetItem`` in batches (:mod:`.folder_sync`) and goes through
the same MIME parser as IMAP and files, participants taken from its headers. Meeting
requests, responses and cancellations in the Inbox are their own item types, not
messages; their MIME carries the iCalendar part the engine reads as an invitation.

One page is one ``SyncFolderItems`` answer, its sync state the cursor stored in the
page's transaction (:func:`~.folder_sync.sync_pages`); after a refused state the folder
is listed again, marked ``resync``, and the engine re-matches what it already holds, so
nothing is stored twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, time
from typing import Any

from exchangelib.folders import BaseFolder

from crmsync.connectors.base import Change, Deletion, FlagsChanged, Page, Unreadable
from crmsync.connectors.ews.flags import FIELD, flags
from crmsync.connectors.ews.folder_sync import get_items, mime_bytes, sync_pages
from crmsync.connectors.ews.settings import EwsSettings
from crmsync.connectors.mime import parse_message

ROLES = {"inbox": "inbox", "sentitems": "sent"}


def utc(moment: datetime | None) -> datetime | None:
    """exchangelib's EWSDateTime as a plain UTC datetime (what every record carries)."""
    return None if moment is None else datetime.fromtimestamp(moment.timestamp(), UTC)


def fetch_mail(account: Any, folder: BaseFolder, name: str, cursor: str | None,
               settings: EwsSettings, sleep: Callable[[float], None]) -> Iterator[Page]:
    """Yield pages of mail changes of one folder since ``cursor``."""
    resource = f"mail:{name}"
    since = (datetime.combine(settings.since, time(), UTC) if settings.since else None)
    for changes, new_cursor, resync in sync_pages(
            account, folder, cursor, settings, ("is_read", FIELD, "datetime_received"), sleep):
        records: list[Change] = []
        wanted, read_changed = [], []
        for change_type, item in changes:
            if change_type == "delete":
                records.append(Deletion(item_id=item.id, folder=name))
            elif change_type == "read_flag_change":
                read_changed.append(item[0])  # only IsRead came: the follow-up flag is asked
            elif change_type == "update":
                records.append(FlagsChanged(item_id=item.id, folder=name, flags=flags(item)))
            elif since is None or item.datetime_received is None or \
                    item.datetime_received >= since:
                wanted.append(item)
        for item_id, item in get_items(account, folder, read_changed, ["is_read", FIELD],
                                       settings, sleep, name):
            if not isinstance(item, Unreadable):
                records.append(FlagsChanged(item_id=item_id, folder=name, flags=flags(item)))
        records += _fetched(account, folder, name, wanted, settings, sleep)
        yield Page(resource=resource, changes=records, cursor=new_cursor, resync=resync,
                   stats={"items": len(changes)})


def _fetched(account: Any, folder: BaseFolder, name: str, wanted: list[Any],
             settings: EwsSettings, sleep: Callable[[float], None]) -> list[Change]:
    """GetItem the new items' MIME in batches and parse each into a record."""
    records: list[Change] = []
    role = ROLES.get(name)
    for item_id, item in get_items(account, folder, wanted,
                                   ["mime_content", "is_read", FIELD, "datetime_received"],
                                   settings, sleep, name):
        if isinstance(item, Unreadable):
            records.append(item)
            continue
        records.append(parse_message(
            mime_bytes(item), item_id=item_id, folder=name,
            received_at=utc(item.datetime_received),
            flags=flags(item), folder_role=role))
    return records
