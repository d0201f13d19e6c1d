"""The CRM contact folder: Graph's side of
:class:`~crmsync.connectors.contact_folders.ContactFolderWriting`.

https://learn.microsoft.com/graph/api/user-list-contactfolders
https://learn.microsoft.com/graph/api/user-post-contactfolders
https://learn.microsoft.com/graph/api/contactfolder-list-contacts
https://learn.microsoft.com/graph/api/contactfolder-post-contacts
https://learn.microsoft.com/graph/api/contact-update
https://learn.microsoft.com/graph/api/contact-delete

The folder ``CRM`` under the mailbox's contacts is found by name, made when missing. A
contact's version is its ``@odata.etag``; updates send it as ``If-Match``, and Graph's 412
(another version) is :class:`~crmsync.connectors.contact_folders.ContactChangedError`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from crmsync.connectors.base import ContactCard
from crmsync.connectors.contact_folders import CRM_FOLDER, ContactChangedError, StoredContact
from crmsync.connectors.graph.client import GraphClient, checked_json
from crmsync.connectors.graph.contacts_delta import SELECT, contact_record

#: contacts per page of the folder's listing
PAGE = 100


def crm_folder_id(client: GraphClient) -> str:
    """The id of the mailbox's ``CRM`` contact folder, made now when missing."""
    base = f"/users/{client.settings.address}/contactFolders"
    name = CRM_FOLDER.replace("'", "''")
    found = client.get_json(f"{base}?$filter={quote(f'displayName eq {name!r}')}")
    folders = found.get("value") or []
    if folders:
        return str(folders[0]["id"])
    made = client.request("POST", base, json={"displayName": CRM_FOLDER})
    return str(checked_json(made)["id"])


def folder_contacts(client: GraphClient, folder_id: str) -> list[StoredContact]:
    """Every contact of the folder, page after page."""
    path = (f"/users/{client.settings.address}/contactFolders/{folder_id}/contacts"
            f"?$select={SELECT}&$top={PAGE}")
    found = []
    while path:
        body = client.get_json(path)
        found += [_stored(item) for item in body.get("value") or []]
        path = body.get("@odata.nextLink") or ""
    return found


def create_contact(client: GraphClient, folder_id: str, card: ContactCard) -> StoredContact:
    response = client.request(
        "POST", f"/users/{client.settings.address}/contactFolders/{folder_id}/contacts",
        json=contact_payload(card))
    return _stored(checked_json(response))


def update_contact(client: GraphClient, remote_id: str, change_key: str,
                   card: ContactCard) -> StoredContact:
    """:raises ContactChangedError: Graph holds another version (412) or none (404)."""
    response = client.request("PATCH", f"/users/{client.settings.address}/contacts/{remote_id}",
                              json=contact_payload(card),
                              headers={"If-Match": change_key})
    if response.status_code in (404, 412):
        raise ContactChangedError(f"contact {remote_id} changed in Outlook")
    return _stored(checked_json(response))


def delete_contact(client: GraphClient, remote_id: str) -> None:
    response = client.request("DELETE", f"/users/{client.settings.address}/contacts/{remote_id}")
    if response.status_code != 404:  # already gone is fine
        checked_json(response)


def contact_payload(card: ContactCard) -> dict[str, Any]:
    """The Graph ``contact`` body of a card (pure)."""
    return {"displayName": card.display_name, "givenName": card.given_name,
            "surname": card.surname, "jobTitle": card.job_title, "companyName": card.company,
            "emailAddresses": [{"address": a, "name": card.display_name} for a in card.emails],
            "businessPhones": list(card.phones[:1])}


def _stored(item: dict[str, Any]) -> StoredContact:
    card = contact_record(item)
    return StoredContact(remote_id=card.item_id, change_key=str(item.get("@odata.etag") or ""),
                         card=card)
