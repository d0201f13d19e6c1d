"""The CRM record model: people, companies, deals, cases, and the activities linked to them.

Every table works on SQLite and PostgreSQL. Links use real foreign keys: one
nullable column per target type and a CHECK that exactly one is set (never a
generic ``(target_type, target_id)`` pair).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Connection,
    Date,
    DateTime,
    Dialect,
    FetchedValue,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
    false,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from crmsync.mapping.links import Target

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[datetime]):
    """A point in time, stored in UTC and always read back as an aware UTC ``datetime``.

    Every stored time is UTC, but SQLite keeps no zone: its ``DATETIME`` text is the wall
    clock of the value given (``2026-11-02 09:00:00.000000``) and reads back naive, and
    PostgreSQL's ``timestamptz`` reads back in the session's zone. Converting here, once,
    spares every reader its own fix-up and keeps naive and aware values from meeting in
    a comparison.

    - bind: an aware value is converted to UTC first (on SQLite an offset was otherwise
      dropped, storing another instant); a naive value is taken to be UTC already. The
      text SQLite stores for a UTC value is the same as plain ``DateTime``'s.
    - result: aware, in UTC (:data:`datetime.UTC`), on both backends.

    The column type is ``DateTime(timezone=True)``'s, so the schema (and Alembic's
    comparison with the migrations) is unchanged.
    """

    impl = DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if not isinstance(value, datetime) or value.tzinfo is UTC:
            return value  # None, a date, or UTC already: as plain DateTime takes it
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is UTC:
            return value
        if value.tzinfo is None:  # SQLite: the stored wall clock is UTC
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)  # PostgreSQL: the session's zone

    def coerce_compared_value(self, op: Any, value: Any) -> Any:
        """Compare with a datetime as this type (converted as above); anything else, such
        as a ``timedelta`` added to the column, as plain ``DateTime`` would."""
        if isinstance(value, datetime):
            return self
        return self.impl_instance.coerce_compared_value(op, value)


class Team(Base):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)


class User(Base):
    """A person of the organization who uses the CRM (rep, agent, manager, admin)."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("entra_tenant_id", "entra_object_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20), default="rep")
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    #: the Microsoft Entra identity (tenant id, object id) bound at the first Outlook
    #: sign-in: immutable claims, so a renamed or reused address cannot take an account
    entra_tenant_id: Mapped[str | None] = mapped_column(String(36))
    entra_object_id: Mapped[str | None] = mapped_column(String(36))
    #: the admin console password (argon2id), when the user may sign in with one
    password_hash: Mapped[str | None] = mapped_column(String(200))
    #: wrong passwords in a row; reaching the limit locks sign-in until ``locked_until``
    failed_sign_ins: Mapped[int] = mapped_column(default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: console sessions begun before this are void (signed out, password changed)
    sessions_valid_after: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: a mobile number (E.164, ``+4915112345678``) for alerts by text message
    phone: Mapped[str | None] = mapped_column(String(40))
    team: Mapped[Team | None] = relationship()


class Account(Base):
    """A customer company; its mail domains identify it."""

    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    domains: Mapped[list[AccountDomain]] = relationship(
        back_populates="account", cascade="all, delete-orphan"
    )


class AccountDomain(Base):
    __tablename__ = "account_domains"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    domain: Mapped[str] = mapped_column(String(253), unique=True)
    account: Mapped[Account] = relationship(back_populates="domains")


class Contact(Base):
    """A person at a customer; matched by any of their addresses."""

    __tablename__ = "contacts"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    first_name: Mapped[str] = mapped_column(String(200), default="")
    last_name: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(100), default="")
    title: Mapped[str] = mapped_column(String(200), default="")
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    account: Mapped[Account | None] = relationship()
    emails: Mapped[list[ContactEmail]] = relationship(
        back_populates="contact", cascade="all, delete-orphan"
    )

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


class ContactEmail(Base):
    __tablename__ = "contact_emails"
    id: Mapped[int] = mapped_column(primary_key=True)
    # indexed: the sender lookup loads a contact's addresses by contact
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    #: lower-cased; one address belongs to one contact
    address: Mapped[str] = mapped_column(String(320), unique=True)
    contact: Mapped[Contact] = relationship(back_populates="emails")


