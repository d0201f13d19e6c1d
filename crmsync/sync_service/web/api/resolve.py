"""Find the record an API call names, as the viewer may see it, or answer 404."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmsync.crm.models import Account, Case, Contact, Opportunity
from crmsync.crm.tracking import Target
from crmsync.sync_service.web.api.access import Viewer, visible_opportunities
from crmsync.sync_service.web.api.errors import NotFound


def find_record(session: Session, viewer: Viewer, kind: str, external_id: str) -> Any:
    """Return the contact, account, opportunity or case; 404 when absent or not visible.

    Cases are named by their number (``CASE-000042``), the rest by external id.
    """
    if kind == "case":
        query = select(Case).where(Case.number == external_id.strip().upper())
    elif kind == "opportunity":
        query = select(Opportunity).where(
            Opportunity.external_id == external_id, visible_opportunities(viewer)
        )
    else:
        model = {"contact": Contact, "account": Account}[kind]
        query = select(model).where(model.external_id == external_id)
    record = session.scalars(query).one_or_none()
    if record is None:
        raise NotFound(f"no {kind} {external_id}")
    return record


def resolve_target(session: Session, viewer: Viewer, target: dict[str, str]) -> Target:
    """Turn ``{"type", "external_id"}`` from a request into a :class:`Target`."""
    record = find_record(session, viewer, target["type"], target["external_id"])
    return Target(target["type"], record.id)


def record_ref(kind: str, record: Any) -> dict[str, Any]:
    """``{"type", "external_id", "name"}`` of a record."""
    if kind == "case":
        return {"type": "case", "external_id": record.number, "name": record.subject}
    name = record.full_name if kind == "contact" else record.name
    return {"type": kind, "external_id": record.external_id, "name": name}
