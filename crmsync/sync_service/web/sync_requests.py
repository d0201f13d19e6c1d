"""Sync a mailbox soon from a request (a Graph notification, "Sync now", Save, Resume).

``crmsync serve`` keeps its embedded scheduler in the app's extensions; without a
broker the scheduler runs the sync, with one a worker does
(:func:`~crmsync.sync_service.triggers.soon.sync_soon` decides). Without either, what
a person asked for ("Sync now", a Graph notification) runs on a thread of its own; what
only made a mailbox syncable (Save, Resume) waits for a scheduler's next look.
"""

from __future__ import annotations

from flask import current_app

from crmsync.sync_service.context import Services
from crmsync.sync_service.triggers.soon import sync_soon

#: where ``crmsync serve`` puts its scheduler (anything with ``request_sync(name)``)
SCHEDULER_KEY = "crmsync.scheduler"


def request_sync(services: Services, name: str, *, on_thread: bool = True) -> None:
    """Have mailbox ``name`` synced now, ahead of the next poll round.

    :param on_thread: with neither scheduler nor broker, sync on a thread of its own.
    """
    sync_soon(services, name, current_app.extensions.get(SCHEDULER_KEY), on_thread=on_thread)
