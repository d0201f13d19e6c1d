"""Push for Graph mailboxes: subscriptions (create, renew, remove) and notifications.

The Graph calls are the connector's :class:`~crmsync.connectors.base.Subscribing`
capability; this module keeps the rows, the client states and the timing.
Subscriptions are created when a mailbox connects (if a notification URL is set),
renewed by the scheduler before they expire (Outlook resources live under 3 days),
and removed on disconnect. A notification only says "something changed in mailbox
X": it queues a sync of X, and the delta query finds exactly what changed. Polling
stays as the safety net for notifications Graph drops.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmsync.connectors.base import Connector, Subscribing, SubscriptionGoneError
from crmsync.crm.db import session_scope
from crmsync.crm.models import Mailbox
from crmsync.crm.subscriptions import GraphSubscription
from crmsync.errors import CrmSyncError
from crmsync.sync_service.context import Services
from crmsync.sync_service.mailboxes.connecting import build_connector, provider_supports

log = logging.getLogger(__name__)
#: renew a subscription once less than this is left of it
RENEW_BEFORE = timedelta(hours=12)


def _hash(client_state: str) -> str:
    return hashlib.sha256(client_state.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def subscribe_mailbox(services: Services, name: str, notification_url: str,
                      now: datetime | None = None) -> int:
    """Create the mailbox's subscriptions (each mail folder, and the calendar).

    :returns: how many were created.
    :raises CrmSyncError: Graph refused (e.g. our endpoint failed the validation
        handshake: a ``GraphError``).
    """
    now = now or _now()
    mailbox = _mailbox(services, name)
    with build_connector(services, mailbox) as connector:
        subscriber = _subscriber(connector, mailbox)
        created = []
        for resource in subscriber.subscription_resources():
            state = secrets.token_urlsafe(24)
            sub = subscriber.subscribe(resource, notification_url, state, now)
            created.append(GraphSubscription(
                mailbox_id=mailbox.id, subscription_id=sub.id, resource=resource,
                client_state_hash=_hash(state), notification_url=notification_url,
                expires_at=sub.expires_at, created_at=now))
    with session_scope(services.sessions) as session:
        session.add_all(created)
    return len(created)


def _due(now: datetime, forced: set[str]) -> Any:
    return ((GraphSubscription.expires_at < now + RENEW_BEFORE)
            | GraphSubscription.subscription_id.in_(forced))


def renew_due(services: Services, now: datetime | None = None,
              force: Iterable[str] = ()) -> int:
    """Renew every subscription expiring within :data:`RENEW_BEFORE` (or named in ``force``).

    A subscription Graph no longer knows is created again. One mailbox's failure is
    logged and recorded on its rows; the others go on. The scheduler's pass and the
    webhook's lifecycle handling may run this at the same moment: each mailbox is
    renewed under :func:`mailbox_renewal_lock`, so neither recreates a subscription
    the other already recreated.

    :returns: how many were renewed or recreated.
    """
    now = now or _now()
    forced = set(force)
    with session_scope(services.sessions) as session:
        mailbox_ids = sorted(set(session.scalars(
            select(GraphSubscription.mailbox_id).where(_due(now, forced)))))
    done = 0
    for mailbox_id in mailbox_ids:
        try:
            done += _renew_mailbox(services, mailbox_id, now, forced)
        except CrmSyncError as exc:  # e.g. the app registration's grant is gone
            log.warning("renewing subscriptions of mailbox %s failed: %s", mailbox_id, exc)
    return done


_renewal_locks: dict[int, threading.Lock] = {}
_renewal_locks_guard = threading.Lock()


@contextmanager
def mailbox_renewal_lock(services: Services, mailbox_id: int) -> Iterator[Session]:
    """Serialize subscription changes of one mailbox; yield a session holding its row.

    Within this process a lock per mailbox; across processes (PostgreSQL) the mailbox
    row is locked ``FOR UPDATE`` until the session commits. Rows must be read again
    inside: what another renewer already handled is then no longer due.
    """
    with _renewal_locks_guard:
        lock = _renewal_locks.setdefault(mailbox_id, threading.Lock())
    with lock, session_scope(services.sessions) as session:
        session.scalars(select(Mailbox).where(Mailbox.id == mailbox_id).with_for_update()).one()
        yield session


def _renew_mailbox(services: Services, mailbox_id: int, now: datetime,
                   forced: set[str]) -> int:
    with mailbox_renewal_lock(services, mailbox_id) as session:
        mailbox = session.get(Mailbox, mailbox_id)
        assert mailbox is not None
        rows = list(session.scalars(select(GraphSubscription).where(
            GraphSubscription.mailbox_id == mailbox_id, _due(now, forced))))
        if not rows:
            return 0
        with build_connector(services, mailbox) as connector:
            subscriber = _subscriber(connector, mailbox)
            for row in rows:
                try:
                    _renew_or_recreate(subscriber, row, now)
                except CrmSyncError as exc:  # recorded on the row; the others go on
                    log.warning("renewing subscription %s failed: %s", row.id, exc)
                    row.last_event = f"renewal failed: {exc}"[:500]
    return len(rows)


def _renew_or_recreate(subscriber: Subscribing, row: GraphSubscription,
                       now: datetime) -> None:
    """Renew ``row``'s subscription; if Graph dropped it (removed, expired), subscribe again."""
    try:
        row.expires_at = subscriber.renew_subscription(row.subscription_id, now)
        row.last_event = "renewed"
        return
    except SubscriptionGoneError:
        pass
    state = secrets.token_urlsafe(24)
    sub = subscriber.subscribe(row.resource, row.notification_url, state, now)
    row.subscription_id, row.client_state_hash = sub.id, _hash(state)
    row.expires_at, row.last_event, row.created_at = sub.expires_at, "recreated", now


