"""Support mailboxes: email-to-case intake, acknowledgements, SLA alerts.

- :func:`support_page_hook` (a page hook) opens and threads cases and queues
  acknowledgements inside each page's transaction;
- :func:`run_support_duties` runs after commits: the SLA check, then the outbox;
- :mod:`.alerts` is the one way to raise an alert (mail, webhook, text message):
  ``queue_alert`` in a caller's transaction, ``send_alert`` in one of its own;
- :mod:`.replies` queues an agent's reply on a case (API, task pane, CLI).
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime

from crmsync.sync_service.context import Services
from crmsync.sync_service.support.intake import support_page_hook
from crmsync.sync_service.support.outbox import deliver_outbox
from crmsync.sync_service.support.sla import check_sla

__all__ = ["check_sla", "deliver_outbox", "run_support_duties", "support_page_hook"]
log = logging.getLogger(__name__)


def run_support_duties(services: Services, now: datetime | None = None) -> Counter[str]:
    """Check SLAs, then deliver what the outbox holds (what the scheduler runs each round)."""
    now = now or datetime.now(UTC)
    breached = check_sla(services, now)
    counts = deliver_outbox(services, now)
    if breached or counts:
        log.info("support: %d SLA breach(es) alerted, outbox %s", len(breached), dict(counts))
    return counts
