"""The Microsoft 365 connector: mail, calendar and contacts of one mailbox through Graph."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import date, datetime
from email.message import EmailMessage
from typing import Any

from crmsync.connectors.base import (
    Connector,
    ContactCard,
    Page,
    Sending,
    SendReceipt,
    SendRefusedError,
    SendUnknownError,
    Subscribing,
    Subscription,
    SubscriptionGoneError,
)
from crmsync.connectors.calendar_writes import CalendarWriting, EventDraft, EventState
from crmsync.connectors.contact_folders import ContactFolderWriting, StoredContact
from crmsync.connectors.graph import (
    calendar_view_delta,
    contact_folders,
    contacts_delta,
    events,
    subscriptions,
)
from crmsync.connectors.graph.auth import (
    DelegatedTokenSource,
    TokenSource,
    certificate_credential,
)
from crmsync.connectors.graph.client import GraphClient, GraphError
from crmsync.connectors.graph.mail_folders import folder_ref
from crmsync.connectors.graph.messages_delta import fetch_messages
from crmsync.connectors.graph.send_mail import OutgoingMail, send_mail, send_message
from crmsync.connectors.graph.settings import GraphSettings
from crmsync.connectors.https import ca_bundle, pinned_session
from crmsync.errors import AuthError, ConfigError, TransientError

#: Graph's "throttled, not processed": the only retry-later answer that proves nothing was sent
NOT_PROCESSED = 429


class GraphConnector(Connector, Sending, Subscribing, CalendarWriting, ContactFolderWriting):
    """One Microsoft 365 mailbox, app-only or delegated, through Graph delta queries.

    Resources are ``mail:<folder>``, ``calendar`` and ``contacts`` (see
    :mod:`~crmsync.connectors.graph.settings`); each cursor is Graph's next or delta
    link, so an unchanged resource costs one request per poll.
    """

    name = "graph"
    supports_delta = True
    read_only = False

    def __init__(self, settings: GraphSettings, secret: str,
                 sleep: Callable[[float], None] = time.sleep,
                 today: Callable[[], date] = calendar_view_delta.utc_today) -> None:
        self.settings = settings
        # msal signs in through this session too: every request, to the authority or to
        # Graph, goes to a checked public address (connectors/https.py)
        self.session = pinned_session(ca_bundle())
        self._today = today
        credential: Any = secret
        if settings.credential == "certificate":
            credential = certificate_credential(secret)
        elif not secret:
            raise ConfigError(f"no client secret or sign-in stored for {settings.address}")
        self._credential = credential
        self._client: GraphClient | None = None
        self._delegated: DelegatedTokenSource | None = None
        self._sleep = sleep
        self._crm_folder_id: str | None = None

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], secret: str) -> GraphConnector:
        """See `Connector.from_settings`."""
        return cls(GraphSettings.from_mapping(settings), secret)

    @property
    def client(self) -> GraphClient:
        """The Graph client; msal reads the authority's metadata on first use."""
        if self._client is None:
            tokens: TokenSource | DelegatedTokenSource
            if self.settings.delegated:  # the stored secret is the user's msal token cache
                tokens = self._delegated = DelegatedTokenSource(
                    self.settings.authority, self.settings.client_id, self._credential,
                    self.session)
            else:
                tokens = TokenSource(self.settings.authority, self.settings.client_id,
                                     self._credential, self.session)
            self._client = GraphClient(self.settings, tokens, self.session, self._sleep)
        return self._client

    def list_resources(self) -> list[str]:
        """See `Connector.list_resources` (no request: the names are settings)."""
        return self.settings.resources()

    def backfill_size(self, resource: str, cursor: str | None) -> int:
        """A mail folder's item count on a first sync (one request: it also proves the
        sign-in works, which the console's Test connection relies on), else 0."""
        if cursor is not None or not resource.startswith("mail:"):
            return 0
        ref = folder_ref(self.client, self.settings.address, resource.removeprefix("mail:"))
        body = self.client.get_json(f"/users/{self.settings.address}/mailFolders/{ref}"
                                    "?$select=totalItemCount")
        return int(body.get("totalItemCount") or 0)

    def fetch_changes(self, resource: str, cursor: str | None) -> Iterator[Page]:
        """See `Connector.fetch_changes`."""
        if resource.startswith("mail:"):
            return fetch_messages(self.client, resource.removeprefix("mail:"), cursor)
        if resource == calendar_view_delta.RESOURCE:
            return calendar_view_delta.fetch_events(self.client, cursor, self._today())
        if resource == contacts_delta.RESOURCE:
            return contacts_delta.fetch_contacts(self.client, cursor)
        raise ConfigError(f"unknown Graph resource {resource!r}")

    # -- writes ----------------------------------------------------------------------------

    def send_mail(self, mail: OutgoingMail) -> None:
        """Send a mail from this mailbox (see :mod:`.send_mail`)."""
        send_mail(self.client, mail)

    def send(self, message: EmailMessage,
             point_of_no_return: Callable[[], None] | None = None) -> SendReceipt:
        """See `Sending.send`: sign in, then ``sendMail`` in the MIME form (every header kept).

        The POST is the point of no return. It goes through a client that never retries
        on its own, as a 5xx may come after Exchange acted on the mail; a 4xx, or a 429
        (throttled, not processed), proves it did not, and is a refusal.
        """
        try:  # sign in first: a refused, unreachable or forbidden sign-in sends nothing
            self.client.tokens.token(self.settings.scope)
        except (AuthError, ConfigError, TransientError) as exc:
            raise SendRefusedError(f"Graph sign-in: {exc}") from exc
        once = GraphClient(replace(self.settings, max_retries=0), self.client.tokens,
                           self.session, self._sleep)
        if point_of_no_return is not None:
            point_of_no_return()
        try:
            status = send_message(once, message)
        except (AuthError, GraphError) as exc:  # a 4xx answer: Exchange did not take it
            raise SendRefusedError(f"Graph sendMail refused: {exc}") from exc
        except ConfigError as exc:  # the Graph host was refused before any packet
            raise SendRefusedError(f"Graph sendMail: {exc}") from exc
        except TransientError as exc:
            if getattr(exc, "status", None) == NOT_PROCESSED:
                raise SendRefusedError(f"Graph sendMail throttled: {exc}") from exc
            raise SendUnknownError(f"Graph sendMail: {exc}") from exc
        return SendReceipt(message["Message-ID"], str(status))

    # -- calendar write-back (CalendarWriting; see graph/events.py) ----------------------

    def create_event(self, draft: EventDraft) -> EventState:
        """See `CalendarWriting.create_event`."""
        return events.GraphEventWriter(self.client).create_event(draft)

    def find_event(self, crm_ref: str) -> EventState | None:
        """See `CalendarWriting.find_event`."""
        return events.GraphEventWriter(self.client).find_event(crm_ref)

    def read_event(self, remote_id: str) -> EventState | None:
        """See `CalendarWriting.read_event`."""
        return events.GraphEventWriter(self.client).read_event(remote_id)

    def update_event(self, remote_id: str, change_key: str, changes: Mapping[str, object],
                     invite: bool) -> EventState:
        """See `CalendarWriting.update_event`."""
        return events.GraphEventWriter(self.client).update_event(
            remote_id, change_key, changes, invite)

    def delete_event(self, remote_id: str, change_key: str, invite: bool) -> None:
        """See `CalendarWriting.delete_event`."""
        events.GraphEventWriter(self.client).delete_event(remote_id, change_key, invite)

    def occurrences(self, remote_id: str, start: datetime, end: datetime) -> list[EventState]:
        """See `CalendarWriting.occurrences`."""
        return events.GraphEventWriter(self.client).occurrences(remote_id, start, end)

    # -- push ----------------------------------------------------------------------------

    # -- the CRM contact folder (contact_folders.py) ---------------------------------------

    def _crm_folder(self) -> str:
        if self._crm_folder_id is None:
            self._crm_folder_id = contact_folders.crm_folder_id(self.client)
        return self._crm_folder_id

    def crm_folder_contacts(self) -> list[StoredContact]:
        """See `ContactFolderWriting.crm_folder_contacts`."""
        return contact_folders.folder_contacts(self.client, self._crm_folder())

    def create_crm_contact(self, card: ContactCard) -> StoredContact:
        """See `ContactFolderWriting.create_crm_contact`."""
        return contact_folders.create_contact(self.client, self._crm_folder(), card)

    def update_crm_contact(self, remote_id: str, change_key: str,
                           card: ContactCard) -> StoredContact:
        """See `ContactFolderWriting.update_crm_contact`."""
        return contact_folders.update_contact(self.client, remote_id, change_key, card)

    def delete_crm_contact(self, remote_id: str) -> None:
        """See `ContactFolderWriting.delete_crm_contact`."""
        contact_folders.delete_contact(self.client, remote_id)

    def subscription_resources(self) -> list[str]:
        """See `Subscribing.subscription_resources`: each mail folder, and the calendar."""
        settings = self.settings
        return subscriptions.resource_paths(settings.address, settings.folders,
                                            settings.calendar)

    def subscribe(self, resource: str, notification_url: str, client_state: str,
                  now: datetime) -> Subscription:
        """See `Subscribing.subscribe` (:func:`.subscriptions.create_subscription`)."""
        return subscriptions.create_subscription(self.client, resource, notification_url,
                                                 client_state, now)

    def renew_subscription(self, subscription_id: str, now: datetime) -> datetime:
        """See `Subscribing.renew_subscription`; Graph's 404 means it is gone."""
        try:
            return subscriptions.renew_subscription(self.client, subscription_id, now)
        except GraphError as exc:
            if exc.status == 404:
                raise SubscriptionGoneError(str(exc)) from exc
            raise

    def unsubscribe(self, subscription_id: str) -> None:
        """See `Subscribing.unsubscribe` (:func:`.subscriptions.delete_subscription`)."""
        subscriptions.delete_subscription(self.client, subscription_id)

    def updated_secret(self) -> str | None:
        """The credential to store again after a run, or None if unchanged.

        The engine hook (``sync_mailbox``) re-seals it: a delegated connection's msal
        cache changes when the access token is refreshed (and the refresh token rotated).
        """
        return self._delegated.updated_cache() if self._delegated is not None else None

    def close(self) -> None:
        self.session.close()
