"""The connector contract: what every mail system adapter yields.

Terminology
-----------
RECORD
    A frozen dataclass describing one item as the mail system holds it
    (:class:`MailMessage`), or a change to one (:class:`FlagsChanged`,
    :class:`Deletion`), or an item that could not be read (:class:`Unreadable`).
    Records never carry CRM meaning: no contact, no account, no link.
REMOTE_ID
    ``item_id``: the mail system's key for one copy of an item inside one
    resource, stable for as long as the cursor is valid (for IMAP
    ``"<uidvalidity>:<uid>"``, for a file ``"<path>#<n>"``).
RESOURCE
    A folder (or calendar, or address book) that has its own cursor.
CURSOR
    An opaque string a connector returns after each :class:`Page`; passing it
    back resumes right after that page. The engine stores it in the same
    transaction as the page's records, so a crash never skips an item.
CAPABILITY
    What a connector can do beyond reading, declared by inheriting a mixin:
    :class:`Sending` (send mail as the mailbox), :class:`Idling` (wait on a held
    connection for a change) and :class:`Subscribing` (the mail system calls back on
    change). The service asks with :func:`supports`, never by the connector's class.

Connectors never touch the database and never know CRM rules.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from crmsync.errors import CrmSyncError

#: Header fields a connector hands to mapping, lower-case. Values are raw
#: (RFC 2047 words still encoded): mapping decodes only what it shows or matches.
HEADER_FIELDS: tuple[str, ...] = (
    "message-id",
    "in-reply-to",
    "references",
    "subject",
    "date",
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "bcc",
    "return-path",
    "auto-submitted",
    "precedence",
    "list-id",
    "x-auto-response-suppress",
    "x-autoreply",
    "x-autorespond",
    "sensitivity",
    "importance",
    "thread-index",
    "thread-topic",
    "content-type",
    # set by the compose pane for track on send (crmsync.crm.tracking.TRACK_HEADER)
    "x-crmsync-track",
)


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    """Metadata of one attachment; the content itself is never fetched."""

    filename: str | None
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class MailMessage:
    """One copy of a mail in one folder of one mailbox.

    :param item_id: REMOTE_ID of this copy (see module docstring).
    :param folder: the resource (folder name as the server spells it).
    :param headers: lower-case field name → raw value, for :data:`HEADER_FIELDS`
        present in the mail (the first occurrence of each).
    :param body_text: the decoded text body (``text/plain``, or the text of the
        HTML part when there is no plain part), ``None`` when the mail has none.
    :param attachments: metadata of attachment parts.
    :param size: size of the whole message in bytes as the server reports it.
    :param received_at: when the mail system received it (IMAP INTERNALDATE), UTC.
    :param flags: system and keyword flags (``\\Seen`` ...).
    :param content_hash: SHA-256 hex of the header block and text body, the
        stable key of a mail that has no Message-ID.
    :param raw_header: the header block as fetched, kept for quarantine.
    :param conversation_id: the provider's conversation key, when it has one.
    :param folder_role: ``inbox`` / ``sent`` / ``None``, from SPECIAL-USE or name.
    """

    item_id: str
    folder: str
    headers: Mapping[str, str]
    body_text: str | None
    attachments: tuple[AttachmentInfo, ...]
    size: int
    received_at: datetime | None
    flags: tuple[str, ...]
    content_hash: str
    raw_header: bytes = b""
    conversation_id: str | None = None
    folder_role: str | None = None
    #: the decoded ``text/calendar`` parts (iTIP REQUEST/CANCEL/REPLY), at most a few
    calendar_parts: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class FlagsChanged:
    """The flags of a known item changed (IMAP CONDSTORE, RFC 4549 resync)."""

    item_id: str
    folder: str
    flags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Deletion:
    """A known item left the resource (expunged, deleted, moved away)."""

    item_id: str
    folder: str


@dataclass(frozen=True, slots=True)
class Unreadable:
    """An item the connector could not turn into a record; quarantined raw.

    :param raw: the bytes as fetched (the whole message where it could be read).
    :param reason: one line a person can act on.
    """

    item_id: str
    folder: str
    raw: bytes
    reason: str


@dataclass(frozen=True, slots=True)
class EventPerson:
    """An organizer or attendee of a meeting, as the calendar holds them."""

    address: str
    name: str = ""
    #: ``required`` / ``optional`` / ``resource`` (attendees), ``organizer``
    role: str = "required"
    #: ``accepted`` / ``declined`` / ``tentativelyAccepted`` / ``none`` ...
    response: str = "none"


@dataclass(frozen=True, slots=True)
class CalendarEvent:
    """One meeting, or one occurrence of a recurring series, in one calendar.

    :param item_id: REMOTE_ID of this event (an occurrence has its own).
    :param ical_uid: the iCalendar UID, shared by every calendar holding the meeting
        (the dedupe key across mailboxes).
    :param series_id: the series master's id for ``occurrence``/``exception`` events.
    :param event_type: ``singleInstance``, ``occurrence``, ``exception``, ``seriesMaster``.
    :param original_start: for an occurrence or exception, the slot it belongs to in the
        series (UTC), so a moved occurrence is recognised and not duplicated.
    :param sensitivity: ``normal``, ``personal``, ``private``, ``confidential``.
    """

    item_id: str
    calendar: str
    ical_uid: str | None
    subject: str
    start: datetime
    end: datetime
    organizer: EventPerson | None
    attendees: tuple[EventPerson, ...]
    event_type: str = "singleInstance"
    series_id: str | None = None
    original_start: datetime | None = None
    is_cancelled: bool = False
    is_all_day: bool = False
    sensitivity: str = "normal"
    location: str = ""
    body_text: str | None = None
    online_meeting_url: str | None = None
    #: CHANGE_KEY of this event when the provider gives it in the sync (Graph's etag)
    change_key: str | None = None


@dataclass(frozen=True, slots=True)
class ContactCard:
    """One entry of a mailbox's address book."""

    item_id: str
    folder: str
    display_name: str
    emails: tuple[str, ...]
    given_name: str = ""
    surname: str = ""
    company: str = ""
    job_title: str = ""
    phones: tuple[str, ...] = ()


