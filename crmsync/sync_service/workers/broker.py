"""The Celery app, built from crmsync's settings, and queueing a mailbox's sync.

Delivery is at least once, and that is what the engine is built for: a task is
acknowledged only after it ran (``task_acks_late``), and one whose worker process died
goes back to the queue (``task_reject_on_worker_lost``). A whole worker killed (kill -9,
a lost machine) leaves its task unacknowledged in Redis, which hands it to another
worker after the transport's ``visibility_timeout``: set a few minutes above the lease
(``LEASE_SECONDS``), so the task comes back once its lease has lapsed, not after
Redis's default hour. A task handed out twice is harmless: the second finds the lease
held ("busy") or nothing new to fetch (the cursors), and every side effect of a page
(cases, acknowledgements, alerts) is keyed once in the page's own transaction.
Each worker process takes one task at a time (``worker_prefetch_multiplier=1``): a
long backfill never holds further mailboxes back in its process's buffer.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from celery import Celery

from crmsync.errors import UserError
from crmsync.sync_service.workers.reconnect import Transport

#: the task's name on the wire: producers send it by name, without importing the task
SYNC_TASK = "crmsync.sync_mailbox"
#: the queue mailbox syncs wait in
QUEUE = "crmsync.sync"
#: how far the visibility timeout reaches past the lease, by default
VISIBILITY_MARGIN_SECONDS = 180
NEEDS_POSTGRESQL = ("the distributed engine needs PostgreSQL: set CRMSYNC_DATABASE_URL to "
                    "a postgresql URL, or unset CRMSYNC_BROKER_URL to run in one process")

#: one producer app per broker URL in a process (serve's scheduler, webhooks, the CLI)
_producers: dict[str, Celery] = {}
_producers_lock = threading.Lock()


def is_distributed(config: Mapping[str, Any]) -> bool:
    """Whether mailbox syncs go to workers through a broker (``BROKER_URL`` is set)."""
    return bool(config.get("BROKER_URL"))


def check_distributable(config: Mapping[str, Any]) -> None:
    """Refuse a broker without PostgreSQL: SQLite's one writer on one machine cannot be
    shared by workers on several (and its file lock is no lease across hosts).

    :raises UserError: the database is not PostgreSQL.
    """
    if not str(config["DATABASE_URL"]).startswith("postgresql"):
        raise UserError(NEEDS_POSTGRESQL)


def visibility_seconds(config: Mapping[str, Any]) -> int:
    """Seconds before Redis hands an unacknowledged task to another worker."""
    given = int(config.get("BROKER_VISIBILITY_SECONDS") or 0)
    return given or int(config["LEASE_SECONDS"]) + VISIBILITY_MARGIN_SECONDS


def transport_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """Redis transport options: the visibility timeout, and sweeps for lapsed tasks
    frequent enough to matter at that timeout (kombu sweeps every 100 s by default)."""
    visibility = visibility_seconds(config)
    interval = max(1, min(10, visibility // 10))
    return {
        "visibility_timeout": visibility,
        "unacked_restore_interval": interval,
        "unacked_restore_throttle": max(1, min(10, visibility // (10 * interval))),
    }


def make_celery(config: Mapping[str, Any]) -> Celery:
    """Return a Celery app on ``config``'s broker; results are not kept (nobody reads
    them: a run's outcome is the mailbox's status and its run history)."""
    app = Celery("crmsync", broker=config["BROKER_URL"], set_as_current=False)
    if str(config["BROKER_URL"]).startswith(("redis://", "rediss://")):
        app.conf.broker_transport = Transport  # survives a broker restart (reconnect.py)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options=transport_options(config),
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
    )
    return app


def enqueue_sync(config: Mapping[str, Any], name: str) -> None:
    """Queue one "sync mailbox ``name`` once" for whichever worker is free first."""
    url = config["BROKER_URL"]
    with _producers_lock:
        app = _producers.get(url)
        if app is None:
            app = _producers[url] = make_celery(config)
    app.send_task(SYNC_TASK, args=(name,), queue=QUEUE)
