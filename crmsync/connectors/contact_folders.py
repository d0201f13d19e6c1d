"""Capability: keep a "CRM" folder of contacts in the mailbox (Graph, Exchange, CardDAV).

The service writes the CRM's contacts of a rep's accounts there and reads the folder back
to see what the rep edited (:mod:`crmsync.sync_service.engine.publish_contacts`); the
writer knows nothing of the CRM.

REMOTE_ID
    The folder's id of one contact (Graph ``id``, EWS ``ItemId``, a CardDAV href).
CHANGE_KEY
    Its version (Graph ``changeKey``, EWS ``ChangeKey``, a CardDAV ``ETag``): any edit,
    ours or the rep's, gives a new one. An update names the version it was made against
    and the folder refuses it when it holds another (:class:`ContactChangedError`), so an
    edit made in Outlook or the address book is never written over unseen.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

from crmsync.connectors.base import ContactCard
from crmsync.errors import CrmSyncError

#: the folder's (address book's) display name
CRM_FOLDER = "CRM"


@dataclass(frozen=True, slots=True)
class StoredContact:
    """A contact as the CRM folder holds it now."""

    remote_id: str
    change_key: str
    card: ContactCard


class ContactChangedError(CrmSyncError):
    """The contact changed in the folder since the change key the write named."""


class ContactFolderWriting(abc.ABC):
    """Capability: list, create, update and delete the contacts of the CRM folder.

    Ask with ``supports(connector, ContactFolderWriting)``. ``card.item_id`` of a card
    to write is the CRM's stable key for the person (``crm-<external id>``), which a
    writer may use to name the item (a CardDAV href, the vCard's UID).
    """

    @abc.abstractmethod
    def crm_folder_contacts(self) -> list[StoredContact]:
        """Return every contact of the CRM folder, creating the folder when missing."""

    @abc.abstractmethod
    def create_crm_contact(self, card: ContactCard) -> StoredContact:
        """Create a contact in the CRM folder; return its id and change key."""

    @abc.abstractmethod
    def update_crm_contact(self, remote_id: str, change_key: str,
                           card: ContactCard) -> StoredContact:
        """Replace the contact's fields with ``card``'s, at version ``change_key``.

        :raises ContactChangedError: the folder holds another version (or none).
        """

    @abc.abstractmethod
    def delete_crm_contact(self, remote_id: str) -> None:
        """Remove the contact from the CRM folder; one already gone is not an error."""
