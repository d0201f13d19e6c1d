"""IMAP push for ``crmsync serve``: a mail shows up in the CRM about a second after it arrives.

One thread per mailbox whose connector can idle (it declares
:class:`~crmsync.connectors.base.Idling`, as IMAP's does) holds its own connection
IDLEing on the Inbox (``idle_wait``, RFC 2177). When the server reports a change the
thread runs the ordinary unit of work, :func:`sync_mailbox`, so push adds no second
write path: the lease, the page transaction and the cursor rules are the same.

Two things keep it from missing mail:

* an IDLE that ends without news still triggers a sync: a mail that arrives between
  a sync's SELECT and the next IDLE's SELECT raises no notification (``idle_wait``
  re-selects the folder). Right after activity, when that is likely, the IDLE lasts
  only ``BURST_SECONDS``; when quiet, ``PUSH_IDLE_SECONDS``. The cost of a sync that
  finds nothing is one no-change poll, one round trip per folder with CONDSTORE;
* a sync refused because another worker holds the lease (the scheduler's poll) is
  retried until it runs, so the notification is never dropped.

The scheduler's poll stays the backstop for the other folders and providers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import select

from crmsync.connectors.base import Connector, Idling
from crmsync.crm.db import session_scope
from crmsync.crm.models import Mailbox
from crmsync.errors import ConfigError, CrmSyncError
from crmsync.sync_service.context import Services
from crmsync.sync_service.engine.run import SyncReport, sync_mailbox
from crmsync.sync_service.mailboxes.connecting import build_connector, provider_supports
from crmsync.sync_service.mailboxes.lifecycle import syncable

log = logging.getLogger(__name__)

#: seconds between retries of a sync refused with "busy", and after a failed IDLE
RETRY_SECONDS = 0.2
#: IDLE length right after a change: bounds the delay of a mail that slipped in between
BURST_SECONDS = 2.0
ERROR_BACKOFF_SECONDS = (1, 2, 5, 15, 30, 60)


class ImapPush:
    """Watch every mailbox that can idle and sync it on change (see module docstring).

    :param idle_seconds: how long one IDLE lasts before it is renewed (and a
        safety-net sync runs); ``None`` reads ``PUSH_IDLE_SECONDS`` from the config.
    :param on_sync: called with each push-triggered :class:`SyncReport` (benchmarks
        and logs).
    """

    def __init__(
        self,
        services: Services,
        idle_seconds: float | None = None,
        on_sync: Callable[[SyncReport], None] | None = None,
    ) -> None:
        self.services = services
        self.idle_seconds = float(
            idle_seconds or services.config.get("PUSH_IDLE_SECONDS") or 120
        )
        self.on_sync = on_sync
        self._stop = threading.Event()
        self._threads: dict[str, threading.Thread] = {}
        self._supervisor = threading.Thread(
            target=self._supervise, name="crmsync-push", daemon=True
        )

    def start(self) -> None:
        """Start watching the mailboxes that can idle there are now, and those added later."""
        self._watch_new_mailboxes()
        self._supervisor.start()

    def stop(self) -> None:
        """Stop every watcher; each leaves at the end of its current IDLE at the latest."""
        self._stop.set()
        for thread in [self._supervisor, *self._threads.values()]:
            if thread.is_alive():
                thread.join(timeout=self.idle_seconds + 5)

    @property
    def watched(self) -> list[str]:
        """Names of the mailboxes being watched."""
        return sorted(self._threads)

    # -- threads -------------------------------------------------------------------------

    def _supervise(self) -> None:
        """Pick up mailboxes added while the service runs."""
        while not self._stop.wait(self.idle_seconds):
            try:
                self._watch_new_mailboxes()
            except Exception:  # a database hiccup must not end push for good
                log.exception("push: listing mailboxes failed")

    def _watch_new_mailboxes(self) -> None:
        with session_scope(self.services.sessions) as session:
            mailboxes = session.execute(
                select(Mailbox.name, Mailbox.provider).where(syncable())).all()
        idles = {provider: _can_idle(provider) for provider in {p for _, p in mailboxes}}
        for name, provider in mailboxes:
            if idles[provider] and name not in self._threads:
                thread = threading.Thread(
                    target=self._watch, args=(name,), name=f"crmsync-push-{name}", daemon=True
                )
                self._threads[name] = thread
                thread.start()

    def _watch(self, name: str) -> None:
        """IDLE on ``name``'s Inbox and sync after each IDLE, until stopped."""
        failures = 0
        while not self._stop.is_set():
            try:
                with self._connector(name) as connector:
                    if not isinstance(connector, Idling):
                        log.info("push: mailbox %s cannot idle; not watched", name)
                        return
                    folder = connector.list_resources()[0]
                    failures, busy = 0, False
                    while not self._stop.is_set():
                        wait = BURST_SECONDS if busy else self.idle_seconds
                        changed = connector.idle_wait(folder, wait)
                        if not self._stop.is_set():
                            busy = self._sync(name, changed)
            except LookupError:
                log.info("push: mailbox %s is gone or paused; no longer watched", name)
                self._threads.pop(name, None)  # watched again once resumed
                return
            except CrmSyncError as exc:
                # Wrong password, server down: the scheduler reports it; retry calmly.
                delay = ERROR_BACKOFF_SECONDS[min(failures, len(ERROR_BACKOFF_SECONDS) - 1)]
                failures += 1
                log.warning("push: %s: %s; retrying in %s s", name, exc, delay)
                self._stop.wait(delay)
            except Exception:  # a bug in one watcher must not end the process
                log.exception("push: watcher of %s failed", name)
                self._stop.wait(ERROR_BACKOFF_SECONDS[-1])

    def _connector(self, name: str) -> Connector:
        with session_scope(self.services.sessions) as session:
            mailbox = session.scalars(
                select(Mailbox).where(Mailbox.name == name, syncable())).one_or_none()
            if mailbox is None:
                raise LookupError(name)
            return build_connector(self.services, mailbox)

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