class Opportunity(Base):
    __tablename__ = "opportunities"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    stage: Mapped[str] = mapped_column(String(100), default="")
    amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    close_date: Mapped[date | None] = mapped_column(Date)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    is_closed: Mapped[bool] = mapped_column(default=False)
    account: Mapped[Account | None] = relationship()


class OpportunityContact(Base):
    """A contact's role on an opportunity (decision maker, champion, ...)."""

    __tablename__ = "opportunity_contacts"
    opportunity_id: Mapped[int] = mapped_column(
        ForeignKey("opportunities.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(100), default="")


class Case(Base):
    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    subject: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(30), default="New")
    priority: Mapped[str] = mapped_column(String(30), default="Normal")
    category: Mapped[str] = mapped_column(String(100), default="")
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    # indexed: the sender lookup lists an account's open cases
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    first_response_due: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Activity(Base):
    """One mail, meeting or note, however many mailboxes hold a copy of it.

    Invariant: ``dedupe_key`` is unique, so the same Message-ID seen in several
    mailboxes or folders is one activity with several :class:`ActivitySource` rows.
    """

    __tablename__ = "activities"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), default="email")
    dedupe_key: Mapped[str] = mapped_column(String(1000), unique=True)
    internet_message_id: Mapped[str | None] = mapped_column(String(1000), index=True)
    ical_uid: Mapped[str | None] = mapped_column(String(1000))
    conversation: Mapped[str] = mapped_column(String(1000), default="", index=True)
    subject: Mapped[str] = mapped_column(Text, default="")
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    direction: Mapped[str] = mapped_column(String(10), default="inbound")
    body_text: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: ``private`` or ``normal`` (:func:`crmsync.mapping.privacy.sensitivity_of`)
    sensitivity: Mapped[str] = mapped_column(String(10), default="normal", server_default="normal")
    #: the mailbox that first captured it (``None``: imported from a file by an admin);
    #: who sees it follows its mailboxes (:mod:`crmsync.crm.visibility`), and this one
    #: stays when the copy is deleted from the mailbox
    owner_mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mailboxes.id"), index=True)
    participants: Mapped[list[ActivityParticipant]] = relationship(
        back_populates="activity", cascade="all, delete-orphan", order_by="ActivityParticipant.id"
    )
    links: Mapped[list[ActivityLink]] = relationship(
        back_populates="activity", cascade="all, delete-orphan", order_by="ActivityLink.id"
    )
    sources: Mapped[list[ActivitySource]] = relationship(
        back_populates="activity", cascade="all, delete-orphan", order_by="ActivitySource.id"
    )
    attachments: Mapped[list[ActivityAttachment]] = relationship(
        back_populates="activity", cascade="all, delete-orphan"
    )


class ActivityParticipant(Base):
    __tablename__ = "activity_participants"
    __table_args__ = (UniqueConstraint("activity_id", "address", "role"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320), index=True)
    name: Mapped[str] = mapped_column(String(300), default="")
    role: Mapped[str] = mapped_column(String(10))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    activity: Mapped[Activity] = relationship(back_populates="participants")
    contact: Mapped[Contact | None] = relationship()


class ActivityAttachment(Base):
    """Attachment metadata only; crmsync never stores attachment content."""

    __tablename__ = "activity_attachments"
    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(500), default="")
    content_type: Mapped[str] = mapped_column(String(200), default="")
    size: Mapped[int] = mapped_column(Integer, default=0)
    activity: Mapped[Activity] = relationship(back_populates="attachments")


#: the typed column of a link-shaped row (links, removals, intents) for each record kind
LINK_TARGET_COLUMNS = {
    "contact": "contact_id",
    "account": "account_id",
    "opportunity": "opportunity_id",
    "case": "case_id",
}


def link_target(row: object) -> Target | None:
    """Return the record a link-shaped row points at (a link, removal, intent, or a
    result row selecting their typed columns): exactly one typed column is set.

    The one reader of those columns, so that "which record" means the same everywhere.

    :returns: ``None`` only for a row not yet given a target.
    """
    for kind, column in LINK_TARGET_COLUMNS.items():
        value = getattr(row, column)
        if value is not None:
            return Target(kind, value)
    return None


