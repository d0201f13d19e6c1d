"""Privacy tables: "never capture" rules, suppressed addresses and the erasure log.

Addresses that were erased or opted out are kept only as SHA-256 hashes
(:func:`crmsync.mapping.privacy.address_hash`), so the suppression list and the erasure log
hold no personal data.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crmsync.crm.models import Base, UtcDateTime


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
