"""The scheduler: one background thread of ``crmsync serve`` that starts every mailbox's
sync in turn.

In one process (the default) it runs each sync itself: every ``POLL_SECONDS`` it syncs
each mailbox, renews Graph subscriptions and runs the support desk's duties, and IMAP
IDLE (:mod:`.imap_idle`) wakes it early. With a broker (``BROKER_URL``) it watches
nothing (the workers share push out) and only queues
the round's syncs for ``crmsync worker`` processes (:mod:`crmsync.sync_service.workers`),
spread with jitter over the first part of the round so the workers and the mail servers
do not get every mailbox in the same second; the mailbox lease keeps two workers off
one mailbox either way.

Each run has a budget (``SYNC_RUN_SECONDS``): a large backfill that spends it stops at a
page boundary ("catching up") and is requested again, so the round's other mailboxes
and push requests run between its slices instead of after it.

Between rounds it looks every :data:`WATCH_SECONDS` for mailboxes that became syncable
(added, resumed) since its last look, and has them synced at once
(:func:`~.soon.sync_soon`): a mailbox added from the command line, another process,
does not wait for the next round.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

from sqlalchemy import select

from crmsync.crm.db import session_scope
from crmsync.crm.models import Mailbox
from crmsync.sync_service.context import Services
from crmsync.sync_service.engine.run import CATCHING_UP, sync_mailbox
from crmsync.sync_service.mailboxes.lifecycle import syncable
from crmsync.sync_service.triggers.imap_idle import ImapPush
from crmsync.sync_service.triggers.soon import sync_soon

log = logging.getLogger(__name__)
#: how often, between rounds, the scheduler looks for newly added or resumed mailboxes
WATCH_SECONDS = 5.0
#: with a broker, a round's syncs are queued over at most this long (or half a round)
SPREAD_SECONDS = 60.0


class Scheduler:
    """Run :func:`sync_mailbox` for every mailbox every ``POLL_SECONDS``.

    A run that ended throttled (``TransientError.retry_after``, e.g. Graph's
    ``Retry-After: 120``) holds that mailbox back until the delay has passed: no poll
    and no push-triggered sync touches it before, the others go on. ``clock`` is
    monotonic seconds (a fake one in tests).
    """

    def __init__(self, services: Services, clock: Callable[[], float] = time.monotonic) -> None:
        self.services = services
        self._clock = clock
        #: mailbox name -> clock time before which it must not be synced (throttled)
        self.not_before: dict[str, float] = {}
        self._stop = threading.Event()
        #: push: mailboxes a notification asked to sync before the next poll
        self._wake = threading.Event()
        self._requested: set[str] = set()
        self._lock = threading.Lock()
        #: mailbox id -> name of every syncable mailbox at the last look (None: no look yet)
        self._known: dict[int, str] | None = None
        self._thread = threading.Thread(target=self.run, name="crmsync-scheduler", daemon=True)
        #: IMAP IDLE watchers (IMAP_PUSH), started and stopped with the scheduler; with a
        #: broker the workers watch instead (crmsync.sync_service.workers.push)
        watches = services.config.get("IMAP_PUSH") and not services.config.get("BROKER_URL")
        self.push = ImapPush(services) if watches else None

    def start(self) -> None:
        self._thread.start()
        if self.push is not None:
            self.push.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        if self.push is not None:
            self.push.stop()

    def request_sync(self, name: str) -> None:
        """Sync mailbox ``name`` now, ahead of the next poll (a push notification came)."""
        with self._lock:
            self._requested.add(name)
        self._wake.set()

    def run(self) -> None:
        while not self._stop.is_set():
            self._one_iteration()
            self._serve_requests_until(self._clock() + self.services.config["POLL_SECONDS"])

    def _serve_requests_until(self, deadline: float) -> None:
        watch_at = self._clock() + WATCH_SECONDS
        while not self._stop.is_set() and (left := deadline - self._clock()) > 0:
            wait = min(left, self._next_deferred(), max(0.0, watch_at - self._clock()))
            if self._wake.wait(wait):
                self._wake.clear()
            if self._clock() >= watch_at:
                self.watch_newcomers()
                watch_at = self._clock() + WATCH_SECONDS
            self.serve_requests()

    def watch_newcomers(self) -> list[str]:
        """Have every mailbox that became syncable since the last look synced now;
        return their names."""
        known, self._known = self._known, self._syncable()
        if known is None:
            return []
        newcomers = [name for mailbox_id, name in self._known.items() if mailbox_id not in known]
        for name in newcomers:
            log.info("%s: new or resumed, syncing it now", name)
            sync_soon(self.services, name, self)
        return newcomers

    def _syncable(self) -> dict[int, str]:
        with session_scope(self.services.sessions) as session:
            rows = session.execute(
                select(Mailbox.id, Mailbox.name).where(syncable()).order_by(Mailbox.name))
            return {mailbox_id: name for mailbox_id, name in rows}

    def serve_requests(self) -> None:
        """Sync the mailboxes push asked for; throttled ones wait for their time."""
        with self._lock:
            names, self._requested = sorted(self._requested), set()
        for name in names:
            if not self._sync_one(name):
                with self._lock:
                    self._requested.add(name)  # deferred, not dropped

    def _next_deferred(self) -> float:
        """Seconds until a deferred push request may run (or a long time)."""
        with self._lock:
            waits = [self.not_before.get(name, 0) - self._clock() for name in self._requested]
        return max(0.05, min(waits, default=3600.0))

    def poll_once(self) -> None:
        """One polling pass over every mailbox (what the loop does every POLL_SECONDS)."""
        self._one_iteration()

    def _one_iteration(self) -> None:
        self._known = self._syncable()
        names = list(self._known.values())
        if self.services.config.get("BROKER_URL"):
            self._queue_round(names)
            self._support_duties()
        else:
            for name in names:
                if self._stop.is_set():
                    return
                self._sync_one(name)
        self._renew_subscriptions()

    def _queue_round(self, names: list[str]) -> None:
        """Queue every mailbox's sync for the workers, each at a random instant of the
        round's first part (at most :data:`SPREAD_SECONDS`)."""
        spread = min(SPREAD_SECONDS, self.services.config["POLL_SECONDS"] / 2)
        start = self._clock()
        for offset, name in sorted((random.uniform(0, spread), name) for name in names):
            if self._stop.wait(max(0.0, start + offset - self._clock())):
                return
            sync_soon(self.services, name, self)

    def _sync_one(self, name: str) -> bool:
        """Sync ``name`` unless it is held back by throttling; return whether it ran."""
        if self._clock() < self.not_before.get(name, 0):
            log.info("%s: throttled, next attempt in %.0f s", name,
                     self.not_before[name] - self._clock())
            return False
        try:
            report = sync_mailbox(self.services, name,
                                  budget=self.services.config["SYNC_RUN_SECONDS"])
            log.info("%s: %s %s", name, report.status, dict(report.counters))
            if report.status == CATCHING_UP:
                self.request_sync(name)  # its next slice, after what waits now
            if report.retry_after:
                self.not_before[name] = self._clock() + report.retry_after
            else:
                self.not_before.pop(name, None)
        except Exception:  # one mailbox's bug must not stop the others
            log.exception("sync of %s failed", name)
        self._support_duties()
        return True

    def _support_duties(self) -> None:
        """Acknowledgements and alerts (SLA breaches, reps' follow-ups) go out right after
        the sync that committed them."""
        from crmsync.sync_service.triggers.duties import run_after_sync_duties

        try:
            run_after_sync_duties(self.services)
        except Exception:  # delivery problems are recorded per outbox row; keep syncing
            log.exception("support duties failed")

    def _renew_subscriptions(self) -> None:
        from crmsync.sync_service.triggers.graph_subscriptions import renew_due

        try:
            renew_due(self.services)
        except Exception:  # renewal problems are recorded per subscription; keep polling
            log.exception("renewing Graph subscriptions failed")
