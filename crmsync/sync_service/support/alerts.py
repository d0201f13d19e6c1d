"""Alerts (SLA breaches, bursts, reps' follow-ups): recorded once by key, then sent by mail,
webhook and text message through the outbox.

One entry point for whoever raises an alert: :func:`queue_alert` inside the caller's
transaction (the SLA check, the intake hook), or :func:`send_alert` with a transaction of
its own. Either records a :class:`~crmsync.crm.support.SupportAlert` row under the
alert's key (an alert is raised once per key, ever: "once per breach") and queues, in
the same transaction, one outbox row per channel and recipient:

- **mail** to the recipients (the case's owner, else its queue's members, unless the
  alert names them), from the mailbox the alert names (the case's support mailbox);
- **webhook**: a JSON POST to the ``alert_webhook`` setting;
- **text message** to each recipient's phone (the CRM user's ``phone``) and to the
  ``sms_recipients`` setting, through the HTTP gateway of ``CRMSYNC_SMS_GATEWAY_URL``
  (:mod:`.sms`), at most ``sms_per_hour`` per phone: the same loop safety as
  acknowledgements, so a flood of breaches cannot turn into a flood of texts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crmsync.crm.db import session_scope
from crmsync.crm.export import case_shape
from crmsync.crm.models import Case, Mailbox, User
from crmsync.crm.support import SupportAlert, SupportCase, count_outbox
from crmsync.sync_service.context import Services
from crmsync.sync_service.support.acks import Draft, mailbox_address, queue
from crmsync.sync_service.support.settings import SupportSettings, load_settings
from crmsync.sync_service.support.transports import send_refusal

#: a text message is short: the subject line, cut here
SMS_LENGTH = 300


@dataclass(frozen=True)
class Alert:
    """An alert to raise once: what happened, to whom, and through which mailbox.

    :param kind: ``sla_breach``, ``burst``, ``followup``, ... (the webhook's ``event``).
    :param key: raised once per key, ever (``sla:<case id>``, ``followup:<activity id>``).
    :param subject: the mail's subject and the text message.
    :param detail: the mail's first paragraph and the webhook's ``detail``.
    :param case_id: the case it is about, if any (its owner or queue are the default
        recipients, its support mailbox the default sender).
    :param recipients: CRM users' emails; empty: the case's owner, else its queue.
    :param mailbox_id: the mailbox mail alerts are sent from; ``None``: the case's.
    :param payload: more JSON for the webhook (e.g. a follow-up's rep and mail).
    """

    kind: str
    key: str
    subject: str
    detail: str
    case_id: int | None = None
    recipients: tuple[str, ...] = ()
    mailbox_id: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)


def queue_alert(session: Session, alert: Alert, now: datetime,
                settings: SupportSettings | None = None) -> SupportAlert | None:
    """Record ``alert`` and queue its mails, webhook call and text messages, once per key.

    Runs in the caller's transaction: nothing is sent until it commits and the outbox
    delivers (``crmsync cases deliver``, or the next round of ``crmsync serve``).

    :returns: the alert row, or ``None`` when an alert with this key was raised before.
    """
    row = raise_alert(session, (alert.kind, alert.key, alert.case_id), alert.detail, now)
    if row is None:
        return None
    settings = settings or load_settings(session)
    case = session.get(Case, alert.case_id) if alert.case_id else None
    _queue_webhook(session, alert, case, settings, now)
    users = _recipients(session, alert, case)
    _queue_mails(session, alert, case, [user.email for user in users], now)
    phones = [user.phone for user in users if user.phone] + list(settings.sms_recipients)
    queue_texts(session, (alert.key, alert.case_id), alert.subject, phones, (settings, now))
    return row


def send_alert(services: Services, alert: Alert, now: datetime | None = None) -> bool:
    """Raise ``alert`` in a transaction of its own (see :func:`queue_alert`).

    :param now: the instant it is raised at (default: the clock); SMS limits count by it.
    :returns: whether it was raised now (``False``: raised before, by this key).
    """
    now = now or datetime.now(UTC)
    for _ in range(2):
        try:
            with session_scope(services.sessions) as session:
                return queue_alert(session, alert, now) is not None
        except IntegrityError:
            continue  # raised at the same moment by another process: look again
    return False


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


def _queue_webhook(session: Session, alert: Alert, case: Case | None,
                   settings: SupportSettings, now: datetime) -> None:
    if not settings.alert_webhook:
        return
    payload = {"event": alert.kind, "detail": alert.detail,
               "case": case_shape(case, session) if case else None, **alert.payload}
    queue(session, Draft(
        key=f"{alert.key}:webhook", kind="webhook", case_id=alert.case_id,
        mailbox_id=None, from_address="", to_address=settings.alert_webhook,
        body=json.dumps(payload, ensure_ascii=False),
    ), now)


def _queue_mails(session: Session, alert: Alert, case: Case | None, addresses: list[str],
                 now: datetime) -> None:
    support = session.get(SupportCase, case.id) if case else None
    mailbox_id = alert.mailbox_id or (support.mailbox_id if support else None)
    mailbox = session.get(Mailbox, mailbox_id) if mailbox_id else None
    if mailbox is None:
        return  # nothing to send mail from: the webhook and texts still go
    sender = (support.reply_from if support else "") or mailbox_address(mailbox)
    body = f"{alert.detail}\n"
    if case is not None:
        body += f"\nSubject: {case.subject}\n\n{case.description}\n"
    for address in addresses:
        queue(session, Draft(
            key=f"{alert.key}:mail:{address}", kind="alert", case_id=alert.case_id,
            mailbox_id=mailbox.id, from_address=sender, to_address=address,
            subject=alert.subject, body=body,
        ), now, send_refusal(mailbox))


def queue_texts(session: Session, about: tuple[str, int | None], text: str,
                phones: Iterable[str], context: tuple[SupportSettings, datetime]) -> None:
    """Queue one text message per phone for the alert keyed ``about[0]`` (on case
    ``about[1]``), once per key and phone; past ``sms_per_hour`` for a phone, queued as
    suppressed with the reason (the loop safety acknowledgements have too).
    """
    key, case_id = about
    settings, now = context
    for phone in dict.fromkeys(phones):
        sent = count_outbox(session, phone, "sms", now, timedelta(hours=1))
        refusal = (f"rate limit: {sent} text message(s) to this phone in the last hour"
                   if sent >= settings.sms_per_hour else "")
        queue(session, Draft(
            key=f"{key}:sms:{phone}", kind="sms", case_id=case_id,
            mailbox_id=None, from_address="", to_address=phone,
            body=" ".join(text.split())[:SMS_LENGTH],
        ), now, refusal)


def _recipients(session: Session, alert: Alert, case: Case | None) -> list[User]:
    """The users the alert names, else the case's owner, else its queue's members."""
    if alert.recipients:
        return list(session.scalars(
            select(User).where(User.email.in_(alert.recipients)).order_by(User.email)))
    if case is None:
        return []
    if case.owner_id is not None:
        owner = session.get(User, case.owner_id)
        if owner is not None:
            return [owner]
    support = session.get(SupportCase, case.id)
    if support is not None and support.team_id is not None:
        return list(session.scalars(
            select(User).where(User.team_id == support.team_id).order_by(User.email)))
    return []
