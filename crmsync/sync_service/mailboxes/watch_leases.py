"""Watch leases: with a broker, each mailbox is watched for push by one worker at most.

A watch (IMAP IDLE or NOTIFY, Exchange streaming) holds a connection open for hours, so
the mailboxes are shared out among the ``crmsync worker`` processes, each watching at
most ``PUSH_WATCHES_PER_WORKER``. A watch lease is a mailbox row's ``watch_owner`` and
``watch_expires_at``, renewed by its holder every few seconds; it is apart from the sync
lease (:mod:`.leases`): a watch never keeps a sync out, and a sync never ends a watch.

A worker that dies leaves its watches behind: they are free once their expiry passed
(``PUSH_WATCH_SECONDS``), or at once to a worker on the same host, which sees that the
holder no longer exists. Every claim is a conditional UPDATE of one row in a
transaction of its own, so two workers claiming at once never both win a mailbox, and
claims in different orders never deadlock.

Each worker tries the mailboxes in its own stable order, a hash of the worker and the
mailbox (rendezvous hashing): two workers starting together mostly want different
mailboxes, and a worker asks for the same ones scan after scan.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, not_, or_, select, update

from crmsync.crm.db import session_scope
from crmsync.crm.models import Mailbox
from crmsync.sync_service.context import Services
from crmsync.sync_service.mailboxes.leases import holder_is_dead, worker_id
from crmsync.sync_service.mailboxes.lifecycle import syncable


def watch_order(owner: str, names: Iterable[str]) -> list[str]:
    """Return ``names`` in ``owner``'s own stable order (see the module docstring)."""
    return sorted(names, key=lambda name: hashlib.sha256(
        f"{owner}\0{name}".encode()).digest())


class WatchShare:
    """This process's share of the watches: at most ``bound`` mailboxes, leased.

    :param bound: mailboxes this process watches at most.
    :param seconds: how long a watch lease holds unrenewed.
    """

    def __init__(self, services: Services, bound: int, seconds: int) -> None:
        self.services = services
        self.bound = max(0, bound)
        self.seconds = max(1, seconds)
        self.owner = worker_id()

    def pick(self, candidates: Sequence[str], now: datetime) -> set[str]:
        """Renew this process's watches and claim free ones up to the bound.

        :param candidates: the mailboxes that can be watched (syncable, able to idle).
        :returns: the mailboxes this process watches now; any other it watched
            before was taken over (its lease lapsed) or paused or removed: stop it.
        """
        held = self._renew(now)
        wanted = [name for name in watch_order(self.owner, candidates) if name not in held]
        for name in wanted:
            if len(held) >= self.bound:
                break
            if self._claim(name, now):
                held.add(name)
        return held

    def release(self) -> None:
        """Free every watch of this process (stopping): others take them at once."""
        with session_scope(self.services.sessions) as session:
            session.execute(update(Mailbox).where(Mailbox.watch_owner == self.owner)
                            .values(watch_owner=None, watch_expires_at=None))

    def _renew(self, now: datetime) -> set[str]:
        """Extend this process's watches; free those of mailboxes no longer syncable."""
        mine = Mailbox.watch_owner == self.owner
        with session_scope(self.services.sessions) as session:
            session.execute(update(Mailbox).where(mine, not_(syncable()))
                            .values(watch_owner=None, watch_expires_at=None))
            session.execute(update(Mailbox).where(mine).values(
                watch_expires_at=now + timedelta(seconds=self.seconds)))
            return set(session.scalars(select(Mailbox.name).where(mine)))

    def _claim(self, name: str, now: datetime) -> bool:
        """Take ``name``'s watch if it is free; return whether this process has it."""
        with session_scope(self.services.sessions) as session:
            holder = session.scalar(select(Mailbox.watch_owner).where(Mailbox.name == name))
            free = [Mailbox.watch_owner.is_(None), Mailbox.watch_expires_at < now]
            if holder and holder_is_dead(holder):
                free.append(Mailbox.watch_owner == holder)
            result = session.execute(
                update(Mailbox).where(and_(Mailbox.name == name, syncable(), or_(*free)))
                .values(watch_owner=self.owner,
                        watch_expires_at=now + timedelta(seconds=self.seconds)))
            return bool(result.rowcount)
