"""The task a worker runs: sync one mailbox once, then the support desk's duties.

"Busy" (another worker holds the mailbox's lease) is dropped, not retried: the holder
is syncing that mailbox right now, so a second run would find what it finds. A change
that arrives after the holder passed its folder is fetched by the next run the
scheduler queues (every ``POLL_SECONDS``), or at once by push. Retrying instead would
pile copies of the task behind a long backfill, each one re-queued again until the
backfill ends; the embedded scheduler drops "busy" for the same reason.

A run stops after ``SYNC_RUN_SECONDS`` at a page boundary ("catching up", its pages
committed) and queues its mailbox again, at the back of the queue: every mailbox queued
meanwhile (new mail elsewhere) gets a worker before the backfill's next slice.
"""

from __future__ import annotations

import logging

from celery import Celery
from sqlalchemy.exc import OperationalError

from crmsync.sync_service.context import Services
from crmsync.sync_service.engine.run import CATCHING_UP, sync_mailbox
from crmsync.sync_service.triggers.soon import sync_soon
from crmsync.sync_service.workers.broker import SYNC_TASK

log = logging.getLogger(__name__)
#: a database that went away (a restart, a failover) is retried this often, backing off
DATABASE_RETRIES = 5


def sync_once(services: Services, name: str) -> str:
    """Sync mailbox ``name`` as ``crmsync sync --once`` does; return the run's status."""
    report = sync_mailbox(services, name, budget=services.config["SYNC_RUN_SECONDS"])
    if report.status == "busy":
        log.info("%s: another worker is syncing it; dropped", name)
        return report.status
    log.info("%s: %s %s", name, report.status, dict(report.counters))
    if report.status == CATCHING_UP:
        sync_soon(services, name)  # behind what was queued meanwhile
    _support_duties(services)
    return report.status


def _support_duties(services: Services) -> None:
    """Acknowledgements and alerts go out right after the sync that committed them."""
    from crmsync.sync_service.support import run_support_duties

    try:
        run_support_duties(services)
    except Exception:  # delivery problems are recorded per outbox row; the sync stands
        log.exception("support duties failed")


def register_tasks(app: Celery, services: Services) -> None:
    """Register the sync task on ``app``, running against ``services``."""

    @app.task(name=SYNC_TASK, autoretry_for=(OperationalError,), retry_backoff=5,
              max_retries=DATABASE_RETRIES)
    def sync_mailbox_task(name: str) -> str:
        return sync_once(services, name)