Change = MailMessage | FlagsChanged | Deletion | Unreadable | CalendarEvent | ContactCard


@dataclass(frozen=True, slots=True)
class Page:
    """A batch of changes and the cursor that resumes right after them.

    ``resync`` is true on the first page after a cursor was rejected
    (UIDVALIDITY change, 410 Gone): item ids seen before may have changed, so
    the engine re-matches items by their content keys.
    """

    resource: str
    changes: list[Change]
    cursor: str
    resync: bool = False
    stats: Mapping[str, int] = field(default_factory=dict)


class Connector(abc.ABC):
    """One mail system. Subclasses set :attr:`name` and implement the abstract methods."""

    #: provider name as used in configuration (``imap``, ``graph``, ``files``)
    name: str = ""
    #: whether an unchanged resource can be polled without listing it
    supports_delta: bool = False
    read_only: bool = True
    #: whether ``fetch_changes`` may run in another thread than the caller's, one page
    #: ahead of the one being stored (it then runs only there until exhausted)
    prefetch_pages: bool = False
    #: whether ``from_settings`` in another process builds a connector that can run a
    #: long ``fetch_changes`` there (a backfill), the credential being used as given and
    #: never renewed (see :meth:`updated_secret`)
    fetch_in_process: bool = False

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], secret: str) -> Connector:
        """Create the connector from a mailbox's stored settings and its decrypted secret.

        :param settings: JSON-able options as ``crmsync mailbox add`` stored them, plus
            the engine's ``batch_size``, ``max_message_bytes`` and ``since`` (ISO date).
        :raises ConfigError: a setting is missing or invalid.
        """
        raise NotImplementedError(f"{cls.__name__} cannot be created from settings")

    @abc.abstractmethod
    def list_resources(self) -> list[str]:
        """Return the resources (folders) this connection syncs, in sync order."""

    @abc.abstractmethod
    def fetch_changes(self, resource: str, cursor: str | None) -> Iterator[Page]:
        """Yield the changes of ``resource`` since ``cursor``, one :class:`Page` a batch.

        :param cursor: the cursor of the last page stored, or ``None`` for a first sync.
        :returns: pages in order; the last one's cursor is the point to poll from.
        :raises AuthError: credentials were refused.
        :raises TransientError: a retryable failure; nothing after the last page
            yielded was consumed.
        """

    def backfill_size(self, resource: str, cursor: str | None) -> int:
        """Return about how many items ``fetch_changes(resource, cursor)`` has to fetch
        when it is a first sync (or resumes one), else 0; the engine runs a large
        backfill in a process of its own (:attr:`fetch_in_process`).
        """
        return 0

    def updated_secret(self) -> str | None:
        """Return the credential when the connector renewed it during the run, else None.

        A connector that refreshes tokens itself (Graph delegated: the msal token cache)
        hands the new one back so the engine seals it to the mailbox row again.
        """
        return None

    def close(self) -> None:  # noqa: B027 - optional hook, most connectors hold nothing
        """Release connections; the default has nothing to release."""

    def __enter__(self) -> Connector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- capabilities ----------------------------------------------------------------------


