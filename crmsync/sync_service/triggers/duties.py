"""What runs right after a sync, wherever syncs run (the embedded scheduler, a worker).

Follow-up alerts are queued first so they leave with this round's outbox; then the
support duties deliver the outbox and alert SLA breaches.
"""

from __future__ import annotations

from crmsync.sync_service.context import Services


def run_after_sync_duties(services: Services) -> None:
    """Reps' follow-up alerts, then acknowledgements and alerts out through the outbox.

    :raises Exception: whatever they raise; callers decide what a failure means.
    """
    from crmsync.sync_service.followups import run_followup_duty
    from crmsync.sync_service.support import run_support_duties

    run_followup_duty(services)
    run_support_duties(services)
