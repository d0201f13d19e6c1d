"""The Exchange Server connector: one mailbox's mail, calendar and contacts over EWS."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from email.message import EmailMessage
from typing import Any

from exchangelib import Account
from exchangelib.folders import (
    BaseFolder,
    Calendar,
    Contacts,
    DeletedItems,
    Drafts,
    Folder,
    Inbox,
    JunkEmail,
    Outbox,
    Root,
    SentItems,
)

from crmsync.connectors.base import Connector, ContactCard, Idling, Page, Sending, SendReceipt
from crmsync.connectors.calendar_writes import (
    CalendarWriting,
    EventDraft,
    EventState,
    OccurrenceRef,
)
from crmsync.connectors.contact_folders import ContactFolderWriting, StoredContact
from crmsync.connectors.ews.account import open_account, with_backoff
from crmsync.connectors.ews.calendar import fetch_calendar
from crmsync.connectors.ews.calendar_writes import EwsEventWriter
from crmsync.connectors.ews.contact_folder import EwsContactFolder
from crmsync.connectors.ews.contacts import fetch_contacts
from crmsync.connectors.ews.mail import fetch_mail
from crmsync.connectors.ews.push import StreamingWatch
from crmsync.connectors.ews.send import send_mime
from crmsync.connectors.ews.settings import EwsSettings
from crmsync.errors import ConfigError

#: distinguished folder ids crmsync addresses directly, and exchangelib's class for each
DISTINGUISHED: dict[str, type[BaseFolder]] = {
    "inbox": Inbox, "sentitems": SentItems, "deleteditems": DeletedItems, "drafts": Drafts,
    "junkemail": JunkEmail, "outbox": Outbox, "calendar": Calendar, "contacts": Contacts,
}


def utc_today() -> date:
    """Today in UTC: the calendar window does not move with the server's time zone."""
    return datetime.now(UTC).date()


