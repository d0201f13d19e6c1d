"""The task a worker runs: sync one mailbox once, then the support desk's duties.

"Busy" (another worker holds the mailbox's lease) is not retried: the holder is
syncing that mailbox right now. But a change may have arrived after the holder passed
its folder (the Graph notification or push that queued this task), so the task leaves
a note on the mailbox and the holder queues one more run when it ends
(:func:`~crmsync.sync_service.mailboxes.leases.ask_again`): one run however many asked.
Retrying instead would pile copies of the task behind a long backfill, each one
re-queued again until the backfill ends.

A run stops after ``SYNC_RUN_SECONDS`` at a page boundary ("catching up", its pages
committed) and queues its mailbox again, at the back of the queue: every mailbox queued
meanwhile (new mail elsewhere) gets a worker before the backfill's next slice.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from celery import Celery
from sqlalchemy.exc import OperationalError

from crmsync.sync_service.context import Services
from crmsync.sync_service.engine.run import CATCHING_UP, sync_mailbox
from crmsync.sync_service.mailboxes.leases import ask_again, take_again
from crmsync.sync_service.triggers.soon import sync_soon
from crmsync.sync_service.workers.broker import SYNC_TASK

log = logging.getLogger(__name__)
#: a database that went away (a restart, a failover) is retried this often, backing off
#: from 1 s to at most DATABASE_RETRY_MAX_SECONDS (about five minutes in all); after
#: that the scheduler's next round queues the mailbox again
DATABASE_RETRIES = 12
DATABASE_RETRY_MAX_SECONDS = 30


def sync_once(services: Services, name: str) -> str:
    """Sync mailbox ``name`` as ``crmsync sync --once`` does; return the run's status."""
    report = sync_mailbox(services, name, budget=services.config["SYNC_RUN_SECONDS"])
    if report.status == "busy":
        if ask_again(services, name, datetime.now(UTC)):
            sync_soon(services, name)  # the holder ended meanwhile, without seeing it
        log.info("%s: another worker is syncing it; it runs again after", name)
        return report.status
    log.info("%s: %s %s", name, report.status, dict(report.counters))
    asked = take_again(services, name)
    if report.status == CATCHING_UP or asked:
        sync_soon(services, name)  # behind what was queued meanwhile
    _support_duties(services)
    return report.status


def _support_duties(services: Services) -> None:
    """Acknowledgements and alerts (SLA breaches, reps' follow-ups) go out right after
    the sync that committed them, as in the embedded scheduler."""
    from crmsync.sync_service.triggers.duties import run_after_sync_duties

    try:
        run_after_sync_duties(services)
    except OperationalError:
        raise  # the database went away: the task is retried, duties and all
    except Exception:  # delivery problems are recorded per outbox row; the sync stands
        log.exception("support duties failed")


def register_tasks(app: Celery, services: Services) -> None:
    """Register the sync task on ``app``, running against ``services``."""

    @app.task(name=SYNC_TASK, autoretry_for=(OperationalError,), retry_backoff=1,
              retry_backoff_max=DATABASE_RETRY_MAX_SECONDS, max_retries=DATABASE_RETRIES)
    def sync_mailbox_task(name: str) -> str:
        return sync_once(services, name)
