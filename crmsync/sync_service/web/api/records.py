"""Create contacts and cases, search records, and a record's timeline."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from crmsync.crm.case_numbers import allocate_case_number
from crmsync.crm.db import session_scope
from crmsync.crm.links import TrackIntent
from crmsync.crm.models import (
    Account,
    AccountDomain,
    Case,
    Contact,
    ContactEmail,
    Opportunity,
)
from crmsync.crm.queries import activity_shape, contact_shape
from crmsync.crm.recent import timeline_activities
from crmsync.crm.tracking import (
    Target,
    create_intent,
    find_activity,
    normalize_message_id,
    track,
)
from crmsync.mapping.addresses import normalize_address
from crmsync.sync_service.web.api.access import Viewer, visible_opportunities
from crmsync.sync_service.web.api.blueprint import blueprint, services, viewer
from crmsync.sync_service.web.api.context import now
from crmsync.sync_service.web.api.errors import APIError, Conflict
from crmsync.sync_service.web.api.resolve import find_record, record_ref
from crmsync.sync_service.web.api.schemas import (
    CaseCreatedOut,
    CaseIn,
    ContactIn,
    ContactOut,
    SearchOut,
    SearchQuery,
    TimelineOut,
    TimelineQuery,
)

SEARCH_LIMIT = 20


@blueprint.post("/contacts")
@blueprint.arguments(ContactIn)
@blueprint.response(201, ContactOut)
def create_contact(body: dict[str, Any]) -> dict[str, Any]:
    """Create a contact (from a "not in CRM" card); 409 when the address has one already."""
    address = normalize_address(body["email"])
    if address is None:
        raise APIError("email is not a mail address")
    with session_scope(services().sessions) as session:
        if session.scalar(select(ContactEmail.id).where(ContactEmail.address == address)):
            raise Conflict(f"{address} already belongs to a contact")
        account_id = None
        if body.get("account_external_id"):
            account_id = find_record(session, viewer(), "account",
                                     body["account_external_id"]).id
        contact = Contact(
            external_id=f"addin-{secrets.token_hex(6)}", first_name=body["first_name"].strip(),
            last_name=body["last_name"].strip(), title=body["title"].strip(),
            phone=body["phone"].strip(), account_id=account_id,
            emails=[ContactEmail(address=address)],
        )
        if not (contact.first_name or contact.last_name):
            raise APIError("a contact needs a first or last name")
        session.add(contact)
        session.flush()
        return contact_shape(contact)


def _case_parties(session: Session, who: Viewer, body: dict[str, Any]) -> tuple:
    contact = account = None
    if body.get("contact_external_id"):
        contact = find_record(session, who, "contact", body["contact_external_id"])
        account = contact.account
    if body.get("account_external_id"):
        account = find_record(session, who, "account", body["account_external_id"])
    return contact, account


def _link_mail(session: Session, who: Viewer, body: dict[str, Any], case: Case) -> bool:
    """Track the mail the case was made from to the case: now when the creator may see it,
    else when it is synced from one of their mailboxes (an intent; nothing is stored from
    what the pane says of it)."""
    message_id = normalize_message_id(body.get("internet_message_id"))
    if not message_id:
        return False
    activity = find_activity(session, message_id, seen_by=who.seen_by)
    if activity is None:
        create_intent(session, TrackIntent(user_id=who.id, created_at=now(),
                                           internet_message_id=message_id, case_id=case.id))
        return False
    track(session, activity, Target("case", case.id), who.id, now())
    return True


@blueprint.post("/cases")
@blueprint.arguments(CaseIn)
@blueprint.response(201, CaseCreatedOut)
def create_case(body: dict[str, Any]) -> dict[str, Any]:
    """Create a case from a mail: numbered ``CASE-000042``, the mail tracked to it."""
    who = viewer()
    if body.get("internet_message_id") and not normalize_message_id(body["internet_message_id"]):
        raise APIError("internet_message_id is not a Message-ID")
    with session_scope(services().sessions) as session:
        contact, account = _case_parties(session, who, body)
        case = Case(
            number=allocate_case_number(session), subject=body["subject"].strip(),
            description=body["description"], priority=body["priority"], status="New",
            contact_id=contact.id if contact else None,
            account_id=account.id if account else None, owner_id=who.id, created_at=now(),
        )
        session.add(case)
        session.flush()
        linked = _link_mail(session, who, body, case)
        return {"number": case.number, "subject": case.subject, "status": case.status,
                "priority": case.priority, "description": case.description,
                "contact_external_id": contact.external_id if contact else None,
                "account_external_id": account.external_id if account else None,
                "linked_message": linked}


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _search_queries(who: Viewer, pattern: str) -> dict[str, Any]:
    name = func.lower(Contact.first_name + " " + Contact.last_name)
    return {
        "contact": select(Contact).outerjoin(ContactEmail).where(or_(
            name.like(pattern, escape="\\"), ContactEmail.address.like(pattern, escape="\\"))),
        "account": select(Account).outerjoin(AccountDomain).where(or_(
            func.lower(Account.name).like(pattern, escape="\\"),
            AccountDomain.domain.like(pattern, escape="\\"))),
        "opportunity": select(Opportunity).where(
            func.lower(Opportunity.name).like(pattern, escape="\\"), visible_opportunities(who)),
        "case": select(Case).where(or_(func.lower(Case.number).like(pattern, escape="\\"),
                                       func.lower(Case.subject).like(pattern, escape="\\"))),
    }


@blueprint.get("/search")
@blueprint.arguments(SearchQuery, location="query")
@blueprint.response(200, SearchOut)
def search(args: dict[str, Any]) -> dict[str, Any]:
    """Find contacts, accounts, opportunities and cases by name, address, domain or number."""
    pattern = _like(args["q"].strip())
    results: list[dict[str, Any]] = []
    with session_scope(services().sessions) as session:
        for kind, query in _search_queries(viewer(), pattern).items():
            if args.get("type") in (None, kind):
                rows = session.scalars(query.distinct().limit(SEARCH_LIMIT)).all()
                results += [record_ref(kind, row) for row in rows]
    return {"results": results[:SEARCH_LIMIT]}


@blueprint.get("/timeline/<any(contact,account,opportunity,case):kind>/<external_id>")
@blueprint.arguments(TimelineQuery, location="query")
@blueprint.response(200, TimelineOut)
def timeline(args: dict[str, Any], kind: str, external_id: str) -> dict[str, Any]:
    """A record's mails and meetings, newest first; 404 when absent or not visible."""
    with session_scope(services().sessions) as session:
        record = find_record(session, viewer(), kind, external_id)
        rows = timeline_activities(session, kind, record.id, args["limit"],
                                   seen_by=viewer().seen_by)
        return {"record": record_ref(kind, record),
                "activities": [activity_shape(a) for a in rows]}