class EwsConnector(Connector, Sending, Idling, CalendarWriting, ContactFolderWriting):
    """One Exchange Server mailbox, its own or impersonated, through EWS sync states.

    Resources are ``mail:<folder>``, ``calendar`` and ``contacts`` (see
    :mod:`~crmsync.connectors.ews.settings`); each cursor holds the folder's sync state,
    so an unchanged folder costs one ``SyncFolderItems`` per poll.
    """

    name = "ews"
    supports_delta = True
    read_only = False

    def __init__(self, settings: EwsSettings, password: str,
                 sleep: Callable[[float], None] = time.sleep,
                 today: Callable[[], date] = utc_today) -> None:
        if not password:
            raise ConfigError(f"no password stored for {settings.address}")
        self.settings = settings
        self._password = password
        self._sleep = sleep
        self._today = today
        self._account: Account | None = None
        self._folders: dict[str, BaseFolder] = {}
        self._root_ref: Root | None = None
        self._watch: StreamingWatch | None = None
        self._crm_folder: EwsContactFolder | None = None

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], secret: str) -> EwsConnector:
        """See `Connector.from_settings`."""
        return cls(EwsSettings.from_mapping(settings), secret)

    @property
    def account(self) -> Account:
        if self._account is None:
            self._account = open_account(self.settings, self._password)
        return self._account

    def folder(self, name: str, cursor: str | None = None) -> BaseFolder:
        """The folder behind a resource: a distinguished id, or a display-name path under
        the top of the mailbox (``Projects/2026``).

        The cursor of an earlier page carries the folder's id, so a poll addresses the
        folder directly; without one it is looked up (GetFolder, FindFolder), once per
        connection.
        """
        known = json.loads(cursor).get("folder") if cursor else None
        if known and name not in self._folders:
            cls = DISTINGUISHED.get(name.lower(), Folder)
            self._folders[name] = cls(root=self._root(), id=known)
        if name not in self._folders:
            self._folders[name] = with_backoff(self.settings, lambda: self._find(name),
                                               self._sleep)
        return self._folders[name]

    def _root(self) -> Root:
        """The mailbox's root as a reference only: addressing a folder by id needs no
        GetFolder of the root."""
        if self._root_ref is None:
            self._root_ref = Root(account=self.account)
        return self._root_ref

    def _find(self, name: str) -> BaseFolder:
        account = self.account
        if name.lower() in DISTINGUISHED:
            return DISTINGUISHED[name.lower()].get_distinguished(root=account.root)
        folder = account.msg_folder_root
        for part in name.split("/"):
            folder = folder // part
        return folder

    def list_resources(self) -> list[str]:
        """See `Connector.list_resources` (no request: the names are settings)."""
        return self.settings.resources()

    def backfill_size(self, resource: str, cursor: str | None) -> int:
        """A mail folder's item count on a first sync (it also proves the sign-in works,
        which the console's Test connection relies on), else 0."""
        if cursor is not None or not resource.startswith("mail:"):
            return 0
        return int(self.folder(resource.removeprefix("mail:")).total_count or 0)

    def fetch_changes(self, resource: str, cursor: str | None) -> Iterator[Page]:
        """See `Connector.fetch_changes`."""
        if resource.startswith("mail:"):
            name = resource.removeprefix("mail:")
            return fetch_mail(self.account, self.folder(name, cursor), name, cursor,
                              self.settings, self._sleep)
        if resource == "calendar":
            return fetch_calendar(self.account, self.folder("calendar", cursor), cursor,
                                  self.settings, self._today(), self._sleep)
        if resource == "contacts":
            return fetch_contacts(self.account, self.folder("contacts", cursor), cursor,
                                  self.settings, self._sleep)
        raise ConfigError(f"unknown Exchange resource {resource!r}")

    def send(self, message: EmailMessage,
             point_of_no_return: Callable[[], None] | None = None) -> SendReceipt:
        """See `Sending.send`: CreateItem with the MIME, a copy saved in Sent Items
        (:mod:`.send`)."""
        return send_mime(self.account, lambda: self.folder("sentitems"),
                         self.settings.address, message, point_of_no_return)

    # -- calendar write-back (CalendarWriting; see ews/calendar_writes.py) ----------------

    def _writer(self) -> EwsEventWriter:
        return EwsEventWriter(self.account, self.folder("calendar"),
                              lambda call: with_backoff(self.settings, call, self._sleep))

    def create_event(self, draft: EventDraft) -> EventState:
        """See `CalendarWriting.create_event`."""
        return self._writer().create_event(draft)

    def find_event(self, crm_ref: str) -> EventState | None:
        """See `CalendarWriting.find_event`."""
        return self._writer().find_event(crm_ref)

    def read_event(self, remote_id: str) -> EventState | None:
        """See `CalendarWriting.read_event`."""
        return self._writer().read_event(remote_id)

    def update_event(self, remote_id: str, change_key: str, changes: Mapping[str, object],
                     invite: bool) -> EventState:
        """See `CalendarWriting.update_event`."""
        return self._writer().update_event(remote_id, change_key, changes, invite)

    def delete_event(self, remote_id: str, change_key: str, invite: bool) -> None:
        """See `CalendarWriting.delete_event`."""
        self._writer().delete_event(remote_id, change_key, invite)

    def occurrences(self, remote_id: str, start: datetime, end: datetime) -> list[EventState]:
        """See `CalendarWriting.occurrences`."""
        return self._writer().occurrences(remote_id, start, end)

    def update_occurrence(self, ref: OccurrenceRef, changes: Mapping[str, object],
                          invite: bool) -> EventState:
        """See `CalendarWriting.update_occurrence` (by OccurrenceItemId)."""
        return self._writer().update_occurrence(ref, changes, invite)

    def cancel_occurrence(self, ref: OccurrenceRef, invite: bool) -> None:
        """See `CalendarWriting.cancel_occurrence` (by OccurrenceItemId)."""
        self._writer().cancel_occurrence(ref, invite)

    # -- the CRM contact folder (contact_folder.py) ----------------------------------------

    @property
    def crm_folder(self) -> EwsContactFolder:
        if self._crm_folder is None:
            self._crm_folder = EwsContactFolder(self.account, lambda: self.folder("contacts"),
                                                self.settings, self._sleep)
        return self._crm_folder

    def crm_folder_contacts(self) -> list[StoredContact]:
        """See `ContactFolderWriting.crm_folder_contacts`."""
        return self.crm_folder.contacts()

    def create_crm_contact(self, card: ContactCard) -> StoredContact:
        """See `ContactFolderWriting.create_crm_contact`."""
        return self.crm_folder.create(card)

    def update_crm_contact(self, remote_id: str, change_key: str,
                           card: ContactCard) -> StoredContact:
        """See `ContactFolderWriting.update_crm_contact`."""
        return self.crm_folder.update(remote_id, change_key, card)

    def delete_crm_contact(self, remote_id: str) -> None:
        """See `ContactFolderWriting.delete_crm_contact`."""
        self.crm_folder.delete(remote_id)

    def close(self) -> None:
        if self._watch is not None:
            self._watch.close()
        if self._account is not None:
            self._account.protocol.close()

    # -- push: streaming notifications (push.py) -----------------------------------------

    def can_watch_many(self) -> bool:
        """One streaming subscription covers every resource: subscribe now, so a refusal
        is known (:meth:`watch_many_mode`) before the first wait; see `Idling`."""
        self._streaming(self.list_resources())
        return True

    def watch_many_mode(self) -> str:
        """``stream``, or ``poll`` when the server refused streaming; see `Idling`."""
        return self._watch.mode if self._watch is not None else "stream"

    def idle_wait_many(self, resources: Sequence[str], timeout: float) -> bool:
        """See `Idling.idle_wait_many`."""
        return self._streaming(resources).wait(timeout)

    def idle_wait(self, resource: str, timeout: float) -> bool:
        """See `Idling.idle_wait`."""
        return self.idle_wait_many([resource], timeout)

    def _streaming(self, resources: Sequence[str]) -> StreamingWatch:
        """The connection's streaming subscription, made on first use over the folders
        behind ``resources``."""
        if self._watch is None:
            watch = StreamingWatch(self.account, self.settings, self._sleep)
            watch.start([self.folder(r.removeprefix("mail:")) for r in resources])
            self._watch = watch
        return self._watch
