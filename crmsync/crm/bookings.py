"""Meetings booked in the CRM, and where each one stands in its owner's calendar.

A rep (or a script, or the task pane) books a meeting in the CRM: ``crmsync calendar
add|update|cancel`` or ``/api/v1/meetings``. It is a :class:`BookedMeeting` beside its
``meeting`` activity (the id ``export activities`` shows), with the people, the links
the rep gave (source ``user``) and, for a weekly series of N, one
:class:`BookedOccurrence` per occurrence, each with an activity of its own that carries
every link (the first occurrence's activity is the meeting's).

The next sync of the owner's mailbox writes it to the calendar
(:mod:`crmsync.sync_service.engine.calendar_writeback`, through the connector's
:class:`crmsync.connectors.calendar_writes.CalendarWriting`) and keeps here what the
calendar answered: the event's id and change key (ETag), per occurrence for a series,
and ``agreed``, the field values both sides held at that moment. The two-way rule
compares each side with ``agreed`` (:mod:`crmsync.mapping.meeting_fields`).

Invariants:

- ``remote_id`` is set only by a write the calendar confirmed; ``change_key`` is the
  calendar's version that ``agreed`` describes.
- ``crm_times`` holds, per field, when the CRM last changed it; a field in
  ``pending`` is a CRM change the calendar has not taken yet.
- ``status`` ``cancelled`` comes only from a person (``cancel``) or from the calendar
  (the event deleted there): never from a record leaving a filter.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crmsync.crm.models import Activity, Base, Mailbox, User, UtcDateTime

#: the fields both sides edit; each is compared and merged on its own
FIELDS = ("subject", "start", "end", "attendees")
#: the key in ``crm_times`` that marks an all-day booking (kept there, not in a column
#: of its own: it travels with the times it qualifies)
ALL_DAY = "all_day|on"


class BookedMeeting(Base):
    """A meeting booked in the CRM for its owner (a CRM user); see the module docstring."""

    __tablename__ = "booked_meetings"
    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(
        ForeignKey("activities.id", ondelete="CASCADE"), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: the owner's mailbox whose calendar holds it (chosen at the first write)
    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mailboxes.id"), index=True)
    subject: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: the zone a series repeats in (its wall-clock time holds across DST); UTC by default
    tzid: Mapped[str] = mapped_column(String(64), default="UTC")
    attendees: Mapped[list] = mapped_column(JSON, default=list)
    #: weekly occurrences of a series; ``None``: a single meeting
    weekly_count: Mapped[int | None] = mapped_column(Integer)
    #: the rep asked that the attendees get the provider's meeting requests
    invite: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(20), default="confirmed")
    #: per field, when the CRM last changed it (ISO-8601 UTC); a change of one occurrence
    #: is ``occurrence:SLOT`` with, under ``occurrence:SLOT|was``, the occurrence's values
    #: before it (see ``engine/bookings.py``)
    crm_times: Mapped[dict] = mapped_column(JSON, default=dict)
    #: fields the CRM changed that the calendar has not taken yet
    pending: Mapped[list] = mapped_column(JSON, default=list)
    #: the field values both sides held at the last write or read (JSON-ready)
    agreed: Mapped[dict | None] = mapped_column(JSON)
    remote_id: Mapped[str | None] = mapped_column(String(500), index=True)
    change_key: Mapped[str | None] = mapped_column(String(500))
    remote_uid: Mapped[str | None] = mapped_column(String(1000))
    #: set (and committed) before the calendar is asked to create the event: a run that
    #: finds it set without ``remote_id`` looks for the event by ``crm_ref`` first, so a
    #: crash between the calendar's answer and the commit never makes a second event
    create_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: the calendar reported a change or a removal: read it at the next write-back
    calendar_changed: Mapped[bool] = mapped_column(default=False)
    #: when the calendar last took what the CRM holds; ``None``: something to write
    written_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    activity: Mapped[Activity] = relationship()
    owner: Mapped[User] = relationship()
    mailbox: Mapped[Mailbox | None] = relationship()
    occurrences: Mapped[list[BookedOccurrence]] = relationship(
        back_populates="meeting", cascade="all, delete-orphan",
        order_by="BookedOccurrence.original_start")

    @property
    def all_day(self) -> bool:
        """An all-day booking: ``starts_at``/``ends_at`` are the first day's and the day
        after the last one's midnight UTC (end exclusive, as iCalendar and Graph), the
        shape inbound all-day events take (``connectors/ical_events.py``); each calendar
        writes it as its all-day event, at midnight in ``tzid`` where it wants a zone."""
        return bool((self.crm_times or {}).get(ALL_DAY))

    @all_day.setter
    def all_day(self, value: bool) -> None:
        times = {k: v for k, v in (self.crm_times or {}).items() if k != ALL_DAY}
        self.crm_times = {**times, ALL_DAY: True} if value else times

    @property
    def needs_write(self) -> bool:
        """Whether the next sync of the owner's mailbox has something to do for it."""
        return self.written_at is None or self.calendar_changed


class BookedOccurrence(Base):
    """One occurrence of a booked weekly series: its slot, activity and calendar event."""

    __tablename__ = "booked_occurrences"
    __table_args__ = (UniqueConstraint("meeting_id", "original_start"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("booked_meetings.id", ondelete="CASCADE"), index=True)
    #: the slot in the series (UTC); a moved occurrence keeps it
    original_start: Mapped[datetime] = mapped_column(UtcDateTime)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: ``confirmed``, ``moved`` (an exception made in the calendar) or ``cancelled``
    status: Mapped[str] = mapped_column(String(20), default="confirmed")
    activity_id: Mapped[int] = mapped_column(
        ForeignKey("activities.id", ondelete="CASCADE"), unique=True)
    remote_id: Mapped[str | None] = mapped_column(String(500), index=True)
    change_key: Mapped[str | None] = mapped_column(String(500))
    meeting: Mapped[BookedMeeting] = relationship(back_populates="occurrences")
    activity: Mapped[Activity] = relationship()
