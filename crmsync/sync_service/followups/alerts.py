"""Alert a rep once per overdue follow-up, by mail and webhook, through the support alerts.

An alert is a :class:`~crmsync.crm.support.SupportAlert` row keyed
``followup:<rep id>:<activity id>`` (unique: never twice for the same mail, however
often and in however many processes the check runs) plus outbox rows committed with it
(:mod:`crmsync.sync_service.support.outbox` delivers them after the commit, once). A
follow-up answered before the check runs is never alerted; one answered afterwards
leaves the list (:mod:`crmsync.crm.followups`) and is not alerted again.
"""

from __future__ import annotations

import json
import logging
import time
import weakref
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crmsync.crm.db import session_scope
from crmsync.crm.followups import Followup, open_followups
from crmsync.crm.models import Mailbox, User
from crmsync.crm.support import SupportAlert
from crmsync.sync_service.context import Services
from crmsync.sync_service.support.acks import Draft, mailbox_address, queue
from crmsync.sync_service.support.alerts import queue_texts, raise_alert
from crmsync.sync_service.support.settings import SupportSettings, load_settings
from crmsync.sync_service.support.transports import send_refusal

log = logging.getLogger(__name__)
#: the scheduler's duty runs after every mailbox sync; the check itself at most this often
CHECK_SECONDS = 60.0
#: id(services) → (that Services, while alive; when its last check ran)
_last_check: dict[int, tuple[weakref.ref[Services], float]] = {}


def run_followup_duty(services: Services, now: datetime | None = None) -> list[tuple[str, int]]:
    """What the scheduler runs each round: :func:`check_followups`, at most once per
    :data:`CHECK_SECONDS` per process (it reads every rep's customer mail)."""
    clock = time.monotonic()
    held, last = _last_check.get(id(services), (None, 0.0))
    if held is not None and held() is services and clock - last < CHECK_SECONDS:
        return []
    _last_check[id(services)] = (weakref.ref(services), clock)
    return check_followups(services, now or datetime.now(UTC))


def check_followups(services: Services, now: datetime) -> list[tuple[str, int]]:
    """Alert every follow-up overdue at ``now`` not alerted before.

    :returns: (rep address, activity id) of each follow-up alerted now.
    """
    for _ in range(2):
        try:
            with session_scope(services.sessions) as session:
                return _check(session, now)
        except IntegrityError:
            continue  # another checker alerted the same mail at the same moment: look again
    return []


def _check(session: Session, now: datetime) -> list[tuple[str, int]]:
    settings = load_settings(session)
    alerted = set(session.scalars(select(SupportAlert.key).where(SupportAlert.kind == "followup")))
    done = []
    for followup in open_followups(session, now):
        rep = session.scalars(select(User).where(User.email == followup.rep)).one()
        key = f"followup:{rep.id}:{followup.activity_id}"
        if key in alerted:
            continue
        shape = followup.shape()
        detail = (f"{followup.contact['name'] or followup.contact['email']} wrote "
                  f"{shape['mail']['received']}; a reply was due {shape['due']}")
        alert = raise_alert(session, ("followup", key, None), detail, now)
        if alert is not None:
            send_followup_alert(session, (alert, rep, followup), settings, now)
            done.append((followup.rep, followup.activity_id))
            log.info("follow-up due: %s, mail %s", followup.rep, followup.activity_id)
    return done


def send_followup_alert(session: Session, what: tuple[SupportAlert, User, Followup],
                        settings: SupportSettings, now: datetime) -> None:
    """Queue the alert: a mail to the rep, the alert webhook's JSON POST and a text
    message to the rep's phone (``user add --phone``; the SMS gateway's, as support alerts).

    The one place a follow-up reaches the alert channels. The mail goes from the rep's
    own mailbox when it can send, else from a support mailbox that can; with neither it
    is queued suppressed, with the reason, and the webhook and the text still go.
    """
    alert, rep, followup = what
    shape = followup.shape()
    if settings.alert_webhook:
        payload = {"event": "followup", "detail": alert.detail, "followup": shape}
        queue(session, Draft(
            key=f"{alert.key}:webhook", kind="webhook", case_id=None, mailbox_id=None,
            from_address="", to_address=settings.alert_webhook,
            body=json.dumps(payload, ensure_ascii=False)), now)
    mailbox, refusal = _sending_mailbox(session, rep)
    account = f" ({followup.account['name']})" if followup.account else ""
    deal = f"\nOpportunity: {followup.opportunity['name']}" if followup.opportunity else ""
    queue(session, Draft(
        key=f"{alert.key}:mail", kind="alert", case_id=None,
        mailbox_id=mailbox.id if mailbox else None,
        from_address=rep.email if mailbox is None or mailbox.owner_id == rep.id
        else mailbox_address(mailbox) or rep.email,
        to_address=rep.email,
        subject=f"Follow-up due: {followup.subject}",
        body=(f"{alert.detail}.\n\nFrom: {followup.contact['name']} "
              f"<{followup.contact['email']}>{account}{deal}\nSubject: {followup.subject}\n"
              "\nAnswer it, or mark it \"No reply needed\" in the crmsync pane.\n"),
    ), now, refusal)
    if rep.phone:
        queue_texts(session, (alert.key, None), f"Follow-up due: {followup.subject}",
                    [rep.phone], (settings, now))


def _sending_mailbox(session: Session, rep: User) -> tuple[Mailbox | None, str]:
    """The mailbox an alert to ``rep`` goes out from, or why there is none."""
    candidates = session.scalars(
        select(Mailbox).where(Mailbox.removed_at.is_(None))
        .order_by((Mailbox.owner_id == rep.id).desc(), (Mailbox.purpose == "support").desc(),
                  Mailbox.id))
    for mailbox in candidates:
        if (mailbox.owner_id == rep.id or mailbox.purpose == "support") \
                and not send_refusal(mailbox):
            return mailbox, ""
    return None, "no mailbox of the rep or of support can send mail"
