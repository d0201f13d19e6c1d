"""The audit log: who did what security-relevant thing, when, from where.

One append-only row per action (keys created and revoked, sign-in identities bound, mailboxes
added, privacy rules and settings changed, erasures, sharing, key rotation). Rows never
hold a secret or a customer's address: an erased or opted-out address is recorded as its
hash, like the suppression list. The database refuses to update or delete them
(triggers of migration 0083), so not even a bug in crmsync can rewrite history.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from crmsync.crm.export import iso_utc
from crmsync.crm.models import Base, UtcDateTime


class AuditEvent(Base):
    """One security-relevant action. Invariant: never updated, never deleted."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    #: the CRM user's address, or ``cli:<operating-system user>`` for the command line
    actor: Mapped[str] = mapped_column(String(320))
    #: e.g. ``apikey.revoke``, ``mailbox.add``, ``privacy.erase``
    action: Mapped[str] = mapped_column(String(100), index=True)
    #: what it was done to (a key id, a mailbox name, an address hash)
    target: Mapped[str] = mapped_column(String(500), default="")
    #: the request's IP address, or ``cli``
    source: Mapped[str] = mapped_column(String(100), default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


def record(session: Session, actor: str, action: str, target: str = "", source: str = "",
           **detail: Any) -> None:
    """Append one event inside the caller's transaction (it commits with the action)."""
    session.add(AuditEvent(occurred_at=datetime.now(UTC), actor=actor[:320],
                           action=action[:100], target=str(target)[:500],
                           source=source[:100], detail=detail))


def event_shape(event: AuditEvent) -> dict[str, Any]:
    """An event as ``crmsync audit list`` and ``GET /api/v1/audit`` show it."""
    return {"at": iso_utc(event.occurred_at), "actor": event.actor, "action": event.action,
            "target": event.target, "source": event.source, "detail": event.detail}


def recent_events(session: Session, limit: int = 100, action: str | None = None,
                  before: int | None = None) -> list[AuditEvent]:
    """The newest events first (``action``: only those, or a prefix ending in ``.``).

    :param before: only events older than the event with this id (the next page).
    """
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if before is not None:
        query = query.where(AuditEvent.id < before)
    if action:
        query = query.where(AuditEvent.action.startswith(action, autoescape=True)
                            if action.endswith(".")
                            else AuditEvent.action == action)
    return list(session.scalars(query))
