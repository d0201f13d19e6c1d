"""Deliver the outbox after commit: mail through the mailbox's connector, webhooks by POST.

Mail is sent by the mailbox's connector, which declares that it can
(:class:`~crmsync.connectors.base.Sending`): SMTP submission for IMAP mailboxes, Graph
``sendMail`` for Microsoft 365 mailboxes (:func:`.transports.send_row`). Exactly once,
as far as a client can make it:

1. ``pending`` → ``claimed``: one deliverer takes the row with a conditional UPDATE
   and commits. A claim whose holder died (same host) or expired is taken again:
   nothing had reached the server yet. Every claim raises ``attempts``, which is the
   claim's fencing token: each later write of the deliverer is conditional on it, so
   one that stalled past its claim (SIGSTOP, a slow login) and wakes up after another
   took the row over sends nothing and writes nothing (:class:`ClaimLostError`).
2. Everything that sends nothing is done first: the SMTP connection, login and envelope
   (MAIL FROM, RCPT TO), or the Graph sign-in. A refusal (``SendRefusedError``, or our
   own :class:`.transports.DeliveryError`) puts the row back to ``pending`` (retried up
   to :data:`MAX_ATTEMPTS`): nothing was delivered.
3. ``claimed`` → ``sending`` is committed *before* the message goes out (SMTP DATA, the
   Graph POST), only while the claim is still ours: the connector calls back at its
   point of no return, and a lost claim raises there, before anything is sent. From here the
   server may hold the mail, so the row is never retried automatically
   (``SendUnknownError``), with one exception: a Graph answer that proves it was not
   taken (a 4xx, or 429 "throttled, not processed") is a ``SendRefusedError`` and puts
   it back to ``pending``.
4. On the server's answer (SMTP 250, Graph 202), ``sending`` → ``sent``.

Text messages (alerts, through the SMS gateway: :mod:`crmsync.connectors.sms_gateway`)
follow the same steps as mail: ``sending`` before the POST, never resent after it
unless the gateway answered that it did not take the message.

Webhooks are at-least-once instead: a failed POST is retried and the receiver
deduplicates on the ``Idempotency-Key`` header (the row's key).

The residual window is step 4, the same for both providers: a crash after the server
accepted the mail but before ``sent`` commits leaves the row ``sending``; it is shown by
``crmsync cases outbox`` and not resent, so the customer gets at most one copy. A crash
or network failure (or a Graph 5xx/timeout) while the mail was going out leaves the
same state, and that acknowledgement is then not delivered (at-most-once wins over a
duplicate); an admin can requeue it, and because every row keeps one Message-ID (Graph
is sent the MIME form, so it keeps it too) a duplicate is collapsed by clients that
deduplicate on it (Gmail does, Outlook does not).
"""

from __future__ import annotations

import logging
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import OperationalError

from crmsync.connectors.base import SendRefusedError, SendUnknownError
from crmsync.crm.db import patiently, session_scope
from crmsync.crm.models import Mailbox
from crmsync.crm.support import OutboxMessage
from crmsync.sync_service.context import Services
from crmsync.sync_service.mailboxes.leases import holder_is_dead, worker_id
from crmsync.sync_service.support.transports import (
    DeliveryError,
    build_message,
    send_row,
    sms_gateway,
)

__all__ = ["DeliveryError", "build_message", "deliver_outbox"]

log = logging.getLogger(__name__)
CLAIM_SECONDS = 300
MAX_ATTEMPTS = 5
TIMEOUT = 30


class ClaimLostError(Exception):
    """Another deliverer claimed the row since this one did: it sends and writes nothing."""


def deliver_outbox(services: Services, now: datetime | None = None) -> Counter[str]:
    """Deliver every pending outbox row; return counts by outcome."""
    now = now or datetime.now(UTC)
    counts: Counter[str] = Counter()
    with session_scope(services.sessions) as session:
        rows = session.execute(
            select(OutboxMessage.id, OutboxMessage.claimed_by)
            .where(OutboxMessage.status.in_(("pending", "claimed")))
            .order_by(OutboxMessage.id)
        ).all()
    for row_id, holder in rows:
        attempt = _claim(services, row_id, holder, now)
        if attempt is not None:
            counts[_deliver_one(services, row_id, attempt)] += 1
    return counts


