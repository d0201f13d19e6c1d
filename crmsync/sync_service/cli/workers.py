"""`crmsync worker`: a Celery worker that takes mailbox syncs from the broker."""

from __future__ import annotations

import os

import click

from crmsync.sync_service.cli import main, services


@main.command()
@click.option("--concurrency", type=click.IntRange(1, 256), default=None,
              help="Mailboxes synced at once (pool processes; default: the CPU count).")
def worker(concurrency: int | None) -> None:
    """Take mailbox syncs from the broker (CRMSYNC_BROKER_URL); run any number of them."""
    from crmsync.sync_service.workers.worker import run_worker

    run_worker(services(), concurrency or os.cpu_count() or 1)
