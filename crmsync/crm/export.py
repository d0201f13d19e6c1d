"""Records in the export shapes of docs/export.md (one JSON object a line)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from crmsync.crm.models import (
    Account,
    Activity,
    ActivityLink,
    ActivityParticipant,
    ActivitySource,
    Case,
    Contact,
)

BATCH = 500
#: what :func:`activity_shape` reads, loaded with the activities (a query per relation,
#: not per activity)
SHAPE_LOADS = (
    selectinload(Activity.participants).selectinload(ActivityParticipant.contact),
    selectinload(Activity.links).selectinload(ActivityLink.contact),
    selectinload(Activity.links).selectinload(ActivityLink.account),
    selectinload(Activity.links).selectinload(ActivityLink.opportunity),
    selectinload(Activity.links).selectinload(ActivityLink.case),
    selectinload(Activity.sources).selectinload(ActivitySource.mailbox),
)


def iso_utc(value: datetime | None) -> str | None:
    """Format an aware time as ISO-8601 UTC with ``Z`` (stored times read back aware)."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _link_shape(link: ActivityLink) -> dict[str, Any]:
    for kind, target in (
        ("contact", link.contact), ("account", link.account),
        ("opportunity", link.opportunity), ("case", link.case),
    ):
        if target is not None:
            external_id = target.number if kind == "case" else target.external_id
            return {
                "type": kind, "external_id": external_id, "reason": link.reason,
                "confidence": link.confidence, "source": link.source,
            }
    raise ValueError(f"link {link.id} has no target")


def _source_shape(source: ActivitySource) -> dict[str, Any]:
    mailbox = source.mailbox.name if source.mailbox is not None else source.origin
    return {"mailbox": mailbox, "folder": source.folder, "item_id": source.item_id}


def activity_shape(activity: Activity) -> dict[str, Any]:
    """Return ``activity`` as the export's activity object."""
    return {
        "id": str(activity.id),
        "kind": activity.kind,
        "subject": activity.subject,
        "occurred_at": iso_utc(activity.occurred_at),
        "direction": activity.direction,
        "internet_message_id": activity.internet_message_id,
        "ical_uid": activity.ical_uid,
        "conversation": activity.conversation,
        "participants": [
            {
                "address": p.address, "name": p.name, "role": p.role,
                "contact_external_id": p.contact.external_id if p.contact else None,
            }
            for p in activity.participants
        ],
        "links": [_link_shape(link) for link in activity.links],
        "sources": [_source_shape(s) for s in activity.sources],
    }


def iter_activities(session: Session) -> Iterator[dict[str, Any]]:
    """Yield every activity, oldest first, in batches so memory stays flat."""
    last_id = 0
    while True:
        batch = session.scalars(
            select(Activity)
            .where(Activity.id > last_id)
            .order_by(Activity.id)
            .limit(BATCH)
            .options(*SHAPE_LOADS)
        ).all()
        if not batch:
            return
        for activity in batch:
            yield activity_shape(activity)
        last_id = batch[-1].id
        session.expunge_all()


def case_shape(case: Case, session: Session) -> dict[str, Any]:
    """Return ``case`` as the export's case object."""
    contact = session.get(Contact, case.contact_id) if case.contact_id else None
    account = session.get(Account, case.account_id) if case.account_id else None
    activity_ids = session.scalars(
        select(ActivityLink.activity_id).where(ActivityLink.case_id == case.id)
        .order_by(ActivityLink.activity_id)
    ).all()
    return {
        "number": case.number, "subject": case.subject, "description": case.description,
        "status": case.status, "priority": case.priority, "category": case.category,
        "contact_external_id": contact.external_id if contact else None,
        "account_external_id": account.external_id if account else None,
        "created_at": iso_utc(case.created_at),
        "first_response_at": iso_utc(case.first_response_at),
        "first_response_due": iso_utc(case.first_response_due),
        "activity_ids": [str(i) for i in activity_ids],
    }


def iter_cases(session: Session) -> Iterator[dict[str, Any]]:
    for case in session.scalars(select(Case).order_by(Case.id)):
        yield case_shape(case, session)


