"""A worker's share of push: it watches up to ``PUSH_WATCHES_PER_WORKER`` mailboxes.

With a broker, ``crmsync serve`` watches nothing; each ``crmsync worker`` process runs
the push watcher (:class:`~crmsync.sync_service.triggers.imap_idle.ImapPush`) over its
share of the mailboxes (:mod:`~crmsync.sync_service.mailboxes.watch_leases`), and a
change queues the mailbox's sync like any other task. The watcher runs in the worker's
main process, beside the pool (whose processes sync): it starts once the pool is up,
so no pool process is forked from a process with watching threads, and stops with the
worker, freeing its watches for the other workers at once.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.signals import worker_ready, worker_shutdown

from crmsync.sync_service.context import Services
from crmsync.sync_service.mailboxes.watch_leases import WatchShare
from crmsync.sync_service.triggers.imap_idle import ImapPush

log = logging.getLogger(__name__)


def push_share(services: Services) -> ImapPush | None:
    """This worker's watcher, or ``None`` when push is off (``IMAP_PUSH``) or its bound is 0."""
    bound = int(services.config.get("PUSH_WATCHES_PER_WORKER") or 0)
    if not services.config.get("IMAP_PUSH") or bound <= 0:
        return None
    seconds = int(services.config.get("PUSH_WATCH_SECONDS") or 90)
    return ImapPush(services, share=WatchShare(services, bound, seconds))


def watch_with(app: Celery, services: Services) -> None:
    """Run this worker's share of push while ``app``'s worker runs (one app a process)."""
    push = push_share(services)
    if push is None:
        return

    def start(**_: Any) -> None:
        log.info("push: this worker watches up to %s mailboxes",
                 services.config["PUSH_WATCHES_PER_WORKER"])
        push.start()

    def stop(**_: Any) -> None:
        push.stop(join=False)  # a wait may last PUSH_IDLE_SECONDS: shut down now

    worker_ready.connect(start, weak=False)
    worker_shutdown.connect(stop, weak=False)