def _claim(services: Services, row_id: int, holder: str | None, now: datetime) -> int | None:
    """Claim the row; return its new ``attempts``, the claim's fencing token."""
    free = [OutboxMessage.status == "pending", OutboxMessage.claim_expires_at < now]
    if holder and holder_is_dead(holder):
        free.append(OutboxMessage.claimed_by == holder)
    with session_scope(services.sessions) as session:
        result = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id, OutboxMessage.status.in_(("pending", "claimed")),
                   or_(*free))
            .values(status="claimed", claimed_by=worker_id(),
                    claim_expires_at=now + timedelta(seconds=CLAIM_SECONDS),
                    attempts=OutboxMessage.attempts + 1)
        )
        if not result.rowcount:
            return None
        return session.scalar(select(OutboxMessage.attempts).where(OutboxMessage.id == row_id))


def _set(services: Services, row_id: int, attempt: int, *still: str, **values: object) -> bool:
    """Write ``values`` while the claim ``attempt`` holds (and the status is in ``still``,
    when given); return whether it held."""
    held = [OutboxMessage.id == row_id, OutboxMessage.attempts == attempt]
    if still:
        held.append(OutboxMessage.status.in_(still))
    with session_scope(services.sessions) as session:
        return bool(session.execute(update(OutboxMessage).where(*held).values(**values)).rowcount)


def _start_sending(services: Services, row_id: int, attempt: int) -> None:
    """The point of no return: ``claimed`` → ``sending``, only on our own claim."""
    if not _set(services, row_id, attempt, "claimed", status="sending"):
        raise ClaimLostError("another deliverer claimed this row since")


def _deliver_one(services: Services, row_id: int, attempt: int) -> str:
    """Deliver one claimed row; a database gone away meanwhile gives the claim back."""
    try:
        return _deliver_claimed(services, row_id, attempt)
    except OperationalError:
        # Before the point of no return nothing was sent: the row goes back to pending
        # (left claimed, it would wait CLAIM_SECONDS for its claim to expire). Once it
        # is ``sending`` this changes nothing: it is never resent.
        patiently(lambda: _set(services, row_id, attempt, "claimed", status="pending",
                               claimed_by=None),
                  f"giving back the claim on outbox row {row_id}")
        raise


def _deliver_claimed(services: Services, row_id: int, attempt: int) -> str:
    with session_scope(services.sessions) as session:
        row = session.get(OutboxMessage, row_id)
        assert row is not None
        mailbox = session.get(Mailbox, row.mailbox_id) if row.mailbox_id else None
        session.expunge_all()
    try:
        if row.kind == "webhook":
            _post_webhook(services, row)
        elif row.kind == "sms":
            _send_text(services, row, attempt)
        else:
            _send_mail(services, row, mailbox, attempt)
    except ClaimLostError as exc:
        log.warning("outbox %s (%s): not sent: %s", row.id, row.kind, exc)
        return "claim_lost"
    except (DeliveryError, SendRefusedError) as exc:
        status = "failed" if row.attempts >= MAX_ATTEMPTS else "pending"
        if not _set(services, row_id, attempt, status=status, last_error=str(exc)[:2000],
                    claimed_by=None):
            log.warning("outbox %s (%s): %s; another deliverer claimed it since", row.id,
                        row.kind, exc)
            return "claim_lost"
        log.warning("outbox %s (%s): %s", row.id, row.kind, exc)
        return status
    except SendUnknownError as exc:
        # Failed while the body was going out: it may have arrived. Never resend.
        _set(services, row_id, attempt, last_error=f"delivery unknown: {exc}"[:2000])
        log.error("outbox %s (%s): delivery unknown: %s", row.id, row.kind, exc)
        return "unknown"
    _set(services, row_id, attempt, status="sent", sent_at=datetime.now(UTC), last_error=None)
    return "sent"


def _send_mail(services: Services, row: OutboxMessage, mailbox: Mailbox | None,
               attempt: int) -> None:
    """Send through the mailbox's connector; ``sending`` commits at its point of no return."""
    if mailbox is None:
        raise DeliveryError("the mailbox to send from no longer exists")
    send_row(services, mailbox, row, lambda: _start_sending(services, row.id, attempt))


def _send_text(services: Services, row: OutboxMessage, attempt: int) -> None:
    """Text through the SMS gateway; ``sending`` commits at its point of no return, as mail."""
    sms_gateway(services).send(row.to_address, row.body, row.key,
                               lambda: _start_sending(services, row.id, attempt))


def _post_webhook(services: Services, row: OutboxMessage) -> None:
    """POST the alert; webhooks are at-least-once, receivers dedupe on ``Idempotency-Key``."""
    if not row.to_address.startswith(("http://", "https://")):
        raise DeliveryError(f"webhook URL must be http(s): {row.to_address!r}")
    request = urllib.request.Request(
        row.to_address, data=row.body.encode(), method="POST",
        headers={"Content-Type": "application/json", "Idempotency-Key": row.key},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
            response.read()
    except (OSError, ValueError) as exc:
        raise DeliveryError(f"webhook: {exc}") from exc
