"""Read queries the surfaces need; each runs a fixed number of SQL statements."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session, joinedload

from crmsync.crm.export import iso_utc
from crmsync.crm.models import (
    Account,
    AccountDomain,
    Activity,
    Case,
    Contact,
    ContactEmail,
    Opportunity,
)
from crmsync.crm.recent import ActivitySummary, newest_activities
from crmsync.mapping.addresses import domain_of, normalize_address
from crmsync.mapping.freemail import is_free_mail_domain

RECENT = 10


def _account_for_domain(session: Session, domain: str) -> Account | None:
    if is_free_mail_domain(domain):
        return None
    labels = domain.split(".")
    candidates = [".".join(labels[i:]) for i in range(len(labels) - 1)]
    rows = session.execute(
        select(AccountDomain.domain, Account)
        .join(Account, Account.id == AccountDomain.account_id)
        .where(AccountDomain.domain.in_(candidates))
    ).all()
    by_domain = {d: account for d, account in rows}
    return next((by_domain[c] for c in candidates if c in by_domain), None)


def contact_shape(contact: Contact) -> dict[str, Any]:
    return {
        "external_id": contact.external_id, "name": contact.full_name,
        "first_name": contact.first_name, "last_name": contact.last_name,
        "title": contact.title, "phone": contact.phone,
        "emails": [e.address for e in contact.emails],
    }


def activity_shape(activity: ActivitySummary | Activity) -> dict[str, Any]:
    """An activity as lists show it (the lookup's history, timelines)."""
    return {"id": str(activity.id), "kind": activity.kind, "subject": activity.subject,
            "occurred_at": iso_utc(activity.occurred_at), "direction": activity.direction}


def _recent_activities(session: Session, contact: Contact | None, account: Account | None,
                       seen_by: Mapping[str, Any] | None):
    ids = {kind: record.id for kind, record in (("contact", contact), ("account", account))
           if record is not None}
    rows = newest_activities(session, list(ids), ids, RECENT, seen_by=seen_by)
    return [activity_shape(a) for a in rows]


def lookup_sender(
    session: Session, raw_address: str, visible: ColumnElement[bool] | None = None, *,
    seen_by: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Return what the CRM knows about an address: contact, account, deals, cases, history.

    Five statements or fewer whatever the CRM's size. ``visible``: a WHERE clause on
    :class:`Opportunity` the listed opportunities must meet (the viewer's access);
    ``seen_by``: the viewer's :func:`~crmsync.crm.visibility.viewer_params`, which the
    recent activities must meet (``None``: all of them).
    """
    address = normalize_address(raw_address)
    if address is None:
        return {"address": raw_address, "contact": None, "account": None,
                "opportunities": [], "cases": [], "recent_activities": []}
    contact = session.scalars(
        select(Contact).join(ContactEmail).where(ContactEmail.address == address)
        .options(joinedload(Contact.emails), joinedload(Contact.account))
    ).unique().one_or_none()
    account = contact.account if contact else _account_for_domain(session, domain_of(address))
    opportunities, cases = [], []
    if account is not None:
        opportunities = [
            {"external_id": o.external_id, "name": o.name, "stage": o.stage,
             "amount": str(o.amount) if o.amount is not None else None,
             "close_date": o.close_date.isoformat() if o.close_date else None}
            for o in session.scalars(
                select(Opportunity).where(
                    Opportunity.account_id == account.id, Opportunity.is_closed.is_(False),
                    true() if visible is None else visible,
                ).order_by(Opportunity.close_date)
            )
        ]
        cases = [
            {"number": c.number, "subject": c.subject, "status": c.status,
             "priority": c.priority}
            for c in session.scalars(
                select(Case).where(Case.account_id == account.id, Case.status != "Closed")
                .order_by(Case.created_at.desc())
            )
        ]
    return {
        "address": address,
        "contact": contact_shape(contact) if contact else None,
        "account": {"external_id": account.external_id, "name": account.name}
        if account else None,
        "opportunities": opportunities,
        "cases": cases,
        "recent_activities": _recent_activities(session, contact, account, seen_by),
    }
