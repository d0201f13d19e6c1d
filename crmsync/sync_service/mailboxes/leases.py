"""Mailbox leases: one process syncs a mailbox at a time, whichever process it is.

The engine takes the lease for a sync. A lease is a row's owner and expiry, so it works
the same across threads, processes, hosts and Celery workers.

An expiry alone cannot keep a stalled holder out (SIGSTOP, a long GC pause, a slow
network): it wakes up after another worker took the mailbox over and would commit its
page over the new holder's. So every claim raises the mailbox's fencing token
(``lease_token``) and hands it to the run, and every page commit checks, in its own
transaction, that the token is still the run's (:func:`keep_lease`), which also renews
the lease: a long backfill keeps it while it makes progress, and a run whose lease was
taken over stores nothing more (the bsm/redislock PR 94 rule: the store checks the
token, not the holder's clock).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from crmsync.crm.db import PATIENCE_SECONDS, patiently, session_scope
from crmsync.crm.models import Mailbox
from crmsync.errors import CrmSyncError
from crmsync.sync_service.context import Services

log = logging.getLogger(__name__)
#: how long releasing a lease waits for a database that went away (a restart, a failover)
RELEASE_PATIENCE_SECONDS = PATIENCE_SECONDS
#: how long a lease holds without being renewed, unless LEASE_SECONDS says otherwise
#: (a crashed holder on another host frees it at the latest then)
LEASE_SECONDS = 600
#: what a run whose lease was taken over reports, and logs
LEASE_LOST = "lease lost: another worker took this mailbox over"

#: mailboxes a thread of this process holds: a second thread (push, "sync now", the
#: scheduler) is told "busy", instead of claiming a lease this process already owns
#: and so fencing out its own first run
_held_here: set[int] = set()
_held_lock = threading.Lock()


class LeaseLostError(CrmSyncError):
    """Another worker claimed the mailbox since this run did: it must store nothing more."""


@dataclass(frozen=True)
class Lease:
    """A claim on one mailbox: its fencing token and how long each renewal holds."""

    mailbox_id: int
    token: int
    seconds: int


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


def claim_lease(services: Services, mailbox_id: int, now: datetime) -> Lease | None:
    """Claim the mailbox for this process, so two workers never sync it at once.

    A lease is free when unheld, expired, left by this process (a release that failed),
    or held by a process on this host that no longer exists. Claiming raises the
    fencing token, which locks out every earlier holder's commits.

    :returns: the lease, or ``None`` when another worker (or thread) holds it.
    """
    with _held_lock:
        if mailbox_id in _held_here:
            return None
        _held_here.add(mailbox_id)
    try:
        lease = _claim_row(services, mailbox_id, now)
    except BaseException:
        _forget(mailbox_id)
        raise
    if lease is None:
        _forget(mailbox_id)
    return lease


def _claim_row(services: Services, mailbox_id: int, now: datetime) -> Lease | None:
    me = worker_id()
    seconds = services.config["LEASE_SECONDS"]
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
            .values(lease_owner=me, lease_expires_at=now + timedelta(seconds=seconds),
                    lease_token=Mailbox.lease_token + 1)
        )
        if not result.rowcount:
            return None
        # read in the claiming transaction, which holds the row: no other claim between
        token = session.scalar(select(Mailbox.lease_token).where(Mailbox.id == mailbox_id))
    assert token is not None
    return Lease(mailbox_id, token, seconds)


def keep_lease(session: Session, lease: Lease, now: datetime) -> None:
    """Check, in ``session``'s transaction, that ``lease`` still holds, and renew it.

    Call it in the transaction that commits what the lease guards, after its writes:
    the UPDATE locks the mailbox row until that commit (PostgreSQL) or runs under
    SQLite's one writer, so no claim can slip in between the check and the commit.

    :raises LeaseLostError: the token is no longer ``lease``'s; roll the transaction back.
    """
    result = session.execute(
        update(Mailbox)
        .where(Mailbox.id == lease.mailbox_id, Mailbox.lease_token == lease.token)
        .values(lease_expires_at=now + timedelta(seconds=lease.seconds))
    )
    if not result.rowcount:
        raise LeaseLostError(LEASE_LOST)


def release_lease(services: Services, lease: Lease) -> None:
    """Free the mailbox, unless another worker holds it by now (its token is newer).

    A database that is restarting (or failing over) is waited for, up to
    :data:`RELEASE_PATIENCE_SECONDS`: a lease left behind would turn every sync of the
    mailbox, this run's own retry included, into "busy" until it expires. Past that, it
    expires after ``LEASE_SECONDS``, and its fencing token keeps the next holder safe.
    """
    def release() -> None:
        with session_scope(services.sessions) as session:
            session.execute(
                update(Mailbox)
                .where(Mailbox.id == lease.mailbox_id, Mailbox.lease_token == lease.token)
                .values(lease_owner=None, lease_expires_at=None)
            )

    try:
        patiently(release, f"releasing mailbox {lease.mailbox_id}'s lease",
                  RELEASE_PATIENCE_SECONDS)
    finally:
        _forget(lease.mailbox_id)


def _forget(mailbox_id: int) -> None:
    with _held_lock:
        _held_here.discard(mailbox_id)


def ask_again(services: Services, name: str, now: datetime) -> bool:
    """Note that mailbox ``name`` was asked to sync while another run held it.

    The holder queues one more run when it ends (:func:`take_again`), so a change that
    arrived after it passed its folder is fetched then (a Graph notification, push),
    not a poll round later; asking many times makes one run. Closes the race with a
    holder that ended between the "busy" and this note:

    :returns: whether the lease is free now, its holder gone without seeing the note;
        the caller then queues the run itself (and the note is taken back).
    """
    with session_scope(services.sessions) as session:
        session.execute(update(Mailbox).where(Mailbox.name == name).values(sync_again=True))
    with session_scope(services.sessions) as session:
        holder, expires = session.execute(
            select(Mailbox.lease_owner, Mailbox.lease_expires_at)
            .where(Mailbox.name == name)).one()
    free = holder is None or (expires is not None and expires < now)
    return free and take_again(services, name)


def take_again(services: Services, name: str) -> bool:
    """Whether a sync of ``name`` was asked for during the run that just ended (and
    clear the note: exactly one caller gets ``True`` for it)."""
    with session_scope(services.sessions) as session:
        return bool(session.execute(
            update(Mailbox).where(Mailbox.name == name, Mailbox.sync_again.is_(True))
            .values(sync_again=False)).rowcount)
