"""Alerts (SLA breaches, bursts): recorded once by key, then mailed and posted via the outbox."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmsync.crm.export import case_shape
from crmsync.crm.models import Case, Mailbox, User
from crmsync.crm.support import SupportAlert, SupportCase
from crmsync.sync_service.support.acks import Draft, queue
from crmsync.sync_service.support.settings import SupportSettings
from crmsync.sync_service.support.transports import send_refusal


def raise_alert(session: Session, what: tuple[str, str, int | None], detail: str,
                now: datetime) -> SupportAlert | None:
    """Record an alert once per key; ``None`` when it was raised before."""
    kind, key, case_id = what
    if session.scalar(select(SupportAlert.id).where(SupportAlert.key == key)) is not None:
        return None
    alert = SupportAlert(key=key, kind=kind, case_id=case_id, detail=detail, created_at=now)
    session.add(alert)
    session.flush()
    return alert


def notify(session: Session, alert: SupportAlert, settings: SupportSettings,
           now: datetime) -> None:
    """Queue the alert's mails (owner, else queue members) and webhook call."""
    case = session.get(Case, alert.case_id) if alert.case_id else None
    support = session.get(SupportCase, case.id) if case else None
    mailbox = session.get(Mailbox, support.mailbox_id) if support and support.mailbox_id else None
    if settings.alert_webhook:
        payload = {"event": alert.kind, "detail": alert.detail,
                   "case": case_shape(case, session) if case else None}
        queue(session, Draft(
            key=f"{alert.key}:webhook", kind="webhook", case_id=alert.case_id,
            mailbox_id=None, from_address="", to_address=settings.alert_webhook,
            body=json.dumps(payload, ensure_ascii=False),
        ), now)
    if case is None or mailbox is None:
        return
    sender = support.reply_from if support and support.reply_from else ""
    for address in _recipients(session, case, support):
        queue(session, Draft(
            key=f"{alert.key}:mail:{address}", kind="alert", case_id=case.id,
            mailbox_id=mailbox.id, from_address=sender, to_address=address,
            subject=f"[{case.number}] SLA breached: {case.subject}",
            body=f"{alert.detail}\n\nSubject: {case.subject}\n\n{case.description}\n",
        ), now, send_refusal(mailbox))


def _recipients(session: Session, case: Case, support: SupportCase | None) -> list[str]:
    if case.owner_id is not None:
        owner = session.get(User, case.owner_id)
        if owner is not None:
            return [owner.email]
    if support is not None and support.team_id is not None:
        return list(session.scalars(
            select(User.email).where(User.team_id == support.team_id).order_by(User.email)
        ))
    return []
