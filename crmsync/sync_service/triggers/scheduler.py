"""The embedded scheduler: one background thread that polls every mailbox in turn.

The default deployment is one process, and this thread is all of its scheduling: every
``POLL_SECONDS`` it syncs each mailbox, renews Graph subscriptions and runs the support
desk's duties, and IMAP IDLE (:mod:`.imap_idle`) wakes it early. Scale-out workers are
not built yet; they will run the same unit of work (``sync_mailbox``), and the mailbox
lease already keeps two of them off one mailbox.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import select

from crmsync.crm.db import session_scope
from crmsync.crm.models import Mailbox
from crmsync.sync_service.context import Services
from crmsync.sync_service.engine.run import sync_mailbox
from crmsync.sync_service.mailboxes.lifecycle import syncable
from crmsync.sync_service.triggers.imap_idle import ImapPush

log = logging.getLogger(__name__)


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
        self._thread = threading.Thread(target=self.run, name="crmsync-scheduler", daemon=True)
        #: IMAP IDLE watchers (IMAP_PUSH), started and stopped with the scheduler
        self.push = ImapPush(services) if services.config.get("IMAP_PUSH") else None

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
        while not self._stop.is_set() and (left := deadline - self._clock()) > 0:
            if self._wake.wait(min(left, self._next_deferred())):
                self._wake.clear()
            self.serve_requests()

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
        with session_scope(self.services.sessions) as session:
            names = list(session.scalars(
                select(Mailbox.name).where(syncable()).order_by(Mailbox.name)))
        for name in names:
            if self._stop.is_set():
                return
            self._sync_one(name)
        self._renew_subscriptions()

    def _sync_one(self, name: str) -> bool:
        """Sync ``name`` unless it is held back by throttling; return whether it ran."""
        if self._clock() < self.not_before.get(name, 0):
            log.info("%s: throttled, next attempt in %.0f s", name,
                     self.not_before[name] - self._clock())
            return False
        try:
            report = sync_mailbox(self.services, name)
            log.info("%s: %s %s", name, report.status, dict(report.counters))
            if report.retry_after:
                self.not_before[name] = self._clock() + report.retry_after
            else:
                self.not_before.pop(name, None)
        except Exception:  # one mailbox's bug must not stop the others
            log.exception("sync of %s failed", name)
        self._support_duties()
        return True

    def _support_duties(self) -> None:
        """Acknowledgements and alerts go out right after the sync that committed them."""
        from crmsync.sync_service.support import run_support_duties

        try:
            run_support_duties(self.services)
        except Exception:  # delivery problems are recorded per outbox row; keep syncing
            log.exception("support duties failed")

    def _renew_subscriptions(self) -> None:
        from crmsync.sync_service.triggers.graph_subscriptions import renew_due

        try:
            renew_due(self.services)
        except Exception:  # renewal problems are recorded per subscription; keep polling
            log.exception("renewing Graph subscriptions failed")
