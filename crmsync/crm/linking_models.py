"""Tables of linking, privacy and meetings: suggestions, rules, suppression, series.

Migration ``0060`` (branch ``linking``) creates them. Addresses that were erased or opted
out are kept only as SHA-256 hashes (:func:`crmsync.mapping.privacy.address_hash`), so the
suppression list and the erasure log hold no personal data.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crmsync.crm.models import Activity, Base, UtcDateTime


class LinkSuggestion(Base):
    """An opportunity a mail may concern, when automation could not tell which one."""

    __tablename__ = "link_suggestions"
    __table_args__ = (UniqueConstraint("activity_id", "opportunity_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(
        ForeignKey("activities.id", ondelete="CASCADE"), index=True
    )
    opportunity_id: Mapped[int] = mapped_column(
        ForeignKey("opportunities.id", ondelete="CASCADE"), index=True
    )
    rank: Mapped[int] = mapped_column(Integer, default=1)
    reason: Mapped[str] = mapped_column(Text, default="")
    score: Mapped[float] = mapped_column(default=0.0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    activity: Mapped[Activity] = relationship()


class ActivityThreadKey(Base):
    """A key under which later mails find this activity's conversation.

    Its own Message-ID and ``conv:<provider conversation id>``; replies look up the ids in
    their In-Reply-To/References. Never the subject.
    """

    __tablename__ = "activity_thread_keys"
    __table_args__ = (UniqueConstraint("activity_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(
        ForeignKey("activities.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(1000), index=True)


class PrivacyRule(Base):
    """One "never capture" rule: an address or domain, organization-wide or one user's.

    ``kind``: ``block-address``, ``block-domain`` (organization), ``do-not-capture``
    (``user_id`` set: only that user's mailboxes; value is an address or a domain).
    """

    __tablename__ = "privacy_rules"
    __table_args__ = (UniqueConstraint("kind", "value", "user_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(320))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SuppressedAddress(Base):
    """An erased or opted-out address, as its hash: the next sync must not bring it back.

    ``reason``: ``erased`` or ``opted-out``.
    """

    __tablename__ = "suppressed_addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    address_hash: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[str] = mapped_column(String(20), default="erased")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ErasureRecord(Base):
    """Audit of one erasure: when, whose hash, what was removed; no personal data."""

    __tablename__ = "erasure_records"
    id: Mapped[int] = mapped_column(primary_key=True)
    address_hash: Mapped[str] = mapped_column(String(64), index=True)
    removed: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class MeetingSeries(Base):
    """A meeting (one-off or recurring) as one record with its rule and exceptions.

    ``ical`` holds the VCALENDAR of the master and its overrides, so occurrences in any
    window are expanded by :func:`crmsync.mapping.calendar.expand_occurrences`; times in
    the other columns are UTC.
    """

    __tablename__ = "meeting_series"
    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(
        ForeignKey("activities.id", ondelete="CASCADE"), unique=True
    )
    ical_uid: Mapped[str] = mapped_column(String(1000), index=True)
    rrule: Mapped[str | None] = mapped_column(Text)
    tzid: Mapped[str | None] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(20), default="confirmed")
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    ical: Mapped[str] = mapped_column(Text, default="")
    activity: Mapped[Activity] = relationship()


class MeetingOccurrence(Base):
    """An exception of a series: a moved occurrence or a cancelled one (UTC)."""

    __tablename__ = "meeting_occurrences"
    __table_args__ = (UniqueConstraint("series_id", "recurrence_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    series_id: Mapped[int] = mapped_column(
        ForeignKey("meeting_series.id", ondelete="CASCADE"), index=True
    )
    recurrence_id: Mapped[datetime] = mapped_column(UtcDateTime)
    starts_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(20), default="confirmed")


class MeetingResponse(Base):
    """An attendee's answer (iTIP REPLY): accepted, declined, tentative."""

    __tablename__ = "meeting_responses"
    __table_args__ = (UniqueConstraint("activity_id", "address"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(
        ForeignKey("activities.id", ondelete="CASCADE"), index=True
    )
    address: Mapped[str] = mapped_column(String(320), index=True)
    partstat: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class FeedToken(Base):
    """A per-user secret for the .ics subscription feed; only its SHA-256 is stored."""

    __tablename__ = "feed_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