def supports(connector: Connector | type[Connector], capability: type) -> bool:
    """Return whether ``connector`` (an instance or a class) declares ``capability``.

    The service asks this instead of testing for a provider's class, so a connector
    that gains a capability (or a custom one that has it) needs no change outside
    ``connectors/``. Asking the class decides without connecting (or opening a secret).

    :param capability: :class:`Sending`, :class:`Idling` or :class:`Subscribing`.
    """
    cls = connector if isinstance(connector, type) else type(connector)
    return issubclass(cls, capability)


@dataclass(frozen=True, slots=True)
class SendReceipt:
    """The server's answer to a mail it took.

    :param message_id: the Message-ID the mail went out with (``None`` if it had none).
    :param reply: the answer as the server gave it (``"250 ..."``, ``"202"``), for logs.
    """

    message_id: str | None
    reply: str


class SendRefusedError(CrmSyncError):
    """Nothing was sent: the server refused the mail or was never reached.

    Raised for everything that fails before the mail can be with the server (connect,
    sign-in, the SMTP envelope) and for an answer after it that proves the server did
    not take it (Graph's 4xx, or 429 "throttled, not processed"). Sending again is safe.
    """


class SendUnknownError(CrmSyncError):
    """The mail may have reached the server: sending it again could deliver it twice.

    Raised for a failure after ``point_of_no_return`` that proves nothing either way (a
    dropped connection during SMTP DATA, a Graph 5xx or timeout).
    """


class Sending(abc.ABC):
    """Capability: send mail as the connector's mailbox (SMTP submission, Graph sendMail).

    The contract gives callers exactly-once delivery as far as a client can: every step
    that cannot leave the mail with the server runs before ``point_of_no_return`` is
    called; the connector never resends on its own after that call (no automatic retry
    of a request the server may have acted on).
    """

    @classmethod
    def send_settings_problem(cls, settings: Mapping[str, Any]) -> str:
        """Return why a mailbox with these stored settings cannot send, or ``""``.

        Decided from the settings alone, without connecting, so mail is not queued
        for a mailbox that can never send it.

        :param settings: the mailbox's settings as :meth:`Connector.from_settings` takes them.
        :returns: what is missing, worded to follow the mailbox's name ("has no SMTP
            settings to send from"); ``""`` when the settings are enough.
        """
        return ""

    @abc.abstractmethod
    def send(self, message: EmailMessage,
             point_of_no_return: Callable[[], None] | None = None) -> SendReceipt:
        """Send ``message`` from the mailbox; its From, To/Cc/Bcc and Message-ID are used.

        :param point_of_no_return: called once, right before the server may hold the
            mail (before SMTP DATA, before the Graph POST); the caller records there
            that the mail may be out. An exception from it propagates and sends nothing.
        :returns: the server's answer.
        :raises SendRefusedError: nothing was sent; sending again is safe.
        :raises SendUnknownError: the mail may have been sent; never resend it
            automatically.
        """


