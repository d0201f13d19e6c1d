"""The CRM contact folder: Exchange's side of
:class:`~crmsync.connectors.contact_folders.ContactFolderWriting`.

https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-work-with-contacts-by-using-ews-in-exchange

A ``CRM`` contacts folder under the mailbox's Contacts (``FindFolder`` by name, else
``CreateFolder``) holds one contact per CRM contact. It is listed the way the contacts
resource is read (``SyncFolderItems`` from no state, ``GetItem`` in batches,
:mod:`.contacts`); ``CreateItem`` writes a contact, ``UpdateItem`` with
``ConflictResolution="NeverOverwrite"`` changes it at the ``ChangeKey`` it was made
against (Exchange's ``ErrorIrresolvableConflict`` when it holds another version is
:class:`~crmsync.connectors.contact_folders.ContactChangedError`), ``DeleteItem``
removes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exchangelib.errors import ErrorFolderNotFound, ErrorIrresolvableConflict, ErrorItemNotFound
from exchangelib.folders import BaseFolder, Contacts
from exchangelib.indexed_properties import EmailAddress, PhoneNumber
from exchangelib.items import Contact
from exchangelib.items.base import NEVER_OVERWRITE

from crmsync.connectors.base import ContactCard
from crmsync.connectors.contact_folders import CRM_FOLDER, ContactChangedError, StoredContact
from crmsync.connectors.ews.account import with_backoff
from crmsync.connectors.ews.contacts import FIELDS, contact_card
from crmsync.connectors.ews.folder_sync import get_items, sync_pages
from crmsync.connectors.ews.settings import EwsSettings

#: the contact fields crmsync writes (and so replaces on an update)
WRITTEN = ("display_name", "given_name", "surname", "company_name", "job_title",
           "email_addresses", "phone_numbers")


class EwsContactFolder:
    """The CRM folder of one mailbox, found (or made) on first use."""

    def __init__(self, account: Any, contacts: Callable[[], BaseFolder], settings: EwsSettings,
                 sleep: Callable[[float], None]) -> None:
        self.account, self.settings, self.sleep = account, settings, sleep
        self._contacts = contacts
        self._folder: BaseFolder | None = None

    def _call(self, call: Callable[[], Any]) -> Any:
        return with_backoff(self.settings, call, self.sleep)

    @property
    def folder(self) -> BaseFolder:
        if self._folder is None:
            parent = self._contacts()
            found = self._call(lambda: _child(parent, CRM_FOLDER))
            if found is None:
                found = Contacts(parent=parent, name=CRM_FOLDER)
                self._call(found.save)
            self._folder = found
        return self._folder

    def contacts(self) -> list[StoredContact]:
        """Every contact of the folder (a full ``SyncFolderItems`` listing)."""
        found = []
        for changes, _cursor, _resync in sync_pages(self.account, self.folder, None,
                                                    self.settings, (), self.sleep):
            wanted = [item for kind, item in changes if kind in ("create", "update")]
            for item_id, item in get_items(self.account, self.folder, wanted, list(FIELDS),
                                           self.settings, self.sleep, CRM_FOLDER):
                if isinstance(item, Contact):
                    found.append(StoredContact(item_id, str(item.changekey),
                                               contact_card(item_id, item)))
        return found

    def create(self, card: ContactCard) -> StoredContact:
        item = Contact(account=self.account, folder=self.folder, **_fields(card))
        self._call(item.save)
        return StoredContact(str(item.id), str(item.changekey), card)

    def update(self, remote_id: str, change_key: str, card: ContactCard) -> StoredContact:
        """:raises ContactChangedError: Exchange holds another version, or none."""
        item = Contact(account=self.account, folder=self.folder, id=remote_id,
                       changekey=change_key, **_fields(card))

        def save() -> bool:
            # Caught here: the back-off would make any EWS error a TransientError.
            try:
                item.save(update_fields=list(WRITTEN), conflict_resolution=NEVER_OVERWRITE)
            except (ErrorIrresolvableConflict, ErrorItemNotFound):
                return False
            return True

        if not self._call(save):
            raise ContactChangedError(f"contact {remote_id} changed in Outlook")
        return StoredContact(str(item.id), str(item.changekey), card)

    def delete(self, remote_id: str) -> None:
        item = Contact(account=self.account, folder=self.folder, id=remote_id)

        def delete() -> None:
            try:
                item.delete()
            except ErrorItemNotFound:
                pass  # gone already

        self._call(delete)


def _child(parent: BaseFolder, name: str) -> BaseFolder | None:
    """The subfolder ``name`` of ``parent`` (a shallow FindFolder), or ``None``."""
    try:
        return parent // name
    except ErrorFolderNotFound:
        return None


def _fields(card: ContactCard) -> dict[str, Any]:
    return {
        "display_name": card.display_name, "given_name": card.given_name or None,
        "surname": card.surname or None, "company_name": card.company or None,
        "job_title": card.job_title or None,
        "email_addresses": [EmailAddress(email=a, label=f"EmailAddress{n}")
                            for n, a in enumerate(card.emails[:3], start=1)],
        "phone_numbers": [PhoneNumber(label="BusinessPhone", phone_number=p)
                          for p in card.phones[:1]],
    }
