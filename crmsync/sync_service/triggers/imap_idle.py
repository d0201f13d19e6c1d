"""IMAP push for ``crmsync serve``: a mail shows up in the CRM about a second after it arrives.

One thread per mailbox whose connector can idle (it declares
:class:`~crmsync.connectors.base.Idling`, as IMAP's does) holds its own connection and
waits for a change in the mailbox's chosen folders (:func:`plan_push`):

* where the server offers NOTIFY (RFC 5465; ``can_watch_many``), every folder on that
  one connection (``idle_wait_many``); Exchange's streaming notifications watch every
  folder the same way, marked ``stream`` (``watch_many_mode``);
* else IDLE (RFC 2177, ``idle_wait``), which watches the selected folder only: one
  connection per folder, in sync order (Inbox first), up to ``PUSH_IDLE_CONNECTIONS`` per
  mailbox, the first in the mailbox's thread and each other in a thread of its own.
  Servers cap a user's connections (Dovecot 10 per address, Gmail 15) and each sync
  takes one more, so further folders are left to the scheduler's poll.

When the server reports a change the thread runs the ordinary unit of work,
:func:`sync_mailbox`, so push adds no second write path: the lease, the page
transaction and the cursor rules are the same (folders that did not change cost it one
EXAMINE each). Which folders are pushed is marked for ``crmsync mailbox list``
(:mod:`~crmsync.sync_service.mailboxes.push_marks`), renewed while the watch lasts.

Two things keep it from missing mail:

* a wait that ends without news still triggers a sync: a mail that arrives between
  a sync's SELECT and the next IDLE's SELECT raises no notification (``idle_wait``
  re-selects the folder). Right after activity, when that is likely, the wait lasts
  only ``BURST_SECONDS``; when quiet, ``PUSH_IDLE_SECONDS``. The cost of a sync that
  finds nothing is one no-change poll, one round trip per folder with CONDSTORE;
* a sync refused because another worker holds the lease (the scheduler's poll) is
  retried until it runs, so the notification is never dropped.

The scheduler's poll stays the backstop for the polled folders and other providers.

With a broker (``BROKER_URL``) the watchers run in ``crmsync worker`` processes, not in
``serve``: each worker watches its share of the mailboxes (a
:class:`~crmsync.sync_service.mailboxes.watch_leases.WatchShare`, re-picked every few
seconds: new, resumed and removed mailboxes, and the watches of a worker that died) and,
after a wait, queues the mailbox's sync for whichever worker is free
(:func:`~.soon.sync_soon`) instead of running it in the watching thread. It queues after
a change, and once more after the short wait that follows one (the mail that slipped in
between); a quiet wait queues nothing, the scheduler's poll being the backstop. A new
watch starts with a short wait and so with a sync: the mail that came while nobody
watched the mailbox (a handed-over watch) arrives then.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from crmsync.connectors.base import Connector, Idling
from crmsync.crm.db import session_scope
from crmsync.crm.models import Mailbox
from crmsync.errors import ConfigError, CrmSyncError
from crmsync.sync_service.context import Services
from crmsync.sync_service.engine.run import SyncReport, sync_mailbox
from crmsync.sync_service.mailboxes.connecting import (
    build_connector,
    provider_supports,
    reseal_secret,
)
from crmsync.sync_service.mailboxes.lifecycle import syncable
from crmsync.sync_service.mailboxes.push_marks import mark_push
from crmsync.sync_service.mailboxes.watch_leases import WatchShare
from crmsync.sync_service.triggers.soon import sync_soon

log = logging.getLogger(__name__)

#: seconds between retries of a sync refused with "busy", and after a failed IDLE
RETRY_SECONDS = 0.2
#: IDLE length right after a change: bounds the delay of a mail that slipped in between
BURST_SECONDS = 2.0
ERROR_BACKOFF_SECONDS = (1, 2, 5, 15, 30, 60)
#: seconds a push mark outlives two waits: room for a slow sync before it is renewed
MARK_MARGIN = 60


@dataclass(frozen=True, slots=True)
class PushPlan:
    """How one mailbox's folders are watched.

    :param mode: ``notify`` (every pushed folder on one connection) or ``idle`` (one
        connection per pushed folder).
    :param pushed: the folders watched, in sync order.
    :param polled: the folders left to the scheduler's poll.
    """

    mode: str
    pushed: tuple[str, ...]
    polled: tuple[str, ...] = ()


def plan_push(folders: Sequence[str], can_watch_many: bool, connections: int) -> PushPlan:
    """Decide how to watch ``folders`` (see the module docstring).

    :param can_watch_many: the server watches several folders on one connection (NOTIFY).
    :param connections: IDLE connections one mailbox may hold (at least one is used).
    """
    if can_watch_many:
        return PushPlan("notify", tuple(folders))
    budget = max(1, connections)
    return PushPlan("idle", tuple(folders[:budget]), tuple(folders[budget:]))


@dataclass(frozen=True, slots=True)
class _Watch:
    """One watching connection: its mailbox, the folders it covers and how."""

    name: str
    folders: tuple[str, ...]
    mode: str
    connector: Any


class ImapPush:
    """Watch every mailbox that can idle and sync it on change (see module docstring).

    :param idle_seconds: how long one wait lasts before it is renewed (and a
        safety-net sync runs); ``None`` reads ``PUSH_IDLE_SECONDS`` from the config.
    :param on_sync: called with each push-triggered :class:`SyncReport` (benchmarks
        and logs).
    :param connections: IDLE connections per mailbox on a server without NOTIFY;
        ``None`` reads ``PUSH_IDLE_CONNECTIONS`` from the config.
    :param share: watch only this process's share of the mailboxes (a worker with a
        broker); ``None`` watches every one (``serve`` in one process).
    """

    def __init__(
        self,
        services: Services,
        idle_seconds: float | None = None,
        on_sync: Callable[[SyncReport], None] | None = None,
        connections: int | None = None,
        share: WatchShare | None = None,
    ) -> None:
        self.services = services
        self.idle_seconds = float(
            idle_seconds or services.config.get("PUSH_IDLE_SECONDS") or 120
        )
        self.connections = int(
            connections or services.config.get("PUSH_IDLE_CONNECTIONS") or 1
        )
        self.on_sync = on_sync
        self.share = share
        #: the mailboxes of this process's share (``None``: every one is watched)
        self._held: set[str] | None = None
        self._stop = threading.Event()
        self._threads: dict[str, threading.Thread] = {}
        #: (mailbox, folder) → the thread IDLEing on that folder (not the mailbox's first)
        self._folder_threads: dict[tuple[str, str], threading.Thread] = {}
        self._plans: dict[str, PushPlan] = {}
        self._lock = threading.Lock()
        self._supervisor = threading.Thread(
            target=self._supervise, name="crmsync-push", daemon=True
        )

    def start(self) -> None:
        """Start watching the mailboxes that can idle there are now, and those added later.

        A database that cannot be reached now (a worker starting during a restart) does
        not end push: the supervisor lists the mailboxes again on its next round.
        """
        try:
            self._watch_new_mailboxes()
        except Exception:  # noqa: BLE001 - retried by the supervisor
            log.exception("push: listing mailboxes failed; trying again shortly")
        self._supervisor.start()

    def stop(self, join: bool = True) -> None:
        """Stop every watcher; each leaves at the end of its current wait at the latest.

        The folders watched are marked polled again, as they are from now on.

        :param join: wait for the watchers to leave; a process about to exit (a worker
            shutting down) does not, its connections close with it.
        """
        self._stop.set()
        threads = [self._supervisor, *self._threads.values(), *self._folder_threads.values()]
        for thread in threads if join else ():
            if thread.is_alive():
                thread.join(timeout=self.idle_seconds + 5)
        for name, plan in list(self._plans.items()):
            try:
                mark_push(self.services, name, dict.fromkeys(plan.pushed), self._now())
            except Exception:  # the marks lapse by themselves; stopping must not fail
                log.exception("push: could not mark %s polled", name)
        if self.share is not None:
            try:
                self.share.release()
            except Exception:  # the watch leases lapse by themselves
                log.exception("push: could not release the watches")

    @property
    def watched(self) -> list[str]:
        """Names of the mailboxes being watched."""
        return sorted(self._threads)

    # -- threads -------------------------------------------------------------------------

    def _supervise(self) -> None:
        """Pick up mailboxes added while the service runs; renew this process's share."""
        every = self.idle_seconds
        if self.share is not None:  # renewed three times within a watch lease
            every = min(every, self.share.seconds / 3)
        while not self._stop.wait(every):
            try:
                self._watch_new_mailboxes()
            except Exception:  # a database hiccup must not end push for good
                log.exception("push: listing mailboxes failed")

    def _watch_new_mailboxes(self) -> None:
        with session_scope(self.services.sessions) as session:
            mailboxes = session.execute(
                select(Mailbox.name, Mailbox.provider).where(syncable())).all()
        idles = {provider: _can_idle(provider) for provider in {p for _, p in mailboxes}}
        names = [name for name, provider in mailboxes if idles[provider]]
        if self.share is not None:
            self._held = held = self.share.pick(names, self._now())
            for name in set(self._plans) - held:
                self._plans.pop(name, None)  # its folder threads leave after their wait
            names = [name for name in names if name in held]
        for name in names:
            if name not in self._threads:
                thread = threading.Thread(
                    target=self._watch, args=(name,), name=f"crmsync-push-{name}", daemon=True
                )
                self._threads[name] = thread
                thread.start()

    def _watch(self, name: str) -> None:
        """Watch ``name``'s folders and sync after each wait, until stopped."""
        def forget() -> None:
            self._threads.pop(name, None)
            self._plans.pop(name, None)  # its folder threads leave after their wait

        self._guarded(name, lambda connector: self._watch_mailbox(name, connector), forget)
        if not self._keeps(name):
            forget()  # watched again should this process's share take it back

    def _keeps(self, name: str) -> bool:
        """Whether ``name`` is (still) this process's to watch."""
        return self._held is None or name in self._held

    def _done(self, name: str) -> Callable[[], bool]:
        """When a watcher of ``name`` ends: push stops, or the mailbox left the share."""
        return lambda: self._stop.is_set() or not self._keeps(name)

    def _watch_mailbox(self, name: str, connector: Any) -> None:
        """Plan the watch of ``name`` on a fresh ``connector``, then wait and sync."""
        plan = plan_push(connector.list_resources(), connector.can_watch_many(),
                         self.connections)
        self._plans[name] = plan
        mark_push(self.services, name, dict.fromkeys(plan.polled), self._now())
        if not plan.pushed:
            log.info("push: mailbox %s has no folder to watch", name)
            return
        if plan.mode == "notify":
            mode = connector.watch_many_mode()  # "notify"; EWS "stream" (or "poll")
            self._loop(_Watch(name, plan.pushed, mode, connector), self._done(name),
                       lambda wait: bool(connector.idle_wait_many(plan.pushed, wait)))
            return
        for folder in plan.pushed[1:]:
            self._start_folder_watch(name, folder)
        first = plan.pushed[0]
        self._loop(_Watch(name, (first,), "idle", connector), self._done(name),
                   lambda wait: bool(connector.idle_wait(first, wait)))

    def _start_folder_watch(self, name: str, folder: str) -> None:
        """IDLE on ``folder`` of ``name`` in a thread and connection of its own."""
        key = (name, folder)
        with self._lock:
            running = self._folder_threads.get(key)
            if running is not None and running.is_alive():
                return
            thread = threading.Thread(target=self._watch_folder, args=key,
                                      name=f"crmsync-push-{name}-{folder}", daemon=True)
            self._folder_threads[key] = thread
            thread.start()

    def _watch_folder(self, name: str, folder: str) -> None:
        """IDLE on one more folder of ``name`` until stopped or no longer planned."""

        def unplanned() -> bool:
            plan = self._plans.get(name)
            return plan is None or plan.mode != "idle" or folder not in plan.pushed[1:]

        def body(connector: Any) -> None:
            self._loop(_Watch(name, (folder,), "idle", connector),
                       lambda: self._done(name)() or unplanned(),
                       lambda wait: bool(connector.idle_wait(folder, wait)))

        self._guarded(name, body, lambda: self._folder_threads.pop((name, folder), None))

    def _guarded(self, name: str, body: Callable[[Any], None],
                 forget: Callable[[], object]) -> None:
        """Run ``body`` with a fresh connector of ``name`` until it returns or push stops.

        Failures are retried after a pause that grows while they keep coming (reset once
        a connection lasted longer than the longest pause).
        """
        failures = 0
        while not self._done(name)():
            started = time.monotonic()
            try:
                with self._connector(name) as connector:
                    if not isinstance(connector, Idling):
                        log.info("push: mailbox %s cannot idle; not watched", name)
                        return
                    body(connector)
                    return
            except LookupError:
                log.info("push: mailbox %s is gone or paused; no longer watched", name)
                forget()  # watched again once resumed
                return
            except CrmSyncError as exc:
                # Wrong password, server down: the scheduler reports it; retry calmly.
                if time.monotonic() - started > ERROR_BACKOFF_SECONDS[-1]:
                    failures = 0
                delay = ERROR_BACKOFF_SECONDS[min(failures, len(ERROR_BACKOFF_SECONDS) - 1)]
                failures += 1
                log.warning("push: %s: %s; retrying in %s s", name, exc, delay)
                self._stop.wait(delay)
            except Exception:  # a bug in one watcher must not end the process
                log.exception("push: watcher of %s failed", name)
                self._stop.wait(ERROR_BACKOFF_SECONDS[-1])

    def _loop(self, watch: _Watch, done: Callable[[], bool],
              wait_once: Callable[[float], bool]) -> None:
        """Wait, sync, repeat until ``done()``; keep the watch's folders marked meanwhile.

        A credential the connector renewed while waiting (an OAuth refresh) is sealed to
        the mailbox at once: the syncs build their connectors from the stored one, and a
        rotated refresh token may work only once.
        """
        # busy: a new watch first waits briefly, then syncs what came while none watched
        busy, marked_at, all_marked, sealed = True, float("-inf"), False, None
        while not done():
            if not all_marked or time.monotonic() - marked_at > self.idle_seconds / 2:
                # A wait and a sync fit well within the mark's life, renewed every half wait.
                until = self._now() + timedelta(seconds=2 * self.idle_seconds + MARK_MARGIN)
                modes = dict.fromkeys(watch.folders, watch.mode)
                all_marked = mark_push(self.services, watch.name, modes, until) == len(modes)
                marked_at = time.monotonic()
            changed = wait_once(BURST_SECONDS if busy else self.idle_seconds)
            renewed = watch.connector.updated_secret()
            if renewed and renewed != sealed:
                reseal_secret(self.services, self._mailbox_id(watch.name), watch.name,
                              watch.connector)
                sealed = renewed
            if not self._stop.is_set():
                busy = self._after_wait(watch.name, changed, busy)

    def _mailbox_id(self, name: str) -> int:
        with session_scope(self.services.sessions) as session:
            mailbox_id = session.scalar(select(Mailbox.id).where(Mailbox.name == name))
        if mailbox_id is None:
            raise LookupError(name)
        return int(mailbox_id)

    @staticmethod
    def _now() -> datetime:
        return datetime.now(UTC)

    def _connector(self, name: str) -> Connector:
        with session_scope(self.services.sessions) as session:
            mailbox = session.scalars(
                select(Mailbox).where(Mailbox.name == name, syncable())).one_or_none()
            if mailbox is None:
                raise LookupError(name)
            return build_connector(self.services, mailbox)

    def _after_wait(self, name: str, changed: bool, busy: bool) -> bool:
        """Sync ``name`` here, or with a broker queue its sync (module docstring).

        :returns: whether there was activity: the next wait is a short one.
        """
        if not self.services.config.get("BROKER_URL"):
            return self._sync(name, changed)
        if changed or busy:
            if changed:
                log.info("push: %s changed; sync queued", name)
            sync_soon(self.services, name)
        return changed

    def _sync(self, name: str, changed: bool) -> bool:
        """Run the unit of work; wait out another worker's lease instead of dropping it.

        :returns: whether there was activity (a notification, or changes stored).
        """
        while not self._stop.is_set():
            report = sync_mailbox(self.services, name)
            if report.status != "busy":
                break
            self._stop.wait(RETRY_SECONDS)
        else:
            return False
        if changed or report.counters:
            log.info("push: %s: %s %s", name, report.status, dict(report.counters))
        if self.on_sync is not None:
            self.on_sync(report)
        return changed or bool(report.counters)


def _can_idle(provider: str) -> bool:
    """Whether mailboxes of ``provider`` are watched: their connector declares Idling."""
    try:
        return provider_supports(provider, Idling)
    except ConfigError:  # an unknown provider: the scheduler reports it, push skips it
        return False
