"""The one place that decides how a mailbox gets synced soon, in either mode.

A new or resumed mailbox, "Sync now" and a Graph notification all want the same thing:
this mailbox, now, not at the next poll round. Where that run happens is the
deployment's choice, made here and nowhere else:

* with a broker (``BROKER_URL``): a task is queued, and the first free worker runs it;
* in one process: this process's embedded scheduler is asked (``request_sync``), or,
  with no scheduler here (a served app without one), a thread runs it;
* a command-line process has neither: ``crmsync serve``'s scheduler notices a newly
  syncable mailbox within :data:`~.scheduler.WATCH_SECONDS` and syncs it then.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from crmsync.sync_service.context import Services

log = logging.getLogger(__name__)


class SyncRequests(Protocol):
    """Something that syncs a mailbox ahead of its turn (the embedded scheduler)."""

    def request_sync(self, name: str) -> None: ...


def sync_soon(services: Services, name: str, scheduler: SyncRequests | None = None, *,
              on_thread: bool = False) -> None:
    """Have mailbox ``name`` synced soon, by whatever runs syncs in this deployment.

    :param scheduler: this process's embedded scheduler, when it runs one.
    :param on_thread: with neither broker nor scheduler, sync on a thread of its own
        (a long-lived process); else leave it to ``serve``'s scheduler.
    """
    if services.config.get("BROKER_URL"):
        from crmsync.sync_service.workers.broker import enqueue_sync

        try:
            enqueue_sync(services.config, name)
        except Exception:  # the broker is down: the next poll round queues it again
            log.warning("could not queue a sync of %s; the next poll round will",
                        name, exc_info=True)
    elif scheduler is not None:
        scheduler.request_sync(name)
    elif on_thread:
        threading.Thread(target=_sync_logged, args=(services, name),
                         name=f"crmsync-sync-{name}", daemon=True).start()


def _sync_logged(services: Services, name: str) -> None:
    from crmsync.sync_service.engine.run import sync_mailbox  # the engine, when it runs here

    try:
        sync_mailbox(services, name)
    except Exception:  # the run is recorded as an error; the traceback goes to the log
        log.exception("sync of %s failed", name)
