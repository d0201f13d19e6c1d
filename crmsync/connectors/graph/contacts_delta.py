"""Contacts: the default contacts folder's delta, as :class:`ContactCard` records.

https://learn.microsoft.com/graph/api/contact-delta
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from crmsync.connectors.base import Change, ContactCard, Deletion, Page
from crmsync.connectors.graph.client import GraphClient
from crmsync.connectors.graph.delta import delta_rounds, is_removed

RESOURCE = "contacts"
SELECT = ("displayName,givenName,surname,emailAddresses,companyName,jobTitle,businessPhones,"
          "mobilePhone")


def fetch_contacts(client: GraphClient, cursor: str | None) -> Iterator[Page]:
    """Yield pages of contact changes since ``cursor`` (see `Connector.fetch_changes`)."""
    settings = client.settings

    def start() -> str:
        return f"/users/{settings.address}/contacts/delta?$select={SELECT}"

    prefer = (f"odata.maxpagesize={settings.page_size}",)
    for page in delta_rounds(client, cursor, start, prefer):
        changes: list[Change] = [
            Deletion(item_id=str(item["id"]), folder=RESOURCE) if is_removed(item)
            else contact_record(item)
            for item in page.items
        ]
        yield Page(resource=RESOURCE, changes=changes, cursor=page.link, resync=page.resync,
                   stats={"items": len(page.items)})


def contact_record(item: Mapping[str, Any]) -> ContactCard:
    """Turn one Graph ``contact`` into a :class:`ContactCard`."""
    emails = tuple(
        str(entry["address"]).lower() for entry in item.get("emailAddresses") or []
        if entry.get("address")
    )
    phones = tuple(str(p) for p in [*(item.get("businessPhones") or []), item.get("mobilePhone")]
                   if p)
    return ContactCard(
        item_id=str(item["id"]), folder=RESOURCE, display_name=str(item.get("displayName") or ""),
        emails=emails, given_name=str(item.get("givenName") or ""),
        surname=str(item.get("surname") or ""), company=str(item.get("companyName") or ""),
        job_title=str(item.get("jobTitle") or ""), phones=phones,
    )
