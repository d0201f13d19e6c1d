"""``crmsync worker``: a Celery worker process over the broker, syncing mailboxes.

The pool is prefork: matching and storing a page is Python CPU, and processes run it on
every core where threads would share one interpreter lock. Each pool process opens its
own PostgreSQL connections: the pool inherited from the parent is dropped (not closed:
its sockets are the parent's) right after the fork. A pool process that dies mid-task
(kill -9, out of memory) has its task put back at once (``task_reject_on_worker_lost``),
and its lease is free at once too (its holder no longer exists on this host).
The main process also watches its share of the mailboxes for push (:mod:`.push`).
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from celery.signals import worker_process_init

from crmsync.errors import UserError
from crmsync.sync_service.context import Services
from crmsync.sync_service.workers.broker import (
    QUEUE,
    check_distributable,
    is_distributed,
    make_celery,
)
from crmsync.sync_service.workers.push import watch_with
from crmsync.sync_service.workers.tasks import register_tasks

NO_BROKER = ("crmsync worker takes mailbox syncs from a broker: set CRMSYNC_BROKER_URL "
             "(e.g. redis://127.0.0.1:6379/0); without one, 'crmsync serve' or 'crmsync "
             "sync' sync in one process")


def run_worker(services: Services, concurrency: int) -> None:
    """Run a worker with ``concurrency`` pool processes until it is stopped.

    :raises UserError: no broker is configured, or the database is not PostgreSQL.
    """
    if not is_distributed(services.config):
        raise UserError(NO_BROKER)
    check_distributable(services.config)
    app = make_celery(services.config)
    register_tasks(app, services)
    watch_with(app, services)

    def fresh_connections(**_: Any) -> None:
        services.forget_connections()

    worker_process_init.connect(fresh_connections, weak=False)
    level = "INFO" if logging.getLogger().isEnabledFor(logging.INFO) else "WARNING"
    app.Worker(
        hostname=f"crmsync-{os.getpid()}@{socket.gethostname()}",
        concurrency=concurrency, pool_cls="prefork", queues=[QUEUE], loglevel=level,
        without_gossip=True, without_mingle=True, without_heartbeat=True,
    ).start()