def unsubscribe_mailbox(services: Services, name: str) -> int:
    """Remove the mailbox's subscriptions at Graph and here (on disconnect)."""
    mailbox = _mailbox(services, name)
    with mailbox_renewal_lock(services, mailbox.id) as session:
        rows = list(session.scalars(select(GraphSubscription).where(
            GraphSubscription.mailbox_id == mailbox.id)))
        with build_connector(services, mailbox) as connector:
            subscriber = _subscriber(connector, mailbox)
            for row in rows:
                subscriber.unsubscribe(row.subscription_id)
                session.delete(row)
    return len(rows)


@dataclass
class NotificationOutcome:
    """What a batch of notifications asks for: mailboxes to sync, subscriptions to renew."""

    sync: set[str] = field(default_factory=set)
    renew: set[str] = field(default_factory=set)
    ignored: int = 0


def read_notifications(services: Services, payload: Mapping[str, Any]) -> NotificationOutcome:
    """Check each notification's ``clientState`` and decide what it asks for.

    Change notifications and ``missed`` queue a sync; ``reauthorizationRequired`` and
    ``subscriptionRemoved`` queue a renewal (recreation) and a sync, so nothing that
    changed meanwhile is missed. Unknown subscriptions, wrong ``clientState`` and items
    that are not notifications are ignored (counted). The subscriptions are read in one
    query, whatever the number of notifications (the body's size is bounded by the app).
    """
    outcome = NotificationOutcome()
    items = payload.get("value") if isinstance(payload, Mapping) else None
    items = items if isinstance(items, list) else []
    notifications = [item for item in items if isinstance(item, Mapping)]
    outcome.ignored += len(items) - len(notifications)  # not a notification at all
    with session_scope(services.sessions) as session:
        wanted = sorted({str(item.get("subscriptionId")) for item in notifications})
        rows = {row.subscription_id: row for row in session.scalars(
            select(GraphSubscription).where(GraphSubscription.subscription_id.in_(wanted)))}
        for item in notifications:
            row = rows.get(str(item.get("subscriptionId")))
            state = str(item.get("clientState") or "")
            if row is None or not hmac.compare_digest(_hash(state), row.client_state_hash):
                outcome.ignored += 1
                continue
            mailbox = session.get(Mailbox, row.mailbox_id)
            assert mailbox is not None
            outcome.sync.add(mailbox.name)
            event = item.get("lifecycleEvent")
            if event:
                row.last_event = str(event)[:100]
                if event in ("reauthorizationRequired", "subscriptionRemoved"):
                    outcome.renew.add(row.subscription_id)
    return outcome


def _mailbox(services: Services, name: str) -> Mailbox:
    """Return the mailbox named ``name``, checked to take subscriptions before connecting."""
    with session_scope(services.sessions) as session:
        mailbox = session.scalars(select(Mailbox).where(Mailbox.name == name)).one()
    if not provider_supports(mailbox.provider, Subscribing):
        raise CrmSyncError(f"mailbox {name} is not a Microsoft 365 (graph) mailbox")
    return mailbox


def _subscriber(connector: Connector, mailbox: Mailbox) -> Subscribing:
    """Return the connector as a subscriber; its class was checked, this narrows the type."""
    if not isinstance(connector, Subscribing):
        raise CrmSyncError(f"mailbox {mailbox.name} is not a Microsoft 365 (graph) mailbox")
    return connector


SyncRequester = Callable[[str], None]
