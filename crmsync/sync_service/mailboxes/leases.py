"""Mailbox leases: one process syncs a mailbox at a time, whichever process it is.

The engine takes the lease for a sync, the support outbox for sending through a
mailbox; both go through here. A lease is a row's owner and expiry, so it works the
same across threads, processes, hosts and Celery workers.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from crmsync.crm.db import session_scope
from crmsync.crm.models import Mailbox
from crmsync.sync_service.context import Services

#: how long a lease holds without being renewed (a crashed holder frees it at the latest then)
LEASE_SECONDS = 600


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def holder_is_dead(owner: str | None) -> bool:
    """Whether a lease holder on this host has exited (kill -9 leaves its lease behind)."""
    if not owner:
        return True
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def claim_lease(services: Services, mailbox_id: int, now: datetime) -> bool:
    """Claim the mailbox for this process, so two workers never sync it at once.

    A lease is free when unheld, expired, already ours, or held by a process on
    this host that no longer exists.
    """
    me = worker_id()
    with session_scope(services.sessions) as session:
        holder = session.scalar(select(Mailbox.lease_owner).where(Mailbox.id == mailbox_id))
        free = [
            Mailbox.lease_owner.is_(None),
            Mailbox.lease_owner == me,
            Mailbox.lease_expires_at < now,
        ]
        if holder and holder_is_dead(holder):
            free.append(Mailbox.lease_owner == holder)
        result = session.execute(
            update(Mailbox)
            .where(Mailbox.id == mailbox_id, or_(*free))
            .values(lease_owner=me, lease_expires_at=now + timedelta(seconds=LEASE_SECONDS))
        )
        return bool(result.rowcount)


def release_lease(services: Services, mailbox_id: int) -> None:
    with session_scope(services.sessions) as session:
        session.execute(
            update(Mailbox)
            .where(Mailbox.id == mailbox_id, Mailbox.lease_owner == worker_id())
            .values(lease_owner=None, lease_expires_at=None)
        )