class Idling(abc.ABC):
    """Capability: wait on a held connection until a resource changes (IMAP IDLE).

    :meth:`idle_wait` watches one resource per connection; a connector whose mail
    system can watch several on one connection (IMAP NOTIFY) says so in
    :meth:`can_watch_many` and implements :meth:`idle_wait_many`.
    """

    def can_watch_many(self) -> bool:
        """Return whether :meth:`idle_wait_many` can watch several resources on one
        connection (it may connect to ask the mail system). The default: no.

        :raises AuthError: credentials were refused.
        :raises TransientError: the connection failed.
        """
        return False

    def idle_wait_many(self, resources: Sequence[str], timeout: float) -> bool:
        """Wait until any of ``resources`` changes or ``timeout`` seconds pass, on one
        connection; called only when :meth:`can_watch_many` is true.

        :returns: whether the server reported a change, as :meth:`idle_wait`.
        :raises AuthError: credentials were refused.
        :raises TransientError: the connection failed; wait again later.
        """
        raise NotImplementedError(f"{type(self).__name__} watches one resource at a time")

    def watch_many_mode(self) -> str:
        """Return the word ``crmsync mailbox list`` shows for resources watched through
        :meth:`idle_wait_many`: ``notify`` (IMAP NOTIFY) unless the connector says
        otherwise (EWS: ``stream``, or ``poll`` when its server refused streaming).
        """
        return "notify"

    @abc.abstractmethod
    def idle_wait(self, resource: str, timeout: float) -> bool:
        """Wait until ``resource`` changes or ``timeout`` seconds pass.

        :returns: whether the server reported a change; the caller then runs
            :meth:`Connector.fetch_changes` (also after ``False``: a change just before
            the wait began is not reported).
        :raises AuthError: credentials were refused.
        :raises TransientError: the connection failed; wait again later.
        """


@dataclass(frozen=True, slots=True)
class Subscription:
    """A change-notification subscription the mail system holds for us.

    :param id: the mail system's id of the subscription.
    :param resource: what it watches, as :meth:`Subscribing.subscription_resources` named it.
    :param expires_at: when the mail system drops it unless renewed (UTC).
    """

    id: str
    resource: str
    expires_at: datetime


class SubscriptionGoneError(CrmSyncError):
    """The mail system no longer knows the subscription (removed, expired): subscribe again."""


class Subscribing(abc.ABC):
    """Capability: the mail system calls a URL of ours when a resource changes.

    A notification only says that something changed; :meth:`Connector.fetch_changes`
    finds what. Subscriptions expire, so the caller renews them in time.
    """

    @abc.abstractmethod
    def subscription_resources(self) -> list[str]:
        """Return what to subscribe to so that every synced resource is watched."""

    @abc.abstractmethod
    def subscribe(self, resource: str, notification_url: str, client_state: str,
                  now: datetime) -> Subscription:
        """Subscribe ``notification_url`` to changes of ``resource``.

        :param client_state: a secret the mail system echoes in every notification,
            so a forged one can be told apart.
        :raises CrmSyncError: the mail system refused (e.g. the URL failed validation).
        """

    @abc.abstractmethod
    def renew_subscription(self, subscription_id: str, now: datetime) -> datetime:
        """Push the subscription's expiry out again; return the new expiry (UTC).

        :raises SubscriptionGoneError: the mail system no longer knows it.
        :raises CrmSyncError: the mail system refused for another reason.
        """

    @abc.abstractmethod
    def unsubscribe(self, subscription_id: str) -> None:
        """Remove the subscription; one that is already gone is fine."""
