"""Contacts: one CardDAV address book's vCards as :class:`ContactCard` records.

Each vCard resource is read by the vCard rule every import goes through
(:func:`crmsync.mapping.vcard.parse_vcards`, pure: no I/O), its href the item id.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import caldav

from crmsync.connectors.base import Change, Deletion, Page, Unreadable
from crmsync.connectors.dav.collection import list_changes, multiget, state_after
from crmsync.connectors.dav.settings import DavSettings
from crmsync.mapping.vcard import VCardError, parse_vcards

RESOURCE = "contacts"


def fetch_contacts(client: caldav.DAVClient, url: str, cursor: str | None,
                   settings: DavSettings, moved: bool = False) -> Iterator[Page]:
    """Yield pages of contact changes since ``cursor`` (see `Connector.fetch_changes`).

    :param moved: the address book is another than the one before (listed whole).
    """
    saved: dict[str, Any] = json.loads(cursor)["dav"] if cursor else {}
    listing = list_changes(client, url, saved, settings.sync_tokens)
    records: list[Change] = [Deletion(item_id=href, folder=RESOURCE) for href in listing.deleted]
    changed = listing.changed
    resync = listing.resync or moved
    for start in range(0, max(len(changed), 1), settings.page_size):
        batch = changed[start:start + settings.page_size]
        records += cards(client, url, batch)
        last = start + settings.page_size >= len(changed)
        state = listing.state if last else state_after(saved, listing, changed[:start + len(batch)])
        yield Page(resource=RESOURCE, changes=records,
                   cursor=json.dumps({"dav": state, "collection": url}), resync=resync,
                   stats={"items": len(batch)})
        records, resync = [], False


def cards(client: caldav.DAVClient, url: str, hrefs: list[str]) -> list[Change]:
    """The cards at ``hrefs`` (one each, its href the item id); an unreadable one as such."""
    records: list[Change] = []
    for href, _etag, raw in multiget(client, url, hrefs, "addressbook"):
        try:
            found, problems = parse_vcards(raw, RESOURCE)
        except VCardError as exc:
            found, problems = [], [str(exc)]
        if found:
            records.append(replace(found[0], item_id=href, folder=RESOURCE))
        else:
            records.append(Unreadable(item_id=href, folder=RESOURCE, raw=raw,
                                      reason="; ".join(problems) or "no vCard"))
    return records
