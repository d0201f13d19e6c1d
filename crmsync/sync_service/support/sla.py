"""The SLA check: one alert per breached first response, never repeated.

An alert is a :class:`~crmsync.crm.support.SupportAlert` row (unique key per case)
plus outbox rows (a mail to the owner, else to the queue's members, a webhook call and
text messages when configured: :mod:`.alerts`) committed together; the outbox
delivers them after.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crmsync.crm.db import session_scope
from crmsync.crm.export import iso_utc
from crmsync.crm.models import Case
from crmsync.crm.support import SupportAlert, SupportCase, overdue_cases
from crmsync.sync_service.context import Services
from crmsync.sync_service.support.alerts import Alert, queue_alert
from crmsync.sync_service.support.settings import load_settings

log = logging.getLogger(__name__)


def check_sla(services: Services, now: datetime) -> list[str]:
    """Alert on every case whose first response is overdue at ``now`` and not yet alerted.

    :returns: the case numbers alerted now.
    """
    for _ in range(2):
        try:
            with session_scope(services.sessions) as session:
                return _check(session, now)
        except IntegrityError:
            # Another checker alerted the same case at the same moment: look again.
            continue
    return []


def _check(session: Session, now: datetime) -> list[str]:
    settings = load_settings(session)
    alerted = select(SupportAlert.case_id).where(SupportAlert.kind == "sla_breach",
                                                 SupportAlert.case_id.is_not(None))
    # A connected mailbox's history opens cases silently: no alert for each old request.
    history = select(SupportCase.case_id).where(SupportCase.from_history.is_(True))
    numbers = []
    for case in session.scalars(overdue_cases(now).where(Case.id.not_in(alerted),
                                                         Case.id.not_in(history))).all():
        due = iso_utc(case.first_response_due)
        detail = f"{case.number}: first response was due {due}"
        alert = Alert("sla_breach", f"sla:{case.id}",
                      f"[{case.number}] SLA breached: {case.subject}", detail, case.id)
        if queue_alert(session, alert, now, settings) is not None:
            numbers.append(case.number)
            log.warning("SLA breach: %s", detail)
    return numbers
