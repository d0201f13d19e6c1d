"""Meetings beyond their activity: the series with its rule, its exceptions and the answers.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crmsync.crm.models import Activity, Base, UtcDateTime


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
