"""The CRM address book: CardDAV's side of
:class:`~crmsync.connectors.contact_folders.ContactFolderWriting`.

An address book named ``CRM`` (path ``crm/`` under the address-book home, made with an
extended MKCOL, RFC 5689, when missing) holds one vCard 3.0 per CRM contact, written by
the CRM's vCard rule (:func:`crmsync.mapping.vcard.card_vcard`). Writes are conditional
(RFC 7232): a new card ``If-None-Match: *``, a change ``If-Match`` the ETag it was made
against, so a card edited in the address book meanwhile is refused (412) and not written
over.
"""

from __future__ import annotations

import hashlib
from xml.sax.saxutils import escape

import caldav

from crmsync.connectors.base import ContactCard
from crmsync.connectors.contact_folders import CRM_FOLDER, ContactChangedError, StoredContact
from crmsync.connectors.dav.client import (
    DavStatusError,
    absolute,
    address_books,
    addressbook_home,
    is_crm_book,
    path_of,
    propfind,
    send,
    xmlns,
)
from crmsync.connectors.dav.collection import list_changes
from crmsync.connectors.dav.contacts import cards
from crmsync.errors import ConfigError
from crmsync.mapping.vcard import card_vcard

VCARD = {"Content-Type": "text/vcard; charset=utf-8"}


def crm_book(client: caldav.DAVClient) -> str:
    """The URL of the CRM address book, made now when the account has none."""
    home = addressbook_home(client)
    if home is None:
        raise ConfigError("the DAV account has no address books (no CardDAV)")
    for url, name in address_books(client, home).items():
        if is_crm_book(url, name):
            return url
    url = absolute(home, "crm/")
    body = (f'<?xml version="1.0" encoding="utf-8"?><d:mkcol {xmlns()}><d:set><d:prop>'
            "<d:resourcetype><d:collection/><card:addressbook/></d:resourcetype>"
            f"<d:displayname>{escape(CRM_FOLDER)}</d:displayname></d:prop></d:set></d:mkcol>")
    response = send(client, "MKCOL", url, body)
    if response.status not in (201, 405):  # 405: made meanwhile
        raise DavStatusError(response.status, url)
    return url


def book_contacts(client: caldav.DAVClient, url: str) -> list[StoredContact]:
    """Every card of the book with its ETag."""
    listing = list_changes(client, url, {}, use_tokens=False)
    return [StoredContact(remote_id=card.item_id, change_key=listing.etags.get(card.item_id, ""),
                          card=card)
            for card in cards(client, url, listing.changed) if isinstance(card, ContactCard)]


def put_card(client: caldav.DAVClient, book: str, card: ContactCard,
             at: tuple[str, str] | None = None) -> StoredContact:
    """Write ``card`` as a new member of ``book``, or over ``at`` (href, ETag).

    :raises ContactChangedError: the member at ``at`` has another ETag (or is gone).
    """
    if at is None:
        href = absolute(book, f"{hashlib.sha256(card.item_id.encode()).hexdigest()[:24]}.vcf")
        condition = {"If-None-Match": "*"}
    else:
        href, condition = absolute(book, at[0]), {"If-Match": at[1]}
    fields = {"first_name": card.given_name, "last_name": card.surname,
              "phone": card.phones[0] if card.phones else "", "title": card.job_title,
              "org": card.company}
    body = card_vcard(fields, list(card.emails), card.item_id)
    response = send(client, "PUT", href, body, {**VCARD, **condition})
    if response.status == 412:
        raise ContactChangedError(f"{href} changed in the address book")
    if response.status not in (200, 201, 204):
        raise DavStatusError(response.status, href)
    etag = response.headers.get("ETag") or _etag(client, href)
    return StoredContact(remote_id=path_of(href), change_key=etag, card=card)


def _etag(client: caldav.DAVClient, href: str) -> str:
    return propfind(client, href, "<d:getetag/>", 0).findtext(".//{DAV:}getetag", "") or ""


def delete_card(client: caldav.DAVClient, book: str, href: str) -> None:
    """Remove a member; one already gone is fine."""
    response = send(client, "DELETE", absolute(book, href))
    if response.status not in (200, 204, 404):
        raise DavStatusError(response.status, href)
