"""What a page of stored changes is to the code around the writer: shared types, no logic.

The writer (:mod:`.store`), the calendar and contact writers it calls, and the page hooks
assembled at start-up all speak these types, so none of them imports another to learn
what a page is.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from crmsync.connectors.base import MailMessage, Page
from crmsync.crm.models import Activity, Mailbox
from crmsync.mapping import DEFAULT_POLICY, CapturePolicy, Directory, MailDecision
from crmsync.mapping.facts import MailFacts

#: longest dedupe key stored as is; longer ones (hostile Message-IDs) are hashed
MAX_KEY_LENGTH = 500


@dataclass(frozen=True)
class Origin:
    """Where items come from: a mailbox (``mailbox:<id>``) or an imported file."""

    key: str
    mailbox_id: int | None = None


@dataclass(frozen=True)
class ActivityFacts:
    """What a hook may ask of a stored mail's activity without loading it (as stored:
    for a merged copy, the first copy's values)."""

    direction: str
    message_id: str | None
    conversation: str


@dataclass(frozen=True)
class StoredMail:
    """A mail this writer stored or merged, for the hooks that run after a page.

    The activity of a mail created in this page is not loaded as an ORM object unless
    a hook asks for :attr:`activity` (most hooks need only :attr:`activity_id`).
    """

    activity_id: int
    mail: MailMessage
    decision: MailDecision
    created: bool
    activity_facts: ActivityFacts
    #: what the mail says about itself (its ids and thread keys), parsed once
    mail_facts: MailFacts = field(repr=False, compare=False)
    session: Session = field(repr=False, compare=False)

    @property
    def activity(self) -> Activity:
        """The activity (from the session's identity map, else one SELECT)."""
        activity = self.session.get(Activity, self.activity_id)
        assert activity is not None, f"activity {self.activity_id} vanished in its own page"
        return activity


@dataclass(frozen=True)
class WriteOptions:
    """Per-run settings of the writer."""

    now: datetime
    store_body: bool = True
    policy: CapturePolicy = DEFAULT_POLICY


def stored_key(dedupe_key: str) -> str:
    """Return ``dedupe_key``, hashed when it is too long for an index."""
    if len(dedupe_key) <= MAX_KEY_LENGTH:
        return dedupe_key
    return "sha256:" + hashlib.sha256(dedupe_key.encode("utf-8", "surrogatepass")).hexdigest()


class Writer(Protocol):
    """What hooks and the calendar and contact writers use of the page writer
    (:class:`~crmsync.sync_service.engine.store.PageWriter`)."""

    session: Session
    origin: Origin
    directory: Directory
    options: WriteOptions
    counters: Counter[str]
    #: captured mail of the pages applied so far, in order
    stored: list[StoredMail]

    def apply(self, page: Page) -> None: ...

    def facts_of(self, mail: MailMessage) -> MailFacts: ...

    def load_activities(self) -> None: ...

    def quarantine(
        self, folder: str, item_id: str, raw: bytes, reason: str, detail: str = ""
    ) -> None: ...


class PageHook(Protocol):
    """Work that runs after a page is stored, inside the same transaction.

    A hook sees the page's writer (its ``stored`` mail) and the mailbox it came from
    (``None`` for file imports). What a hook writes commits or rolls back with the page
    and its cursor, so it happens exactly once. Side effects outside the database
    (sending mail) go to an outbox row here and are delivered after the commit. The
    process assembles its hooks once, at start-up (:mod:`crmsync.sync_service.startup`).
    """

    def __call__(self, session: Session, mailbox: Mailbox | None, writer: Writer) -> None: ...