def link_columns(target: Target) -> dict[str, int]:
    """Return the keyword arguments that set ``target``'s typed column of a link-shaped row."""
    return {LINK_TARGET_COLUMNS[target.kind]: target.id}


class ActivityLink(Base):
    """Why an activity belongs to a record; exactly one target column is set."""

    __tablename__ = "activity_links"
    __table_args__ = (
        CheckConstraint(
            "(CASE WHEN contact_id IS NULL THEN 0 ELSE 1 END"
            " + CASE WHEN account_id IS NULL THEN 0 ELSE 1 END"
            " + CASE WHEN opportunity_id IS NULL THEN 0 ELSE 1 END"
            " + CASE WHEN case_id IS NULL THEN 0 ELSE 1 END) = 1",
            name="exactly_one_target",
        ),
        CheckConstraint("source IN ('auto', 'user')", name="source_kind"),
    )
    # Not fetched with INSERT ... RETURNING: a trigger may change occurred_at after the
    # statement (PostgreSQL's, moving a link); expired instead, it loads when first read.
    __mapper_args__ = {"eager_defaults": False}
    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    opportunity_id: Mapped[int | None] = mapped_column(ForeignKey("opportunities.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    #: Copy of ``activity.occurred_at``, so a record's newest activities are an index
    #: range scan on ``(target, occurred_at)`` however many activities the record has.
    #: Given on insert (the ORM's :func:`_copy_occurred_at`; the engine's bulk insert),
    #: kept by database triggers on update (migrations 0070, 0071).
    occurred_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime, server_default=FetchedValue(), server_onupdate=FetchedValue()
    )
    reason: Mapped[str] = mapped_column(Text, default="")
    confidence: Mapped[float] = mapped_column(default=1.0)
    #: "auto" (crmsync decided) or "user" (a person did; automation never undoes it)
    source: Mapped[str] = mapped_column(String(4), default="auto")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    activity: Mapped[Activity] = relationship(back_populates="links")
    contact: Mapped[Contact | None] = relationship()
    account: Mapped[Account | None] = relationship()
    opportunity: Mapped[Opportunity | None] = relationship()
    case: Mapped[Case | None] = relationship()


class ApiKey(Base):
    """A per-user API key for scripts and the preview page; only its SHA-256 is stored.

    Invariant: a key authenticates only while ``revoked_at`` is unset and ``expires_at``
    (when set) is in the future; a ``preview`` key only while demo mode is on.
    """

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: ``api`` (``crmsync apikey create``) or ``preview`` (minted by the demo's page)
    purpose: Mapped[str] = mapped_column(String(20), default="api", server_default="api")
    label: Mapped[str] = mapped_column(String(100), default="", server_default="")
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    user: Mapped[User] = relationship()


class Setting(Base):
    """Organization-wide settings an admin changes at run time (internal domains, ...)."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")


class Mailbox(Base):
    """A connected mailbox. ``secret`` is encrypted (Fernet) and bound to this row."""

    __tablename__ = "mailboxes"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    provider: Mapped[str] = mapped_column(String(20))
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    purpose: Mapped[str] = mapped_column(String(20), default="personal")
    status: Mapped[str] = mapped_column(String(20), default="new")
    last_sync_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: the worker syncing this mailbox now, and until when its claim holds
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: the fencing token: raised by every claim; a page commits only while it is still
    #: the committing run's (mailboxes/leases.py), so a paused worker's late page is refused
    lease_token: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: a sync was asked for while the lease was held: the holder queues one more run
    #: when it ends (a change that arrived mid-run is fetched then, not a round later)
    sync_again: Mapped[bool] = mapped_column(default=False, server_default=false())
    #: the worker process watching this mailbox for push (IMAP IDLE, Exchange streaming)
    #: and until when, unless it renews (mailboxes/watch_leases.py); apart from the sync
    #: lease above, so a watch never keeps a sync out
    watch_owner: Mapped[str | None] = mapped_column(String(100))
    watch_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: set while an admin holds the mailbox back: no poll, push or "sync now" runs it
    paused_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: set when an admin removed the mailbox: never synced again, its credential is
    #: gone, and the row stays so that its activities keep their owner (and visibility)
    removed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    owner: Mapped[User | None] = relationship()


class SyncRun(Base):
    """One sync of one mailbox: when, how it ended, how many items it stored."""

    __tablename__ = "sync_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: the mailbox status the run left (ok, error, needs_reauth, retrying, busy)
    status: Mapped[str] = mapped_column(String(20))
    items: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)


class SyncState(Base):
    """Where the sync of one resource (folder) of one mailbox stands.

    Invariant: ``cursor`` is written in the same transaction as the records of
    the page it covers, so it never points past committed rows. A rejected
    cursor (UIDVALIDITY change, 410 Gone) moves ``phase`` to ``resync``.
    """

    __tablename__ = "sync_states"
    __table_args__ = (UniqueConstraint("mailbox_id", "resource"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    resource: Mapped[str] = mapped_column(String(500))
    cursor: Mapped[str | None] = mapped_column(Text)
    phase: Mapped[str] = mapped_column(String(10), default="initial")
    #: counters: captured, skipped_internal, skipped_unmatched, quarantined, ...
    counters: Mapped[dict] = mapped_column(JSON, default=dict)
    last_success_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    #: how ``crmsync serve`` watches this folder for push: ``notify`` (NOTIFY, on one
    #: connection with the mailbox's other folders), ``idle`` (IDLE, a connection of
    #: its own) or ``stream`` (EWS streaming notifications); ``None`` or ``poll``: polled
    #: only. It holds only until ``push_until``, which the watcher keeps renewing, so a
    #: stopped or crashed serve reads as polled.
    push: Mapped[str | None] = mapped_column(String(10))
    push_until: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ActivitySource(Base):
    """One copy of an activity in one folder of one mailbox (the per-item source key)."""

    __tablename__ = "activity_sources"
    __table_args__ = (UniqueConstraint("origin", "folder", "item_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(
        ForeignKey("activities.id", ondelete="CASCADE"), index=True
    )
    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    #: ``mailbox:<id>`` or ``file:<name>`` (file imports have no mailbox)
    origin: Mapped[str] = mapped_column(String(500))
    folder: Mapped[str] = mapped_column(String(500))
    item_id: Mapped[str] = mapped_column(String(500))
    flags: Mapped[list] = mapped_column(JSON, default=list)
    activity: Mapped[Activity] = relationship(back_populates="sources")
    mailbox: Mapped[Mailbox | None] = relationship()


class QuarantinedItem(Base):
    """An item that could not be processed, kept raw with its reason for an admin."""

    __tablename__ = "quarantine"
    __table_args__ = (UniqueConstraint("origin", "folder", "item_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    origin: Mapped[str] = mapped_column(String(500))
    folder: Mapped[str] = mapped_column(String(500))
    item_id: Mapped[str] = mapped_column(String(500))
    reason: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text, default="")
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


@event.listens_for(ActivityLink, "before_insert")
def _copy_occurred_at(_mapper: Any, connection: Connection, link: ActivityLink) -> None:
    """Give a link inserted through the ORM its activity's time (see ``occurred_at``)."""
    if link.occurred_at is not None:
        return
    activity = link.__dict__.get("activity")
    if activity is not None and activity.__dict__.get("occurred_at") is not None:
        link.occurred_at = activity.occurred_at
    else:
        link.occurred_at = connection.scalar(
            select(Activity.occurred_at).where(Activity.id == link.activity_id))


Index("ix_activity_links_activity", ActivityLink.activity_id)
# One (target, occurred_at) index per target column: "newest N activities of a record"
# reads N index entries (crm/queries.py); the prefix also serves plain target lookups.
Index("ix_activity_links_contact_recent", ActivityLink.contact_id, ActivityLink.occurred_at)
Index("ix_activity_links_account_recent", ActivityLink.account_id, ActivityLink.occurred_at)
Index("ix_activity_links_opportunity_recent", ActivityLink.opportunity_id,
      ActivityLink.occurred_at)
Index("ix_activity_links_case_recent", ActivityLink.case_id, ActivityLink.occurred_at)
Index("ix_activity_participants_activity", ActivityParticipant.activity_id)
