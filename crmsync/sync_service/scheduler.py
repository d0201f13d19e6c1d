"""The embedded scheduler: one background thread that polls every mailbox in turn.

The default deployment is one process; larger ones run the same unit of work
("sync mailbox X once") in Celery workers instead.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import select

from crmsync.crm.db import session_scope
from crmsync.crm.models import Mailbox
from crmsync.sync_service.context import Services
from crmsync.sync_service.engine.run import sync_mailbox

log = logging.getLogger(__name__)


class Scheduler:
    """Run :func:`sync_mailbox` for every mailbox every ``POLL_SECONDS``."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.run, name="crmsync-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def run(self) -> None:
        while not self._stop.is_set():
            self._one_iteration()
            self._stop.wait(self.services.config["POLL_SECONDS"])

    def _one_iteration(self) -> None:
        with session_scope(self.services.sessions) as session:
            names = list(session.scalars(select(Mailbox.name).order_by(Mailbox.name)))
        for name in names:
            if self._stop.is_set():
                return
            try:
                report = sync_mailbox(self.services, name)
                log.info("%s: %s %s", name, report.status, dict(report.counters))
            except Exception:  # one mailbox's bug must not stop the others
                log.exception("sync of %s failed", name)
