"""What mail, calendar and contacts share: a folder's changes and its items' content.

``SyncFolderItems`` pages (:func:`sync_pages`): one page per answer, its sync state the
page's cursor (with the folder's id, so the next run addresses the folder without a
GetFolder); a state Exchange refuses (``ErrorInvalidSyncStateData``) restarts the folder
once, marked ``resync``. ``GetItem`` in batches (:func:`get_items`): an item deleted since
the sync listed it is skipped (its Delete comes with the next page), one Exchange cannot
return becomes an :class:`~crmsync.connectors.base.Unreadable` with Exchange's reason.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

from exchangelib.folders import BaseFolder
from exchangelib.services import SyncFolderItems
from exchangelib.util import chunkify

from crmsync.connectors.base import Unreadable
from crmsync.connectors.ews.account import with_backoff
from crmsync.connectors.ews.settings import EwsSettings
from crmsync.errors import CursorExpiredError

log = logging.getLogger(__name__)

#: items per GetItem request (exchangelib's default chunk; Exchange allows more, but a
#: batch of large MIME messages must fit one response within the request timeout)
GET_ITEM_BATCH = 100


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


def get_items(account: Any, folder: BaseFolder, wanted: list[Any], fields: list[str],
              settings: EwsSettings, sleep: Callable[[float], None], resource: str
              ) -> Iterator[tuple[str, Any]]:
    """GetItem ``fields`` of ``wanted`` (items SyncFolderItems listed) in batches.

    :returns: ``(item id, item)`` pairs in order, the item an exchangelib item or, when
        Exchange could not return it, an :class:`Unreadable` of ``resource``.
    """
    for batch in chunkify(wanted, GET_ITEM_BATCH):
        ids = [(item.id, item.changekey) for item in batch]
        fetched = with_backoff(settings, lambda ids=ids: list(account.fetch(
            ids=ids, folder=folder, chunk_size=GET_ITEM_BATCH, only_fields=fields)), sleep)
        for (item_id, _key), item in zip(ids, fetched, strict=True):
            if not isinstance(item, Exception):
                yield item_id, item
            elif type(item).__name__ != "ErrorItemNotFound":  # else its Delete comes next
                yield item_id, Unreadable(
                    item_id=item_id, folder=resource.removeprefix("mail:"), raw=b"",
                    reason=f"Exchange could not return the item: {type(item).__name__}: {item}")


def mime_bytes(item: Any) -> bytes:
    """An item's MimeContent as bytes (exchangelib hands it over decoded from base64)."""
    raw = item.mime_content or b""
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else raw
