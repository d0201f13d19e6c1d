"""Support-mailbox tables: case rules, the case-number counter, intake, outbox and alerts.

These extend :class:`~crmsync.crm.models.Case` without changing it: a case opened from
a mailbox has one :class:`SupportCase` row (its intake mailbox, queue, rule, the case it
follows up), every mail the support hook looked at has one :class:`SupportIntake` row
(the idempotency key of case creation), and every side effect outside the database (an
acknowledgement, an alert mail, a webhook call) is an :class:`OutboxMessage` committed
with the records that caused it and delivered after the commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

# One allocator for every way a case is opened (task pane, API, support mailbox).
from crmsync.crm.case_numbers import allocate_case_number
from crmsync.crm.models import Base, Case, UtcDateTime

__all__ = [
    "CaseRule", "OutboxMessage", "SupportAlert", "SupportCase", "SupportIntake",
    "allocate_case_number", "count_outbox", "overdue_cases", "suggested_template_names",
]


class CaseRule(Base):
    """A keyword rule: mails whose subject or body holds a keyword get its category,
    priority, owner or queue, and suggest its reply templates first. Rules are data."""

    __tablename__ = "case_rules"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    #: lower positions are tried first; the first rule that matches wins
    position: Mapped[int] = mapped_column(Integer, default=0)
    #: ``;``-separated words or phrases, any language
    keywords: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(100), default="")
    priority: Mapped[str] = mapped_column(String(30), default="")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    #: ``;``-separated :class:`~crmsync.crm.templates.ReplyTemplate` names
    templates: Mapped[str] = mapped_column(Text, default="")
    #: first-response time for cases this rule classifies; ``None``: the default
    sla_hours: Mapped[float | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SupportCase(Base):
    """What a case opened from a support mailbox knows beyond :class:`Case`."""

    __tablename__ = "support_cases"
    case_id: Mapped[int] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    mailbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="SET NULL")
    )
    #: the queue (team) the case is routed to
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("case_rules.id", ondelete="SET NULL"))
    #: a case opened by a reply to a closed case points back at it
    follow_up_of_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    #: the customer address that opened it
    requester: Mapped[str] = mapped_column(String(320), default="")
    #: our address the customer wrote to; acknowledgements come from it
    reply_from: Mapped[str] = mapped_column(String(320), default="")
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reopened_count: Mapped[int] = mapped_column(Integer, default=0)
    #: opened from mail that arrived before the mailbox was connected (a backfill of its
    #: history): no acknowledgement and no SLA alert, though ``cases overdue`` lists it
    from_history: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class SupportIntake(Base):
    """One mail the support hook decided about (the idempotency key of case creation).

    Invariant: ``activity_id`` is unique, so a re-sync, a crash and resume or a second
    copy of the mail never opens a second case or queues a second acknowledgement.
    """

    __tablename__ = "support_intake"
    __table_args__ = (Index("ix_support_intake_burst", "sender", "fingerprint", "received_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(
        ForeignKey("activities.id", ondelete="CASCADE"), unique=True
    )
    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    sender: Mapped[str] = mapped_column(String(320), default="")
    #: near-identical mails share it (see ``mapping.loops.mail_fingerprint``)
    fingerprint: Mapped[str] = mapped_column(String(64), default="")
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: what the hook did and why, for people ("opened CASE-000042", "bounce: ...")
    outcome: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class OutboxMessage(Base):
    """A mail or webhook call to make after the transaction that decided it commits.

    Status: ``pending`` → ``claimed`` (a deliverer holds it until ``claim_expires_at``;
    nothing has reached the server yet, so an expired or orphaned claim is retried) →
    ``sending`` (the message body is being handed to the server: from here on it may
    have been delivered, so it is never retried automatically) → ``sent``. Also
    ``suppressed`` (decided not to send, with ``reason``) and ``failed``.
    """

    __tablename__ = "support_outbox"
    __table_args__ = (
        Index("ix_support_outbox_recipient", "to_address", "kind", "created_at"),
        Index("ix_support_outbox_message_id", "message_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    #: the idempotency key: ``ack:<case id>``, ``sla:<case id>:mail``, ...
    key: Mapped[str] = mapped_column(String(300), unique=True)
    #: ``ack``, ``alert``, ``webhook``, ``sms`` (alerts by text) or ``reply`` (an agent's)
    kind: Mapped[str] = mapped_column(String(20))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mailboxes.id", ondelete="SET NULL"))
    from_address: Mapped[str] = mapped_column(String(320), default="")
    #: a mail address, or the URL of a webhook
    to_address: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    #: stable per row: a copy delivered twice is one message to clients that dedupe
    message_id: Mapped[str] = mapped_column(String(300), default="")
    in_reply_to: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claim_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: when the mail this row answers arrived (acknowledgements): per-sender limits count
    #: by it, so a backfill weighs each request in its own hour; ``None``: ``created_at``
    event_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class SupportAlert(Base):
    """One alert raised (an SLA breach, a burst); ``key`` makes it never repeat."""

    __tablename__ = "support_alerts"
    __table_args__ = (UniqueConstraint("key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300))
    #: ``sla_breach`` or ``burst``
    kind: Mapped[str] = mapped_column(String(20))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


def count_outbox(session: Session, to_address: str, kind: str, around: datetime,
                 window: timedelta) -> int:
    """Messages of ``kind`` queued or sent to ``to_address`` for events less than
    ``window`` before or after ``around`` (rate limits).

    Both sides: a first sync stores the newest mail first, so a later request may be
    counted before an earlier one; either way one of two close requests is answered.
    """
    at = func.coalesce(OutboxMessage.event_at, OutboxMessage.created_at)
    return session.scalar(
        select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.to_address == to_address, OutboxMessage.kind == kind,
            at > around - window, at < around + window,
            OutboxMessage.status.in_(("pending", "claimed", "sending", "sent")),
        )
    ) or 0


CLOSED_STATUSES = ("Closed", "Resolved")


def overdue_cases(as_of: datetime) -> Select[tuple[Case]]:
    """Select the cases whose first response is overdue at ``as_of``, oldest due first.

    Overdue: due strictly before ``as_of``, no first response by ``as_of``, and not
    closed (a case closed without a response no longer waits for one).
    """
    return (
        select(Case)
        .where(
            Case.first_response_due.is_not(None), Case.first_response_due < as_of,
            or_(Case.first_response_at.is_(None), Case.first_response_at > as_of),
            Case.status.not_in(CLOSED_STATUSES),
        )
        .order_by(Case.first_response_due, Case.id)
    )


def suggested_template_names(session: Session, case_id: int) -> list[str]:
    """Reply templates the case's rule names, in its order: the task pane offers them first."""
    rule = session.scalar(
        select(CaseRule).join(SupportCase, SupportCase.rule_id == CaseRule.id)
        .where(SupportCase.case_id == case_id)
    )
    if rule is None:
        return []
    return [name.strip() for name in rule.templates.replace("\n", ";").split(";") if name.strip()]
