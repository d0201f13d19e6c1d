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

Connectors never touch the database and never know CRM rules.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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
