"""The CalDAV/CardDAV connector: one account's calendar and address book."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any

import caldav

from crmsync.connectors.base import Connector, ContactCard, Page
from crmsync.connectors.calendar_writes import (
    CalendarWriting,
    EventDraft,
    EventState,
    OccurrenceRef,
)
from crmsync.connectors.contact_folders import ContactFolderWriting, StoredContact
from crmsync.connectors.dav.calendar import fetch_calendar
from crmsync.connectors.dav.client import (
    DavStatusError,
    first_calendar,
    open_client,
    own_address_book,
)
from crmsync.connectors.dav.contacts import fetch_contacts
from crmsync.connectors.dav.events import DavEventWriter
from crmsync.connectors.dav.publish import book_contacts, crm_book, delete_card, put_card
from crmsync.connectors.dav.settings import DavSettings
from crmsync.errors import ConfigError

log = logging.getLogger(__name__)


def utc_today() -> date:
    """Today in UTC: the calendar window does not move with the server's time zone."""
    return datetime.now(UTC).date()


class DavConnector(Connector, CalendarWriting, ContactFolderWriting):
    """One CalDAV/CardDAV account (Google, iCloud, Nextcloud, Radicale ...).

    Resources are ``calendar`` and ``contacts`` (see :mod:`.settings`); each cursor holds
    the collection's URL (found once, then addressed directly) and its RFC 6578 sync
    token, or its CTag and members' ETags where the server has no sync tokens.
    """

    name = "caldav"
    supports_delta = True
    read_only = False

    def __init__(self, settings: DavSettings, password: str,
                 today: Callable[[], date] = utc_today) -> None:
        if not password:
            raise ConfigError(f"no password stored for {settings.username}")
        self.settings = settings
        self._password = password
        self._today = today
        self._client: caldav.DAVClient | None = None
        self._crm_book: str | None = None
        self._writer: DavEventWriter | None = None

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], secret: str) -> DavConnector:
        """See `Connector.from_settings`."""
        return cls(DavSettings.from_mapping(settings), secret)

    @property
    def client(self) -> caldav.DAVClient:
        if self._client is None:
            self._client = open_client(self.settings, self._password)
        return self._client

    def list_resources(self) -> list[str]:
        """See `Connector.list_resources` (no request: the names are settings)."""
        return self.settings.resources()

    def fetch_changes(self, resource: str, cursor: str | None) -> Iterator[Page]:
        """See `Connector.fetch_changes`.

        A collection the cursor names that the server no longer has (404: deleted, or
        moved to another URL) is looked up again, and the one found is listed whole.
        """
        if resource not in ("calendar", "contacts"):
            raise ConfigError(f"unknown CalDAV resource {resource!r}")
        known = json.loads(cursor).get("collection") if cursor else None
        try:
            yield from self._fetch(resource, known or self._discover(resource), cursor)
        except DavStatusError as exc:
            if exc.status != 404 or known is None:
                raise
            log.warning("%s: the %s at %s is gone; syncing the one found now",
                        self.settings.username, resource, known)
            yield from self._fetch(resource, self._discover(resource), cursor, moved=True)

    def _discover(self, resource: str) -> str:
        if resource == "calendar":
            return first_calendar(self.client)
        return own_address_book(self.client)

    def _fetch(self, resource: str, url: str, cursor: str | None,
               moved: bool = False) -> Iterator[Page]:
        if resource == "calendar":
            return fetch_calendar(self.client, url, cursor, self.settings, self._today(), moved)
        return fetch_contacts(self.client, url, None if moved else cursor, self.settings,
                              moved)

    # -- meetings booked in the CRM (events.py) ---------------------------------------------

    @property
    def writer(self) -> DavEventWriter:
        if self._writer is None:
            self._writer = DavEventWriter(self.client, first_calendar(self.client),
                                          self.settings.address)
        return self._writer

    def create_event(self, draft: EventDraft) -> EventState:
        """See `CalendarWriting.create_event`."""
        return self.writer.create_event(draft)

    def read_event(self, remote_id: str) -> EventState | None:
        """See `CalendarWriting.read_event`."""
        return self.writer.read_event(remote_id)

    def update_event(self, remote_id: str, change_key: str, changes: Mapping[str, object],
                     invite: bool) -> EventState:
        """See `CalendarWriting.update_event`."""
        return self.writer.update_event(remote_id, change_key, changes, invite)

    def delete_event(self, remote_id: str, change_key: str, invite: bool) -> None:
        """See `CalendarWriting.delete_event`."""
        self.writer.delete_event(remote_id, change_key, invite)

    def update_occurrence(self, ref: OccurrenceRef, changes: Mapping[str, object],
                          invite: bool) -> EventState:
        """See `CalendarWriting.update_occurrence` (a RECURRENCE-ID override)."""
        return self.writer.update_occurrence(ref, changes, invite)

    def cancel_occurrence(self, ref: OccurrenceRef, invite: bool) -> None:
        """See `CalendarWriting.cancel_occurrence` (an EXDATE)."""
        self.writer.cancel_occurrence(ref, invite)

    def occurrences(self, remote_id: str, start: datetime, end: datetime) -> list[EventState]:
        """See `CalendarWriting.occurrences`."""
        return self.writer.occurrences(remote_id, start, end)

    def find_event(self, crm_ref: str) -> EventState | None:
        """See `CalendarWriting.find_event`."""
        return self.writer.find_event(crm_ref)

    # -- the CRM address book (publish.py) -------------------------------------------------

    def _book(self) -> str:
        if self._crm_book is None:
            self._crm_book = crm_book(self.client)
        return self._crm_book

    def crm_folder_contacts(self) -> list[StoredContact]:
        """See `ContactFolderWriting.crm_folder_contacts`."""
        return book_contacts(self.client, self._book())

    def create_crm_contact(self, card: ContactCard) -> StoredContact:
        """See `ContactFolderWriting.create_crm_contact`."""
        return put_card(self.client, self._book(), card)

    def update_crm_contact(self, remote_id: str, change_key: str,
                           card: ContactCard) -> StoredContact:
        """See `ContactFolderWriting.update_crm_contact`."""
        return put_card(self.client, self._book(), card, (remote_id, change_key))

    def delete_crm_contact(self, remote_id: str) -> None:
        """See `ContactFolderWriting.delete_crm_contact`."""
        delete_card(self.client, self._book(), remote_id)

    def close(self) -> None:
        if self._client is not None:
            self._client.session.close()
