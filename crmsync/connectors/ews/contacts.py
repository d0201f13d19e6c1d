"""Contacts: ``SyncFolderItems`` on the default contacts folder, properties by ``GetItem``.

https://learn.microsoft.com/exchange/client-developer/web-service-reference/contact

``SyncFolderItems`` lists ids only; each new or changed contact's properties come from
``GetItem`` in batches, as :class:`ContactCard` records. An internal user picked from the
address list is stored with an Exchange (``EX``, ``/o=...``) address, which no mail
reaches and no CRM contact carries: only SMTP addresses are kept. Distribution lists
live in the same folder and are not people: they are left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from exchangelib.folders import BaseFolder
from exchangelib.items import Contact

from crmsync.connectors.base import Change, ContactCard, Deletion, Page, Unreadable
from crmsync.connectors.ews.folder_sync import get_items, sync_pages
from crmsync.connectors.ews.settings import EwsSettings

RESOURCE = "contacts"
FIELDS = ("display_name", "given_name", "surname", "company_name", "job_title",
          "email_addresses", "phone_numbers")


def fetch_contacts(account: Any, folder: BaseFolder, cursor: str | None, settings: EwsSettings,
                   sleep: Callable[[float], None]) -> Iterator[Page]:
    """Yield pages of contact changes since ``cursor`` (see `Connector.fetch_changes`)."""
    for changes, new_cursor, resync in sync_pages(account, folder, cursor, settings, (), sleep):
        records: list[Change] = []
        wanted = []
        for change_type, item in changes:
            if change_type == "delete":
                records.append(Deletion(item_id=item.id, folder=RESOURCE))
            elif change_type in ("create", "update"):
                wanted.append(item)
        records += _fetched(account, folder, wanted, settings, sleep)
        yield Page(resource=RESOURCE, changes=records, cursor=new_cursor, resync=resync,
                   stats={"items": len(changes)})


def _fetched(account: Any, folder: BaseFolder, wanted: list[Any], settings: EwsSettings,
             sleep: Callable[[float], None]) -> list[Change]:
    records: list[Change] = []
    for item_id, item in get_items(account, folder, wanted, list(FIELDS), settings, sleep,
                                   RESOURCE):
        if isinstance(item, Unreadable):
            records.append(item)
        elif isinstance(item, Contact):  # distribution lists are not people
            records.append(contact_card(item_id, item))
    return records


def smtp_addresses(entries: Any) -> tuple[str, ...]:
    """The SMTP addresses among a contact's email entries, lower-cased, in label order."""
    found: list[str] = []
    for entry in sorted(entries or [], key=lambda e: str(e.label or "")):
        address = str(entry.email or "").strip().lower()
        if address.startswith("smtp:"):
            address = address[5:]
        if "@" in address and not address.startswith("/") and address not in found:
            found.append(address)
    return tuple(found)


def contact_card(item_id: str, item: Contact) -> ContactCard:
    """Turn one exchangelib :class:`~exchangelib.items.Contact` into a ContactCard."""
    phones = tuple(str(p.phone_number) for p in item.phone_numbers or [] if p.phone_number)
    return ContactCard(
        item_id=item_id, folder=RESOURCE, display_name=str(item.display_name or ""),
        emails=smtp_addresses(item.email_addresses), given_name=str(item.given_name or ""),
        surname=str(item.surname or ""), company=str(item.company_name or ""),
        job_title=str(item.job_title or ""), phones=phones,
    )
