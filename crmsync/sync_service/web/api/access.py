"""Who sees what of the records: by role and team, and sensitive fields.

Mail and meetings (activities) follow their mailboxes and the organization's sharing
setting, in :mod:`crmsync.crm.visibility`. The records' rules, in one place so every
endpoint applies the same ones:

- ``admin`` and ``manager`` see every record and every field.
- ``rep`` sees the accounts, contacts and cases of the organization, and the
  opportunities they own, that a teammate owns, or that nobody owns. Another team's
  opportunity is absent from lists and answered 404 when asked for by id (its
  existence is not revealed).
- ``agent`` (support) sees every opportunity but never its amount.
- Sensitive fields (:data:`SENSITIVE_FIELDS`) are removed from a response for roles
  not listed; the key stays with ``null`` so clients need no special case.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, or_, select, true
from sqlalchemy.orm import Session

from crmsync.crm.models import Opportunity, User
from crmsync.crm.visibility import Viewer

__all__ = ["Viewer", "filter_opportunities", "may_see_field", "redact", "visible_opportunities"]

FULL_ACCESS = frozenset({"admin", "manager"})
#: (record kind, field) → roles allowed to see it
SENSITIVE_FIELDS: dict[tuple[str, str], frozenset[str]] = {
    ("opportunity", "amount"): frozenset({"admin", "manager", "rep"}),
}


def may_see_field(viewer: Viewer, kind: str, field: str) -> bool:
    allowed = SENSITIVE_FIELDS.get((kind, field))
    return allowed is None or viewer.role in allowed


def visible_opportunities(viewer: Viewer) -> ColumnElement[bool]:
    """A WHERE clause on :class:`Opportunity` selecting what ``viewer`` may see."""
    if viewer.role != "rep":
        return true()
    conditions = [Opportunity.owner_id.is_(None), Opportunity.owner_id == viewer.id]
    if viewer.team_id is not None:
        conditions.append(
            Opportunity.owner_id.in_(select(User.id).where(User.team_id == viewer.team_id))
        )
    return or_(*conditions)


def visible_opportunity_ids(
    session: Session, viewer: Viewer, external_ids: list[str]
) -> set[str]:
    """Return which of ``external_ids`` the viewer may see (one query)."""
    if not external_ids:
        return set()
    return set(session.scalars(
        select(Opportunity.external_id).where(
            Opportunity.external_id.in_(external_ids), visible_opportunities(viewer)
        )
    ))


def redact(viewer: Viewer, kind: str, shape: dict[str, Any]) -> dict[str, Any]:
    """Return ``shape`` with the fields ``viewer`` may not see set to ``None``."""
    hidden = [f for (k, f) in SENSITIVE_FIELDS if k == kind and not may_see_field(viewer, k, f)]
    return {**shape, **dict.fromkeys(hidden)} if hidden else shape


def filter_opportunities(
    session: Session, viewer: Viewer, opportunities: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Keep the visible opportunity shapes (keyed by ``external_id``), redacted."""
    visible = visible_opportunity_ids(session, viewer, [o["external_id"] for o in opportunities])
    return [redact(viewer, "opportunity", o) for o in opportunities if o["external_id"] in visible]
